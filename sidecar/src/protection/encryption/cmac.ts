// AES-CMAC (RFC 4493, NIST SP 800-38B) over node:crypto's single-block AES-ECB primitive.
// node:crypto offers no CMAC cipher, so the mode is assembled from the block cipher exactly as
// the RFC specifies (subkey generation by doubling in GF(2^128), last-block padding, CBC-MAC).
import { createCipheriv } from 'node:crypto';

export const BLOCK = 16;

function ecbCipherName(key: Uint8Array): string {
  if (key.length === 16) return 'aes-128-ecb';
  if (key.length === 24) return 'aes-192-ecb';
  if (key.length === 32) return 'aes-256-ecb';
  throw new RangeError(`AES key must be 16, 24 or 32 bytes, got ${key.length}`);
}

/** Encrypts exactly one 16-byte block with AES (ECB of a single block = the raw permutation). */
export function aesBlock(key: Uint8Array, block: Uint8Array): Buffer {
  const c = createCipheriv(ecbCipherName(key), key, null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
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
  const l = aesBlock(key, Buffer.alloc(BLOCK));
  const k1 = dbl(l);
  return { k1, k2: dbl(k1) };
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
