// search_path is pinned to `"$user", public` while a policy protects data (the analysis resolves
// unqualified names with it). Setting it to the same schemas is harmless and what Flyway does at
// every migration (`SELECT set_config('search_path', ?, false)` with `"public","$user", public` and
// then the original value, after `SHOW search_path`): a value naming exactly the pinned schemas, in
// any order, spelling or quoting, with repeats, is accepted; any other is refused. Pure.
import { arr, nodeBody } from './ast.ts';

const PINNED = ['$user', 'public'];

/** The schemas a search_path string names, read as PostgreSQL reads it (SplitIdentifierString), or null when malformed. */
export function searchPathSchemas(value: string): string[] | null {
  const out: string[] = [];
  const re = /\s*(?:"((?:[^"]|"")*)"|([^",\s]+))\s*(,|$)/y;
  let at = 0;
  while (at < value.length) {
    re.lastIndex = at;
    const m = re.exec(value);
    if (!m) return null;
    out.push(m[1] !== undefined ? m[1].replace(/""/g, '"') : (m[2] as string).toLowerCase());
    at = re.lastIndex;
    if (m[3] === '' ) break;
  }
  return value.trim() === '' ? [] : out;
}

/** True when the schemas are exactly the pinned ones (each at least once, no other). */
export function isPinnedSearchPath(schemas: readonly string[] | null): boolean {
  if (!schemas || schemas.length === 0) return false;
  const set = new Set(schemas);
  return set.size === PINNED.length && PINNED.every((s) => set.has(s));
}

/** `SET search_path TO a, b`: each value is one schema name as written (PostgreSQL quotes each). */
export function setsPinnedSearchPath(args: unknown[]): boolean {
  const names = args.map((a) => nodeBody(a, 'A_Const')?.sval?.sval);
  return names.every((n) => typeof n === 'string') && isPinnedSearchPath(names as string[]);
}

/**
 * `set_config('search_path', value, is_local)`: 'pinned' when the value is a constant naming the
 * pinned schemas, `{ param }` when it is a parameter (checked at each Bind), null otherwise.
 */
export function setConfigSearchPath(args: unknown[]): 'pinned' | { param: number } | null {
  const name = nodeBody(args[0], 'A_Const')?.sval?.sval;
  if (args.length !== 3 || typeof name !== 'string' || name.trim().toLowerCase() !== 'search_path') return null;
  const p = nodeBody(args[1], 'ParamRef');
  if (p) return { param: Number(p.number ?? 0) };
  const v = nodeBody(args[1], 'A_Const')?.sval?.sval;
  return typeof v === 'string' && isPinnedSearchPath(searchPathSchemas(v)) ? 'pinned' : null;
}

/**
 * The parameter of Flyway's `SELECT set_config('search_path', $n, <bool>)`, when the text is exactly
 * that (one call, nothing else): its value is checked at each Bind. Null for any other statement.
 */
export function searchPathParameter(stmt: unknown): number | null {
  const s = nodeBody(stmt, 'SelectStmt');
  const targets = arr(s?.targetList);
  if (!s || targets.length !== 1 || s.fromClause || s.whereClause || s.withClause || s.valuesLists) return null;
  const call = nodeBody(nodeBody(targets[0], 'ResTarget')?.val, 'FuncCall');
  const names = arr(call?.funcname).map((n) => nodeBody(n, 'String')?.sval ?? '');
  const fn = names.length === 1 || (names.length === 2 && names[0] === 'pg_catalog') ? names[names.length - 1] : '';
  if (fn !== 'set_config' || call?.agg_filter || call?.over) return null;
  const args = arr(call?.args);
  if (!nodeBody(args[2], 'A_Const')) return null;
  const r = setConfigSearchPath(args);
  return r !== null && r !== 'pinned' ? r.param : null;
}
