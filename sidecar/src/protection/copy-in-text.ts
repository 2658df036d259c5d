// COPY FROM STDIN in text format, rows as bytes: a line without backslash (the common case) is
// split at its delimiters, plain fields are copied as the client sent them, and each encrypted
// field's bytes are encrypted as they are (its text is its bytes for the types whose assigned
// text is the text itself) and written as `\\x<hex>` straight into the chunk's output buffer,
// without a string per field, per ciphertext or per line. A chunk's complete lines are copied
// first, then each encrypted column's values of the chunk are encrypted together
// (encryptBytesMany: a deterministic column's AES-CTR in one native call), then the lines are
// written in order.
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

export type BytesCipher = ColumnCipher & { encryptBytesMany: NonNullable<ColumnCipher['encryptBytesMany']> };

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

/**
 * The fields' bounds in `line` (start, end pairs) into `into` from `base`, or false when there are
 * not `count` of them.
 */
function bounds(line: Buffer, shape: { delimiter: number; count: number }, into: Int32Array, base: number): boolean {
  let s = 0;
  for (let k = 0; k < shape.count; k++) {
    const d = line.indexOf(shape.delimiter, s);
    const last = k === shape.count - 1;
    if ((d < 0) !== last) return false;
    const e = d < 0 ? line.length : d;
    into[base + 2 * k] = s;
    into[base + 2 * k + 1] = e;
    s = e + 1;
  }
  return true;
}

/** Whether the byte path takes `line`: no escape, no byte PostgreSQL refuses; the bounds then set. */
function fast(line: Buffer, shape: { delimiter: number; count: number }, into: Int32Array, base: number): boolean {
  return line.indexOf(BS) < 0 && line.indexOf(0) < 0 && isUtf8(line) && bounds(line, shape, into, base);
}

/** One COPY FROM: lines in, a chunk's lines encrypted column by column, lines out in order. */
class TextCopyIn {
  private readonly columns: InColumn[];
  private readonly shape: { delimiter: number; count: number };
  private readonly slow: SlowLine;
  private reader = new CopyLineReader({ csv: false });
  private out = new Out();
  /** The chunk's complete lines, copied (a line is a view valid during onLine only): start, end. */
  private lines = new Out();
  private lineAt: number[] = [];
  /** Per line, 2 per column: its fields' bounds in its line (the byte path), or start -1 (the general path). */
  private fieldAt = new Int32Array(1024);

  constructor(columns: InColumn[], delimiter: number, slow: SlowLine) {
    this.columns = columns;
    this.shape = { delimiter, count: columns.length };
    this.slow = slow;
  }

  readonly onLine = (line: Buffer): void => {
    const s = this.lines.n;
    this.lines.bytes(line, 0, line.length);
    this.lineAt.push(s, this.lines.n);
  };

  begin(): void {
    this.reader = new CopyLineReader({ csv: false });
    this.out = new Out();
    this.lines = new Out();
    this.lineAt = [];
  }

  data(chunk: Uint8Array): Uint8Array[] {
    this.reader.push(chunk, this.onLine);
    return this.flush();
  }

  finish(): Uint8Array[] {
    this.reader.end(this.onLine);
    return this.flush();
  }

  private line(i: number): Buffer {
    return this.lines.buf.subarray(this.lineAt[2 * i] as number, this.lineAt[2 * i + 1] as number);
  }

  /** The pending lines written out; their bounds first, then each encrypted column's values of the chunk at once. */
  private flush(): Uint8Array[] {
    const count = this.lineAt.length / 2;
    const w = 2 * this.columns.length;
    if (this.fieldAt.length < count * w) this.fieldAt = new Int32Array(Math.max(2 * this.fieldAt.length, count * w));
    for (let i = 0; i < count; i++) {
      if (!fast(this.line(i), this.shape, this.fieldAt, i * w)) this.fieldAt[i * w] = -1;
    }
    const sealed = this.columns.map((c, k) => (c.kind === 'encrypt' ? c.cipher.encryptBytesMany(this.values(count, k)) : []));
    const next = this.columns.map(() => 0);
    for (let i = 0; i < count; i++) this.write(i, sealed, next);
    this.lines.n = 0;
    this.lineAt.length = 0;
    return this.out.take();
  }

  /** Column k's fields of the pending byte-path lines. */
  private values(count: number, k: number): Buffer[] {
    const w = 2 * this.columns.length;
    const vs: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      const s = this.fieldAt[i * w + 2 * k] as number;
      if ((this.fieldAt[i * w] as number) >= 0) vs.push(this.line(i).subarray(s, this.fieldAt[i * w + 2 * k + 1] as number));
    }
    return vs;
  }

  /** Line i to the output: through the general path, or its fields with the next ciphertext of each encrypted column. */
  private write(i: number, sealed: Buffer[][], next: number[]): void {
    const line = this.line(i);
    const base = i * 2 * this.columns.length;
    const out = this.out;
    if ((this.fieldAt[base] as number) < 0) {
      const text = this.slow(line);
      out.room(Buffer.byteLength(text, 'utf8'));
      out.n += out.buf.write(text, out.n, 'utf8');
      return;
    }
    const bidx: Array<Buffer> = [];
    this.columns.forEach((c, k) => {
      const s = this.fieldAt[base + 2 * k] as number;
      const e = this.fieldAt[base + 2 * k + 1] as number;
      if (k > 0) out.byte(this.shape.delimiter);
      if (c.kind === 'plain') {
        out.bytes(line, s, e);
        return;
      }
      const j = next[k] as number;
      next[k] = j + 1;
      out.bytea((sealed[k] as Buffer[])[j] as Buffer);
      if (c.searchable) bidx.push(c.cipher.blindIndex(line.toString('utf8', s, e)));
    });
    for (const b of bidx) {
      out.byte(this.shape.delimiter);
      out.bytea(b);
    }
    out.byte(LF);
  }
}

/** The COPY FROM transformer for `columns` (text format, no header line, a one-byte delimiter). */
export function textCopyIn(columns: InColumn[], delimiter: string, slow: SlowLine): CopyTransformer {
  const t = new TextCopyIn(columns, delimiter.charCodeAt(0), slow);
  return { begin: () => t.begin(), data: (chunk) => t.data(chunk), finish: () => t.finish() };
}
