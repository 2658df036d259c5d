// `*` in select lists over relations whose columns the proxy knows, written out as named columns
// (issue 10, views leftovers). Two uses:
//
// - CREATE VIEW (`fixStars`): PostgreSQL fixes a view's `*` when the view is created (a column
//   added to the table later does not appear in it); the proxy keeps the view's SELECT as text, so
//   it writes the `*` out before keeping it, over the protected tables (their columns as loaded
//   from the backend) and the views of the proxy's (their columns). A `*` over any other relation
//   stays as written (its columns are the backend's to know: expanded when the view is read).
// - A statement reading an expanded view (`starsOverViews`): `SELECT * FROM v` becomes
//   `SELECT v.a, v.b FROM (<v's SELECT>) AS v(a, b)`, the same columns under the same names, so the
//   proxy's engine can compute it when the view's SELECT computes (the engine takes no `*`).
// Pure: no I/O.
import { arr, body, columnRef, isObj, nodeBody, sval } from './ast.ts';
import type { Json } from './ast.ts';
import type { Catalog } from './catalog.ts';

/** A FROM item whose columns are known: the name it is referred to by, its column names. */
export interface KnownItem { alias: string; columns: readonly string[] }

/** The columns of a FROM item, or null when unknown. */
export type ItemColumns = (item: unknown) => KnownItem | null;

/** The FROM items of one select, through joins; null when a join merges columns (USING, NATURAL). */
function leaves(from: unknown[]): unknown[] | null {
  const out: unknown[] = [];
  const add = (n: unknown): boolean => {
    const j = body(n, 'JoinExpr');
    if (!j) return out.push(n) > 0;
    if (arr(j.usingClause).length > 0 || j.isNatural) return false;
    return add(j.larg) && add(j.rarg);
  };
  return from.every(add) ? out : null;
}

const refs = (k: KnownItem): Json[] => k.columns.map((c) => ({ ResTarget: { val: columnRef([k.alias, c]), location: -1 } }));

/** What `*` or `x.*` in a select list stands for, or null to leave it as written. */
function starOf(fields: unknown[], items: unknown[] | null, columnsOf: ItemColumns): Json[] | null {
  if (!items) return null;
  const known = items.map(columnsOf);
  if (fields.length === 1) return known.every((k) => k !== null) ? known.flatMap((k) => refs(k as KnownItem)) : null;
  const qualifier = fields.length === 2 ? sval(fields[0]) : null;
  const matches = known.filter((k) => k !== null && k.alias === qualifier) as KnownItem[];
  return matches.length === 1 ? refs(matches[0] as KnownItem) : null;
}

/** Rewrites the `*` items of one select's list (in place) whose relations `columnsOf` knows. */
export function writeOutStars(sel: Json, columnsOf: ItemColumns): void {
  const list = arr(sel.targetList);
  if (!list.some((t) => JSON.stringify(t).includes('"A_Star"'))) return;
  const items = leaves(arr(sel.fromClause));
  sel.targetList = list.flatMap((t) => {
    const rt = body(t, 'ResTarget');
    const fields = arr(body(rt?.val, 'ColumnRef')?.fields);
    if (!rt || rt.name || !body(fields.at(-1), 'A_Star')) return [t];
    return starOf(fields, items, columnsOf) ?? [t];
  });
}

/** `writeOutStars` over every select of a tree (in place), innermost first. */
function everySelect(node: unknown, columnsOf: ItemColumns): void {
  if (Array.isArray(node)) return node.forEach((n) => everySelect(n, columnsOf));
  if (!isObj(node)) return;
  for (const v of Object.values(node)) everySelect(v, columnsOf);
  const sel = body(node, 'SelectStmt');
  if (sel) writeOutStars(sel, columnsOf);
}

/** The names of the WITH queries anywhere in a tree, added to `out`. */
export function cteNames(node: unknown, out: Set<string>): Set<string> {
  if (Array.isArray(node)) node.forEach((n) => cteNames(n, out));
  else if (isObj(node)) {
    const cte = nodeBody(node, 'CommonTableExpr');
    if (cte && typeof cte.ctename === 'string') out.add(cte.ctename);
    for (const v of Object.values(node)) cteNames(v, out);
  }
  return out;
}

/** A relation's column names renamed by the statement's alias column list, as PostgreSQL does. */
function aliased(rv: Json, columns: readonly string[]): KnownItem {
  const alias = isObj(rv.alias) ? rv.alias : undefined;
  const names = arr(alias?.colnames).map(sval);
  return { alias: typeof alias?.aliasname === 'string' ? alias.aliasname : String(rv.relname), columns: columns.map((c, i) => names[i] ?? c) };
}

/**
 * The view's SELECT with `*` written out over protected tables (loaded from the backend) and
 * views of the proxy's (a new tree). A name that a WITH query of the statement takes is left alone.
 */
export function fixStars(catalog: Catalog, query: unknown, viewColumns: (rv: Json) => readonly string[] | undefined): unknown {
  const out = structuredClone(query);
  const ctes = cteNames(out, new Set());
  const unloaded = new Set(catalog.unloaded());
  everySelect(out, (item) => {
    const rv = body(item, 'RangeVar');
    if (!rv || (typeof rv.schemaname !== 'string' && ctes.has(String(rv.relname)))) return null;
    const t = catalog.lookup(typeof rv.schemaname === 'string' ? rv.schemaname : undefined, String(rv.relname));
    const columns = t && !unloaded.has(t) ? t.columns.map((c) => c.name) : t ? undefined : viewColumns(rv);
    return columns ? aliased(rv, columns) : null;
  });
  return out;
}
