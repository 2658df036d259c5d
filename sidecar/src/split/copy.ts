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
import { insertInto, selectStage } from './stage.ts';
import type { StageDeps } from './stage.ts';
import type { ClientScans } from './client-reads.ts';

/** `derived`: parameters of point values in the SELECT (points.ts), appended after the client's (none). */
export interface CopyOutPlan { kind: 'copyOut'; layout: SplitLayout; select: SelectPlan; format: CopyFormat; derived: Derived[] }

export interface CopyInPlan {
  kind: 'copyIn';
  layout: SplitLayout;
  columns: string[];
  format: CopyFormat;
  /** What the client's backend runs in the COPY's place (no data reaches it). */
  placeholder: string;
  /** The INSERT … VALUES plan of `rows` rows of `columns` (`$k`: row-major values), with its point parameters. */
  insert(rows: number): PointInsert;
  /** Rows per INSERT batch (its parameters stay well under the protocol's 65535). */
  batch: number;
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
    if (columns.length === 0) unsupported(l, 'COPY FROM without a column list');
    const plans = new Map<number, PointInsert>();
    const insert = (rows: number): PointInsert => {
      let p = plans.get(rows);
      if (!p) {
        const values = Array.from({ length: rows }, (_, r) => `(${columns.map((_c, i) => `$${r * columns.length + i + 1}`).join(', ')})`);
        const w = planWithPoints(l, statementOf(`INSERT INTO ${table} (${columns.map(ident).join(', ')}) VALUES ${values.join(', ')}`), layouts, rows * columns.length);
        p = { plan: w.plan as InsertPlan, derived: w.derived };
        plans.set(rows, p);
      }
      return p;
    };
    insert(1);
    return { kind: 'copyIn', layout: l, columns, format, placeholder: `COPY ${table} (${ident(l.key)}) FROM STDIN`, insert, batch: Math.max(1, Math.min(1000, Math.floor(20_000 / columns.length))) };
  }
  const select = body(st.query, 'SelectStmt') ? (st.query as Json) : statementOf(`SELECT ${columns.length ? columns.map(ident).join(', ') : '*'} FROM ${table}`);
  const { plan, derived } = planWithPoints(l, select, layouts, 0);
  if (plan.kind !== 'select') unsupported(l, 'this COPY');
  return { kind: 'copyOut', layout: l, select: plan, format, derived };
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
  const width = p.columns.length;
  const check = (row: Row): void => {
    if (row.length > width) throw new StatementError(SQLSTATE.badCopyFileFormat, 'extra data after last expected column');
    if (row.length < width) throw new StatementError(SQLSTATE.badCopyFileFormat, `missing data for column "${p.columns[row.length] ?? ''}"`);
  };
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
      for (let at = 0; at < rows.length; at += p.batch) {
        const batch = rows.slice(at, at + p.batch);
        const ins = p.insert(batch.length);
        await insertInto(d, ins.plan, withDerived(ins, batch.flat()), enter);
      }
    }));
    return `COPY ${rows.length}`;
  };
  return { result: { fields: (f) => [...f], row: (v) => v, done }, copy: { in: input } };
}
