// COPY on split tables (issue 12).
//
// * COPY t [(cols)] TO STDOUT and COPY (SELECT …) TO STDOUT: the SELECT (`SELECT cols FROM t`, or
//   the client's) is planned and recomposed like any split read (plan.ts, stage.ts); the stage
//   answers the placeholder with CopyOutResponse, the rows as COPY text or CSV, CopyDone and
//   `COPY n` (StageResult.copyOut) instead of a result set.
// * COPY t (cols) FROM STDIN: the client's backend gets `COPY t (key) FROM STDIN` on the home
//   fragment and no data (it only answers CopyInResponse and takes the statement's place in the
//   client's transaction); the client's rows are read as PostgreSQL reads them (copy-batch.ts,
//   bounded) and kept until CopyDone; when the backend answers `COPY 0`, the rows are inserted on
//   every fragment in batches of INSERT … VALUES plans, all in one transaction over the fragments
//   (two-phase commit outside a block, the client's block inside one), and the client sees
//   `COPY n`. A row the fragments refuse fails the whole COPY; nothing is stored.
// Binary format, server files and programs, COPY … WHERE and NULL/ESCAPE settings other than the
// defaults are refused, as for every protected table (rules/copy.ts).
import { batchCopyTransformer, MAX_BATCH_BYTES } from '../protection/copy-batch.ts';
import type { Row } from '../protection/copy-batch.ts';
import { encodeCsvField } from '../protection/copy-csv.ts';
import { escapeField } from '../protection/copy-text.ts';
import { arr, body, sval } from '../rewrite/ast.ts';
import type { Json } from '../rewrite/ast.ts';
import { parseStatements } from '../rewrite/parser.ts';
import { Refusal } from '../rewrite/refusals.ts';
import { copyFormat } from '../rewrite/rules/copy.ts';
import type { CopyFormat } from '../rewrite/rules/copy.ts';
import { StatementError } from '../session/pipeline.ts';
import type { CopyHooks, CopyTransformer, ResidualStage, ResultTransformer } from '../session/pipeline.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';
import type { SplitLayout } from './layout.ts';
import { SplitUnsupported } from './plan.ts';
import type { InsertPlan, SelectPlan } from './plan.ts';
import { planWithPoints, withDerived } from './points-plans.ts';
import type { PointInsert } from './points-plans.ts';
import type { Derived } from './points.ts';
import { checkedOrder, insertInto, selectStage } from './stage.ts';
import { positionalColumns } from './column-order.ts';
import type { StageDeps } from './stage.ts';
import type { ClientScans } from './client-reads.ts';

/** `derived`: parameters of point values in the SELECT (points.ts), appended after the client's (none). */
export interface CopyOutPlan { kind: 'copyOut'; layout: SplitLayout; select: SelectPlan; format: CopyFormat; derived: Derived[] }

export interface CopyInPlan {
  kind: 'copyIn';
  layout: SplitLayout;
  /** The COPY's column list; null without one: the table's recorded column order, read when the rows are inserted (column-order.ts). */
  columns: string[] | null;
  format: CopyFormat;
  /** What the client's backend runs in the COPY's place (no data reaches it). */
  placeholder: string;
  /** The INSERT … VALUES plan of `rows` rows of `columns` (`$k`: row-major values), with its point parameters. */
  insert(columns: readonly string[], rows: number): PointInsert;
}

export type CopyPlan = CopyOutPlan | CopyInPlan;

const ident = (s: string): string => `"${s.replace(/"/g, '""')}"`;

function unsupported(l: SplitLayout, what: string): never {
  throw new SplitUnsupported(`${what} on split table ${l.schema}.${l.table} (dataset ${l.dataset}) is not supported`);
}

function statementOf(sql: string): Json {
  return (parseStatements(sql)[0] as { stmt: Json }).stmt;
}

/** The plan of a COPY statement naming the split table of `l`. Throws SplitUnsupported. */
export function planCopy(l: SplitLayout, st: Json, layouts: ReadonlyMap<string, SplitLayout>): CopyPlan {
  if (st.filename || st.is_program) unsupported(l, 'COPY to or from a server file or program');
  if (st.whereClause) unsupported(l, 'COPY … WHERE');
  let format: CopyFormat;
  try { format = copyFormat(st); } catch (e) {
    if (e instanceof Refusal) throw new SplitUnsupported(`${e.message} (split table ${l.schema}.${l.table})`);
    throw e;
  }
  const table = `${ident(l.schema)}.${ident(l.table)}`;
  const columns = arr(st.attlist).map((a) => sval(a) ?? '');
  if (st.is_from) {
    if (columns.length === 0 && l.points) unsupported(l, 'COPY FROM without a column list (a table with a point split by coordinates)');
    const insert = insertPlans(l, table, layouts);
    if (columns.length > 0) insert(columns, 1);
    return { kind: 'copyIn', layout: l, columns: columns.length > 0 ? columns : null, format, placeholder: `COPY ${table} (${ident(l.key)}) FROM STDIN`, insert };
  }
  const select = body(st.query, 'SelectStmt') ? (st.query as Json) : statementOf(`SELECT ${columns.length ? columns.map(ident).join(', ') : '*'} FROM ${table}`);
  const { plan, derived } = planWithPoints(l, select, layouts, 0);
  if (plan.kind !== 'select') unsupported(l, 'this COPY');
  return { kind: 'copyOut', layout: l, select: plan, format, derived };
}

/** The INSERT … VALUES plans of COPY FROM: per column list and row count (cached). */
function insertPlans(l: SplitLayout, table: string, layouts: ReadonlyMap<string, SplitLayout>): CopyInPlan['insert'] {
  const plans = new Map<string, PointInsert>();
  return (columns, rows) => {
    const key = `${rows}:${columns.join('\u0000')}`;
    let p = plans.get(key);
    if (!p) {
      const values = Array.from({ length: rows }, (_, r) => `(${columns.map((_c, i) => `$${r * columns.length + i + 1}`).join(', ')})`);
      const w = planWithPoints(l, statementOf(`INSERT INTO ${table} (${columns.map(ident).join(', ')}) VALUES ${values.join(', ')}`), layouts, rows * columns.length);
      p = { plan: w.plan as InsertPlan, derived: w.derived };
      plans.set(key, p);
    }
    return p;
  };
}

/** Rows per INSERT batch of COPY FROM (its parameters stay well under the protocol's 65535). */
export function copyBatch(width: number): number {
  return Math.max(1, Math.min(1000, Math.floor(20_000 / width)));
}

/** A COPY row's width against its column list: PostgreSQL's 22P04 errors. */
function checkWidth(columns: readonly string[], row: Row): void {
  if (row.length > columns.length) throw new StatementError(SQLSTATE.badCopyFileFormat, 'extra data after last expected column');
  if (row.length < columns.length) throw new StatementError(SQLSTATE.badCopyFileFormat, `missing data for column "${columns[row.length] ?? ''}"`);
}

/** One row as a COPY line (text or CSV) with its line ending. */
function copyLine(f: CopyFormat, row: ReadonlyArray<string | null>): string {
  const fields = f.kind === 'csv' ? row.map((v) => encodeCsvField(v, f)) : row.map((v) => escapeField(v, f.delimiter));
  return `${fields.join(f.delimiter)}\n`;
}

const CHUNK = 1 << 16;

/** COPY … TO STDOUT: the recomposed rows (a split read), answered as COPY data. */
export function copyOutStage(d: StageDeps, p: CopyOutPlan, client: ClientScans | null = null): ResidualStage {
  const select = selectStage(d, p.select, client);
  return {
    maxRows: select.maxRows, maxBytes: select.maxBytes, blank: select.blank,
    describe: async () => null,
    async run(candidates, rows, _formats, settings, params) {
      const out = await select.run(candidates, rows, [], settings, params);
      const names = (out.fields ?? []).map((f) => f.name);
      const data: Uint8Array[] = [];
      let text = p.format.header ? copyLine(p.format, names) : '';
      for (const r of out.rows) {
        text += copyLine(p.format, r.map((v) => (v === null ? null : Buffer.from(v).toString('utf8'))));
        if (text.length >= CHUNK) { data.push(Buffer.from(text, 'utf8')); text = ''; }
      }
      if (text.length) data.push(Buffer.from(text, 'utf8'));
      return { fields: null, rows: [], tag: `COPY ${out.rows.length}`, copyOut: { columns: names.length, data } };
    },
  };
}

/**
 * COPY … FROM STDIN: the copy hook that keeps the client's rows (nothing goes to the client's
 * backend), and the transformer whose `done` (the placeholder's `COPY 0`) inserts them.
 */
export function copyInTransformer(d: StageDeps, p: CopyInPlan, maxBytes = MAX_BATCH_BYTES): { result: ResultTransformer; copy: CopyHooks } {
  let held: Row[] = [];
  // Without a column list the widths are checked once the recorded order is read (at the end).
  const check = (row: Row): void => { if (p.columns) checkWidth(p.columns, row); };
  const reader = batchCopyTransformer({ ...p.format, headerText: undefined }, check, (rows) => { held = rows; return []; }, maxBytes);
  const input: CopyTransformer = {
    begin: () => { held = []; reader.begin?.(); },
    data: (chunk) => reader.data(chunk),
    // The client's header line and rows stay in the proxy.
    finish: () => { reader.finish?.(); return []; },
  };
  const done = async (tag: string): Promise<string> => {
    const rows = held;
    held = [];
    if (tag !== 'COPY 0') return tag;
    d.session.mayWrite = true;
    if (rows.length === 0) return 'COPY 0';
    // The session's split statement: a client's cancel meanwhile fails it (57014) between batches.
    await d.session.statement(() => d.session.write(async (enter) => {
      const columns = p.columns ?? positionalColumns(p.layout, await checkedOrder(d, p.layout, await enter(p.layout.home)), 'COPY FROM');
      if (!p.columns) for (const row of rows) checkWidth(columns, row);
      const size = copyBatch(columns.length);
      for (let at = 0; at < rows.length; at += size) {
        const batch = rows.slice(at, at + size);
        const ins = p.insert(columns, batch.length);
        await insertInto(d, ins.plan, withDerived(ins, batch.flat()), enter);
      }
    }));
    return `COPY ${rows.length}`;
  };
  return { result: { fields: (f) => [...f], row: (v) => v, done }, copy: { in: input } };
}
