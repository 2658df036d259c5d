// bytea and bytea[] values as they travel on the wire, in text and binary formats.
import type { FormatCode } from '../protocol/types.ts';

export function byteaFromWire(v: Uint8Array, format: FormatCode): Buffer {
  if (format === 1) return Buffer.from(v);
  const s = Buffer.from(v).toString('latin1');
  if (!s.startsWith('\\x')) throw new Error('expected bytea in hex output format (bytea_output = hex)');
  return Buffer.from(s.slice(2), 'hex');
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
