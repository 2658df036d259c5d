// SQL cursors over a statement computed in two stages (issue 10; rewrite/two-stage/write.ts
// computedCursor): the in-proxy stage computes the whole result once, at DECLARE; the backend holds
// a cursor of the same name and options over the row numbers 1…n, so FETCH, MOVE, CLOSE, scrolling,
// WITH HOLD, errors and the cursor's end with its transaction are PostgreSQL's own. This is the
// cursor's result transformer (access/cursors.ts applies it to every FETCH of the name): the
// backend's one int4 column becomes the held row of that number, in the FETCH's formats.
//
// The rows are taken at the DECLARE's CommandComplete (a DECLARE the backend refuses, e.g. of a
// name already open, leaves the open cursor's rows alone) and dropped at CLOSE / DISCARD ALL, and,
// for a cursor without HOLD, when no transaction is open any more. Pure: no I/O.
import type { FieldDescription, HeldCursor, ResultTransformer, WireValue } from '../session/pipeline.ts';
import { StatementError } from '../session/pipeline.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';
import { formatAt } from '../protocol/types.ts';
import type { FormatCode } from '../protocol/types.ts';
import { encode } from './residual-stage.ts';

type TextRow = Array<string | null>;

export class ComputedCursor implements HeldCursor {
  readonly name: string;
  readonly hold: boolean;
  private fields: FieldDescription[] = [];
  private rows: TextRow[] = [];
  private pending: { fields: FieldDescription[]; rows: TextRow[] } | null = null;

  /** The session's cursors with held rows (the pipeline drops them at CLOSE and, without HOLD, at the transaction's end). */
  private readonly live: Set<ComputedCursor>;

  constructor(name: string, hold: boolean, live: Set<ComputedCursor>) {
    this.name = name;
    this.hold = hold;
    this.live = live;
  }

  /** The stage's result (text values), until the backend has declared the cursor. */
  computed(fields: readonly FieldDescription[], rows: ReadonlyArray<ReadonlyArray<WireValue>>): void {
    const text = (v: WireValue): string | null => (v === null ? null : Buffer.from(v.buffer, v.byteOffset, v.length).toString('utf8'));
    this.pending = { fields: [...fields], rows: rows.map((r) => r.map(text)) };
  }

  /** The backend declared the cursor: FETCH now serves these rows. */
  declared(): void {
    if (!this.pending) return;
    ({ fields: this.fields, rows: this.rows } = this.pending);
    this.pending = null;
    // Another declaration of the name (a prepared DECLARE) replaces its rows.
    for (const c of this.live) if (c !== this && c.name === this.name) { c.clear(); this.live.delete(c); }
    this.live.add(this);
  }

  clear(): void {
    this.live.delete(this);
    this.fields = [];
    this.rows = [];
    this.pending = null;
  }

  /**
   * The cursor the backend holds under this name: the last one declared (a DECLARE the backend
   * refused is decided, and remembered by access/cursors.ts, but never declared).
   */
  private current(): ComputedCursor {
    for (const c of this.live) if (c.name === this.name) return c;
    return this;
  }

  /** How a FETCH of the cursor is shown. */
  readonly transformer: ResultTransformer = {
    // The backend describes its one column in the formats the client asked for: every column gets that format.
    fields: (backend) => this.current().fields.map((f) => ({ ...f, format: (backend[0]?.format ?? 0) as FormatCode })),
    row: (values, formats) => {
      const c = this.current();
      const row = c.rows[rowNumber(values[0] ?? null, formatAt(formats, 0)) - 1];
      if (!row) throw new StatementError(SQLSTATE.internalError, `clarus: cursor ${this.name}: row number out of range`);
      return encode(c.fields, row, formats);
    },
  };
}

/** The backend's row number (int4, text or binary). */
function rowNumber(v: WireValue, format: 0 | 1): number {
  if (v === null) return 0;
  const b = Buffer.from(v.buffer, v.byteOffset, v.length);
  return format === 1 && b.length === 4 ? b.readInt32BE(0) : Number.parseInt(b.toString('utf8'), 10);
}
