// GHASH's multiplication (NIST SP 800-38D): y ← y·H in GF(2^128), constant time and without
// tables indexed by data or key.
//
// How: a carry-less product from integer multiplications (the idea of BearSSL's ghash_ctmul).
// Keep only the bits of each operand whose positions are congruent to r mod 3; the integer
// product of two such slices has its bits at positions ≡ r+s mod 3, and at most 6 one-bits of a
// 16-bit operand meet at any position, so the column sums (≤ 6 < 8) never carry into the next
// position of the same class. Masking each class out of the XOR of the slice products gives the
// carry-less product: 9 Math.imul per 16×16 bits, the full 31-bit result in one 32-bit integer.
// Three Karatsuba levels (128 → 64 → 32 → 16 bits) make a 128×128 product 27 such products;
// the halves of H they need, already sliced, are computed once per key.
//
// Bit order: a block read as a 128-bit big-endian integer has the coefficient of x^i at bit
// 127 - i ("reflected"), and the integer carry-less product of two reflected values is the
// reflected product shifted right by one, so no bit reversal is needed: shift left by one, then
// reduce the low 128 bits with x^128 = x^7 + x^2 + x + 1 (multiplication by x is a right shift).
//
// Every step is the same sequence of integer operations whatever the values: no branch and no
// memory address depends on them (Math.imul is a constant-time instruction on the CPUs Node runs on).

/** The mask of the bit positions ≡ r mod 3 below `bits`. */
function spaced(r: number, bits: number): number {
  let m = 0;
  for (let i = r; i < bits; i += 3) m |= 1 << i;
  return m;
}

const X0 = spaced(0, 16);
const X1 = spaced(1, 16);
const X2 = spaced(2, 16);
const Z0 = spaced(0, 32);
const Z1 = spaced(1, 32);
const Z2 = spaced(2, 32);

/** The carry-less product of x (16 bits) and the 16-bit operand sliced at h[at, at + 3). */
function clmul16(x: number, h: Int32Array, at: number): number {
  const x0 = x & X0;
  const x1 = x & X1;
  const x2 = x & X2;
  const h0 = h[at] as number;
  const h1 = h[at + 1] as number;
  const h2 = h[at + 2] as number;
  const z0 = Math.imul(x0, h0) ^ Math.imul(x1, h2) ^ Math.imul(x2, h1);
  const z1 = Math.imul(x0, h1) ^ Math.imul(x1, h0) ^ Math.imul(x2, h2);
  const z2 = Math.imul(x0, h2) ^ Math.imul(x1, h1) ^ Math.imul(x2, h0);
  return (z0 & Z0) | (z1 & Z1) | (z2 & Z2);
}

/**
 * The 9 32-bit Karatsuba operands of a block (4 big-endian words): for its low and high 64-bit
 * halves and their XOR, that half's low word, high word and their XOR.
 */
function karatsubaWords(y: Int32Array, out: Int32Array): void {
  const q0 = y[3] as number;
  const q1 = y[2] as number;
  const q2 = y[1] as number;
  const q3 = y[0] as number;
  const m0 = q0 ^ q2;
  const m1 = q1 ^ q3;
  out[0] = q0;
  out[1] = q1;
  out[2] = q0 ^ q1;
  out[3] = q2;
  out[4] = q3;
  out[5] = q2 ^ q3;
  out[6] = m0;
  out[7] = m1;
  out[8] = m0 ^ m1;
}

/**
 * The 128-bit product of group g's three 64-bit products in p (low·low, high·high, mid·mid, two
 * little-endian words each) into out[4g, 4g + 4), little-endian words.
 */
function combine64(p: Int32Array, g: number, out: Int32Array): void {
  const at = 6 * g;
  const a0 = p[at] as number;
  const a1 = p[at + 1] as number;
  const b0 = p[at + 2] as number;
  const b1 = p[at + 3] as number;
  const o = 4 * g;
  out[o] = a0;
  out[o + 1] = a1 ^ a0 ^ b0 ^ (p[at + 4] as number);
  out[o + 2] = b0 ^ a1 ^ b1 ^ (p[at + 5] as number);
  out[o + 3] = b1;
}

/** The 256-bit product from the three 128-bit ones in r (low, high, mid) into z, little-endian words. */
function combine128(r: Int32Array, z: Int32Array): void {
  for (let i = 0; i < 8; i++) z[i] = r[i] as number;
  for (let i = 0; i < 4; i++) z[2 + i] = (z[2 + i] as number) ^ (r[i] as number) ^ (r[4 + i] as number) ^ (r[8 + i] as number);
}

/** Little-endian 256-bit z shifted left by one bit, in place. */
function shiftLeft1(z: Int32Array): void {
  for (let i = 7; i > 0; i--) z[i] = ((z[i] as number) << 1) | ((z[i - 1] as number) >>> 31);
  z[0] = (z[0] as number) << 1;
}

/** V ^ V·x ^ V·x^2 ^ V·x^7 for the 128-bit word pair (hi above lo), the word lo's part, right shifts. */
function fold(lo: number, hi: number): number {
  return lo ^ ((lo >>> 1) | (hi << 31)) ^ ((lo >>> 2) | (hi << 30)) ^ ((lo >>> 7) | (hi << 25));
}

/**
 * y (4 big-endian words) = z mod the GCM polynomial, z being the reflected 256-bit product
 * shifted left by one (little-endian words): its high half plus its low half V times x^128,
 * which is V·(1 + x + x^2 + x^7); the bits that V·x^k pushes out (V's lowest 7) fold once more,
 * into the top word, before the shifts.
 */
function reduce(z: Int32Array, y: Int32Array): void {
  shiftLeft1(z);
  const t0 = z[0] as number;
  const t1 = z[1] as number;
  const t2 = z[2] as number;
  const t3 = (z[3] as number) ^ (t0 << 31) ^ (t0 << 30) ^ (t0 << 25);
  y[0] = (z[7] as number) ^ t3 ^ (t3 >>> 1) ^ (t3 >>> 2) ^ (t3 >>> 7);
  y[1] = (z[6] as number) ^ fold(t2, t3);
  y[2] = (z[5] as number) ^ fold(t1, t2);
  y[3] = (z[4] as number) ^ fold(t0, t1);
}

/** The big-endian 32-bit word at `at`, bytes past `end` read as zero. */
function word(data: Uint8Array, at: number, end: number): number {
  if (at + 4 <= end) return ((data[at] as number) << 24) | ((data[at + 1] as number) << 16) | ((data[at + 2] as number) << 8) | (data[at + 3] as number);
  let v = 0;
  for (let i = 0; i < 4; i++) v = (v << 8) | (at + i < end ? data[at + i] as number : 0);
  return v;
}

/** Multiplication by one hash key H (the AES of the zero block), with its scratch space. */
export class GhashKey {
  /** H's 27 16-bit Karatsuba operands, each as its 3 slices (bits ≡ 0, 1, 2 mod 3). */
  private readonly h = new Int32Array(27 * 3);
  private readonly w = new Int32Array(9);
  private readonly p = new Int32Array(18);
  private readonly r = new Int32Array(12);
  private readonly z = new Int32Array(8);

  /** h: the 16-byte hash key. */
  constructor(h: Uint8Array) {
    const words = new Int32Array(4).map((_, j) => word(h, 4 * j, 16));
    karatsubaWords(words, this.w);
    for (let k = 0; k < 9; k++) {
      const w = this.w[k] as number;
      [w & 0xffff, w >>> 16, (w ^ (w >>> 16)) & 0xffff].forEach((v, t) => {
        this.h.set([v & X0, v & X1, v & X2], 9 * k + 3 * t);
      });
    }
  }

  /** The 64-bit product of Karatsuba word k of the block and of H into p[2k], p[2k + 1]. */
  private mul32(w: number, k: number): void {
    const at = 9 * k;
    const lo = clmul16(w & 0xffff, this.h, at);
    const hi = clmul16(w >>> 16, this.h, at + 3);
    const d = clmul16((w ^ (w >>> 16)) & 0xffff, this.h, at + 6) ^ lo ^ hi;
    this.p[2 * k] = lo ^ (d << 16);
    this.p[2 * k + 1] = hi ^ (d >>> 16);
  }

  /** y = y·H, y as 4 big-endian 32-bit words. */
  mul(y: Int32Array): void {
    const w = this.w;
    karatsubaWords(y, w);
    for (let k = 0; k < 9; k++) this.mul32(w[k] as number, k);
    for (let g = 0; g < 3; g++) combine64(this.p, g, this.r);
    combine128(this.r, this.z);
    reduce(this.z, y);
  }

  /** GHASH of data[from, end) (zero-padded to whole blocks) into y: y = (y ^ block)·H per block. */
  absorb(y: Int32Array, data: Uint8Array, from: number, end: number): void {
    for (let at = from; at < end; at += 16) {
      y[0] = (y[0] as number) ^ word(data, at, end);
      y[1] = (y[1] as number) ^ word(data, at + 4, end);
      y[2] = (y[2] as number) ^ word(data, at + 8, end);
      y[3] = (y[3] as number) ^ word(data, at + 12, end);
      this.mul(y);
    }
  }
}

/** H·H as 16 bytes, the hash key that multiplies by H twice at once. */
export function ghashSquare(h: Uint8Array): Buffer {
  const y = new Int32Array(4);
  new GhashKey(h).absorb(y, h, 0, 16);
  const out = Buffer.alloc(16);
  y.forEach((w, j) => out.writeInt32BE(w, 4 * j));
  return out;
}
