// The I/O of the recorded column order of split tables (column-order.ts): reading it, recording a
// DDL's change, and checking it against a table's columns before a write places values by it.
// Always on the session's connection to the home backend (inside the client's block or the
// write's transaction when there is one), never cached.
import { quoteIdent } from '../residual/plan.ts';
import type { FieldDescription } from '../protocol/types.ts';
import { logicalPermutation, orderQuery, parseTextArray, recordSql } from './column-order.ts';
import type { OrderChange } from './column-order.ts';
import type { FragmentConnection, FragmentResult } from './conn.ts';
import { fragmentFailure } from './fragment.ts';
import type { SplitLayout } from './layout.ts';

/** The recorded column order of `l`'s table (null: none recorded; never for a point split by coordinates). */
export async function readOrder(conn: FragmentConnection, l: SplitLayout): Promise<string[] | null> {
  if (l.points) return null;
  try {
    return orderOf(await conn.execute(orderQuery(l), [], []));
  } catch (e) {
    throw fragmentFailure(e);
  }
}

/** The order in the result of orderQuery (null: no row). */
export function orderOf(r: FragmentResult): string[] | null {
  const v = r.rows[0]?.[0];
  return v ? parseTextArray(v.toString('utf8')) : null;
}

/**
 * The recorded order of `l`'s table for a write without a column list, checked against the
 * columns it has (the home fragment's, as `describeHome` gives them through its rewriter, and the
 * policy's on the others, as a read recomposes them): a disagreement fails closed (55000) instead
 * of placing values in columns the client did not mean.
 */
export async function checkedOrder(conn: FragmentConnection, l: SplitLayout, describeHome: (sql: string) => Promise<FieldDescription[]>): Promise<string[] | null> {
  const order = await readOrder(conn, l);
  if (order === null) return null;
  const home = await describeHome(`SELECT * FROM ${quoteIdent(l.schema)}.${quoteIdent(l.table)}`);
  logicalPermutation(l, order, [...home.map((f) => f.name), ...l.sides.flatMap((b) => l.columns.get(b) ?? [])]);
  return order;
}

/** Records a DDL's changes of the order, on the home connection in the DDL's transaction. */
export async function recordOrder(home: FragmentConnection, l: SplitLayout, changes: readonly OrderChange[]): Promise<void> {
  try { await home.query(changes.map((c) => recordSql(l, c)).join(';\n')); } catch (e) { throw fragmentFailure(e); }
}
