// COPY CSV format, streamed: a small state machine (quotes may hold delimiters and newlines, a
// doubled quote inside quotes is a literal quote, unquoted empty = NULL, quoted empty = empty
// string), fed chunk by chunk so rows may span CopyData messages. Only ESCAPE = QUOTE is
// supported (the default); the rewriter refuses other escape/NULL settings.
import { StringDecoder } from 'node:string_decoder';
import type { CopyTransformer } from '../session/pipeline.ts';
import type { RowFn } from './copy-text.ts';

export interface CsvOptions { delimiter: string; quote: string; header: boolean }

export function encodeCsvField(v: string | null, o: CsvOptions): string {
  if (v === null) return '';
  const needs = v === '' || v === '\\.' || v.includes(o.delimiter) || v.includes(o.quote) || v.includes('\n') || v.includes('\r');
  return needs ? `${o.quote}${v.split(o.quote).join(o.quote + o.quote)}${o.quote}` : v;
}

export class CsvReader {
  private readonly o: CsvOptions;
  private fields: Array<string | null> = [];
  private field = '';
  private quoted = false;
  private inQuotes = false;
  private pendingQuote = false;

  constructor(o: CsvOptions) {
    this.o = o;
  }

  /** True while a row is incomplete (for finish()). */
  get partial(): boolean {
    return this.fields.length > 0 || this.field !== '' || this.quoted;
  }

  feed(text: string, onRow: (fields: Array<string | null>) => void): void {
    for (const c of text) {
      if (this.inQuotes && this.quotedChar(c)) continue;
      if (c === this.o.quote) {
        this.inQuotes = true;
        this.quoted = true;
      } else if (c === this.o.delimiter) this.endField();
      else if (c === '\n') {
        this.endField();
        onRow(this.fields);
        this.fields = [];
      } else if (c !== '\r') this.field += c;
    }
  }

  /** Inside quotes: consumes c unless it closes the quoted section (then the caller handles c). */
  private quotedChar(c: string): boolean {
    if (this.pendingQuote) {
      this.pendingQuote = false;
      if (c === this.o.quote) {
        this.field += c;
        return true;
      }
      this.inQuotes = false;
      return false;
    }
    if (c === this.o.quote) this.pendingQuote = true;
    else this.field += c;
    return true;
  }

  endField(): void {
    if (this.pendingQuote) {
      this.pendingQuote = false;
      this.inQuotes = false;
    }
    this.fields.push(!this.quoted && this.field === '' ? null : this.field);
    this.field = '';
    this.quoted = false;
  }

  takeRow(): Array<string | null> {
    this.endField();
    const f = this.fields;
    this.fields = [];
    return f;
  }
}

export function csvRowTransformer(o: CsvOptions, transform: RowFn): CopyTransformer {
  const reader = new CsvReader(o);
  const decoder = new StringDecoder('utf8');
  let first = o.header;
  const encode = (fields: Array<string | null>): string => `${fields.map((f) => encodeCsvField(f, o)).join(o.delimiter)}\n`;
  const row = (fields: Array<string | null>, out: string[]): void => {
    if (fields.length === 1 && fields[0] === '\\.') out.push('\\.\n');
    else if (first) out.push(encode(fields));
    else out.push(encode(transform(fields)));
    first = false;
  };
  return {
    data(chunk) {
      const out: string[] = [];
      reader.feed(decoder.write(Buffer.from(chunk)), (f) => row(f, out));
      return out.length ? [Buffer.from(out.join(''), 'utf8')] : [];
    },
    finish() {
      const out: string[] = [];
      reader.feed(decoder.end(), (f) => row(f, out));
      if (reader.partial) row(reader.takeRow(), out);
      return out.length ? [Buffer.from(out.join(''), 'utf8')] : [];
    },
  };
}
