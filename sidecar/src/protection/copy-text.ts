// COPY text format, streamed row by row: rows and fields are read exactly as PostgreSQL reads them
// (copy-lines.ts: line endings, escapes decoded to bytes, `\N`, the end marker), transformed, and
// written again with `\n` line endings and escapes the backend reads back to the same values.
// Chunks from clients are not row-aligned, so a partial row is kept (bounded by the longest row)
// until it is complete.
import type { CopyTransformer } from '../session/pipeline.ts';
import { lineRowTransformer, textFields } from './copy-lines.ts';

const ESC: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };

/** One field as PostgreSQL's COPY text format decodes it (see textFields); null for `\N`. */
export function unescapeField(f: string): string | null {
  return textFields(Buffer.from(f, 'utf8'), 0x09)[0] ?? null;
}

const UNESC: Record<string, string> = Object.fromEntries(Object.entries(ESC).map(([k, x]) => [x, k]));
const SPECIAL = /[\\\t\n\r\b\f\v]/g;
const HAS_SPECIAL = /[\\\t\n\r\b\f\v]/;

/** bytea hex text (`\x` and lowercase hex digits): ciphertexts and blind indexes, the common protected field. */
const BYTEA_HEX = /^\\x[0-9a-f]*$/;

export function escapeField(v: string | null, delimiter = '\t'): string {
  if (v === null) return '\\N';
  // Only its backslash needs escaping: PostgreSQL refuses digits and lowercase letters as a
  // text-format delimiter, so none of the rest can be one.
  if (v.charCodeAt(0) === 0x5c && BYTEA_HEX.test(v)) return `\\${v}`;
  if (!HAS_SPECIAL.test(v) && !v.includes(delimiter)) return v;
  const escaped = v.replace(SPECIAL, (c) => `\\${UNESC[c] ?? c}`);
  // The tab delimiter was escaped above; any other delimiter is escaped here.
  return escaped.includes(delimiter) ? escaped.split(delimiter).join(`\\${delimiter}`) : escaped;
}

export type RowFn = (fields: Array<string | null>) => Array<string | null>;
export interface TextOptions {
  delimiter: string;
  header: boolean;
  /**
   * What to send in place of the header line (without line ending); undefined: the header line
   * as read. COPY FROM uses the column names, so nothing the client wrote there is forwarded.
   */
  headerText?: string;
}

/** Builds a CopyTransformer from a function over one row's decoded fields. */
export function copyRowTransformer(transform: RowFn, o: TextOptions = { delimiter: '\t', header: false }): CopyTransformer {
  const delimiter = Buffer.from(o.delimiter, 'utf8')[0] as number;
  return lineRowTransformer({ csv: false }, { present: o.header, text: o.headerText },
    (line) => `${transform(textFields(line, delimiter)).map((f) => escapeField(f, o.delimiter)).join(o.delimiter)}\n`);
}

/** bytea in COPY text: its text output (`\x…`), whose backslash COPY escapes. */
export function byteaText(b: Uint8Array): string {
  // A view, not a copy, of the bytes.
  return `\\x${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')}`;
}

export function byteaFromText(s: string): Buffer {
  if (!s.startsWith('\\x')) throw new Error('expected bytea hex text in COPY data');
  return Buffer.from(s.slice(2), 'hex');
}
