// The batched form of a write-back statement (issue 10): the per-row statement the rules produced
// (`UPDATE t SET enc = $3, enc__bidx = … WHERE t.tableoid = $1 AND t.ctid = $2`, `DELETE … WHERE
// <key>`, `INSERT INTO t (…) VALUES ($1, …)`) with every `$k` replaced by the k-th column of
// `unnest($1::type1[], …, $n::typen[]) AS clarus_wb(clarus_wb_1, …)`: one Bind carries a whole
// batch of rows as one array per parameter, each element the value the per-row statement would have
// got (already protected by the rules' parameter transformer). Replacing a parameter by a column of
// the same type changes nothing else the rules decided: the same expressions over the same values.
//
//   UPDATE t SET … FROM unnest(…) AS clarus_wb(…) WHERE t.tableoid = clarus_wb.clarus_wb_1 AND …
//   DELETE FROM t USING unnest(…) AS clarus_wb(…) WHERE …
//   INSERT INTO t (…) SELECT clarus_wb.clarus_wb_1, … FROM unnest(…) AS clarus_wb(…)   (unnest keeps order)
//
// A (tableoid, ctid) key names one row version, so no target row meets two batch rows.
import { body, tagOf } from '../ast.ts';
import type { Json } from '../ast.ts';
import { deparseStatement, parseTree } from '../parser.ts';

export const BATCH_ALIAS = 'clarus_wb';

/** Every ParamRef of a tree replaced, in place, by the batch relation's column of its number. */
function toColumns(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toColumns);
  if (!node || typeof node !== 'object') return node;
  const t = tagOf(node);
  if (t?.[0] === 'ParamRef') {
    const n = Number(t[1].number ?? 0);
    return { ColumnRef: { fields: [{ String: { sval: BATCH_ALIAS } }, { String: { sval: `${BATCH_ALIAS}_${n}` } }], location: -1 } };
  }
  const out: Json = {};
  for (const [k, v] of Object.entries(node as Json)) out[k] = toColumns(v);
  return out;
}

/** `unnest(CAST($1 AS t1[]), …) AS clarus_wb(clarus_wb_1, …)` as a FROM item. */
function batchRelation(types: readonly string[]): Json {
  const args = types.map((t, i) => `CAST($${i + 1} AS ${t}[])`).join(', ');
  const cols = types.map((_, i) => `${BATCH_ALIAS}_${i + 1}`).join(', ');
  const parsed = parseTree(`SELECT FROM unnest(${args}) AS ${BATCH_ALIAS}(${cols})`).statements[0]?.stmt;
  return (body(parsed, 'SelectStmt')?.fromClause as Json[])[0] as Json;
}

/**
 * The batched statement of the rewritten per-row write-back `sql`, whose parameter `$k` has the SQL
 * type `types[k-1]`; null when it has another shape (the session then writes row by row).
 */
export function batchedWriteBack(sql: string, types: readonly string[]): string | null {
  const stmts = parseTree(sql).statements;
  const stmt = stmts[0]?.stmt;
  if (stmts.length !== 1 || types.length === 0 || types.some((t) => !/^[a-z0-9_ "]+$/i.test(t))) return null;
  const from = batchRelation(types);
  const u = body(stmt, 'UpdateStmt');
  if (u) {
    if ((u.fromClause as unknown[] | undefined)?.length) return null;
    const edited = toColumns(u) as Json;
    return deparseStatement({ UpdateStmt: { ...edited, fromClause: [from] } });
  }
  const d = body(stmt, 'DeleteStmt');
  if (d) {
    if ((d.usingClause as unknown[] | undefined)?.length) return null;
    const edited = toColumns(d) as Json;
    return deparseStatement({ DeleteStmt: { ...edited, usingClause: [from] } });
  }
  const ins = body(stmt, 'InsertStmt');
  const values = body(ins?.selectStmt, 'SelectStmt')?.valuesLists as unknown[] | undefined;
  // ON CONFLICT stays: as in PostgreSQL's INSERT … SELECT, two rows of one batch that update the same row fail (21000).
  if (!ins || values?.length !== 1) return null;
  const items = (body(values[0], 'List')?.items ?? []) as unknown[];
  const targetList = items.map((v) => ({ ResTarget: { val: toColumns(v), location: -1 } }));
  const select = { SelectStmt: { targetList, fromClause: [from], limitOption: 'LIMIT_OPTION_DEFAULT', op: 'SETOP_NONE' } };
  return deparseStatement({ InsertStmt: { ...ins, selectStmt: select } });
}
