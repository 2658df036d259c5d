// COPY FROM data split into lines and fields exactly as PostgreSQL 15 splits them (copyfromparse.c:
// CopyReadLineText, CopyReadAttributesText, CopyReadAttributesCSV), so that the proxy encrypts
// what the backend would store, never a row the backend would read differently:
// * the first line's ending (\n, \r\n or \r) fixes the ending of every line; another ending in
//   the data is an error (22P04), except inside CSV quotes;
// * text format: a backslash escapes the next byte (so `\` + newline is data), `\.` followed by
//   the line ending ends the data anywhere in a line (what precedes it on that line is a last
//   line); CSV: `\.` alone on a line ends it; data after the end is ignored;
// * escapes decode to bytes (\b \f \n \r \t \v, \digits octal 1-3, \xhh hex 1-2, others the byte
//   itself); `\N` is NULL only as a whole field; the bytes must be valid UTF-8 without NUL (22021);
// * CSV: quote == escape (the proxy refuses other settings), a doubled quote inside quotes is a
//   quote, an unquoted empty field is NULL, a quote left open at the end is an error (22P04).
// Errors are StatementErrors with PostgreSQL's SQLSTATE and a message without data values.
import { StatementError } from '../session/pipeline.ts';

const CR = 0x0d;
const LF = 0x0a;
const BS = 0x5c;
const DOT = 0x2e;
const EMPTY = Buffer.alloc(0);

const Eol = { Unknown: 0, Nl: 1, Cr: 2, CrNl: 3 } as const;
type Eol = (typeof Eol)[keyof typeof Eol];

function badFormat(message: string): StatementError {
  return new StatementError('22P04', message);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The bytes as a string; invalid UTF-8 or a NUL byte is PostgreSQL's 22021. */
export function utf8Text(b: Uint8Array): string {
  if (b.indexOf(0) >= 0) throw new StatementError('22021', 'invalid byte sequence for encoding "UTF8": 0x00');
  try {
    return utf8.decode(b);
  } catch {
    throw new StatementError('22021', 'invalid byte sequence for encoding "UTF8"');
  }
}

/** Streams COPY FROM data (chunks split anywhere) into lines, without their line ending. */
export class CopyLineReader {
  private readonly csv: boolean;
  private readonly quote: number;
  private buf: Buffer = EMPTY;
  /** Next byte of `buf` to look at; `lineStart`: where the current line starts in `buf`. */
  private pos = 0;
  private lineStart = 0;
  private eol: Eol = Eol.Unknown;
  private inQuote = false;
  private firstChar = true;
  /** The end of the data was read (end marker or end of input): anything after is ignored. */
  ended = false;

  constructor(format: { csv: boolean; quote?: string }) {
    this.csv = format.csv;
    this.quote = format.csv ? Buffer.from(format.quote ?? '"', 'utf8')[0] as number : -1;
  }

  /** One chunk of data; complete lines go to `onLine` (a view valid during the call only). */
  push(chunk: Uint8Array, onLine: (line: Buffer) => void): void {
    if (this.ended || chunk.length === 0) return;
    const c = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.lineStart < this.buf.length) {
      this.buf = Buffer.concat([this.buf.subarray(this.lineStart), c]);
      this.pos -= this.lineStart;
    } else {
      this.buf = c;
      this.pos = 0;
    }
    this.lineStart = 0;
    this.scan(false, onLine);
    if (this.ended) return;
    // Keep only the unfinished line, copied: the chunk's memory is not ours to keep.
    this.buf = Buffer.from(this.buf.subarray(this.lineStart));
    this.pos -= this.lineStart;
    this.lineStart = 0;
  }

  /** The end of the input: a last line without line ending is a line. */
  end(onLine: (line: Buffer) => void): void {
    if (this.ended) return;
    this.scan(true, onLine);
    if (!this.ended && this.lineStart < this.buf.length) this.emit(this.buf.length, onLine);
    this.ended = true;
    this.buf = EMPTY;
  }

  private emit(at: number, onLine: (line: Buffer) => void): void {
    const line = this.buf.subarray(this.lineStart, at);
    utf8Text(line);
    onLine(line);
  }

  private newLine(at: number, next: number, onLine: (line: Buffer) => void): number {
    this.emit(at, onLine);
    this.lineStart = next;
    this.inQuote = false;
    this.firstChar = true;
    return next;
  }

  private scan(eof: boolean, onLine: (line: Buffer) => void): void {
    const b = this.buf;
    const n = b.length;
    let i = this.pos;
    while (i < n && !this.ended) {
      const c = b[i] as number;
      // Bytes that need the next byte to be understood wait for it (PostgreSQL looks ahead too;
      // at the end of the input the next byte reads as 0).
      if ((c === CR || c === BS) && i + 1 >= n && !eof) break;
      if (this.csv && c === this.quote) this.inQuote = !this.inQuote;
      if (c === CR && !this.inQuote) {
        let next = i + 1;
        if (this.eol === Eol.Unknown || this.eol === Eol.CrNl) {
          if (i + 1 < n && b[i + 1] === LF) {
            next = i + 2;
            this.eol = Eol.CrNl;
          } else {
            if (this.eol === Eol.CrNl) throw badFormat(this.csv ? 'unquoted carriage return found in data' : 'literal carriage return found in data');
            this.eol = Eol.Cr;
          }
        } else if (this.eol === Eol.Nl) {
          throw badFormat(this.csv ? 'unquoted carriage return found in data' : 'literal carriage return found in data');
        }
        i = this.newLine(i, next, onLine);
        continue;
      }
      if (c === LF && !this.inQuote) {
        if (this.eol === Eol.Cr || this.eol === Eol.CrNl) throw badFormat(this.csv ? 'unquoted newline found in data' : 'literal newline found in data');
        this.eol = Eol.Nl;
        i = this.newLine(i, i + 1, onLine);
        continue;
      }
      if (c === BS && (!this.csv || this.firstChar)) {
        if (i + 1 >= n) { i = n; break; } // a backslash just before the end of the input is data
        if (b[i + 1] === DOT) {
          const marker = this.endMarker(i, eof);
          if (marker === 'wait') break;
          if (marker === 'end') {
            if (i > this.lineStart) this.emit(i, onLine);
            this.ended = true;
            return;
          }
          // CSV: `\.` with more on its line is data; go on after the backslash.
          this.firstChar = false;
          i++;
          continue;
        }
        this.firstChar = false;
        // Text: the byte after a backslash is data, whatever it is.
        i += this.csv ? 1 : 2;
        continue;
      }
      this.firstChar = false;
      i++;
    }
    this.pos = i;
  }

  /** After `\.` at `i`: the end of the data, data (CSV only), or 'wait' for more input. */
  private endMarker(i: number, eof: boolean): 'end' | 'data' | 'wait' {
    const b = this.buf;
    const n = b.length;
    let j = i + 2;
    if (j + (this.eol === Eol.CrNl ? 2 : 1) > n && !eof) return 'wait';
    const at = (k: number): number => (k < n ? b[k] as number : 0);
    if (this.eol === Eol.CrNl) {
      const c3 = at(j++);
      if (c3 === LF) {
        if (!this.csv) throw badFormat('end-of-copy marker does not match previous newline style');
        return 'data';
      }
      if (c3 !== CR) {
        if (!this.csv) throw badFormat('end-of-copy marker corrupt');
        return 'data';
      }
    }
    const c4 = at(j);
    if (c4 !== CR && c4 !== LF) {
      if (!this.csv) throw badFormat('end-of-copy marker corrupt');
      return 'data';
    }
    if ((this.eol === Eol.Nl && c4 !== LF) || (this.eol === Eol.CrNl && c4 !== LF) || (this.eol === Eol.Cr && c4 !== CR)) {
      throw badFormat('end-of-copy marker does not match previous newline style');
    }
    return 'end';
  }
}

const OCT = (c: number): boolean => c >= 0x30 && c <= 0x37;
const HEX = (c: number): number => (c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1);
const SIMPLE: Record<number, number> = { 0x62: 0x08, 0x66: 0x0c, 0x6e: 0x0a, 0x72: 0x0d, 0x74: 0x09, 0x76: 0x0b };
const NULL_MARK = 0x4e; // N

/** The fields of one text-format line: decoded bytes, null for `\N`. */
export function textFields(line: Buffer, delimiter: number): Array<string | null> {
  const fields: Array<string | null> = [];
  const n = line.length;
  let i = 0;
  for (;;) {
    const start = i;
    // Fast path: a field without backslash is its bytes.
    let d = line.indexOf(delimiter, i);
    if (d < 0) d = n;
    const bs = line.indexOf(BS, i);
    if (bs < 0 || bs >= d) {
      fields.push(utf8Text(line.subarray(start, d)));
      if (d >= n) return fields;
      i = d + 1;
      continue;
    }
    const out = Buffer.allocUnsafe(n - start);
    let o = 0;
    let found = false;
    let end = i;
    for (;;) {
      end = i;
      if (i >= n) break;
      let c = line[i++] as number;
      if (c === delimiter) { found = true; break; }
      if (c === BS) {
        if (i >= n) break;
        c = line[i++] as number;
        if (OCT(c)) {
          let v = c - 0x30;
          if (i < n && OCT(line[i] as number)) {
            v = (v << 3) + ((line[i++] as number) - 0x30);
            if (i < n && OCT(line[i] as number)) v = (v << 3) + ((line[i++] as number) - 0x30);
          }
          c = v & 0xff;
        } else if (c === 0x78) {
          if (i < n && HEX(line[i] as number) >= 0) {
            let v = HEX(line[i++] as number);
            if (i < n && HEX(line[i] as number) >= 0) v = (v << 4) + HEX(line[i++] as number);
            c = v & 0xff;
          }
        } else if (SIMPLE[c] !== undefined) {
          c = SIMPLE[c] as number;
        }
      }
      out[o++] = c;
    }
    // NULL is the raw `\N`, before any de-escaping.
    if (end - start === 2 && line[start] === BS && line[start + 1] === NULL_MARK) fields.push(null);
    else fields.push(utf8Text(out.subarray(0, o)));
    if (!found) return fields;
  }
}

/** The fields of one CSV line (QUOTE = ESCAPE): decoded text, null for an unquoted empty field. */
export function csvFields(line: Buffer, delimiter: number, quote: number): Array<string | null> {
  const fields: Array<string | null> = [];
  const n = line.length;
  let i = 0;
  for (;;) {
    const start = i;
    let d = line.indexOf(delimiter, i);
    if (d < 0) d = n;
    const q = line.indexOf(quote, i);
    if (q < 0 || q >= d) {
      fields.push(d === start ? null : utf8Text(line.subarray(start, d)));
      if (d >= n) return fields;
      i = d + 1;
      continue;
    }
    // A quote before the delimiter (which may be inside the quotes): PostgreSQL's loop.
    const out = Buffer.allocUnsafe(n - start);
    let o = 0;
    let found = false;
    field: for (;;) {
      for (;;) {
        if (i >= n) break field;
        const c = line[i++] as number;
        if (c === delimiter) { found = true; break field; }
        if (c === quote) break;
        out[o++] = c;
      }
      for (;;) {
        if (i >= n) throw badFormat('unterminated CSV quoted field');
        const c = line[i++] as number;
        if (c === quote) {
          if (i < n && line[i] === quote) { out[o++] = quote; i++; continue; }
          break;
        }
        out[o++] = c;
      }
    }
    fields.push(utf8Text(out.subarray(0, o)));
    if (!found) return fields;
  }
}
