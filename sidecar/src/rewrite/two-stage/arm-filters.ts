// Conditions for the arms of a statement computed wholly in the engine (engine-only.ts), so that a
// view whose SELECT computes is not read whole when the reader or the view names a condition the
// backend can evaluate: `SELECT n FROM vc WHERE pat_id = $1` over `vc = SELECT pat_id, upper(pat_name)
// AS n FROM patient WHERE pat_id > 1 ORDER BY pat_name` reads `patient WHERE pat_id = $1 AND pat_id > 1`.
//
// Exactness: a condition filters a table's arm only when that table is named once in the statement,
// as the only FROM item of a chain of selects that starts at the statement (each the only FROM item
// of the one above), every select below the statement a plain one (no GROUP BY, HAVING, DISTINCT,
// LIMIT/OFFSET, window, set operation, WITH, locking): then a row the condition rejects contributes
// to no output row. A condition of an upper select reaches the table through output columns that
// are bare column references (substituted); it holds only column references, constants, parameters
// and operators (no function, no subquery). A reader's condition so pushed is taken out of what the
// engine computes (its parameters then reach only the backend, as for any pushed condition); the
// view's own are pushed and kept. Whether the backend may evaluate one is the rules' (`pushable`).
import { arr, body, boolExpr, colRefNames, columnRef, isObj, sval } from '../ast.ts';
import type { Json } from '../ast.ts';
import type { TablesOf } from './engine-only.ts';

export type ArmPushable = (conjunct: unknown, table: string) => boolean;

export interface ArmFilters {
  /** The statement with the reader's pushed conditions taken out (a new tree). */
  statement: Json;
  /** Conditions per table name (over the table's unqualified columns). */
  byTable: Map<string, unknown[]>;
}

/** A condition at some level: how it reads there, and the reader's original node (to take out) if it is one. */
interface Candidate { expr: unknown; origin?: unknown }

const TRUE = { A_Const: { boolval: { boolval: true }, location: -1 } };

function conjunctsOf(where: unknown): unknown[] {
  if (where === undefined || where === null) return [];
  const b = body(where, 'BoolExpr');
  if (b && b.boolop === 'AND_EXPR') return arr(b.args).flatMap(conjunctsOf);
  // A view's checks, taken out for the backend stage, left `true` behind: nothing to push.
  return JSON.stringify(where) === JSON.stringify(TRUE) ? [] : [where];
}

function relationCounts(node: unknown, out: Map<string, number>): Map<string, number> {
  if (Array.isArray(node)) node.forEach((n) => relationCounts(n, out));
  else if (isObj(node)) {
    const rv = body(node, 'RangeVar');
    if (rv) out.set(String(rv.relname), (out.get(String(rv.relname)) ?? 0) + 1);
    for (const v of Object.values(node)) relationCounts(v, out);
  }
  return out;
}

/** A select below the statement whose WHERE may be narrowed without changing its rows' values. */
function plain(s: Json | null): s is Json {
  if (!s || (s.op && s.op !== 'SETOP_NONE')) return false;
  const blocked = ['groupClause', 'havingClause', 'distinctClause', 'limitCount', 'limitOffset', 'windowClause', 'lockingClause', 'withClause'];
  return blocked.every((k) => s[k] === undefined || arr(s[k]).length === 0 && !isObj(s[k])) && !JSON.stringify(s.targetList ?? null).includes('"over"');
}

const ALLOWED = new Set(['ColumnRef', 'A_Const', 'ParamRef', 'A_Expr', 'BoolExpr', 'NullTest', 'TypeCast', 'TypeName', 'String', 'Integer', 'Float', 'Boolean', 'List']);

/** Every column reference of `expr` mapped by `map` (null when one is not, or a node is not allowed). */
function substituted(expr: unknown, map: (names: string[]) => unknown): unknown {
  let ok = true;
  const walk = (n: unknown): unknown => {
    if (Array.isArray(n)) return n.map(walk);
    if (!isObj(n)) return n;
    const [tag] = Object.keys(n);
    if (tag && /^[A-Z]/.test(tag) && !ALLOWED.has(tag)) ok = false;
    const ref = body(n, 'ColumnRef');
    if (ref) {
      const to = map(colRefNames(ref));
      if (to === null) ok = false;
      return to;
    }
    return Object.fromEntries(Object.entries(n).map(([k, v]) => [k, walk(v)]));
  };
  const out = walk(expr);
  return ok ? out : null;
}

/** How a column reference at a level reads one level down through FROM item alias `alias` with columns `outputs`. */
function through(alias: string, names: readonly string[], outputs: readonly unknown[]): (ref: string[]) => unknown {
  return (ref) => {
    const name = ref.length === 1 ? ref[0] : ref.length === 2 && ref[0] === alias ? ref[1] : undefined;
    const i = name === undefined ? -1 : names.indexOf(name);
    return i < 0 ? null : outputs[i] ?? null;
  };
}

interface Level { select: Json; candidates: Candidate[] }

type Reached = { table: string; conditions: Candidate[] };

/** The conditions of `level` that read table `rv` (named once in the statement), or null. */
function tableStep(level: Level, rv: Json, counts: Map<string, number>, tablesOf: TablesOf): Reached | null {
  const name = String(rv.relname);
  const t = typeof rv.schemaname === 'string' || counts.get(name) !== 1 ? null : tablesOf(name);
  if (!t) return null;
  const cols = [...t.columns, ...t.anonymized];
  const alias = isObj(rv.alias) && typeof rv.alias.aliasname === 'string' ? rv.alias.aliasname : name;
  const map = through(alias, cols, cols.map((c) => columnRef([c])));
  return { table: name, conditions: level.candidates.map((c) => ({ ...c, expr: substituted(c.expr, map) })).filter((c) => c.expr !== null) };
}

/** The level of a plain FROM subquery: the conditions of `level` that read its bare output columns, and its own. */
function subqueryStep(level: Level, sub: Json): Level | null {
  const inner = body(sub.subquery, 'SelectStmt');
  if (sub.lateral || !plain(inner) || !isObj(sub.alias)) return null;
  const outputs = arr(inner.targetList).map((t) => {
    const val = body(t, 'ResTarget')?.val;
    return body(val, 'ColumnRef') ? val : undefined;
  });
  const map = through(String(sub.alias.aliasname), arr(sub.alias.colnames).map((c) => sval(c) ?? ''), outputs);
  const down = level.candidates.map((c) => ({ ...c, expr: substituted(c.expr, map) })).filter((c) => c.expr !== null);
  return { select: inner, candidates: [...down, ...conjunctsOf(inner.whereClause).map((expr) => ({ expr }))] };
}

/** One step down the chain: the level below, or the table reached (with the conditions that read it), or null. */
function step(level: Level, counts: Map<string, number>, tablesOf: TablesOf): Level | Reached | null {
  const from = arr(level.select.fromClause);
  if (from.length !== 1) return null;
  const rv = body(from[0], 'RangeVar');
  if (rv) return tableStep(level, rv, counts, tablesOf);
  const sub = body(from[0], 'RangeSubselect');
  return sub ? subqueryStep(level, sub) : null;
}

/** The table the chain of selects from `s` reaches, with its conditions, or null. */
function reach(s: Json, tablesOf: TablesOf): Reached | null {
  if ((s.op && s.op !== 'SETOP_NONE') || s.withClause) return null;
  const counts = relationCounts(s, new Map());
  let level: Level | Reached | null = { select: s, candidates: conjunctsOf(s.whereClause).map((expr) => ({ expr, origin: expr })) };
  for (let depth = 0; level && 'select' in level && depth < 32; depth++) level = step(level, counts, tablesOf);
  return level && 'table' in level ? level : null;
}

/** The conditions that may filter the arms of `s` (after liftGuards), and `s` without the reader's pushed ones. */
export function armFilters(s: Json, tablesOf: TablesOf, pushable: ArmPushable): ArmFilters {
  const byTable = new Map<string, unknown[]>();
  const reached = reach(s, tablesOf);
  const pushed = reached ? reached.conditions.filter((c) => pushable(structuredClone(c.expr as object), reached.table)) : [];
  if (!reached || pushed.length === 0) return { statement: s, byTable };
  byTable.set(reached.table, pushed.map((c) => c.expr));
  const out = new Set<unknown>(pushed.map((c) => c.origin).filter((o) => o !== undefined));
  const kept = conjunctsOf(s.whereClause).map((c) => (out.has(c) ? TRUE : c));
  return { statement: { ...s, ...(kept.length > 0 ? { whereClause: boolExpr('AND_EXPR', kept) } : {}) }, byTable };
}
