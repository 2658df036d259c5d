import { describe, expect, it } from 'vitest';
import { aesCmac, subkeys } from './cmac.ts';
import { createCipheriv } from 'node:crypto';
import { ctr, sivDecrypt, sivEncrypt, sivSealer } from './siv.ts';
import { NATIVE_AES } from './native-aes.ts';

const h = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// RFC 4493 section 4 test vectors (AES-128).
describe('AES-CMAC (RFC 4493)', () => {
  const key = h('2b7e1516 28aed2a6 abf71588 09cf4f3c');
  const msg = h(`6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51
                 30c81c46 a35ce411 e5fbc119 1a0a52ef f69f2445 df4f9b17 ad2b417b e66c3710`);
  it('generates the subkeys', () => {
    const { k1, k2 } = subkeys(key);
    expect(k1.toString('hex')).toBe('fbeed618357133667c85e08f7236a8de');
    expect(k2.toString('hex')).toBe('f7ddac306ae266ccf90bc11ee46d513b');
  });
  it.each([
    [0, 'bb1d6929e95937287fa37d129b756746'],
    [16, '070a16b46b4d4144f79bdd9dd04a287c'],
    [40, 'dfa66747de9ae63030ca32611497c827'],
    [64, '51f0bebf7e3b9d92fc49741779363cfe'],
  ])('message length %i', (len, tag) => {
    expect(aesCmac(key, msg.subarray(0, len)).toString('hex')).toBe(tag);
  });

  it('gives the RFC tags again after other keys and messages used the cached contexts', () => {
    // The CBC context is reused across calls (its chaining value cancelled): interleave keys and lengths.
    const other = h('603deb10 15ca71be 2b73aef0 857d7781 1f352c07 3b6108d7 2d9810a3 0914dff4');
    for (let round = 0; round < 3; round++) {
      for (const [len, tag] of [[64, '51f0bebf7e3b9d92fc49741779363cfe'], [0, 'bb1d6929e95937287fa37d129b756746'], [40, 'dfa66747de9ae63030ca32611497c827'], [16, '070a16b46b4d4144f79bdd9dd04a287c']] as const) {
        aesCmac(other, msg.subarray(0, (len + 7 * round) % 64));
        expect(aesCmac(key, msg.subarray(0, len)).toString('hex')).toBe(tag);
      }
    }
    // RFC 4493 section 4 keeps AES-128; the AES-256 tag of 64 bytes (NIST SP 800-38B example).
    expect(aesCmac(other, msg).toString('hex')).toBe('e1992190549f6ed5696a2c056c315410');
  });
});

// RFC 5297 appendix A test vectors.
describe('AES-SIV (RFC 5297)', () => {
  it('A.1 deterministic authenticated encryption', () => {
    const key = h('fffefdfc fbfaf9f8 f7f6f5f4 f3f2f1f0 f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff');
    const ad = h('10111213 14151617 18191a1b 1c1d1e1f 20212223 24252627');
    const pt = h('11223344 55667788 99aabbcc ddee');
    const out = sivEncrypt(key, [ad], pt);
    expect(out.toString('hex')).toBe(h('85632d07 c6e8f37f 950acd32 0a2ecc93 40c02b96 90c4dc04 daef7f6a fe5c').toString('hex'));
    expect(sivDecrypt(key, [ad], out)?.toString('hex')).toBe(pt.toString('hex'));
  });
  it('A.2 nonce-based authenticated encryption with two AD strings', () => {
    const key = h('7f7e7d7c 7b7a7978 77767574 73727170 40414243 44454647 48494a4b 4c4d4e4f');
    const ad1 = h('00112233 44556677 8899aabb ccddeeff deaddada deaddada ffeeddcc bbaa9988 77665544 33221100');
    const ad2 = h('10203040 50607080 90a0');
    const nonce = h('09f91102 9d74e35b d84156c5 635688c0');
    const pt = h(`74686973 20697320 736f6d65 20706c61 696e7465 78742074 6f20656e 63727970
                  74207573 696e6720 5349562d 414553`);
    const out = sivEncrypt(key, [ad1, ad2, nonce], pt);
    expect(out.toString('hex')).toBe(h(`7bdb6e3b 432667eb 06f4d14b ff2fbd0f cb900f2f ddbe4043 26601965 c889bf17
      dba77ceb 094fa663 b7a3f748 ba8af829 ea64ad54 4a272e9c 485b62a3 fd5c0d`).toString('hex'));
  });
  it('rejects a tampered ciphertext and a wrong AD', () => {
    const key = Buffer.alloc(64, 7);
    const out = sivEncrypt(key, [Buffer.from('t.c')], Buffer.from('hello world, longer than a block'));
    expect(sivDecrypt(key, [Buffer.from('t.c')], out)?.toString()).toBe('hello world, longer than a block');
    expect(sivDecrypt(key, [Buffer.from('t.d')], out)).toBeNull();
    const bad = Buffer.from(out);
    bad[20] = (bad[20] ?? 0) ^ 1;
    expect(sivDecrypt(key, [Buffer.from('t.c')], bad)).toBeNull();
  });
  it('is deterministic and handles the empty plaintext', () => {
    const key = Buffer.alloc(64, 3);
    expect(sivEncrypt(key, [], Buffer.alloc(0)).equals(sivEncrypt(key, [], Buffer.alloc(0)))).toBe(true);
    expect(sivDecrypt(key, [], sivEncrypt(key, [], Buffer.alloc(0)))?.length).toBe(0);
  });
  it('a sealer reused for many values gives the one-shot results', () => {
    const key = Buffer.alloc(64, 5);
    const ad = [Buffer.from('header')];
    const sealer = sivSealer(key, ad);
    for (const len of [0, 1, 15, 16, 17, 33, 100]) {
      const pt = Buffer.alloc(len, len + 1);
      const out = sealer.encrypt(pt);
      expect(out.equals(sivEncrypt(key, ad, pt))).toBe(true);
      expect(sealer.decrypt(out)?.equals(pt)).toBe(true);
    }
  });
  it('encryptMany gives encrypt() of each value, empty values and carries across counter bytes included', () => {
    const sealer = sivSealer(Buffer.alloc(64, 9), [Buffer.from('header')]);
    const pts = [0, 1, 15, 16, 17, 33, 100, 0, 300].map((len, i) => Buffer.alloc(len, 0x30 + i));
    const many = sealer.encryptMany(pts);
    expect(many.map((c) => c.toString('hex'))).toEqual(pts.map((p) => sealer.encrypt(p).toString('hex')));
    expect(sealer.encryptMany([])).toEqual([]);
  });
});

// The CTR keystream is computed from ECB blocks of the counter; it must equal node's own AES-CTR
// (128-bit big-endian counter), including a carry across bytes of the counter block.
describe('CTR from counter blocks', () => {
  it.each([16, 32])('matches aes-%i-ctr, with carries', (keyLen) => {
    const key = Buffer.alloc(keyLen, 0x42);
    for (const v of [Buffer.alloc(16, 0xff), Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex')]) {
      const q = Buffer.from(v);
      q[8] = (q[8] ?? 0) & 0x7f;
      q[12] = (q[12] ?? 0) & 0x7f;
      const data = Buffer.alloc(83, 0x17);
      const c = createCipheriv(`aes-${keyLen * 8}-ctr`, key, q);
      expect(ctr(key, v, data).equals(Buffer.concat([c.update(data), c.final()]))).toBe(true);
    }
  });
});

// The native sealer (one call per value) against the TypeScript one: the RFC 5297 A.1 vector, then
// random keys (AES-128 and AES-256 halves), associated data and lengths both ways, tampering refused.
describe.runIf(NATIVE_AES.native !== null)('AES-SIV, native against TypeScript', () => {
  const native = NATIVE_AES.native;
  it('gives the RFC 5297 A.1 bytes', () => {
    const key = h('fffefdfc fbfaf9f8 f7f6f5f4 f3f2f1f0 f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff');
    const ad = h('10111213 14151617 18191a1b 1c1d1e1f 20212223 24252627');
    const sealer = sivSealer(key, [ad], native);
    const out = sealer.encrypt(h('11223344 55667788 99aabbcc ddee'));
    expect(out.toString('hex')).toBe(h('85632d07 c6e8f37f 950acd32 0a2ecc93 40c02b96 90c4dc04 daef7f6a fe5c').toString('hex'));
    expect(sealer.decrypt(out)?.toString('hex')).toBe('112233445566778899aabbccddee');
  });
  it('agrees with the TypeScript sealer on 1,500 random values and refuses what it refuses', () => {
    for (let t = 0; t < 1500; t++) {
      const key = Buffer.alloc(t % 2 ? 64 : 32, t % 251);
      key.writeUInt32BE(t, 0);
      const ad = [Buffer.from(`header-${t % 7}`)];
      const mine = sivSealer(key, ad, native);
      const ts = sivSealer(key, ad, null);
      const pt = Buffer.alloc(t % 130, (t * 7) % 256);
      if (pt.length) pt[0] = t % 256;
      const sealed = mine.encrypt(pt);
      expect(sealed.equals(ts.encrypt(pt))).toBe(true);
      expect(ts.decrypt(sealed)?.equals(pt)).toBe(true);
      expect(mine.decrypt(sealed)?.equals(pt)).toBe(true);
      const bad = Buffer.from(sealed);
      bad[t % bad.length] = (bad[t % bad.length] as number) ^ (1 << (t % 8));
      expect(mine.decrypt(bad)).toBeNull();
      expect(ts.decrypt(bad)).toBeNull();
    }
    expect(sivSealer(Buffer.alloc(64), [Buffer.from('h')], native).decrypt(Buffer.alloc(15))).toBeNull();
  });
  it('many values at once give each value alone', () => {
    const sealer = sivSealer(Buffer.alloc(64, 9), [Buffer.from('header')], native);
    const pts = [0, 1, 15, 16, 17, 33, 100, 0, 300].map((len, i) => Buffer.alloc(len, 0x30 + i));
    const many = sealer.encryptMany(pts);
    expect(many.map((c) => c.toString('hex'))).toEqual(pts.map((p) => sivSealer(Buffer.alloc(64, 9), [Buffer.from('header')], null).encrypt(p).toString('hex')));
    expect(sealer.decryptMany([...many, Buffer.alloc(3)]).map((p) => p?.toString('hex') ?? null)).toEqual([...pts.map((p) => p.toString('hex')), null]);
  });
});
