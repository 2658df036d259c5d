// AES-SIV deterministic authenticated encryption, RFC 5297, built from AES-CMAC (RFC 4493) and
// AES in counter mode. This is the standard construction, not a new primitive: S2V derives the
// synthetic IV from the associated data and the plaintext; CTR encrypts with that IV after the
// two bits the RFC names are cleared (so 32-bit counter implementations interoperate).
//
// Cost notes (the proxy seals one value per column per row): the S2V state after the associated
// data depends only on the key and the associated data, so a sealer computes it once and reuses
// it for every plaintext (the column header is the only associated data); the CTR keystream is
// the AES encryption of the counter blocks, done with the key's cached ECB cipher in one call
// instead of keying a new CTR cipher object per value.
//
// Where the native module is loaded (native-aes.ts), a sealer seals and opens each value in one
// native call (AES-NI) from the same precomputed S2V state; the bytes are the same.
import { timingSafeEqual } from 'node:crypto';
import { aesBlocks, aesCmac, BLOCK, dbl, subkeys, xor } from './cmac.ts';
import { NATIVE_AES, roundKeysOf } from './native-aes.ts';
import type { NativeAes } from './native-aes.ts';

export interface SivSealer {
  /** V || C (16-byte synthetic IV followed by the ciphertext, same length as the plaintext). */
  encrypt(plaintext: Uint8Array): Buffer;
  /** encrypt() of many plaintexts, their CTR keystreams in one native AES call. */
  encryptMany(plaintexts: readonly Uint8Array[]): Buffer[];
  /** Inverse of encrypt; null when authentication fails (tampered or wrong key/AD). */
  decrypt(sealed: Uint8Array): Buffer | null;
  /** decrypt() of many values, their CTR keystreams in one native AES call. */
  decryptMany(sealed: readonly Uint8Array[]): Array<Buffer | null>;
}

function split(key: Uint8Array): { macKey: Uint8Array; ctrKey: Uint8Array } {
  if (key.length !== 32 && key.length !== 48 && key.length !== 64) {
    throw new RangeError(`AES-SIV key must be 32, 48 or 64 bytes, got ${key.length}`);
  }
  const half = key.length / 2;
  return { macKey: key.subarray(0, half), ctrKey: key.subarray(half) };
}

/** S2V state after the associated-data strings (before the plaintext, the last string). */
function s2vPrefix(macKey: Uint8Array, associated: Uint8Array[]): Buffer {
  let d = aesCmac(macKey, Buffer.alloc(BLOCK));
  for (const a of associated) d = xor(dbl(d), aesCmac(macKey, a));
  return d;
}

/**
 * The last S2V step over the plaintext, from the prefix state `d`; `dd` is dbl(d) when the caller
 * has it (a sealer computes it once: its prefix is fixed).
 */
function s2vFinish(macKey: Uint8Array, d: Buffer, last: Uint8Array, dd?: Buffer): Buffer {
  if (last.length >= BLOCK) {
    const t = Buffer.from(last);
    const tail = xor(t.subarray(t.length - BLOCK), d);
    tail.copy(t, t.length - BLOCK);
    return aesCmac(macKey, t);
  }
  // dbl(d) XOR pad(last), in one buffer.
  const x = dd ?? dbl(d);
  const m = Buffer.allocUnsafe(BLOCK);
  for (let i = 0; i < BLOCK; i++) m[i] = (x[i] as number) ^ (i < last.length ? (last[i] as number) : i === last.length ? 0x80 : 0);
  return aesCmac(macKey, m);
}

/** S2V (RFC 5297 section 2.4) over the vector of associated-data strings followed by the plaintext. */
export function s2v(macKey: Uint8Array, strings: Uint8Array[]): Buffer {
  if (strings.length === 0) {
    const one = Buffer.alloc(BLOCK);
    one[BLOCK - 1] = 1;
    return aesCmac(macKey, one);
  }
  return s2vFinish(macKey, s2vPrefix(macKey, strings.slice(0, -1)), strings[strings.length - 1] as Uint8Array);
}

/** Adds one to the 128-bit big-endian counter at b[at, at + 16), in place. */
function increment(b: Buffer, at: number): void {
  for (let j = at + BLOCK - 1; j >= at; j--) {
    b[j] = ((b[j] as number) + 1) & 0xff;
    if (b[j] !== 0) return;
  }
}

/** The n counter blocks from `v` (the two RFC bits cleared) into counters[at…], each the one before plus one. */
function counterBlocks(counters: Buffer, at: number, v: Uint8Array, n: number): void {
  for (let j = 0; j < BLOCK; j++) counters[at + j] = v[j] as number;
  counters[at + 8] = (counters[at + 8] as number) & 0x7f;
  counters[at + 12] = (counters[at + 12] as number) & 0x7f;
  for (let i = 1; i < n; i++) {
    const b = at + i * BLOCK;
    counters.copyWithin(b, b - BLOCK, b);
    increment(counters, b);
  }
}

function xorStream(data: Uint8Array, stream: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(data.length);
  for (let i = 0; i < data.length; i++) out[i] = (data[i] ?? 0) ^ (stream[i] ?? 0);
  return out;
}

/** AES-CTR from the initial counter block `v` (the two RFC bits cleared), 128-bit big-endian increment. */
export function ctr(key: Uint8Array, v: Uint8Array, data: Uint8Array): Buffer {
  if (data.length === 0) return Buffer.alloc(0);
  const n = Math.ceil(data.length / BLOCK);
  const counters = Buffer.alloc(n * BLOCK);
  counterBlocks(counters, 0, v, n);
  return xorStream(data, aesBlocks(key, counters));
}

/** ctr() of many (v, data) pairs in one native AES call. */
function ctrMany(key: Uint8Array, items: ReadonlyArray<{ v: Uint8Array; data: Uint8Array }>): Buffer[] {
  const at: number[] = [];
  let total = 0;
  for (const it of items) {
    at.push(total);
    total += Math.ceil(it.data.length / BLOCK) * BLOCK;
  }
  const counters = Buffer.alloc(total);
  items.forEach((it, i) => counterBlocks(counters, at[i] as number, it.v, Math.ceil(it.data.length / BLOCK)));
  const stream = total > 0 ? aesBlocks(key, counters) : counters;
  return items.map((it, i) => xorStream(it.data, stream.subarray(at[i] as number)));
}

/**
 * A sealer for one key and one fixed list of associated data (at least one string): the native
 * module's when it is loaded (and `native` not null), else TypeScript over the AES block function.
 */
export function sivSealer(key: Uint8Array, associated: Uint8Array[], native: NativeAes | null = NATIVE_AES.native): SivSealer {
  const { macKey, ctrKey } = split(key);
  // With no associated data the vector is the plaintext alone: RFC 5297 S2V still starts from
  // CMAC(0^128), so the prefix covers that case too.
  const prefix = s2vPrefix(macKey, associated);
  const prefixDbl = dbl(prefix);
  const macRounds = native ? roundKeysOf(native, macKey) : undefined;
  const ctrRounds = native ? roundKeysOf(native, ctrKey) : undefined;
  if (native && macRounds && ctrRounds) {
    const { k1, k2 } = subkeys(macKey);
    return nativeSiv(native, macRounds, ctrRounds, Buffer.concat([prefix, prefixDbl, k1, k2]));
  }
  return {
    encrypt(plaintext) {
      const v = s2vFinish(macKey, prefix, plaintext, prefixDbl);
      return Buffer.concat([v, ctr(ctrKey, v, plaintext)]);
    },
    encryptMany(plaintexts) {
      const vs = plaintexts.map((p) => s2vFinish(macKey, prefix, p, prefixDbl));
      const cts = ctrMany(ctrKey, plaintexts.map((p, i) => ({ v: vs[i] as Buffer, data: p })));
      return vs.map((v, i) => Buffer.concat([v, cts[i] as Buffer]));
    },
    decrypt(sealed) {
      if (sealed.length < BLOCK) return null;
      const v = sealed.subarray(0, BLOCK);
      const plaintext = ctr(ctrKey, v, sealed.subarray(BLOCK));
      const t = s2vFinish(macKey, prefix, plaintext, prefixDbl);
      return timingSafeEqual(t, v) ? plaintext : null;
    },
    decryptMany(sealed) {
      const ok = sealed.filter((s) => s.length >= BLOCK);
      const pts = ctrMany(ctrKey, ok.map((s) => ({ v: s.subarray(0, BLOCK), data: s.subarray(BLOCK) })));
      let k = 0;
      return sealed.map((s) => {
        if (s.length < BLOCK) return null;
        const plaintext = pts[k++] as Buffer;
        return timingSafeEqual(s2vFinish(macKey, prefix, plaintext, prefixDbl), s.subarray(0, BLOCK)) ? plaintext : null;
      });
    },
  };
}

/** A SivSealer in one native call per value; `state` = D || dbl(D) || K1 || K2 (see NativeAes.sivSeal). */
function nativeSiv(native: NativeAes, macRounds: Buffer, ctrRounds: Buffer, state: Buffer): SivSealer {
  const encrypt = (plaintext: Uint8Array): Buffer => {
    const out = Buffer.allocUnsafe(BLOCK + plaintext.length);
    native.sivSeal(macRounds, ctrRounds, state, plaintext, out);
    return out;
  };
  const decrypt = (sealed: Uint8Array): Buffer | null => {
    if (sealed.length < BLOCK) return null;
    const out = Buffer.allocUnsafe(sealed.length - BLOCK);
    return native.sivOpen(macRounds, ctrRounds, state, sealed, out) ? out : null;
  };
  return { encrypt, decrypt, encryptMany: (pts) => pts.map(encrypt), decryptMany: (sealed) => sealed.map(decrypt) };
}

/** Returns V || C (16-byte synthetic IV followed by the ciphertext, same length as the plaintext). */
export function sivEncrypt(key: Uint8Array, associated: Uint8Array[], plaintext: Uint8Array): Buffer {
  return sivSealer(key, associated).encrypt(plaintext);
}

/** Inverse of sivEncrypt; returns null when authentication fails (tampered or wrong key/AD). */
export function sivDecrypt(key: Uint8Array, associated: Uint8Array[], sealed: Uint8Array): Buffer | null {
  return sivSealer(key, associated).decrypt(sealed);
}
