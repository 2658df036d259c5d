// AES-GCM (NIST SP 800-38D) with 96-bit nonces and 128-bit tags, assembled from the key's cached
// AES-ECB cipher (cmac.ts) and a GHASH written here. The output is byte for byte what OpenSSL's
// aes-256-gcm gives for the same key, nonce and associated data (gcm.test.ts checks both ways).
//
// Why not createCipheriv('aes-256-gcm') per value: keying a cipher object, setAAD, update, final
// and getAuthTag are five native calls per value, about 7 µs, most of a COPY's per-value budget.
// Here a column key keeps, for its next nonces, the AES blocks each value needs (E(J0) and the
// first counter blocks), computed in ONE native call per 128 values; the associated data is the
// same for every value of a column version, so its GHASH state is computed once. What remains
// per value is the GHASH over the ciphertext, whose multiplication (ghash.ts) is constant time.
//
// Where the native module is loaded (native-aes.ts), gcmSealer() gives NativeGcmSealer instead: the
// same layout and bytes, each value sealed or opened in one native call (AES-NI and PCLMULQDQ).
import { randomFillSync, timingSafeEqual } from 'node:crypto';
import { aesBlocks, BLOCK } from './cmac.ts';
import { GhashKey, ghashSquare } from './ghash.ts';
import { NATIVE_AES, roundKeysOf } from './native-aes.ts';
import type { NativeAes } from './native-aes.ts';

export const GCM_NONCE_BYTES = 12;
export const GCM_TAG_BYTES = 16;

/** Nonces prepared at a time, and counter blocks prepared per nonce (values up to 64 bytes). */
const POOL = 128;
const PRE_BLOCKS = 4;
const PER_NONCE = (1 + PRE_BLOCKS) * BLOCK;
/**
 * Ciphertext lengths below this have the product of their length block and H cached per key, so
 * the last ciphertext block and the length block take one multiplication (by H²) instead of two.
 * The cache is indexed by the length, which the stored value shows anyway.
 */
const LENGTH_TERMS = 256;

/** GHASH of the length block: len(A) and len(C) in bits, 64-bit big-endian each. */
function ghashLengths(h: GhashKey, y: Int32Array, aadBytes: number, ctBytes: number): void {
  y[0] = (y[0] as number) ^ Math.floor(aadBytes / 0x20000000);
  y[1] = (y[1] as number) ^ ((aadBytes * 8) | 0);
  y[2] = (y[2] as number) ^ Math.floor(ctBytes / 0x20000000);
  y[3] = (y[3] as number) ^ ((ctBytes * 8) | 0);
  h.mul(y);
}

/**
 * Counter blocks nonce || 1, nonce || 2, … nonce || n+1 (32-bit big-endian counters) from
 * `out[at]` on; the nonce is already in place at `out[at, at + 12)`.
 */
function counterBlocks(out: Buffer, at: number, n: number): void {
  for (let i = 0; i <= n; i++) {
    const b = at + i * BLOCK;
    if (i > 0) out.copyWithin(b, at, at + GCM_NONCE_BYTES);
    const counter = i + 1;
    out[b + 12] = counter >>> 24;
    out[b + 13] = (counter >>> 16) & 0xff;
    out[b + 14] = (counter >>> 8) & 0xff;
    out[b + 15] = counter & 0xff;
  }
}

/** AES of the counter blocks J0 (counter 1) and counters 2 .. n+1 for one nonce. */
function nonceBlocks(key: Buffer, nonce: Uint8Array, n: number): Buffer {
  const blocks = Buffer.alloc((1 + n) * BLOCK);
  blocks.set(nonce, 0);
  counterBlocks(blocks, 0, n);
  return aesBlocks(key, blocks);
}

/** out[i] = src[i] ^ ks[i] over src's length (views of the right places). */
function xorInto(out: Uint8Array, src: Uint8Array, ks: Uint8Array): void {
  for (let i = 0; i < src.length; i++) out[i] = (src[i] as number) ^ (ks[i] as number);
}

const ZERO_BLOCK = new Uint8Array(BLOCK);

/** The tag into out[at, at + 16): E(J0) (ej0's first 16 bytes) XOR the GHASH state y. */
function tagInto(out: Uint8Array, y: Int32Array, ej0: Uint8Array, at = 0): void {
  for (let j = 0; j < 4; j++) {
    const w = y[j] as number;
    const e = 4 * j;
    const o = at + e;
    out[o] = (w >>> 24) ^ (ej0[e] as number);
    out[o + 1] = ((w >>> 16) & 0xff) ^ (ej0[e + 1] as number);
    out[o + 2] = ((w >>> 8) & 0xff) ^ (ej0[e + 2] as number);
    out[o + 3] = (w & 0xff) ^ (ej0[e + 3] as number);
  }
}

/**
 * One AES-GCM key with one fixed associated data (a column version's header || scope): seal
 * gives prefix || nonce || ciphertext || tag, open checks and decrypts that layout.
 */
export interface GcmCipher {
  /** prefix || nonce || AES-GCM(plaintext) || tag, under a fresh random nonce. */
  seal(prefix: Uint8Array, plaintext: Uint8Array): Buffer;
  /** The plaintext of prefix || nonce || ciphertext || tag (the prefix skipped), or null when the tag does not authenticate it. */
  open(stored: Uint8Array, prefixBytes: number): Buffer | null;
  /** open() of many values (a COPY chunk's values of one column). */
  openMany(stored: readonly Uint8Array[], prefixBytes: number): Array<Buffer | null>;
}

/** The GcmCipher of `key` and `aad`: the native module's when it is loaded (and `native` not null), else GcmSealer. */
export function gcmSealer(key: Buffer, aad: Uint8Array, native: NativeAes | null = NATIVE_AES.native): GcmCipher {
  const rk = native ? roundKeysOf(native, key) : undefined;
  return native && rk ? new NativeGcmSealer(native, rk, aesBlocks(key, Buffer.alloc(BLOCK)), aad) : new GcmSealer(key, aad);
}

/** GcmCipher in one native call per value (sidecar/native/aes.c); nonces from the CSPRNG, POOL at a time. */
export class NativeGcmSealer implements GcmCipher {
  private readonly native: NativeAes;
  private readonly roundKeys: Buffer;
  /** The GHASH key E(0^128). */
  private readonly h: Buffer;
  private readonly aad: Buffer;
  private readonly nonces = Buffer.alloc(POOL * GCM_NONCE_BYTES);
  /** Next unused nonce of the pool (POOL: refill first). Only moves forward: a nonce is used once. */
  private next = POOL;

  constructor(native: NativeAes, roundKeys: Buffer, h: Buffer, aad: Uint8Array) {
    this.native = native;
    this.roundKeys = roundKeys;
    this.h = h;
    this.aad = Buffer.from(aad);
  }

  seal(prefix: Uint8Array, plaintext: Uint8Array): Buffer {
    if (this.next >= POOL) {
      randomFillSync(this.nonces);
      this.next = 0;
    }
    const k = this.next++;
    const out = Buffer.allocUnsafe(prefix.length + GCM_NONCE_BYTES + plaintext.length + GCM_TAG_BYTES);
    out.set(prefix, 0);
    this.nonces.copy(out, prefix.length, k * GCM_NONCE_BYTES, (k + 1) * GCM_NONCE_BYTES);
    this.native.gcmSeal(this.roundKeys, this.h, this.aad, out, prefix.length, plaintext);
    return out;
  }

  open(stored: Uint8Array, prefixBytes: number): Buffer | null {
    const n = stored.length - prefixBytes - GCM_NONCE_BYTES - GCM_TAG_BYTES;
    if (n < 0) return null;
    const pt = Buffer.allocUnsafe(n);
    return this.native.gcmOpen(this.roundKeys, this.h, this.aad, stored, prefixBytes, pt) ? pt : null;
  }

  openMany(stored: readonly Uint8Array[], prefixBytes: number): Array<Buffer | null> {
    return stored.map((s) => this.open(s, prefixBytes));
  }
}

/** GcmCipher in TypeScript over the AES block function (cmac.ts) and ghash.ts. */
export class GcmSealer implements GcmCipher {
  private readonly key: Buffer;
  private readonly hashKey: GhashKey;
  /** H², and L·H per ciphertext length below LENGTH_TERMS once seen (haveTerm[n] = 1). */
  private readonly hashKey2: GhashKey;
  private readonly lengthTerms = new Int32Array(4 * LENGTH_TERMS);
  private readonly haveTerm = new Uint8Array(LENGTH_TERMS);
  private readonly aadBytes: number;
  /** GHASH state after the associated data. */
  private readonly aadState = new Int32Array(4);
  private readonly nonces = Buffer.alloc(POOL * GCM_NONCE_BYTES);
  /** Per pooled nonce: E(J0), then the keystream of its first PRE_BLOCKS counter blocks. */
  private readonly pre = Buffer.alloc(POOL * PER_NONCE);
  /** Next unused nonce of the pool (POOL: refill first). Only moves forward: a nonce is used once. */
  private next = POOL;
  private readonly y = new Int32Array(4);
  /** open()'s counter blocks (grown for a longer value) and expected tag, reused value after value. */
  private scratch = Buffer.alloc(PER_NONCE);
  private readonly expected = Buffer.alloc(GCM_TAG_BYTES);

  constructor(key: Buffer, aad: Uint8Array) {
    this.key = key;
    const h = aesBlocks(key, Buffer.alloc(BLOCK));
    this.hashKey = new GhashKey(h);
    this.hashKey2 = new GhashKey(ghashSquare(h));
    this.aadBytes = aad.length;
    this.hashKey.absorb(this.aadState, aad, 0, aad.length);
  }

  /** The offset in lengthTerms of L·H, L the length block for an n-byte ciphertext (n < LENGTH_TERMS). */
  private lengthTerm(n: number): number {
    const at = 4 * n;
    if (this.haveTerm[n] === 0) {
      const t = this.lengthTerms.subarray(at, at + 4);
      ghashLengths(this.hashKey, t, this.aadBytes, n);
      this.haveTerm[n] = 1;
    }
    return at;
  }

  /**
   * GHASH state of AAD || ciphertext || lengths, the ciphertext being data[from, from + n). The
   * last two steps ((y ^ C)·H ^ L)·H are (y ^ C)·H² ^ L·H, with L·H cached for the length.
   */
  private digest(data: Uint8Array, from: number, n: number): Int32Array {
    const y = this.y;
    y.set(this.aadState);
    if (n === 0 || n >= LENGTH_TERMS) {
      this.hashKey.absorb(y, data, from, from + n);
      ghashLengths(this.hashKey, y, this.aadBytes, n);
      return y;
    }
    const last = from + BLOCK * ((n - 1) >> 4);
    this.hashKey.absorb(y, data, from, last);
    this.hashKey2.absorb(y, data, last, from + n);
    const t = this.lengthTerm(n);
    for (let j = 0; j < 4; j++) y[j] = (y[j] as number) ^ (this.lengthTerms[t + j] as number);
    return y;
  }

  /** Fresh nonces from the CSPRNG, with their E(J0) and first counter blocks in one AES call. */
  private refill(): void {
    randomFillSync(this.nonces);
    const blocks = Buffer.alloc(POOL * PER_NONCE);
    for (let k = 0; k < POOL; k++) {
      this.nonces.copy(blocks, k * PER_NONCE, k * GCM_NONCE_BYTES, (k + 1) * GCM_NONCE_BYTES);
      counterBlocks(blocks, k * PER_NONCE, PRE_BLOCKS);
    }
    aesBlocks(this.key, blocks).copy(this.pre);
    this.next = 0;
  }

  /** prefix || nonce || AES-GCM(plaintext) || tag, under a fresh random nonce. */
  seal(prefix: Uint8Array, plaintext: Uint8Array): Buffer {
    if (this.next >= POOL) this.refill();
    const k = this.next++;
    const n = plaintext.length;
    const ctAt = prefix.length + GCM_NONCE_BYTES;
    const out = Buffer.allocUnsafe(ctAt + n + GCM_TAG_BYTES);
    out.set(prefix, 0);
    this.nonces.copy(out, prefix.length, k * GCM_NONCE_BYTES, (k + 1) * GCM_NONCE_BYTES);
    // E(J0) and the keystream: the pool's prepared blocks, or for a longer value its own. Offsets
    // rather than subarrays: a view per value costs more than the XOR it serves.
    const pooled = n <= PRE_BLOCKS * BLOCK;
    const blocks = pooled ? this.pre : nonceBlocks(this.key, out.subarray(prefix.length, ctAt), Math.ceil(n / BLOCK));
    const base = pooled ? k * PER_NONCE : 0;
    const ks = base + BLOCK;
    for (let i = 0; i < n; i++) out[ctAt + i] = (plaintext[i] as number) ^ (blocks[ks + i] as number);
    // The tag: the GHASH state, then XOR E(J0).
    const tagAt = ctAt + n;
    tagInto(out, this.digest(out, ctAt, n), ZERO_BLOCK, tagAt);
    for (let i = 0; i < GCM_TAG_BYTES; i++) out[tagAt + i] = (out[tagAt + i] as number) ^ (blocks[base + i] as number);
    // This nonce's prepared blocks are never needed again.
    if (pooled) blocks.fill(0, base, base + PER_NONCE);
    return out;
  }

  /**
   * The plaintext of prefix || nonce || ciphertext || tag (the prefix is skipped, `prefixBytes`
   * long), or null when the tag does not authenticate it (or it is too short).
   */
  open(stored: Uint8Array, prefixBytes: number): Buffer | null {
    const ctAt = prefixBytes + GCM_NONCE_BYTES;
    const n = stored.length - ctAt - GCM_TAG_BYTES;
    if (n < 0) return null;
    // The counter blocks in the sealer's scratch (one value at a time), then ONE native AES call;
    // offsets rather than views: a view per value costs more than the bytes it spares.
    const count = 1 + Math.ceil(n / BLOCK);
    if (this.scratch.length < count * BLOCK) this.scratch = Buffer.alloc(count * BLOCK);
    const counters = this.scratch;
    for (let i = 0; i < GCM_NONCE_BYTES; i++) counters[i] = stored[prefixBytes + i] as number;
    counterBlocks(counters, 0, count - 1);
    const blocks = aesBlocks(this.key, counters.subarray(0, count * BLOCK));
    const expected = this.expected;
    tagInto(expected, this.digest(stored, ctAt, n), blocks);
    if (!timingSafeEqual(expected, stored.subarray(ctAt + n))) return null;
    const pt = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) pt[i] = (stored[ctAt + i] as number) ^ (blocks[BLOCK + i] as number);
    return pt;
  }

  /**
   * open() of many values with ONE native AES call for all their counter blocks (a COPY chunk's
   * values of one column): the same answer as open() per value, null where it would be null.
   */
  openMany(stored: readonly Uint8Array[], prefixBytes: number): Array<Buffer | null> {
    const ctAt = prefixBytes + GCM_NONCE_BYTES;
    const at: number[] = [];
    let total = 0;
    for (const s of stored) {
      const n = s.length - ctAt - GCM_TAG_BYTES;
      at.push(total);
      if (n >= 0) total += (1 + Math.ceil(n / BLOCK)) * BLOCK;
    }
    const counters = Buffer.alloc(total);
    stored.forEach((s, i) => {
      const n = s.length - ctAt - GCM_TAG_BYTES;
      if (n < 0) return;
      counters.set(s.subarray(prefixBytes, ctAt), at[i] as number);
      counterBlocks(counters, at[i] as number, Math.ceil(n / BLOCK));
    });
    const ks = total > 0 ? aesBlocks(this.key, counters) : counters;
    const expected = Buffer.allocUnsafe(GCM_TAG_BYTES);
    return stored.map((s, i) => {
      const n = s.length - ctAt - GCM_TAG_BYTES;
      if (n < 0) return null;
      const blocks = ks.subarray(at[i] as number, (at[i] as number) + (1 + Math.ceil(n / BLOCK)) * BLOCK);
      tagInto(expected, this.digest(s, ctAt, n), blocks);
      if (!timingSafeEqual(expected, s.subarray(ctAt + n))) return null;
      const pt = Buffer.allocUnsafe(n);
      xorInto(pt, s.subarray(ctAt, ctAt + n), blocks.subarray(BLOCK));
      return pt;
    });
  }
}
