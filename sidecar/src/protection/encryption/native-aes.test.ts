import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { aesCmac, NODE_BLOCKS, nativeBlocks } from './cmac.ts';
import type { BlockFunction } from './cmac.ts';
import { AES_IMPLEMENTATION, loadNativeAes, NATIVE_AES, ROUND_KEY_BYTES } from './native-aes.ts';
import type { NativeAes } from './native-aes.ts';

const h = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// The module is built by make setup (scripts/build-native.sh) on every x86-64 machine the tests run
// on; a missing build must fail here rather than leave the proxy silently on node:crypto.
const native = NATIVE_AES.native as NativeAes;
const x64 = process.arch === 'x64' && process.env.CLARUS_NATIVE_AES !== '0';

describe('native AES module', () => {
  it.runIf(x64)('is loaded on this machine', () => {
    expect(NATIVE_AES.reason).toBeUndefined();
    expect(AES_IMPLEMENTATION).toMatch(/^AES-NI/);
  });

  it('is not used when turned off', () => {
    expect(loadNativeAes({ CLARUS_NATIVE_AES: '0' })).toEqual({ native: null, reason: 'turned off (CLARUS_NATIVE_AES=0)' });
  });

  describe.runIf(x64)('against FIPS-197 and node:crypto', () => {
    const blocks = (): BlockFunction => nativeBlocks(native);

    it.each([
      // FIPS-197 appendix C.1 (AES-128) and C.3 (AES-256).
      ['000102030405060708090a0b0c0d0e0f', '69c4e0d86a7b0430d8cdb78070b4c55a'],
      ['000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', '8ea2b7ca516745bfeafc49904b496089'],
    ])('encrypts the FIPS-197 example block with key %s', (key, want) => {
      expect(blocks().ecb(h(key), h('00112233445566778899aabbccddeeff')).toString('hex')).toBe(want);
    });

    it('gives node:crypto\'s AES-ECB and CBC-MAC bytes for random keys and lengths', () => {
      const mine = blocks();
      for (let t = 0; t < 400; t++) {
        const key = randomBytes([16, 32, 24][t % 3] as number);
        const input = randomBytes(16 * (1 + (t % 11)));
        const ecb = createCipheriv(`aes-${key.length * 8}-ecb`, key, null).setAutoPadding(false);
        expect(mine.ecb(key, input).equals(ecb.update(input))).toBe(true);
        const cbc = createCipheriv(`aes-${key.length * 8}-cbc`, key, Buffer.alloc(16)).setAutoPadding(false);
        expect(mine.cbcMac(key, input).equals(cbc.update(input).subarray(input.length - 16))).toBe(true);
        // node:crypto's CBC-MAC keeps a cipher object per key across calls: the same again.
        expect(NODE_BLOCKS.cbcMac(key, input).equals(mine.cbcMac(key, input))).toBe(true);
      }
    });

    it('encrypts in place (the output may be the input)', () => {
      const key = randomBytes(32);
      const input = randomBytes(64);
      const want = NODE_BLOCKS.ecb(key, input);
      const rk = Buffer.alloc(ROUND_KEY_BYTES);
      native.expand(key, rk);
      native.ecb(rk, input, input);
      expect(input.equals(want)).toBe(true);
    });

    it('refuses malformed arguments with a RangeError, not a crash', () => {
      const rk = Buffer.alloc(ROUND_KEY_BYTES);
      native.expand(randomBytes(16), rk);
      const bad: Array<[() => void, RegExp]> = [
        [() => native.ecb(rk, Buffer.alloc(15), Buffer.alloc(15)), /whole blocks/],
        [() => native.ecb(rk, Buffer.alloc(32), Buffer.alloc(16)), /whole blocks/],
        [() => native.cbcMac(rk, Buffer.alloc(0), Buffer.alloc(16)), /whole blocks/],
        [() => native.cbcMac(rk, Buffer.alloc(16), Buffer.alloc(8)), /16-byte tag/],
        [() => native.expand(Buffer.alloc(24), Buffer.alloc(ROUND_KEY_BYTES)), /16 or 32 bytes/],
        [() => native.expand(Buffer.alloc(32), Buffer.alloc(240)), /256 bytes/],
        [() => native.ecb(Buffer.alloc(ROUND_KEY_BYTES), Buffer.alloc(16), Buffer.alloc(16)), /not a round-key buffer/],
        [() => native.ecb(rk, 'text' as unknown as Uint8Array, Buffer.alloc(16)), /Uint8Array/],
        [() => native.ecb(rk, new Uint16Array(8) as unknown as Uint8Array, Buffer.alloc(16)), /Uint8Array/],
        [() => (native.ecb as unknown as (a: unknown) => void)(rk), /number of arguments/],
        [() => native.gcmSeal(rk, Buffer.alloc(16), Buffer.alloc(0), Buffer.alloc(40), 0, Buffer.alloc(13)), /nonceAt \+ 12/],
        [() => native.gcmSeal(rk, Buffer.alloc(15), Buffer.alloc(0), Buffer.alloc(40), 0, Buffer.alloc(12)), /GHASH key/],
        [() => native.gcmSeal(rk, Buffer.alloc(16), Buffer.alloc(0), Buffer.alloc(40), '0' as unknown as number, Buffer.alloc(12)), /unsigned integer/],
        [() => native.gcmOpen(rk, Buffer.alloc(16), Buffer.alloc(0), Buffer.alloc(27), 0, Buffer.alloc(0)), /as long as the ciphertext/],
        [() => native.gcmOpen(rk, Buffer.alloc(16), Buffer.alloc(0), Buffer.alloc(40), 0, Buffer.alloc(11)), /as long as the ciphertext/],
        [() => native.sivSeal(rk, rk, Buffer.alloc(64), Buffer.alloc(5), Buffer.alloc(20)), /16 \+ plaintext/],
        [() => native.sivSeal(rk, rk, Buffer.alloc(48), Buffer.alloc(5), Buffer.alloc(21)), /S2V state/],
        [() => native.sivOpen(rk, rk, Buffer.alloc(64), Buffer.alloc(15), Buffer.alloc(0)), /16 bytes shorter/],
        [() => native.sivOpen(rk, Buffer.alloc(ROUND_KEY_BYTES), Buffer.alloc(64), Buffer.alloc(20), Buffer.alloc(4)), /not a round-key buffer/],
      ];
      for (const [f, message] of bad) expect(f).toThrow(message);
    });
  });

  // RFC 4493 section 4 through both block functions (siv.test.ts runs them through this process's).
  const functions: Array<[string, () => BlockFunction]> = [['node:crypto', () => NODE_BLOCKS]];
  if (x64) functions.push(['AES-NI', () => nativeBlocks(native)]);
  describe.each(functions)('AES-CMAC over %s', (_name, blocks) => {
    const key = h('2b7e1516 28aed2a6 abf71588 09cf4f3c');
    const msg = h(`6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51
                   30c81c46 a35ce411 e5fbc119 1a0a52ef f69f2445 df4f9b17 ad2b417b e66c3710`);
    it.each([
      [0, 'bb1d6929e95937287fa37d129b756746'],
      [16, '070a16b46b4d4144f79bdd9dd04a287c'],
      [40, 'dfa66747de9ae63030ca32611497c827'],
      [64, '51f0bebf7e3b9d92fc49741779363cfe'],
    ])('tags a %d-byte message', (n, want) => {
      expect(aesCmac(key, msg.subarray(0, n), blocks()).toString('hex')).toBe(want);
    });
  });
});
