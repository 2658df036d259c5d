// The unsplit tables a SELECT over a split table joins are read on the client's own backend
// connection (issue 12): inside the client's transaction block they must show the block's
// uncommitted writes, which no other connection sees. The statement the client's backend gets in
// place of the split statement (stage.ts placeholderSql) becomes the scans of those tables, each
// protected by the proxy's rules like any statement, one row per scanned row:
// `(relation number, the row as PostgreSQL prints a record)`. The split stage takes them from the
// candidate rows, splits each record into its values and decrypts them per the user's view.
//
// Only conditions without parameters go with these scans (the placeholder's parameters reach the
// backend as NULL: their values may be search terms over encrypted values); the engine evaluates
// every condition of the statement anyway.
import type { View } from '@clarus/crds/types.ts';
import type { KeyedRewriter } from '../protection/keyed-rewriter.ts';
import { StatementError } from '../session/pipeline.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';
import { prepareNow } from './fragment.ts';
import type { Prepared } from './fragment.ts';
import type { ReadRelation, SelectPlan } from './plan.ts';

/** Relation index (in SelectPlan.relations) → its scan as the client's backend runs it. */
export type ClientScans = Map<number, Prepared>;

/** Candidate columns of the placeholder: the relation number and the record, then the client's parameters. */
export const REL_COLUMN = 0;
export const ROW_COLUMN = 1;

/** The scan of one unsplit relation: its parameter-free conditions when the rules accept them together, else none. */
function scanOf(rw: KeyedRewriter, r: ReadRelation, views: Map<string, View>): Prepared {
  const free = Array.from({ length: r.conjuncts }, (_, i) => i).filter((i) => r.homeWith([i]).params.length === 0);
  for (const keep of free.length > 0 ? [free, []] : [[]]) {
    try { return prepareNow(rw, r.homeWith(keep).sql, views, 0); } catch (e) {
      if (!(e instanceof StatementError) || keep.length === 0) throw e;
    }
  }
  throw new StatementError(SQLSTATE.internalError, 'clarus: no scan of an unsplit relation');
}

/**
 * The client-side scans of a SELECT's unsplit relations (`rw`: the proxy's own rewriter, whose
 * catalog knows every table the statement names), or null when it reads split tables only.
 */
export function clientScans(rw: KeyedRewriter, plan: SelectPlan, views: Map<string, View>): ClientScans | null {
  const out: ClientScans = new Map();
  plan.relations.forEach((r, i) => { if (!r.layout) out.set(i, scanOf(rw, r, views)); });
  return out.size > 0 ? out : null;
}

/** The placeholder that runs the scans on the client's backend (`paramCount` client parameters, never given values). */
export function scansSql(scans: ClientScans, paramCount: number): string {
  const arms = [...scans].map(([i, p]) => `SELECT ${i}::int AS clarus_rel, s::text AS clarus_row FROM (${p.sql}) AS s`);
  const params = Array.from({ length: paramCount }, (_, i) => `$${i + 1}::text AS p${i + 1}`);
  return `SELECT ${['r.clarus_rel', 'r.clarus_row', ...params].join(', ')} FROM (${arms.join(' UNION ALL ')}) AS r`;
}

/** The values of a record as PostgreSQL prints it (`(1,"a b",,"x""y")`): unquoted empty = NULL. */
export function recordValues(text: string): Array<string | null> {
  const out: Array<string | null> = [];
  let i = 1;
  const end = text.length - 1;
  for (;;) {
    let v = '';
    let quoted = false;
    while (i < end && text[i] !== ',') {
      const ch = text[i] as string;
      if (ch === '"') {
        quoted = true;
        for (i++; i < end; i++) {
          const c = text[i] as string;
          if (c === '\\') { v += text[++i] ?? ''; continue; }
          if (c === '"') { if (text[i + 1] === '"') { v += '"'; i++; continue; } break; }
          v += c;
        }
        i++;
        continue;
      }
      v += ch;
      i++;
    }
    out.push(v === '' && !quoted ? null : v);
    if (i >= end) return out;
    i++;
  }
}

/** The candidate rows of relation `index`, decrypted per the scan's outputs (text values). */
export function scannedRows(scan: Prepared, index: number, candidates: ReadonlyArray<ReadonlyArray<string | null>>): Array<Array<string | null>> {
  const rows: Array<Array<string | null>> = [];
  for (const c of candidates) {
    if (c[REL_COLUMN] !== String(index)) continue;
    const values = recordValues(c[ROW_COLUMN] ?? '()').map((v) => (v === null ? null : Buffer.from(v, 'utf8')));
    rows.push(scan.row(values).map((v) => (v === null ? null : v.toString('utf8'))));
  }
  return rows;
}
