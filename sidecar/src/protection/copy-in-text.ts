// COPY FROM STDIN in text format, rows as bytes: a line without backslash (the common case) is
// split at its delimiters, plain fields are copied as the client sent them, and each encrypted
// field's bytes are encrypted as they are (its text is its bytes for the types whose assigned
// text is the text itself) and written as `\\x<hex>` straight into the chunk's output buffer,
// without a string per field, per ciphertext or per line.
//
// A line with a backslash (escapes to decode), bytes PostgreSQL would refuse (NUL, invalid
// UTF-8) or the wrong number of fields goes to `slow`, the general path of copy-hooks.ts, for that
// line: same output, same errors.
import { isUtf8 } from 'node:buffer';
import type { CopyTransformer } from '../session/pipeline.ts';
import { CopyLineReader } from './copy-lines.ts';
import type { ColumnCipher } from './encryption/column.ts';

const BS = 0x5c;
const LF = 0x0a;
const X = 0x78;
const HEX = Buffer.from('0123456789abcdef', 'latin1');

export type BytesCipher = ColumnCipher & { encryptBytes: NonNullable<ColumnCipher['encryptBytes']> };

/** A column of the COPY's column list: copied as sent, or encrypted (with its blind index). */
export type InColumn = { kind: 'plain' } | { kind: 'encrypt'; cipher: BytesCipher; searchable: boolean };

/** The general path for one line: its output line, `\n` included, or it throws the statement's error. */
export type SlowLine = (line: Buffer) => string;

/** A growable output buffer for one chunk. */
class Out {
  buf = Buffer.allocUnsafe(1 << 16);
  n = 0;

  room(bytes: number): void {
    if (this.n + bytes <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.n + bytes));
    this.buf.copy(bigger, 0, 0, this.n);
    this.buf = bigger;
  }

  bytes(b: Uint8Array, from: number, to: number): void {
    this.room(to - from);
    this.buf.set(b.subarray(from, to), this.n);
    this.n += to - from;
  }

  /** bytea text of `b`, its backslash escaped for COPY: `\\x` and lowercase hex. */
  bytea(b: Uint8Array): void {
    this.room(3 + 2 * b.length);
    const o = this.buf;
    let n = this.n;
    o[n++] = BS;
    o[n++] = BS;
    o[n++] = X;
    for (let i = 0; i < b.length; i++) {
      const c = b[i] as number;
      o[n++] = HEX[c >> 4] as number;
      o[n++] = HEX[c & 15] as number;
    }
    this.n = n;
  }

  byte(c: number): void {
    this.room(1);
    this.buf[this.n++] = c;
  }

  take(): Uint8Array[] {
    if (this.n === 0) return [];
    const b = this.buf.subarray(0, this.n);
    this.buf = Buffer.allocUnsafe(1 << 16);
    this.n = 0;
    return [b];
  }
}

/** The fields' bounds in `line` (start, end pairs), or null when there are not `count` of them. */
function bounds(line: Buffer, delimiter: number, count: number, into: Int32Array): boolean {
  let s = 0;
  for (let k = 0; k < count; k++) {
    const d = line.indexOf(delimiter, s);
    const last = k === count - 1;
    if ((d < 0) !== last) return false;
    const e = d < 0 ? line.length : d;
    into[2 * k] = s;
    into[2 * k + 1] = e;
    s = e + 1;
  }
  return true;
}

/** The COPY FROM transformer for `columns` (text format, no header line, a one-byte delimiter). */
export function textCopyIn(columns: InColumn[], delimiter: string, slow: SlowLine): CopyTransformer {
  const delim = delimiter.charCodeAt(0);
  const at = new Int32Array(2 * columns.length);
  let reader = new CopyLineReader({ csv: false });
  let out = new Out();
  const onLine = (line: Buffer): void => {
    if (line.indexOf(BS) >= 0 || line.indexOf(0) >= 0 || !isUtf8(line) || !bounds(line, delim, columns.length, at)) {
      const text = slow(line);
      out.room(Buffer.byteLength(text, 'utf8'));
      out.n += out.buf.write(text, out.n, 'utf8');
      return;
    }
    const bidx: Array<Buffer> = [];
    columns.forEach((c, k) => {
      const s = at[2 * k] as number;
      const e = at[2 * k + 1] as number;
      if (k > 0) out.byte(delim);
      if (c.kind === 'plain') {
        out.bytes(line, s, e);
        return;
      }
      const pt = line.subarray(s, e);
      out.bytea(c.cipher.encryptBytes(pt));
      if (c.searchable) bidx.push(c.cipher.blindIndex(pt.toString('utf8')));
    });
    for (const b of bidx) {
      out.byte(delim);
      out.bytea(b);
    }
    out.byte(LF);
  };
  return {
    begin() {
      reader = new CopyLineReader({ csv: false });
      out = new Out();
    },
    data(chunk) {
      reader.push(chunk, onLine);
      return out.take();
    },
    finish() {
      reader.end(onLine);
      return out.take();
    },
  };
}
