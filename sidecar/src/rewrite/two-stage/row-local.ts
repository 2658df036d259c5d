// Whether a residual SELECT is row-local (issue 10, streaming): each result row depends on one
// candidate row only, so the session may run it over successive chunks of the candidate rows and
// send each chunk's result as it comes, instead of holding every candidate row. Decided on the
// residual statement itself, by allowlist: one SELECT (no set operation, no WITH) over the candidate
// relation alone, with a select list and a WHERE clause and nothing else (no ORDER BY, LIMIT/OFFSET —
// even without ORDER BY, which picks rows across chunks —, DISTINCT, GROUP BY, HAVING, WINDOW, FOR
// UPDATE, INTO), whose expressions call no aggregate or window function, hold no subquery (a
// subquery there could read the whole candidate relation) and read no per-statement time (each chunk
// is its own engine transaction). Anything else keeps the buffered path and its row and byte limits.
import { arr, body, isObj, sval, tagOf } from '../ast.ts';
import type { Json } from '../ast.ts';

/**
 * The aggregate and window functions of PostgreSQL 18 (`pg_proc.prokind IN ('a', 'w')`, the
 * engine's catalog; row-local.test.ts checks the list against it). The allowlist admits only
 * pg_catalog functions, so no other aggregate can be named.
 */
export const AGGREGATES: ReadonlySet<string> = new Set(`any_value array_agg avg bit_and bit_or bit_xor bool_and bool_or corr count covar_pop
covar_samp cume_dist dense_rank every first_value json_agg json_agg_strict json_object_agg json_object_agg_strict
json_object_agg_unique json_object_agg_unique_strict jsonb_agg jsonb_agg_strict jsonb_object_agg jsonb_object_agg_strict
jsonb_object_agg_unique jsonb_object_agg_unique_strict lag last_value lead max min mode nth_value ntile percent_rank
percentile_cont percentile_disc range_agg range_intersect_agg rank regr_avgx regr_avgy regr_count regr_intercept regr_r2
regr_slope regr_sxx regr_sxy regr_syy row_number stddev stddev_pop stddev_samp string_agg sum var_pop var_samp variance
xmlagg`.split(/\s+/));

/** The SelectStmt fields a row-local statement may have (with these values where given). */
const ALLOWED: ReadonlyMap<string, string | null> = new Map([
  ['targetList', null], ['fromClause', null], ['whereClause', null], ['op', 'SETOP_NONE'], ['limitOption', 'LIMIT_OPTION_DEFAULT'],
]);

/**
 * Nodes that make an expression depend on more than its own row; and `CURRENT_TIMESTAMP` and the
 * like (SQLValueFunction), which are one value per statement in PostgreSQL but one per engine call
 * (per chunk) here.
 */
const NOT_LOCAL: ReadonlySet<string> = new Set(['SubLink', 'GroupingFunc', 'JsonObjectAgg', 'JsonArrayAgg', 'WindowDef', 'SQLValueFunction']);

/** Functions whose value is fixed per transaction or statement (see SQLValueFunction above). */
const PER_STATEMENT: ReadonlySet<string> = new Set(['now', 'transaction_timestamp', 'statement_timestamp']);

/** An aggregate or window call, or a per-statement value. */
function aggregateCall(f: Json): boolean {
  if (f.over !== undefined || f.agg_star === true || f.agg_distinct === true || f.agg_order !== undefined || f.agg_filter !== undefined || f.agg_within_group === true) return true;
  const names = arr(f.funcname).map(sval);
  const name = names[names.length - 1];
  return name !== null && name !== undefined && (AGGREGATES.has(name) || PER_STATEMENT.has(name));
}

/** True when some node under `node` is not row-local. */
function nonLocal(node: unknown): boolean {
  if (Array.isArray(node)) return node.some(nonLocal);
  if (!isObj(node)) return false;
  const t = tagOf(node);
  if (t) {
    const [tag, b] = t;
    if (NOT_LOCAL.has(tag)) return true;
    if (tag === 'FuncCall' && aggregateCall(b)) return true;
  }
  return Object.values(node).some(nonLocal);
}

/** Exactly one FROM item, the unqualified relation `relation`. */
function onlyFrom(from: unknown, relation: string): boolean {
  const items = arr(from);
  const rv = items.length === 1 ? body(items[0], 'RangeVar') : null;
  return rv !== null && rv.relname === relation && rv.schemaname === undefined && rv.alias === undefined;
}

/** Whether the residual SELECT `stmt` (a `{ SelectStmt }` node) over `relation` is row-local. */
export function rowLocal(stmt: unknown, relation: string): boolean {
  const s = body(stmt, 'SelectStmt');
  if (!s) return false;
  for (const [k, v] of Object.entries(s)) {
    if (!ALLOWED.has(k)) return false;
    const want = ALLOWED.get(k);
    if (want && v !== want) return false;
  }
  return onlyFrom(s.fromClause, relation) && !nonLocal(s.targetList) && !nonLocal(s.whereClause);
}
