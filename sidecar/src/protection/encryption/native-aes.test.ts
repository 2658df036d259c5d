import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
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

  describe.runIf(x64)('against OpenSSL', () => {
    // The block function and key expansion through a one-block GCM value: its ciphertext is the
    // plaintext XOR E(nonce || 2), so a zero plaintext gives the raw AES of that counter block.
    const aesOfCounter2 = (key: Buffer, nonce: Buffer): Buffer => {
      const rk = Buffer.alloc(ROUND_KEY_BYTES);
      native.expand(key, rk);
      const hashKey = createCipheriv(`aes-${key.length * 8}-ecb`, key, null).setAutoPadding(false).update(Buffer.alloc(16));
      const out = Buffer.concat([nonce, Buffer.alloc(16 + 16)]);
      native.gcmSeal(rk, hashKey, Buffer.alloc(0), out, 0, Buffer.alloc(16));
      return out.subarray(12, 28);
    };

    it.each([
      // The FIPS-197 appendix C.1 (AES-128) and C.3 (AES-256) keys.
      ['000102030405060708090a0b0c0d0e0f', 'aes-128-ecb'],
      ['000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'aes-256-ecb'],
    ])('expands key %s as OpenSSL does (%s of a counter block)', (key, cipher) => {
      const nonce = h('00112233445566778899aabb');
      const want = createCipheriv(cipher, h(key), null).setAutoPadding(false).update(Buffer.concat([nonce, h('00000002')]));
      expect(aesOfCounter2(h(key), nonce).toString('hex')).toBe(want.toString('hex'));
    });

    it('gives OpenSSL\'s AES for random AES-128 and AES-256 keys', () => {
      for (let t = 0; t < 400; t++) {
        const key = randomBytes(t % 2 ? 32 : 16);
        const nonce = randomBytes(12);
        const want = createCipheriv(`aes-${key.length * 8}-ecb`, key, null).setAutoPadding(false).update(Buffer.concat([nonce, h('00000002')]));
        expect(aesOfCounter2(key, nonce).equals(want)).toBe(true);
      }
    });

    it('refuses malformed arguments with a RangeError, not a crash', () => {
      const rk = Buffer.alloc(ROUND_KEY_BYTES);
      native.expand(randomBytes(16), rk);
      const bad: Array<[() => void, RegExp]> = [
        [() => native.expand(Buffer.alloc(24), Buffer.alloc(ROUND_KEY_BYTES)), /16 or 32 bytes/],
        [() => native.expand(Buffer.alloc(32), Buffer.alloc(240)), /256 bytes/],
        [() => native.gcmSeal(Buffer.alloc(ROUND_KEY_BYTES), Buffer.alloc(16), Buffer.alloc(0), Buffer.alloc(40), 0, Buffer.alloc(12)), /not a round-key buffer/],
        [() => native.gcmSeal(rk, Buffer.alloc(16), 'text' as unknown as Uint8Array, Buffer.alloc(40), 0, Buffer.alloc(12)), /Uint8Array/],
        [() => native.gcmSeal(rk, Buffer.alloc(16), new Uint16Array(8) as unknown as Uint8Array, Buffer.alloc(40), 0, Buffer.alloc(12)), /Uint8Array/],
        [() => (native.gcmOpen as unknown as (a: unknown) => void)(rk), /number of arguments/],
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
});
