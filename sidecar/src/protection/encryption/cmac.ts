// AES-CMAC (RFC 4493, NIST SP 800-38B) over node:crypto's single-block AES-ECB primitive.
// node:crypto offers no CMAC cipher, so the mode is assembled from the block cipher exactly as
// the RFC specifies (subkey generation by doubling in GF(2^128), last-block padding, CBC-MAC).
import { createCipheriv } from 'node:crypto';
import type { Cipheriv } from 'node:crypto';

export const BLOCK = 16;

function cipherName(key: Uint8Array, mode: 'ecb' | 'cbc'): string {
  if (key.length === 16) return `aes-128-${mode}`;
  if (key.length === 24) return `aes-192-${mode}`;
  if (key.length === 32) return `aes-256-${mode}`;
  throw new RangeError(`AES key must be 16, 24 or 32 bytes, got ${key.length}`);
}

function cbc(key: Uint8Array): { c: Cipheriv; last: Buffer } {
  let s = cbcCache.get(key);
  if (!s) {
    const c = createCipheriv(cipherName(key, 'cbc'), key, Buffer.alloc(BLOCK));
    c.setAutoPadding(false);
    s = { c, last: Buffer.alloc(BLOCK) };
    cbcCache.set(key, s);
  }
  return s;
}

// One long-lived ECB cipher per key object: with padding off, update() of a whole block returns
// that block's encryption at once, so the object can serve every block (keying once per key
// instead of once per block). Keys are the derived-key Buffers the deriver caches.
const ecbCache = new WeakMap<Uint8Array, Cipheriv>();
// One long-lived CBC cipher per key for CBC-MAC in one native call: CBC keeps its chaining value
// (the last ciphertext block) between update() calls, so the next message's first block is XORed
// with that value first, which cancels it and starts the chain from the zero IV CMAC needs.
const cbcCache = new WeakMap<Uint8Array, { c: Cipheriv; last: Buffer }>();
const subkeyCache = new WeakMap<Uint8Array, { k1: Buffer; k2: Buffer }>();

function ecb(key: Uint8Array): Cipheriv {
  let c = ecbCache.get(key);
  if (!c) {
    c = createCipheriv(cipherName(key, 'ecb'), key, null);
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
  // The whole CBC-MAC input in one buffer: the blocks, the last one XORed with K1 (complete) or
  // padded and XORed with K2, the first one XORed with the context's chaining value (see cbc()).
  const input = Buffer.alloc(n * BLOCK);
  input.set(message.subarray(0, (n - 1) * BLOCK));
  const lastAt = (n - 1) * BLOCK;
  const lastLen = message.length - lastAt;
  for (let i = 0; i < lastLen; i++) input[lastAt + i] = message[lastAt + i] as number;
  if (!complete) input[lastAt + lastLen] = 0x80;
  const k = complete ? k1 : k2;
  for (let i = 0; i < BLOCK; i++) input[lastAt + i] = (input[lastAt + i] as number) ^ (k[i] as number);
  const chain = cbc(key);
  for (let i = 0; i < BLOCK; i++) input[i] = (input[i] as number) ^ (chain.last[i] as number);
  const out = chain.c.update(input);
  if (out.length !== input.length) throw new Error('AES-CBC returned a partial block');
  chain.last = out.subarray(out.length - BLOCK);
  return Buffer.from(chain.last);
}

/** 10* padding of a partial block to 16 bytes. */
export function pad(partial: Uint8Array): Buffer {
  const out = Buffer.alloc(BLOCK);
  out.set(partial);
  out[partial.length] = 0x80;
  return out;
}
