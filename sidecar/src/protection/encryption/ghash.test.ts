import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { GhashKey, ghashSquare } from './ghash.ts';

/** X·H by NIST SP 800-38D's Algorithm 1, bit by bit on BigInts: the specification, slowly. */
function reference(x: Buffer, h: Buffer): Buffer {
  const r = 0xe1n << 120n;
  const xi = BigInt(`0x${x.toString('hex')}`);
  let v = BigInt(`0x${h.toString('hex')}`);
  let z = 0n;
  for (let i = 127n; i >= 0n; i--) {
    if ((xi >> i) & 1n) z ^= v;
    v = v & 1n ? (v >> 1n) ^ r : v >> 1n;
  }
  return Buffer.from(z.toString(16).padStart(32, '0'), 'hex');
}

function mul(key: GhashKey, x: Buffer): Buffer {
  const y = new Int32Array(4).map((_, j) => x.readInt32BE(4 * j));
  key.mul(y);
  const out = Buffer.alloc(16);
  y.forEach((w, j) => out.writeInt32BE(w, 4 * j));
  return out;
}

const ONE = Buffer.from('80000000000000000000000000000000', 'hex');
const ONES = Buffer.alloc(16, 0xff);

/** The block with only bit i set (i = 0 is x^0, the first byte's top bit). */
function bit(i: number): Buffer {
  const b = Buffer.alloc(16);
  b[i >> 3] = 0x80 >> (i & 7);
  return b;
}

describe('GhashKey (GF(2^128) multiplication from integer products of spaced bits)', () => {
  it('gives what the specification\'s bit-serial algorithm gives, for 2,000 random pairs', () => {
    for (let n = 0; n < 2000; n++) {
      const h = randomBytes(16);
      const x = randomBytes(16);
      expect(mul(new GhashKey(h), x)).toEqual(reference(x, h));
    }
  });

  it('is exact where carries would show first: all-ones operands and every single bit', () => {
    const keys = [ONES, ONE, bit(127), randomBytes(16)];
    for (const h of keys) {
      const key = new GhashKey(h);
      for (const x of [ONES, ONE, Buffer.alloc(16), ...Array.from({ length: 128 }, (_, i) => bit(i))]) expect(mul(key, x)).toEqual(reference(x, h));
    }
  });

  it('has 1 (x^0) as its identity and a key reusable across blocks', () => {
    const h = randomBytes(16);
    const key = new GhashKey(h);
    expect(mul(key, ONE)).toEqual(h);
    const x = randomBytes(16);
    expect(mul(key, x)).toEqual(mul(key, x));
    expect(mul(new GhashKey(ONE), x)).toEqual(x);
  });

  it('absorbs data block by block, zero-padding the last, and squares H', () => {
    const h = randomBytes(16);
    const data = randomBytes(37);
    const y = new Int32Array(4);
    new GhashKey(h).absorb(y, data, 0, data.length);
    let expected: Buffer = Buffer.alloc(16);
    for (let at = 0; at < data.length; at += 16) {
      const block = Buffer.alloc(16);
      data.copy(block, 0, at, Math.min(at + 16, data.length));
      for (let i = 0; i < 16; i++) block[i] = (block[i] as number) ^ (expected[i] as number);
      expected = reference(block, h);
    }
    const got = Buffer.alloc(16);
    y.forEach((w, j) => got.writeInt32BE(w, 4 * j));
    expect(got).toEqual(expected);
    expect(ghashSquare(h)).toEqual(reference(h, h));
  });
});
