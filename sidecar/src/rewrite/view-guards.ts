// The checks each expansion of a view of the proxy's carries (views.ts), as one-time filters that
// only the backend can evaluate (they read its catalog):
//
// - `stale`: the backend's stand-in is still the one this proxy loaded (not dropped, replaced,
//   renamed or redefined through another replica or directly on the backend); else the statement
//   fails with STALE_MARKER, on which the session loads the views again (access/pipeline.ts).
// - `resolves`: an unqualified name means, in this session with the pinned search_path, the view
//   the proxy expanded (`public.v`): not a temporary relation of the session (pg_temp comes first),
//   not a catalog relation (pg_catalog), not one in the "$user" schema. Else the statement fails
//   and names the reason; PostgreSQL would read the other relation, the proxy never answers with
//   its view instead.
//
// A statement computed wholly in the proxy's engine (two-stage/engine-only.ts) cannot leave the
// checks inside the view's SELECT (the engine has no backend catalog): `liftGuards` takes them out
// for the backend stage. A check is recognized only by being exactly one this file builds, so a
// client cannot have anything else moved to the backend stage with it. Pure: no I/O.
import { arr, body, boolExpr, isObj } from './ast.ts';
import type { Json } from './ast.ts';
import { parseTree } from './parser.ts';
import { STALE_MARKER } from './rules/shape-guard.ts';

/** What a check needs of a view. */
export interface Guarded { schema: string; name: string; digest?: string }

/** Start of the message of a failed `resolves` check. */
export const SHADOWED = 'clarus: the unqualified name';

const lit = (s: string): string => `'${s.replace(/'/g, "''")}'`;
const quoted = (s: string): string => `"${s.replace(/"/g, '""')}"`;
const qualifiedLit = (v: Guarded): string => lit(`${quoted(v.schema)}.${quoted(v.name)}`);

/** The boolean expression of `SELECT <sql>`. */
function expression(sql: string): unknown {
  return body(arr(body(parseTree(`SELECT ${sql}`).statements[0]?.stmt, 'SelectStmt')?.targetList)[0], 'ResTarget')?.val;
}

const failing = (condition: string, message: string): string =>
  `CASE WHEN ${condition} THEN true ELSE (SELECT ${lit(message)}::text)::boolean END`;

/** The stand-in is the one loaded (pg_rewrite, not pg_get_viewdef: the logical catalog shows pg_get_viewdef of a view of the proxy's as its kept SELECT). */
export function staleGuard(v: Guarded): unknown {
  const message = `${STALE_MARKER}: view ${v.schema}.${v.name} changed on the backend since this proxy loaded it (DDL through another proxy or straight to the backend); it loads the views again: run the statement again`;
  const stored = `(SELECT pg_catalog.md5(r.ev_action::text) FROM pg_catalog.pg_rewrite r WHERE r.ev_class = pg_catalog.to_regclass(${qualifiedLit(v)}) AND r.rulename = '_RETURN')`;
  return expression(failing(`${stored} IS NOT DISTINCT FROM ${lit(v.digest ?? '')}`, message));
}

/** The unqualified name resolves, in this session, to the view the proxy expanded. */
export function resolvesGuard(v: Guarded): unknown {
  const message = `${SHADOWED} ${v.name} resolves to another relation in this session than the view ${v.schema}.${v.name} the Clarus proxy keeps (a temporary relation, or one in a schema before ${v.schema} on the search_path): the proxy does not compute that relation; qualify the name, or drop or rename the other relation`;
  return expression(failing(`pg_catalog.to_regclass(${lit(quoted(v.name))}) IS NOT DISTINCT FROM pg_catalog.to_regclass(${qualifiedLit(v)})`, message));
}

/** The checks of one expansion (`qualified`: the statement named the view with its schema). */
export function guardsOf(v: Guarded, qualified: boolean): unknown[] {
  return qualified ? [staleGuard(v)] : [staleGuard(v), resolvesGuard(v)];
}

/** Every string constant in a tree. */
function strings(node: unknown, out: string[]): string[] {
  if (Array.isArray(node)) node.forEach((n) => strings(n, out));
  else if (isObj(node)) {
    const c = body(node, 'A_Const');
    const sv = c && isObj(c.sval) ? c.sval.sval : undefined;
    if (typeof sv === 'string') out.push(sv);
    for (const v of Object.values(node)) strings(v, out);
  }
  return out;
}

const REL = /^"((?:[^"]|"")*)"\."((?:[^"]|"")*)"$/;

/** Whether `node` is exactly a check this file builds. */
export function isGuard(node: unknown): boolean {
  if (!body(node, 'CaseExpr')) return false;
  const consts = strings(node, []);
  const rel = consts.map((c) => REL.exec(c)).find((m) => m !== null);
  if (!rel) return false;
  const v: Guarded = { schema: (rel[1] ?? '').replace(/""/g, '"'), name: (rel[2] ?? '').replace(/""/g, '"'), digest: consts.find((c) => /^[0-9a-f]{32}$/.test(c)) ?? '' };
  const json = JSON.stringify(node);
  return [staleGuard(v), resolvesGuard(v)].some((g) => JSON.stringify(g) === json);
}

const TRUE = { A_Const: { boolval: { boolval: true }, location: -1 } };

/** The tree with every check replaced by `true` (a new tree), and the checks taken out. */
export function liftGuards(node: unknown, out: unknown[] = []): { node: unknown; guards: unknown[] } {
  const walk = (n: unknown): unknown => {
    if (Array.isArray(n)) return n.map(walk);
    if (!isObj(n)) return n;
    if (isGuard(n)) {
      out.push(n);
      return TRUE;
    }
    return Object.fromEntries(Object.entries(n).map(([k, v]) => [k, walk(v)]));
  };
  return { node: walk(node), guards: out };
}

/** The lifted checks ANDed into the backend stage's WHERE clause (a SELECT body, edited in place). */
export function guardBackend(backend: Json, guards: unknown[]): void {
  if (guards.length === 0) return;
  backend.whereClause = boolExpr('AND_EXPR', backend.whereClause ? [backend.whereClause, ...guards] : guards);
}
