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
import { isUtf8 } from 'node:buffer';
import { StatementError } from '../session/pipeline.ts';
import type { CopyTransformer } from '../session/pipeline.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';

const CR = 0x0d;
const LF = 0x0a;
const BS = 0x5c;
const DOT = 0x2e;
const EMPTY = Buffer.alloc(0);
const WAIT = -1;

const Eol = { Unknown: 0, Nl: 1, Cr: 2, CrNl: 3 } as const;
type Eol = (typeof Eol)[keyof typeof Eol];

function badFormat(message: string): StatementError {
  return new StatementError(SQLSTATE.badCopyFileFormat, message);
}

/**
 * The bytes as a string; invalid UTF-8 or a NUL byte is PostgreSQL's 22021 (it checks the raw
 * input, and the bytes escapes stand for). Fields are checked one by one: the bytes between them
 * (delimiters, quotes, backslashes) are ASCII, so this checks every byte of a data line.
 */
export function utf8Text(b: Buffer): string {
  if (b.indexOf(0) >= 0) throw new StatementError(SQLSTATE.characterNotInRepertoire, 'invalid byte sequence for encoding "UTF8": 0x00');
  if (!isUtf8(b)) throw new StatementError(SQLSTATE.characterNotInRepertoire, 'invalid byte sequence for encoding "UTF8"');
  return b.toString('utf8');
}

/** Streams COPY FROM data (chunks split anywhere) into lines, without their line ending. */
export class CopyLineReader {
  private readonly csv: boolean;
  private readonly quote: number;
  private buf: Buffer = EMPTY;
  /** Earlier, already scanned bytes of the current line (copies): a long line costs no re-copying. */
  private head: Buffer[] = [];
  /** Next byte of `buf` to look at; `lineStart`: where the current line continues in `buf`. */
  private pos = 0;
  private lineStart = 0;
  private eol: Eol = Eol.Unknown;
  private inQuote = false;
  private firstChar = true;
  /** The end of the data was read (end marker or end of input): anything after is ignored. */
  ended = false;
  /** The bytes that matter, and where each was last found in `buf` (-1: look again). */
  private readonly specials: number[];
  private found: number[];

  constructor(format: { csv: boolean; quote?: string }) {
    this.csv = format.csv;
    this.quote = format.csv ? Buffer.from(format.quote ?? '"', 'utf8')[0] as number : -1;
    this.specials = format.csv ? [CR, LF, BS, this.quote] : [CR, LF, BS];
    this.found = this.specials.map(() => -1);
  }

  /** One chunk of data; complete lines go to `onLine` (a view valid during the call only). */
  push(chunk: Uint8Array, onLine: (line: Buffer) => void): void {
    if (this.ended || chunk.length === 0) return;
    const c = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    // `buf` holds at most the few bytes that wait for a look-ahead (the rest went to `head`).
    this.setBuf(this.buf.length > 0 ? Buffer.concat([this.buf, c]) : c);
    this.scan(false, onLine);
    if (this.ended) return;
    // Keep the unfinished line, copied (the chunk's memory is not ours to keep): the scanned part
    // goes to `head`, the unscanned bytes (waiting for a look-ahead) stay in `buf`.
    if (this.pos > this.lineStart) this.head.push(Buffer.from(this.buf.subarray(this.lineStart, this.pos)));
    this.setBuf(this.pos < this.buf.length ? Buffer.from(this.buf.subarray(this.pos)) : EMPTY);
    this.pos = 0;
    this.lineStart = 0;
  }

  private setBuf(b: Buffer): void {
    this.buf = b;
    this.found = this.specials.map(() => -1);
  }

  /** The end of the input: a last line without line ending is a line. */
  end(onLine: (line: Buffer) => void): void {
    if (this.ended) return;
    this.scan(true, onLine);
    if (!this.ended && (this.lineStart < this.buf.length || this.head.length > 0)) this.emit(this.buf.length, onLine);
    this.ended = true;
    this.buf = EMPTY;
    this.head = [];
  }

  /** The current line up to `at`: a view when it lies in `buf` alone. */
  private emit(at: number, onLine: (line: Buffer) => void): void {
    const rest = this.buf.subarray(this.lineStart, at);
    if (this.head.length === 0) {
      onLine(rest);
      return;
    }
    const line = Buffer.concat([...this.head, rest]);
    this.head = [];
    onLine(line);
  }

  /** Whether the current line has bytes before `at`. */
  private hasLine(at: number): boolean {
    return at > this.lineStart || this.head.length > 0;
  }

  private newLine(at: number, next: number, onLine: (line: Buffer) => void): number {
    this.emit(at, onLine);
    this.lineStart = next;
    this.inQuote = false;
    this.firstChar = true;
    return next;
  }

  private scan(eof: boolean, onLine: (line: Buffer) => void): void {
    let i = this.pos;
    while (i < this.buf.length && !this.ended) {
      // Bytes other than CR, LF, backslash and the quote are data: jump over them at once.
      const j = this.nextSpecial(i);
      if (j > i) {
        this.firstChar = false;
        i = j;
        if (i >= this.buf.length) break;
      }
      const next = this.step(i, eof, onLine);
      if (next === WAIT) break;
      i = next;
    }
    this.pos = i;
  }

  /** Where the next CR, LF, backslash or quote is at or after `i` (buf.length: none). */
  private nextSpecial(i: number): number {
    let j = this.buf.length;
    for (let k = 0; k < this.specials.length; k++) {
      let p = this.found[k] as number;
      if (p < i) {
        const f = this.buf.indexOf(this.specials[k] as number, i);
        p = f < 0 ? this.buf.length : f;
        this.found[k] = p;
      }
      if (p < j) j = p;
    }
    return j;
  }

  /** Looks at the byte at `i`: the index to go on from, or WAIT for more input. */
  private step(i: number, eof: boolean, onLine: (line: Buffer) => void): number {
    const c = this.buf[i] as number;
    // Bytes that need the next byte to be understood wait for it (PostgreSQL looks ahead too;
    // at the end of the input the next byte reads as 0).
    if (this.needsNext(i, eof, c)) return WAIT;
    // The quote toggles (QUOTE = ESCAPE); in text format `quote` is -1 and never matches.
    if (c === this.quote) this.inQuote = !this.inQuote;
    if ((c === CR || c === LF) && !this.inQuote) return this.newLine(i, c === CR ? this.afterCr(i) : this.afterLf(i), onLine);
    if (c === BS && this.backslashSpecial()) return this.backslash(i, eof, onLine);
    this.firstChar = false;
    return i + 1;
  }

  /** A CR or backslash that is the last byte so far (and more input will come). */
  private needsNext(i: number, eof: boolean, c: number): boolean {
    return i + 1 >= this.buf.length && !eof && (c === CR || c === BS);
  }

  /** Text: every backslash is special; CSV: only as the first byte of a line (for `\.`). */
  private backslashSpecial(): boolean {
    return !this.csv || this.firstChar;
  }

  /** A CR outside quotes ends the line: where the next one starts (CR LF or CR fixes the style). */
  private afterCr(i: number): number {
    const crMessage = this.csv ? 'unquoted carriage return found in data' : 'literal carriage return found in data';
    if (this.eol === Eol.Nl) throw badFormat(crMessage);
    if (this.eol === Eol.Cr) return i + 1;
    if (this.buf[i + 1] === LF) {
      this.eol = Eol.CrNl;
      return i + 2;
    }
    if (this.eol === Eol.CrNl) throw badFormat(crMessage);
    this.eol = Eol.Cr;
    return i + 1;
  }

  private afterLf(i: number): number {
    if (this.eol === Eol.Cr || this.eol === Eol.CrNl) throw badFormat(this.csv ? 'unquoted newline found in data' : 'literal newline found in data');
    this.eol = Eol.Nl;
    return i + 1;
  }

  /** A backslash (text: anywhere; CSV: first on its line): an escape, data, or the end marker. */
  private backslash(i: number, eof: boolean, onLine: (line: Buffer) => void): number {
    // A backslash just before the end of the input is data.
    if (i + 1 >= this.buf.length) return this.buf.length;
    if (this.buf[i + 1] === DOT) {
      const marker = this.endMarker(i, eof);
      if (marker === 'wait') return WAIT;
      if (marker === 'end') {
        if (this.hasLine(i)) this.emit(i, onLine);
        this.ended = true;
        return this.buf.length;
      }
    }
    this.firstChar = false;
    // Text: the byte after a backslash is data, whatever it is. CSV: a backslash is data.
    return i + (this.csv ? 1 : 2);
  }

  /** After `\.` at `i`: the end of the data, data (CSV only), or 'wait' for more input. */
  private endMarker(i: number, eof: boolean): 'end' | 'data' | 'wait' {
    const b = this.buf;
    const crnl = this.eol === Eol.CrNl;
    if (i + (crnl ? 4 : 3) > b.length && !eof) return 'wait';
    const at = (k: number): number => (k < b.length ? b[k] as number : 0);
    const bad = (message: string): 'data' => {
      if (!this.csv) throw badFormat(message);
      return 'data';
    };
    let j = i + 2;
    if (crnl) {
      const problem = crnlMarkerProblem(at(j++));
      if (problem) return bad(problem);
    }
    const c4 = at(j);
    if (c4 !== CR && c4 !== LF) return bad('end-of-copy marker corrupt');
    if (!this.endsLikeLines(c4)) throw badFormat('end-of-copy marker does not match previous newline style');
    return 'end';
  }

  /** Whether the newline `c` after the end marker is the style of the lines before it. */
  private endsLikeLines(c: number): boolean {
    return this.eol === Eol.Unknown || (this.eol === Eol.Cr ? c === CR : c === LF);
  }
}

/** With CR LF lines, the byte after `\.` must be CR: the problem otherwise. */
function crnlMarkerProblem(c3: number): string | undefined {
  if (c3 === LF) return 'end-of-copy marker does not match previous newline style';
  return c3 === CR ? undefined : 'end-of-copy marker corrupt';
}

const OCT = (c: number): boolean => c >= 0x30 && c <= 0x37;
const HEX = (c: number): number => (c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1);
const SIMPLE: Record<number, number> = { 0x62: 0x08, 0x66: 0x0c, 0x6e: 0x0a, 0x72: 0x0d, 0x74: 0x09, 0x76: 0x0b };
const NULL_MARK = 0x4e; // N

interface Field { value: string | null; next: number }

/** The byte a backslash escape stands for (`i`: the byte after the backslash), and where it ends. */
function escapeAt(line: Buffer, i: number): [number, number] {
  const c = line[i] as number;
  if (OCT(c)) return octalEscape(line, i);
  if (c === 0x78 && i + 1 < line.length && HEX(line[i + 1] as number) >= 0) return hexEscape(line, i + 1);
  return [SIMPLE[c] ?? c, i + 1];
}

/** `\ooo` (one to three octal digits from `i`). */
function octalEscape(line: Buffer, i: number): [number, number] {
  let v = (line[i] as number) - 0x30;
  let j = i + 1;
  for (let k = 0; k < 2 && j < line.length && OCT(line[j] as number); k++) v = (v << 3) + (line[j++] as number) - 0x30;
  return [v & 0xff, j];
}

/** `\xhh` (one or two hex digits from `i`, the first known to be one). */
function hexEscape(line: Buffer, i: number): [number, number] {
  let v = HEX(line[i] as number);
  let j = i + 1;
  if (j < line.length && HEX(line[j] as number) >= 0) v = (v << 4) + HEX(line[j++] as number);
  return [v & 0xff, j];
}

/** A text field with backslashes from `start`, de-escaped (next = -1: it was the line's last). */
function escapedField(line: Buffer, start: number, delimiter: number): Field {
  const n = line.length;
  const out = Buffer.allocUnsafe(n - start);
  let o = 0;
  let i = start;
  while (i < n && line[i] !== delimiter) {
    const c = line[i++] as number;
    if (c !== BS) {
      out[o++] = c;
      continue;
    }
    // A backslash at the end of the line is dropped.
    if (i >= n) break;
    const [byte, next] = escapeAt(line, i);
    out[o++] = byte;
    i = next;
  }
  // NULL is the raw `\N`, before any de-escaping.
  const isNull = i - start === 2 && line[start] === BS && line[start + 1] === NULL_MARK;
  return { value: isNull ? null : utf8Text(out.subarray(0, o)), next: i < n ? i + 1 : -1 };
}

function textField(line: Buffer, start: number, delimiter: number): Field {
  const d = line.indexOf(delimiter, start);
  const end = d < 0 ? line.length : d;
  // `\N` alone: NULL (the common escape, without de-escaping).
  if (end - start === 2 && line[start] === BS && line[start + 1] === NULL_MARK) return { value: null, next: d < 0 ? -1 : d + 1 };
  const bs = line.indexOf(BS, start);
  if (bs >= 0 && bs < end) return escapedField(line, start, delimiter);
  return { value: utf8Text(line.subarray(start, end)), next: d < 0 ? -1 : d + 1 };
}

/** The fields of a line without backslash: its bytes between delimiters. */
function plainFields(line: Buffer, delimiter: number): string[] {
  const fields: string[] = [];
  for (let start = 0; ;) {
    const d = line.indexOf(delimiter, start);
    fields.push(utf8Text(line.subarray(start, d < 0 ? line.length : d)));
    if (d < 0) return fields;
    start = d + 1;
  }
}

/** The fields of one text-format line: decoded bytes, null for `\N`. */
export function textFields(line: Buffer, delimiter: number): Array<string | null> {
  if (line.indexOf(BS) < 0) return plainFields(line, delimiter);
  const fields: Array<string | null> = [];
  for (let i = 0; i >= 0;) {
    const f = textField(line, i, delimiter);
    fields.push(f.value);
    i = f.next;
  }
  return fields;
}

/** A CSV field holding a quote from `start` (QUOTE = ESCAPE): PostgreSQL's quote handling. */
function quotedField(line: Buffer, start: number, delimiter: number, quote: number): Field {
  const n = line.length;
  const out = Buffer.allocUnsafe(n - start);
  let o = 0;
  let inQuote = false;
  for (let i = start; i < n;) {
    const c = line[i++] as number;
    if (!inQuote && c === delimiter) return { value: utf8Text(out.subarray(0, o)), next: i };
    if (c !== quote) {
      out[o++] = c;
    } else if (inQuote && line[i] === quote) {
      out[o++] = quote;
      i++;
    } else {
      inQuote = !inQuote;
    }
  }
  if (inQuote) throw badFormat('unterminated CSV quoted field');
  return { value: utf8Text(out.subarray(0, o)), next: -1 };
}

function csvField(line: Buffer, start: number, delimiter: number, quote: number): Field {
  const d = line.indexOf(delimiter, start);
  const end = d < 0 ? line.length : d;
  const q = line.indexOf(quote, start);
  // A quote before the delimiter (which may then be inside the quotes).
  if (q >= 0 && q < end) return quotedField(line, start, delimiter, quote);
  return { value: end === start ? null : utf8Text(line.subarray(start, end)), next: d < 0 ? -1 : d + 1 };
}

/** The fields of one CSV line (QUOTE = ESCAPE): decoded text, null for an unquoted empty field. */
export function csvFields(line: Buffer, delimiter: number, quote: number): Array<string | null> {
  const fields: Array<string | null> = [];
  for (let i = 0; i >= 0;) {
    const f = csvField(line, i, delimiter, quote);
    fields.push(f.value);
    i = f.next;
  }
  return fields;
}

/**
 * A streaming CopyTransformer over whole lines, for text and CSV alike: lines are found with
 * CopyLineReader, the header line (when there is one) is replaced by `headerText` (or kept as
 * read, after PostgreSQL's byte checks), and every data line becomes `row(line)` (its own line
 * ending included). `begin` starts a fresh COPY operation.
 */
export function lineRowTransformer(
  format: { csv: boolean; quote?: string },
  header: { present: boolean; text?: string | undefined },
  row: (line: Buffer) => string,
): CopyTransformer {
  let reader = new CopyLineReader(format);
  let pendingHeader = header.present;
  let out: string[] = [];
  const onLine = (line: Buffer): void => {
    if (pendingHeader) {
      pendingHeader = false;
      // PostgreSQL checks the header line's bytes too, then skips it.
      const text = utf8Text(line);
      out.push(`${header.text ?? text}\n`);
      return;
    }
    out.push(row(line));
  };
  const take = (): Uint8Array[] => {
    const text = out.join('');
    out = [];
    return text.length ? [Buffer.from(text, 'utf8')] : [];
  };
  return {
    begin() {
      reader = new CopyLineReader(format);
      pendingHeader = header.present;
      out = [];
    },
    data(chunk) {
      reader.push(chunk, onLine);
      return take();
    },
    finish() {
      reader.end(onLine);
      return take();
    },
  };
}
