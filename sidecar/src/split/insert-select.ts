// INSERT … SELECT into a split table (issue 12). The SELECT is planned and answered as any split
// read (plan.ts, stage.ts: every table it reads, split or not, recomposed or read from home, then
// the proxy's engine); its rows are then inserted as INSERT … VALUES batches (the client's INSERT
// with its column list, ON CONFLICT and RETURNING, over parameters), all in one transaction over
// the fragments: two-phase commit outside a block, the client's block inside one. The SELECT is
// read before the write (outside a block, in a snapshot of its own; inside one, in the block).
import { arr, body, paramRef } from '../rewrite/ast.ts';
import type { Json } from '../rewrite/ast.ts';
import type { ResidualStage } from '../session/pipeline.ts';
import type { SplitLayout } from './layout.ts';
import { SplitUnsupported } from './plan.ts';
import type { InsertPlan, SelectPlan } from './plan.ts';
import { planWithPoints, withDerived } from './points-plans.ts';
import type { PointInsert } from './points-plans.ts';
import type { Derived } from './points.ts';
import { insertInto, requirePlaintext, returningFields, selectStage, writeResult } from './stage.ts';
import type { StageDeps } from './stage.ts';
import type { ClientScans } from './client-reads.ts';
import type { FragmentRows } from './fragment.ts';

export interface InsertSelectPlan {
  kind: 'insertSelect';
  layout: SplitLayout;
  select: SelectPlan;
  /** The client's INSERT over `rows` rows of parameters (`$k`: row-major values), with its point parameters. */
  insert(rows: number): PointInsert;
  /** Parameters of point values in the SELECT (points.ts), appended after the client's. */
  derived: Derived[];
  /** Rows per INSERT batch. */
  batch: number;
  returning: boolean;
}

/** Whether an INSERT into the split table of `l` takes its rows from a SELECT (not VALUES). */
export function isInsertSelect(l: SplitLayout, ins: Json): boolean {
  const rv = ins.relation as Json;
  const target = rv.relname === l.table && (rv.schemaname === undefined || rv.schemaname === l.schema);
  const sel = body(ins.selectStmt, 'SelectStmt');
  return target && sel !== null && arr(sel.valuesLists).length === 0;
}

export function planInsertSelect(l: SplitLayout, ins: Json, layouts: ReadonlyMap<string, SplitLayout>, paramCount = 0): InsertSelectPlan {
  const refuse = (what: string): never => { throw new SplitUnsupported(`${what} on split table ${l.schema}.${l.table} (dataset ${l.dataset}) is not supported`); };
  if (ins.withClause) refuse('INSERT … WITH');
  const width = arr(ins.cols).length;
  if (width === 0) refuse('INSERT without a column list');
  const { plan: select, derived } = planWithPoints(l, ins.selectStmt as Json, layouts, paramCount);
  if (select.kind !== 'select') refuse('this INSERT … SELECT');
  const plans = new Map<number, PointInsert>();
  const insert = (rows: number): PointInsert => {
    let p = plans.get(rows);
    if (!p) {
      const values = structuredClone(ins);
      const valuesLists = Array.from({ length: rows }, (_, r) => ({ List: { items: Array.from({ length: width }, (_c, i) => paramRef(r * width + i + 1)) } }));
      values.selectStmt = { SelectStmt: { valuesLists, limitOption: 'LIMIT_OPTION_DEFAULT', op: 'SETOP_NONE' } };
      const w = planWithPoints(l, { InsertStmt: values }, layouts, rows * width);
      p = { plan: w.plan as InsertPlan, derived: w.derived };
      plans.set(rows, p);
    }
    return p;
  };
  const one = insert(1).plan;
  return { kind: 'insertSelect', layout: l, select: select as SelectPlan, insert, derived, returning: one.returning,
    batch: one.conflict === 'nothing' ? 1 : Math.max(1, Math.min(1000, Math.floor(20_000 / width))) };
}

/** `client`: the unsplit tables the SELECT joins, scanned on the client's connection (client-reads.ts). */
export function insertSelectStage(d: StageDeps, p: InsertSelectPlan, client: ClientScans | null = null): ResidualStage {
  const read = selectStage(d, p.select, client);
  return {
    maxRows: read.maxRows, maxBytes: read.maxBytes, blank: read.blank,
    describe: async (_c, formats) => returningFields(d, p.layout, p.returning, p.insert(1).plan.home, formats),
    async run(candidates, scanned, formats, settings, params) {
      requirePlaintext(d, 'an INSERT … SELECT into a split table');
      d.session.mayWrite = true;
      d.session.useSettings(settings);
      const got = await read.run(candidates, scanned, [], settings, params);
      const rows = got.rows.map((r) => r.map((v) => (v === null ? null : Buffer.from(v).toString('utf8'))));
      return d.session.write(async (enter) => {
        const all: FragmentRows = { fields: [], rows: [], tag: '' };
        for (let at = 0; at < rows.length; at += p.batch) {
          const batch = rows.slice(at, at + p.batch);
          const ins = p.insert(batch.length);
          const home = await insertInto(d, ins.plan, withDerived(ins, batch.flat()), enter);
          all.fields = home.fields;
          all.rows.push(...home.rows);
        }
        return writeResult(all, p.returning, `INSERT 0 ${all.rows.length}`, formats);
      });
    },
  };
}
