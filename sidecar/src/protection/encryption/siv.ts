// AES-SIV deterministic authenticated encryption, RFC 5297, built from AES-CMAC (RFC 4493) and
// node:crypto's AES-CTR. This is the standard construction, not a new primitive: S2V derives the
// synthetic IV from the associated data and the plaintext; CTR encrypts with that IV after the
// two bits the RFC names are cleared (so 32-bit counter implementations interoperate).
import { createCipheriv, timingSafeEqual } from 'node:crypto';
import { aesCmac, BLOCK, dbl, pad, xor } from './cmac.ts';

// The halves are cached per key object so the CMAC layer's per-key cipher cache can hit.
const halves = new WeakMap<Uint8Array, { macKey: Uint8Array; ctrKey: Uint8Array }>();

function split(key: Uint8Array): { macKey: Uint8Array; ctrKey: Uint8Array } {
  if (key.length !== 32 && key.length !== 48 && key.length !== 64) {
    throw new RangeError(`AES-SIV key must be 32, 48 or 64 bytes, got ${key.length}`);
  }
  let h = halves.get(key);
  if (!h) {
    const half = key.length / 2;
    h = { macKey: key.subarray(0, half), ctrKey: key.subarray(half) };
    halves.set(key, h);
  }
  return h;
}

/** S2V (RFC 5297 section 2.4) over the vector of associated-data strings followed by the plaintext. */
export function s2v(macKey: Uint8Array, strings: Uint8Array[]): Buffer {
  if (strings.length === 0) {
    const one = Buffer.alloc(BLOCK);
    one[BLOCK - 1] = 1;
    return aesCmac(macKey, one);
  }
  let d = aesCmac(macKey, Buffer.alloc(BLOCK));
  for (let i = 0; i < strings.length - 1; i++) d = xor(dbl(d), aesCmac(macKey, strings[i] as Uint8Array));
  const last = strings[strings.length - 1] as Uint8Array;
  if (last.length >= BLOCK) {
    const t = Buffer.from(last);
    const tail = xor(t.subarray(t.length - BLOCK), d);
    tail.copy(t, t.length - BLOCK);
    return aesCmac(macKey, t);
  }
  return aesCmac(macKey, xor(dbl(d), pad(last)));
}

function ctrName(key: Uint8Array): string {
  return `aes-${key.length * 8}-ctr`;
}

function ctr(key: Uint8Array, v: Uint8Array, data: Uint8Array): Buffer {
  const q = Buffer.from(v);
  q[8] = (q[8] ?? 0) & 0x7f;
  q[12] = (q[12] ?? 0) & 0x7f;
  const c = createCipheriv(ctrName(key), key, q);
  return Buffer.concat([c.update(data), c.final()]);
}

/** Returns V || C (16-byte synthetic IV followed by the ciphertext, same length as the plaintext). */
export function sivEncrypt(key: Uint8Array, associated: Uint8Array[], plaintext: Uint8Array): Buffer {
  const { macKey, ctrKey } = split(key);
  const v = s2v(macKey, [...associated, plaintext]);
  return Buffer.concat([v, ctr(ctrKey, v, plaintext)]);
}

/** Inverse of sivEncrypt; returns null when authentication fails (tampered or wrong key/AD). */
export function sivDecrypt(key: Uint8Array, associated: Uint8Array[], sealed: Uint8Array): Buffer | null {
  if (sealed.length < BLOCK) return null;
  const { macKey, ctrKey } = split(key);
  const v = sealed.subarray(0, BLOCK);
  const plaintext = ctr(ctrKey, v, sealed.subarray(BLOCK));
  const t = s2v(macKey, [...associated, plaintext]);
  return timingSafeEqual(t, v) ? plaintext : null;
}
