// Candidate rows → COPY text-format data (the server's own input path: every value goes through
// its type's input function, exactly as a client's COPY would). Counts rows and value bytes as it
// goes and stops at the first one past the call's limits, so an oversized input is never fully
// encoded.
import { ResidualLimitError } from './errors.ts';

/** Rows and value bytes loaded so far in one call, across relations. */
export interface LoadBudget {
  rows: number;
  bytes: number;
  readonly maxRows: number;
  readonly maxBytes: number;
}

export function newBudget(maxRows: number, maxBytes: number): LoadBudget {
  return { rows: 0, bytes: 0, maxRows, maxBytes };
}

const SPECIAL = /[\\\n\r\t]/;
const SPECIAL_ALL = /[\\\n\r\t]/g;
const ESCAPES: Readonly<Record<string, string>> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** One value in COPY text format: `\N` for NULL, the four special characters escaped. */
export function copyField(v: string | null): string {
  if (v === null) return '\\N';
  return SPECIAL.test(v) ? v.replace(SPECIAL_ALL, (c) => ESCAPES[c] as string) : v;
}

function charge(budget: LoadBudget, row: ReadonlyArray<string | null>): void {
  budget.rows += 1;
  if (budget.rows > budget.maxRows) throw new ResidualLimitError('rows', budget.maxRows);
  for (const v of row) if (v !== null) budget.bytes += Buffer.byteLength(v, 'utf8');
  if (budget.bytes > budget.maxBytes) throw new ResidualLimitError('bytes', budget.maxBytes);
}

/** One row as a COPY text line (fields joined by tabs, newline-terminated). */
export function copyLine(row: ReadonlyArray<string | null>, width: number): string {
  if (row.length !== width) throw new Error(`residual: candidate row has ${row.length} values for ${width} columns`);
  let line = '';
  for (let i = 0; i < width; i++) line += (i === 0 ? '' : '\t') + copyField(row[i] as string | null);
  return line + '\n';
}

/**
 * Encodes rows as CopyData payloads of about `chunkChars` characters each, charging `budget`.
 * Throws ResidualLimitError as soon as a limit is passed.
 */
export function copyChunks(rows: Iterable<ReadonlyArray<string | null>>, width: number, budget: LoadBudget, chunkChars = 1 << 16): Buffer[] {
  const chunks: Buffer[] = [];
  let pending = '';
  for (const row of rows) {
    charge(budget, row);
    pending += copyLine(row, width);
    if (pending.length >= chunkChars) { chunks.push(Buffer.from(pending, 'utf8')); pending = ''; }
  }
  if (pending.length > 0) chunks.push(Buffer.from(pending, 'utf8'));
  return chunks;
}
