// The exchange a write that computes needs (issue 10, WriteBack in pipeline.ts): after the backend
// stage's rows are read (an UPDATE's locked FOR UPDATE) and the in-proxy stage computed the new
// values, the session writes them back with one prepared statement of its own, one Bind/Execute per
// row, before the client's Sync reaches the backend: the read and the writes share the client's
// transaction (an explicit block, or the implicit one of the extended batch). The client is not read
// meanwhile (its Sync would commit the batch between the read and the writes).
//
// Pure message building and bookkeeping; inspect.ts sends the messages and routes the answers.
import type { FrontendMessage } from '../protocol/frontend.ts';
import type { FieldDescription, HeldCursor, WireValue, WriteBack } from './pipeline.ts';

/** Bounds of one batch of a batched write-back (one Bind): rows, and bytes of protected values. */
export const BATCH_ROWS = 2000;
export const BATCH_BYTES = 4 << 20;

/** A PostgreSQL array literal (text form) of text-form values: every element quoted, NULL unquoted. */
export function arrayLiteral(values: ReadonlyArray<string | null>): string {
  return `{${values.map((v) => (v === null ? 'NULL' : `"${v.replace(/[\\"]/g, '\\$&')}"`)).join(',')}}`;
}

/** Statement and portal name of the write-back (never a client's: names starting `clarus_` are the proxy's). */
export const WRITE_BACK_NAME = 'clarus_write_back';

/** One write that computes, from the client's Execute (or Query) to its CommandComplete or error. */
export class WriteExchange {
  readonly wb: WriteBack;
  /** The client sent a simple Query: the session ends the batch with its own Sync. */
  readonly simple: boolean;
  /** Rows the write-back statements reported (their CommandComplete tags). */
  count = 0;
  ended = false;
  /** RETURNING: the write-back's rows (text, per the user's view), and the client's result formats. */
  readonly returned: Array<Array<string | null>> = [];
  formats: readonly number[] = [];
  /** Resolves when the client may be read again. */
  readonly held: Promise<void>;
  private release!: () => void;

  constructor(wb: WriteBack, simple: boolean) {
    this.wb = wb;
    this.simple = simple;
    this.held = new Promise<void>((resolve) => { this.release = resolve; });
  }

  /** Whether there is nothing to send for these rows (a cursor is declared even over none). */
  nothing(rows: readonly unknown[]): boolean {
    return rows.length === 0 && !this.wb.cursor;
  }

  /** The write-back messages for the computed rows (text values, the stage's outputs in order); the values are protected here. */
  messages(rows: ReadonlyArray<ReadonlyArray<WireValue>>, fields: readonly FieldDescription[] = []): FrontendMessage[] {
    if (this.wb.cursor) return this.declareCursor(rows, fields, this.wb.cursor);
    const out: FrontendMessage[] = [
      // A statement of this name left by a failed exchange (the backend skipped its Close) goes first.
      { type: 'Close', target: 'S', name: WRITE_BACK_NAME },
      { type: 'Parse', name: WRITE_BACK_NAME, sql: this.wb.sql, paramTypes: [...this.wb.paramTypes] },
    ];
    const batches = this.wb.batch ? this.batches(rows) : rows.map((row) => (this.wb.params ? this.wb.params([...row], []) : [...row]));
    if (this.wb.batch) out[1] = { type: 'Parse', name: WRITE_BACK_NAME, sql: this.wb.batch, paramTypes: [] };
    for (const values of batches) {
      out.push({ type: 'Bind', portal: WRITE_BACK_NAME, statement: WRITE_BACK_NAME, paramFormats: [], values, resultFormats: [] },
        { type: 'Execute', portal: WRITE_BACK_NAME, maxRows: 0 }, { type: 'Close', target: 'P', name: WRITE_BACK_NAME });
    }
    out.push({ type: 'Close', target: 'S', name: WRITE_BACK_NAME });
    return out;
  }

  /** The backend's cursor over the row numbers 1…n; the rows wait for its CommandComplete. */
  private declareCursor(rows: ReadonlyArray<ReadonlyArray<WireValue>>, fields: readonly FieldDescription[], cursor: HeldCursor): FrontendMessage[] {
    cursor.computed(fields, rows);
    return [
      { type: 'Close', target: 'S', name: WRITE_BACK_NAME },
      { type: 'Parse', name: WRITE_BACK_NAME, sql: this.wb.sql, paramTypes: [] },
      { type: 'Bind', portal: WRITE_BACK_NAME, statement: WRITE_BACK_NAME, paramFormats: [], values: [Buffer.from(String(rows.length))], resultFormats: [] },
      { type: 'Execute', portal: WRITE_BACK_NAME, maxRows: 0 },
      { type: 'Close', target: 'P', name: WRITE_BACK_NAME },
      { type: 'Close', target: 'S', name: WRITE_BACK_NAME },
    ];
  }

  /** The rows protected and grouped into batches: per batch, one array (text form) per parameter. */
  private batches(rows: ReadonlyArray<ReadonlyArray<WireValue>>): WireValue[][] {
    const out: WireValue[][] = [];
    let cols: Array<Array<string | null>> = [];
    let bytes = 0;
    const flush = (): void => {
      if (cols[0]?.length) out.push(cols.map((c) => Buffer.from(arrayLiteral(c), 'utf8')));
      cols = [];
      bytes = 0;
    };
    for (const row of rows) {
      const values = this.wb.params ? this.wb.params([...row], []) : [...row];
      if (cols.length === 0) cols = values.map(() => []);
      values.forEach((v, i) => {
        const text = v === null ? null : Buffer.from(v.buffer, v.byteOffset, v.length).toString('utf8');
        bytes += text?.length ?? 0;
        cols[i]?.push(text);
      });
      if (!this.wb.oneBatch && ((cols[0]?.length ?? 0) >= BATCH_ROWS || bytes >= BATCH_BYTES)) flush();
    }
    flush();
    return out;
  }

  /** A DataRow of a write-back with RETURNING: kept as text, shown per the user's view. */
  row(values: WireValue[]): void {
    const shown = this.wb.returning ? this.wb.returning.rows.row(values, []) : values;
    this.returned.push(shown.map((v) => (v === null ? null : Buffer.from(v.buffer, v.byteOffset, v.length).toString('utf8'))));
  }

  /** A write-back statement's CommandComplete (`UPDATE 1`, `INSERT 0 1`). */
  completed(tag: string): void {
    if (this.wb.cursor) { this.wb.cursor.declared(); return; }
    const n = Number.parseInt(tag.slice(tag.lastIndexOf(' ') + 1), 10);
    if (Number.isFinite(n)) this.count += n;
  }

  /** The client's CommandComplete tag. */
  tag(): string {
    if (this.wb.command === 'DECLARE CURSOR') return 'DECLARE CURSOR';
    return this.wb.command === 'INSERT' ? `INSERT 0 ${this.count}` : `${this.wb.command} ${this.count}`;
  }

  /** The exchange is over (done or failed): true the first time. */
  end(): boolean {
    if (this.ended) return false;
    this.ended = true;
    this.release();
    return true;
  }
}
