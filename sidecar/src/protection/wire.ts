// bytea and bytea[] values as they travel on the wire, in text and binary formats.
import type { FormatCode } from '../protocol/types.ts';

/** The value of each byte as a hex digit, -1 for any other byte. */
const HEX_DIGIT = Int8Array.from({ length: 256 }, (_, c) => (c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1));

/**
 * A bytea in hex output (`\x…`), decoded straight from the wire bytes (one value per row and
 * column: no copy, no string between). Like Buffer.from(text, 'hex'), decoding stops before the
 * first pair that is not two hex digits (a value cut short that way fails its authentication).
 */
function fromHexOutput(v: Uint8Array): Buffer {
  if (v.length < 2 || v[0] !== 0x5c || v[1] !== 0x78) throw new Error('expected bytea in hex output format (bytea_output = hex)');
  const n = (v.length - 2) >> 1;
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) {
    const hi = HEX_DIGIT[v[2 + 2 * i] as number] as number;
    const lo = HEX_DIGIT[v[3 + 2 * i] as number] as number;
    if (hi < 0 || lo < 0) return out.subarray(0, i);
    out[i] = (hi << 4) | lo;
  }
  return out;
}

export function byteaFromWire(v: Uint8Array, format: FormatCode): Buffer {
  return format === 1 ? Buffer.from(v) : fromHexOutput(v);
}

export function byteaToWire(b: Uint8Array, format: FormatCode): Buffer {
  return format === 1 ? Buffer.from(b) : Buffer.from(`\\x${Buffer.from(b).toString('hex')}`, 'latin1');
}

const BYTEA_OID = 17;

/** A one-dimensional bytea[] (used for `col = ANY($n)` lookups over every live key version). */
export function byteaArrayToWire(items: Uint8Array[], format: FormatCode): Buffer {
  if (format === 0) return Buffer.from(`{${items.map((i) => `"\\\\x${Buffer.from(i).toString('hex')}"`).join(',')}}`, 'latin1');
  const head = Buffer.alloc(20);
  head.writeInt32BE(1, 0);
  head.writeInt32BE(0, 4);
  head.writeInt32BE(BYTEA_OID, 8);
  head.writeInt32BE(items.length, 12);
  head.writeInt32BE(1, 16);
  const parts: Buffer[] = [head];
  for (const i of items) {
    const len = Buffer.alloc(4);
    len.writeInt32BE(i.length, 0);
    parts.push(len, Buffer.from(i));
  }
  return Buffer.concat(parts);
}
