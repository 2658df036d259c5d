import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { byteaFromWire, byteaToWire } from './wire.ts';

const text = (s: string): Uint8Array => Buffer.from(s, 'latin1');

describe('byteaFromWire, text format (hex output)', () => {
  it('decodes what byteaToWire encodes, of every length up to 300 bytes', () => {
    for (let n = 0; n <= 300; n++) {
      const b = randomBytes(n);
      expect(byteaFromWire(byteaToWire(b, 0), 0)).toEqual(b);
    }
  });

  it('reads upper-case digits', () => {
    expect(byteaFromWire(text('\\xDEADbeef'), 0)).toEqual(Buffer.from([0xde, 0xad, 0xbe, 0xef]));
  });

  it('stops where Buffer.from(…, "hex") stops: before the first pair that is not two hex digits, and at an odd last digit', () => {
    for (const hex of ['0a1g22', '0a 1b', 'zz00', '0a1', 'ab\u00ff0', '0a1b2', '']) {
      expect(byteaFromWire(text(`\\x${hex}`), 0)).toEqual(Buffer.from(hex, 'hex'));
    }
  });

  it('refuses a value that is not in hex output (escape format, or no prefix)', () => {
    for (const s of ['abc', '\\', '\\001\\002', 'x00']) expect(() => byteaFromWire(text(s), 0)).toThrow(/hex output/);
  });

  it('copies a binary value', () => {
    const b = Buffer.from([1, 2, 3]);
    const out = byteaFromWire(b, 1);
    expect(out).toEqual(b);
    expect(out).not.toBe(b);
  });
});
