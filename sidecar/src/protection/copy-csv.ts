// COPY CSV format, streamed: rows and fields are read exactly as PostgreSQL reads them
// (copy-lines.ts: line endings outside quotes, quotes that may hold delimiters and line endings,
// a doubled quote inside quotes is a quote, unquoted empty = NULL, quoted empty = empty string,
// `\.` alone on a line), transformed, and written again with `\n` line endings. Rows may span
// CopyData messages. Only ESCAPE = QUOTE is supported (the default); the rewriter refuses other
// escape/NULL settings.
import type { CopyTransformer } from '../session/pipeline.ts';
import { csvFields, lineRowTransformer } from './copy-lines.ts';
import type { RowFn } from './copy-text.ts';

export interface CsvOptions {
  delimiter: string;
  quote: string;
  header: boolean;
  /** What to send in place of the header line (see TextOptions.headerText). */
  headerText?: string;
}

export function encodeCsvField(v: string | null, o: CsvOptions): string {
  if (v === null) return '';
  const needs = v === '' || v === '\\.' || v.includes(o.delimiter) || v.includes(o.quote) || v.includes('\n') || v.includes('\r');
  return needs ? `${o.quote}${v.split(o.quote).join(o.quote + o.quote)}${o.quote}` : v;
}

export function csvRowTransformer(o: CsvOptions, transform: RowFn): CopyTransformer {
  const delimiter = Buffer.from(o.delimiter, 'utf8')[0] as number;
  const quote = Buffer.from(o.quote, 'utf8')[0] as number;
  const encode = (fields: Array<string | null>): string => `${fields.map((f) => encodeCsvField(f, o)).join(o.delimiter)}\n`;
  return lineRowTransformer({ csv: true, quote: o.quote }, { present: o.header, text: o.headerText }, (line) => encode(transform(csvFields(line, delimiter, quote))));
}
