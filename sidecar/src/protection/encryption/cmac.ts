// AES-CMAC (RFC 4493, NIST SP 800-38B) over node:crypto's single-block AES-ECB primitive.
// node:crypto offers no CMAC cipher, so the mode is assembled from the block cipher exactly as
// the RFC specifies (subkey generation by doubling in GF(2^128), last-block padding, CBC-MAC).
import { createCipheriv } from 'node:crypto';
import type { Cipheriv } from 'node:crypto';

export const BLOCK = 16;

function ecbCipherName(key: Uint8Array): string {
  if (key.length === 16) return 'aes-128-ecb';
  if (key.length === 24) return 'aes-192-ecb';
  if (key.length === 32) return 'aes-256-ecb';
  throw new RangeError(`AES key must be 16, 24 or 32 bytes, got ${key.length}`);
}

// One long-lived ECB cipher per key object: with padding off, update() of a whole block returns
// that block's encryption at once, so the object can serve every block (keying once per key
// instead of once per block). Keys are the derived-key Buffers the deriver caches.
const ecbCache = new WeakMap<Uint8Array, Cipheriv>();
const subkeyCache = new WeakMap<Uint8Array, { k1: Buffer; k2: Buffer }>();

function ecb(key: Uint8Array): Cipheriv {
  let c = ecbCache.get(key);
  if (!c) {
    c = createCipheriv(ecbCipherName(key), key, null);
    c.setAutoPadding(false);
    ecbCache.set(key, c);
  }
  return c;
}

/** Encrypts exactly one 16-byte block with AES (ECB of a single block = the raw permutation). */
export function aesBlock(key: Uint8Array, block: Uint8Array): Buffer {
  if (block.length !== BLOCK) throw new RangeError('aesBlock needs exactly one block');
  const out = ecb(key).update(block);
  if (out.length !== BLOCK) throw new Error('AES-ECB returned a partial block');
  return out;
}

/**
 * Encrypts whole blocks independently (ECB) with the key's cached cipher, in one call: the
 * keystream of a CTR computation is the encryption of its counter blocks.
 */
export function aesBlocks(key: Uint8Array, blocks: Uint8Array): Buffer {
  if (blocks.length === 0 || blocks.length % BLOCK !== 0) throw new RangeError('aesBlocks needs whole blocks');
  const out = ecb(key).update(blocks);
  if (out.length !== blocks.length) throw new Error('AES-ECB returned a partial block');
  return out;
}

/** Multiplication by x in GF(2^128) with the polynomial x^128 + x^7 + x^2 + x + 1 ("dbl"). */
export function dbl(block: Uint8Array): Buffer {
  const out = Buffer.alloc(BLOCK);
  let carry = 0;
  for (let i = BLOCK - 1; i >= 0; i--) {
    const b = block[i] ?? 0;
    out[i] = ((b << 1) & 0xff) | carry;
    carry = b >> 7;
  }
  if ((block[0] ?? 0) & 0x80) out[BLOCK - 1] = (out[BLOCK - 1] ?? 0) ^ 0x87;
  return out;
}

export function xor(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] ?? 0) ^ (b[i] ?? 0);
  return out;
}

export function subkeys(key: Uint8Array): { k1: Buffer; k2: Buffer } {
  let s = subkeyCache.get(key);
  if (!s) {
    const k1 = dbl(aesBlock(key, Buffer.alloc(BLOCK)));
    s = { k1, k2: dbl(k1) };
    subkeyCache.set(key, s);
  }
  return s;
}

/** AES-CMAC of a message of any length; returns the full 16-byte tag. */
export function aesCmac(key: Uint8Array, message: Uint8Array): Buffer {
  const { k1, k2 } = subkeys(key);
  const n = Math.max(1, Math.ceil(message.length / BLOCK));
  const complete = message.length > 0 && message.length % BLOCK === 0;
  const lastRaw = message.subarray((n - 1) * BLOCK);
  const last = complete ? xor(lastRaw, k1) : xor(pad(lastRaw), k2);
  // CBC-MAC over the first n-1 blocks, using one ECB cipher object with no padding; the chaining
  // is done here because ECB does not chain.
  let x: Buffer = Buffer.alloc(BLOCK);
  for (let i = 0; i < n - 1; i++) x = aesBlock(key, xor(x, message.subarray(i * BLOCK, (i + 1) * BLOCK)));
  return aesBlock(key, xor(x, last));
}

/** 10* padding of a partial block to 16 bytes. */
export function pad(partial: Uint8Array): Buffer {
  const out = Buffer.alloc(BLOCK);
  out.set(partial);
  out[partial.length] = 0x80;
  return out;
}
