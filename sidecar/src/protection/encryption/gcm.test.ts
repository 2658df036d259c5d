import { createCipheriv, createDecipheriv, randomBytes, randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { GcmSealer, gcmSealer, GCM_NONCE_BYTES, GCM_TAG_BYTES, NativeGcmSealer } from './gcm.ts';
import type { GcmCipher } from './gcm.ts';
import { NATIVE_AES } from './native-aes.ts';

function opensslSeal(key: Buffer, nonce: Buffer, aad: Buffer, pt: Buffer): Buffer {
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(aad);
  return Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
}

function opensslOpen(key: Buffer, nonce: Buffer, aad: Buffer, ctTag: Buffer): Buffer {
  const d = createDecipheriv('aes-256-gcm', key, nonce);
  d.setAAD(aad);
  d.setAuthTag(ctTag.subarray(ctTag.length - GCM_TAG_BYTES));
  return Buffer.concat([d.update(ctTag.subarray(0, ctTag.length - GCM_TAG_BYTES)), d.final()]);
}

// Lengths around every block boundary, past the 4 prepared counter blocks, and long ones.
const LENGTHS = [0, 1, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 80, 100, 255, 256, 1000, 4099];
const AADS = [0, 8, 15, 16, 17, 40, 100];

// Both implementations against OpenSSL: TypeScript (ECB blocks and a constant-time GHASH) and the
// native module (AES-NI and PCLMULQDQ), where it is loaded (native-aes.test.ts requires it on x86-64).
const IMPLEMENTATIONS: Array<[string, (key: Buffer, aad: Uint8Array) => GcmCipher]> = [['TypeScript', (key, aad) => new GcmSealer(key, aad)]];
const native = NATIVE_AES.native;
if (native) IMPLEMENTATIONS.push(['native', (key, aad) => gcmSealer(key, aad, native)]);

describe.each(IMPLEMENTATIONS)('AES-256-GCM, %s', (name, make) => {
  it('is the implementation it says', () => {
    expect(make(randomBytes(32), Buffer.alloc(0))).toBeInstanceOf(name === 'native' ? NativeGcmSealer : GcmSealer);
  });

  it('gives what OpenSSL gives for the same key, nonce and associated data, at every length', () => {
    for (const aadLen of AADS) {
      const key = randomBytes(32);
      const aad = randomBytes(aadLen);
      const s = make(key, aad);
      const prefix = randomBytes(8);
      for (const n of LENGTHS) {
        const pt = randomBytes(n);
        const sealed = s.seal(prefix, pt);
        expect(sealed.subarray(0, 8)).toEqual(prefix);
        const nonce = sealed.subarray(8, 8 + GCM_NONCE_BYTES);
        expect(sealed.subarray(8 + GCM_NONCE_BYTES)).toEqual(opensslSeal(key, nonce, aad, pt));
        expect(opensslOpen(key, nonce, aad, sealed.subarray(8 + GCM_NONCE_BYTES))).toEqual(pt);
        expect(s.open(sealed, 8)).toEqual(pt);
      }
    }
  });

  it('opens what OpenSSL sealed, over many pool refills', () => {
    const key = randomBytes(32);
    const aad = randomBytes(40);
    const s = make(key, aad);
    for (let i = 0; i < 600; i++) {
      const nonce = randomBytes(GCM_NONCE_BYTES);
      const pt = randomBytes(i % 90);
      const stored = Buffer.concat([Buffer.from([1, 2, 3]), nonce, opensslSeal(key, nonce, aad, pt)]);
      expect(s.open(stored, 3)).toEqual(pt);
      // And its own ciphertexts through OpenSSL, from every pool position.
      const own = s.seal(Buffer.alloc(0), pt);
      expect(opensslOpen(key, own.subarray(0, GCM_NONCE_BYTES), aad, own.subarray(GCM_NONCE_BYTES))).toEqual(pt);
    }
  });

  it('never repeats a nonce', () => {
    const s = make(randomBytes(32), Buffer.alloc(0));
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) seen.add(s.seal(Buffer.alloc(0), Buffer.from('same')).subarray(0, GCM_NONCE_BYTES).toString('hex'));
    expect(seen.size).toBe(2000);
  });

  it('refuses every single-bit change, a truncation, the wrong associated data and the wrong key', () => {
    const key = randomBytes(32);
    const aad = Buffer.from('header+scope');
    const s = make(key, aad);
    const sealed = s.seal(Buffer.alloc(2), Buffer.from('Alice Martin, 1-85-05-75-123-456'));
    for (let i = 2; i < sealed.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const bad = Buffer.from(sealed);
        bad[i] = (bad[i] as number) ^ (1 << bit);
        expect(s.open(bad, 2)).toBeNull();
      }
    }
    expect(s.open(sealed.subarray(0, sealed.length - 1), 2)).toBeNull();
    expect(s.open(sealed.subarray(0, 2 + GCM_NONCE_BYTES + GCM_TAG_BYTES - 1), 2)).toBeNull();
    expect(make(key, Buffer.from('header+scopf')).open(sealed, 2)).toBeNull();
    expect(make(randomBytes(32), aad).open(sealed, 2)).toBeNull();
    expect(s.open(sealed, 2)?.toString()).toBe('Alice Martin, 1-85-05-75-123-456');
  });

  it('gives what OpenSSL gives for 2,000 random keys, nonces, associated data and lengths', () => {
    for (let i = 0; i < 2000; i++) {
      const key = randomBytes(32);
      const aad = randomBytes(i % 5 === 0 ? 0 : randomInt(1, 90));
      // Empty, short, block multiples and not, past the prepared counter blocks.
      const pt = randomBytes(i % 7 === 0 ? 0 : i % 3 === 0 ? 16 * randomInt(1, 8) : randomInt(1, 300));
      const s = make(key, aad);
      const sealed = s.seal(Buffer.alloc(0), pt);
      const nonce = sealed.subarray(0, GCM_NONCE_BYTES);
      expect(sealed.subarray(GCM_NONCE_BYTES)).toEqual(opensslSeal(key, nonce, aad, pt));
      const theirs = randomBytes(GCM_NONCE_BYTES);
      expect(s.open(Buffer.concat([theirs, opensslSeal(key, theirs, aad, pt)]), 0)).toEqual(pt);
    }
  });

  it('matches the NIST GCM test vectors for AES-256 (test cases 13 to 15: empty, one zero block, 64 bytes)', () => {
    const zeroKey = Buffer.alloc(32);
    const zeroNonce = Buffer.alloc(GCM_NONCE_BYTES);
    const open = (key: Buffer, nonce: Buffer, aad: Buffer, ctTag: string) => make(key, aad).open(Buffer.concat([nonce, Buffer.from(ctTag, 'hex')]), 0);
    expect(open(zeroKey, zeroNonce, Buffer.alloc(0), '530f8afbc74536b9a963b4f1c4cb738b')).toEqual(Buffer.alloc(0));
    expect(open(zeroKey, zeroNonce, Buffer.alloc(0), 'cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919')).toEqual(Buffer.alloc(16));
    const key = Buffer.from('feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308', 'hex');
    const nonce = Buffer.from('cafebabefacedbaddecaf888', 'hex');
    const pt = Buffer.from('d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255', 'hex');
    expect(open(key, nonce, Buffer.alloc(0), '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad'
      + 'b094dac5d93471bdec1a502270e3cc6c')).toEqual(pt);
  });

  it('matches the NIST GCM test vector (test case 16: AES-256, 60-byte plaintext, 20-byte AAD)', () => {
    const key = Buffer.from('feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308', 'hex');
    const nonce = Buffer.from('cafebabefacedbaddecaf888', 'hex');
    const pt = Buffer.from('d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39', 'hex');
    const aad = Buffer.from('feedfacedeadbeeffeedfacedeadbeefabaddad2', 'hex');
    const stored = Buffer.concat([nonce, Buffer.from('522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662', 'hex'),
      Buffer.from('76fc6ece0f4e1768cddf8853bb2d551b', 'hex')]);
    expect(make(key, aad).open(stored, 0)).toEqual(pt);
  });
});
