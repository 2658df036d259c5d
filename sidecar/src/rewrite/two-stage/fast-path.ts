// The fast path of a row-local in-proxy stage (issue 10, bench goal: `upper(name)` by key close to
// a plain select by key): a residual SELECT whose select list is only candidate columns, string
// literals, NULL and a short allowlist of scalar expressions whose PostgreSQL semantics are known
// exactly (upper, lower, length / char_length, `||`, coalesce, `::text`), with no WHERE left to the
// proxy, is evaluated per row in TypeScript (residual/fast-eval.ts) instead of the engine. Decided
// here once per plan, by allowlist, from the residual statement alone: anything else — another
// function, a schema other than pg_catalog, an operator, a cast with a type modifier, a parameter,
// a WHERE clause — has no fast plan and keeps the engine. What depends on values or on candidate
// types (non-ASCII case mapping, result types) is decided later, per call, with the engine as the
// fallback. The engine is not needed at all while every call takes the fast path.
import { arr, colRefNames, nodeBody, nodeTag, sval } from '../ast.ts';
import type { A_Const, A_Expr, CoalesceExpr, FuncCall, TypeCast } from '@pgsql/types';
import { rowLocal } from './row-local.ts';
import { figureColname } from './colname.ts';

/** One select-list expression of a fast plan. */
export type FastExpr =
  | { k: 'column'; index: number }
  /** A string literal (PostgreSQL type `unknown`), or NULL (value null). */
  | { k: 'literal'; value: string | null }
  | { k: 'case'; to: 'upper' | 'lower'; arg: FastExpr }
  /** length(x), char_length(x), character_length(x): characters. */
  | { k: 'length'; arg: FastExpr }
  | { k: 'concat'; left: FastExpr; right: FastExpr }
  | { k: 'coalesce'; args: FastExpr[] }
  /** `x::text` (no type modifier). */
  | { k: 'text'; arg: FastExpr };

export interface FastPlan {
  outputs: readonly FastExpr[];
  /** The result column names, as the engine names the residual SQL's select list (colname.ts). */
  names: readonly string[];
}

/** Functions of one argument by their pg_catalog name. */
const CASE: ReadonlyMap<string, 'upper' | 'lower'> = new Map([['upper', 'upper'], ['lower', 'lower']]);
const LENGTH: ReadonlySet<string> = new Set(['length', 'char_length', 'character_length']);

type Compile = (node: unknown, cols: ReadonlyMap<string, number>) => FastExpr | null;

/** An unqualified name or one qualified by pg_catalog (the engine has no other schema's functions). */
function catalogName(names: unknown[]): string | null {
  const parts = names.map(sval);
  if (parts.some((p) => p === null)) return null;
  if (parts.length === 1) return parts[0] ?? null;
  return parts.length === 2 && parts[0] === 'pg_catalog' ? parts[1] ?? null : null;
}

function literal(c: A_Const): FastExpr | null {
  if (c.isnull === true) return { k: 'literal', value: null };
  const keys = Object.keys(c).filter((k) => k !== 'location');
  return keys.length === 1 && c.sval !== undefined && typeof c.sval.sval === 'string' ? { k: 'literal', value: c.sval.sval } : null;
}

/** A plain call `f(x)`: no DISTINCT, ORDER BY, FILTER, OVER, VARIADIC, named argument or SQL syntax form. */
function plainCall(f: FuncCall): boolean {
  const extra = Object.keys(f).filter((k) => !['funcname', 'args', 'funcformat', 'location'].includes(k));
  return extra.length === 0 && f.funcformat === 'COERCE_EXPLICIT_CALL' && arr(f.args).length === 1;
}

function funcCall(f: FuncCall, cols: ReadonlyMap<string, number>, compile: Compile): FastExpr | null {
  const name = plainCall(f) ? catalogName(arr(f.funcname)) : null;
  const arg = name === null ? null : compile(arr(f.args)[0], cols);
  if (name === null || arg === null) return null;
  const to = CASE.get(name);
  if (to) return { k: 'case', to, arg };
  return LENGTH.has(name) ? { k: 'length', arg } : null;
}

function concat(e: A_Expr, cols: ReadonlyMap<string, number>, compile: Compile): FastExpr | null {
  const names = arr(e.name).map(sval);
  if (e.kind !== 'AEXPR_OP' || names.length !== 1 || names[0] !== '||') return null;
  const left = compile(e.lexpr, cols);
  const right = compile(e.rexpr, cols);
  return left && right ? { k: 'concat', left, right } : null;
}

function coalesce(c: CoalesceExpr, cols: ReadonlyMap<string, number>, compile: Compile): FastExpr | null {
  const args = arr(c.args).map((a) => compile(a, cols));
  return args.length > 0 && args.every((a) => a !== null) ? { k: 'coalesce', args: args as FastExpr[] } : null;
}

/** `x::text` or `x::pg_catalog.text`, without a type modifier or array bounds. */
function textCast(c: TypeCast, cols: ReadonlyMap<string, number>, compile: Compile): FastExpr | null {
  const t = c.typeName;
  const plain = t !== undefined && arr(t.typmods).length === 0 && arr(t.arrayBounds).length === 0 && t.setof !== true && t.pct_type !== true;
  if (!plain || catalogName(arr(t.names)) !== 'text') return null;
  const arg = compile(c.arg, cols);
  return arg ? { k: 'text', arg } : null;
}

function column(names: string[], cols: ReadonlyMap<string, number>): FastExpr | null {
  const index = names.length === 2 ? cols.get(`${names[0]}.${names[1]}`) : names.length === 1 ? cols.get(`.${names[0]}`) : undefined;
  return index === undefined ? null : { k: 'column', index };
}

/** An expression of the allowlist, or null. */
const compileExpr: Compile = (node, cols) => {
  const t = nodeTag(node);
  if (!t) return null;
  switch (t[0]) {
    case 'ColumnRef': return column(colRefNames(t[1]), cols);
    case 'A_Const': return literal(t[1]);
    case 'FuncCall': return funcCall(t[1], cols, compileExpr);
    case 'A_Expr': return concat(t[1], cols, compileExpr);
    case 'CoalesceExpr': return coalesce(t[1], cols, compileExpr);
    case 'TypeCast': return textCast(t[1], cols, compileExpr);
    default: return null;
  }
};

/**
 * The fast plan of the residual SELECT `stmt` (a `{ SelectStmt }` node) over `relation`, whose
 * candidate columns are `columns` in order; null when the engine must run it.
 */
export function fastPlan(stmt: unknown, relation: string, columns: readonly string[]): FastPlan | null {
  const s = nodeBody(stmt, 'SelectStmt');
  if (!s || !rowLocal(stmt, relation) || s.whereClause !== undefined) return null;
  const cols = new Map<string, number>();
  columns.forEach((c, i) => { cols.set(`${relation}.${c}`, i); cols.set(`.${c}`, i); });
  const items = arr(s.targetList).map((item) => selectItem(item, cols));
  if (items.length === 0 || items.some((i) => i === null)) return null;
  const named = items as Array<{ name: string; e: FastExpr }>;
  return { outputs: named.map((i) => i.e), names: named.map((i) => i.name) };
}

/** A select-list item of the allowlist, with the name the engine gives it (PostgreSQL's FigureColname). */
function selectItem(item: unknown, cols: ReadonlyMap<string, number>): { name: string; e: FastExpr } | null {
  const rt = nodeBody(item, 'ResTarget');
  if (!rt || arr(rt.indirection).length > 0) return null;
  const e = compileExpr(rt.val, cols);
  return e ? { name: rt.name ?? figureColname(rt.val) ?? '?column?', e } : null;
}
