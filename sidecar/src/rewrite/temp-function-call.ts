// The SELECT that calls a temporary PL/pgSQL function created earlier in the same query text
// (temp-function.ts), as Sequelize's findOrCreate sends it:
//   SELECT (testfunc.response)."id", (testfunc.response)."name", testfunc.sequelize_caught_exception
//   FROM pg_temp.testfunc()
// An OUT parameter of a protected table's row type holds the table's stored row, so a field of it
// is that column's stored form: the call's outputs carry the column's protection and are decrypted
// (or shown anonymized) per the user's grant, as a SELECT from the table would be; `(f.out).*` is
// expanded to the table's columns (hidden columns never reach the client). The call runs the
// function's writes, so it is a write. Nothing else may appear in the statement: the function is
// called only here, and only in the same text that defines it (a later text cannot know which
// definition the session holds). Postcondition: every output is a named field of an OUT row
// (with the column's protection) or a whole OUT parameter of another type.
import { arr, body, colRefNames, isObj, sval, stringNode } from './ast.ts';
import type { Json } from './ast.ts';
import type { CatalogTable } from './catalog.ts';
import type { Ctx } from './context.ts';
import { isHiddenName } from './hidden.ts';
import { refuse } from './refusals.ts';
import { tableColumns } from './scope.ts';
import type { OutCol } from './scope.ts';
import type { OutParam, TempFunction } from './temp-function.ts';

function why(w: string): never {
  return refuse('tempFunctionCall', { why: w });
}

const SELECT_KEYS = new Set(['targetList', 'fromClause', 'limitOption', 'op']);
const FUNC_KEYS = new Set(['funcname', 'funcformat', 'location']);

/** The pg_temp function a FROM item calls, if it is `pg_temp.<name>(…)`. */
function calledName(from: unknown): string | null {
  const rf = body(from, 'RangeFunction');
  const items = rf ? arr(body(arr(rf.functions)[0], 'List')?.items) : [];
  const names = arr(body(items[0], 'FuncCall')?.funcname).map((n) => sval(n) ?? '');
  return names.length === 2 && names[0] === 'pg_temp' ? (names[1] as string) : null;
}

/** The function of `defined` a SELECT calls in its FROM clause, if any (its shape is checked by callShape). */
export function calledTempFunction(stmt: Json, defined: ReadonlyMap<string, TempFunction>): TempFunction | null {
  const b = body(stmt, 'SelectStmt');
  if (!b) return null;
  for (const f of arr(b.fromClause)) {
    const fn = defined.get(calledName(f) ?? '');
    if (fn) return fn;
  }
  return null;
}

function checkClauses(b: Json): void {
  for (const [k, v] of Object.entries(b)) {
    if (!SELECT_KEYS.has(k)) why(`${k} in the calling SELECT`);
    if (k === 'limitOption' && v !== 'LIMIT_OPTION_DEFAULT') why('LIMIT');
    if (k === 'op' && v !== 'SETOP_NONE') why('a set operation');
  }
}

/** The FROM clause: the one call `pg_temp.f()`, without arguments or options. */
function rangeFunctionOf(b: Json, fn: TempFunction): Json {
  const from = arr(b.fromClause);
  const rf = from.length === 1 ? body(from[0], 'RangeFunction') : null;
  const plain = (r: Json): boolean => !r.lateral && !r.ordinality && !r.is_rowsfrom && arr(r.coldeflist).length === 0 && arr(r.functions).length === 1;
  if (!rf || !plain(rf)) return why('FROM other than the one call pg_temp.f()');
  const items = arr(body(arr(rf.functions)[0], 'List')?.items);
  const call = body(items[0], 'FuncCall') ?? {};
  const bare = items.length === 2 && Object.keys(items[1] as object).length === 0 && Object.keys(call).every((k) => FUNC_KEYS.has(k));
  if (!bare) why(`a call of pg_temp.${fn.name} with arguments or options`);
  return rf;
}

/** The name the call's columns are qualified with (its alias, else the function's name). */
function qualifierOf(b: Json, fn: TempFunction): string {
  checkClauses(b);
  const rf = rangeFunctionOf(b, fn);
  const alias = rf.alias as Json | undefined;
  if (alias && arr(alias.colnames).length) why('column aliases on the call');
  return alias ? String(alias.aliasname) : fn.name;
}

interface Field { out: OutParam; field: string | '*' | null }

/** The OUT parameter `q.out` or `out` names. */
function outNamed(ref: Json | null, q: string, fn: TempFunction): OutParam {
  const names = ref ? colRefNames(ref) : [];
  if (names.length === 2 && names[0] !== q) why(`${names.join('.')} is not a column of the call`);
  const out = names.length >= 1 && names.length <= 2 ? fn.outs.get(names[names.length - 1] as string) : undefined;
  return out ?? why('an output other than an OUT parameter or a field of one');
}

/** `(q.out).field`, `(q.out).*` or `q.out` (q optional). */
function fieldOf(val: unknown, q: string, fn: TempFunction): Field {
  const ind = body(val, 'A_Indirection');
  const out = outNamed(body(ind ? ind.arg : val, 'ColumnRef'), q, fn);
  if (!ind) return { out, field: null };
  const path = arr(ind.indirection);
  const field = path.length === 1 ? (body(path[0], 'A_Star') ? '*' : sval(path[0])) : null;
  if (field === null) return why('an output other than one field of an OUT row');
  return { out, field };
}

function tableField(ctx: Ctx, t: CatalogTable, name: string, as: string | undefined): OutCol {
  if (isHiddenName(name)) why(`${name} is storage the proxy keeps for ${t.table}`);
  ctx.touch(t, name);
  const col = tableColumns(t).find((c) => c.name === name);
  // A policy column the loaded layout lacks (added around this proxy) is still protected: refused, never shown as plain.
  if (!col && (t.byName.get(name)?.protection.kind ?? 'plain') !== 'plain') why(`${t.table}.${name} is protected but missing from the columns the proxy loaded`);
  return { ...(col ?? { name, prov: null, anon: null }), name: as ?? name };
}

/** `(q.out).*` over a protected row: the table's columns, each as `(q.out).col`. */
function expandStar(ctx: Ctx, t: CatalogTable, arg: unknown): Array<{ target: Json; col: OutCol }> {
  if (ctx.catalog.unloaded().includes(t)) why(`(….*) of ${t.table}, whose columns the proxy has not loaded; name the columns`);
  return t.columns.filter((c) => !isHiddenName(c.name)).map((c) => ({
    target: { ResTarget: { val: { A_Indirection: { arg: structuredClone(arg), indirection: [stringNode(c.name)] } } } },
    col: tableField(ctx, t, c.name, undefined),
  }));
}

function output(ctx: Ctx, target: unknown, q: string, fn: TempFunction): Array<{ target: Json; col: OutCol }> {
  const rt = body(target, 'ResTarget');
  if (!rt || !isObj(target)) return why('an output the proxy does not know');
  const as = typeof rt.name === 'string' ? rt.name : undefined;
  const { out, field } = fieldOf(rt.val, q, fn);
  if (!out.table) {
    if (field === '*') why(`(….*) of ${out.name}, whose type the proxy does not know`);
    return [{ target, col: { name: as ?? field ?? out.name, prov: null, anon: null } }];
  }
  if (field === null) why(`${out.name} as a whole (a stored row of protected table ${out.table.table}); select its fields`);
  if (field === '*') return expandStar(ctx, out.table, (body(rt.val, 'A_Indirection') as Json).arg);
  return [{ target, col: tableField(ctx, out.table, field as string, as) }];
}

/** Checks the call's shape (the allowlist screen of this one statement kind). */
export function callShape(stmt: Json, fn: TempFunction): void {
  const b = body(stmt, 'SelectStmt') as Json;
  const q = qualifierOf(b, fn);
  for (const t of arr(b.targetList)) fieldOf(body(t, 'ResTarget')?.val, q, fn);
}

/** The call's outputs; `(f.out).*` is expanded in place. The call runs the function: a write. */
export function analyzeTempCall(ctx: Ctx, stmt: Json, fn: TempFunction): OutCol[] {
  const b = body(stmt, 'SelectStmt') as Json;
  const q = qualifierOf(b, fn);
  const outs = arr(b.targetList).flatMap((t) => output(ctx, t, q, fn));
  b.targetList = outs.map((o) => o.target);
  ctx.write = true;
  for (const o of fn.outs.values()) if (o.table) ctx.touch(o.table);
  return outs.map((o) => o.col);
}
