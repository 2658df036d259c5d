// CREATE [OR REPLACE] VIEW over protected tables (issue 10; views.ts says how views are kept).
// The backend gets a stand-in of the same name and columns instead of the view:
//
//   CREATE VIEW public.v (…) AS SELECT * FROM (<the view's SELECT, each protected table replaced by
//     (SELECT plain_col, NULL::declared_type AS protected_col, … FROM t)>) AS clarus_view
//   WHERE (SELECT '<STALE_MARKER: …>'::text)::boolean AND '<clarus-view:hex>'::text <> ''
//
// so that the backend computes the column names and declared types as PostgreSQL would (psql \d,
// information_schema.columns), records the dependencies on the tables and views (DROP TABLE without
// CASCADE fails, as it would), evaluates nothing over stored values, and never returns a row.
// Postcondition: the stand-in reads no protected column, and the definition it carries holds no
// constant in an expression with a protected column (it is stored on the backend in the clear:
// such a constant would be plaintext about a protected value); the view's SELECT is one the proxy
// can compute when read through the view (`check`).
import { arr, body, colRefNames, isObj } from './ast.ts';
import type { Json } from './ast.ts';
import type { Catalog, CatalogColumn, CatalogTable } from './catalog.ts';
import { OID } from '../protection/encryption/canonical.ts';
import { deparseStatement, parseTree } from './parser.ts';
import { refuse } from './refusals.ts';
import type { Refusal } from './refusals.ts';
import { referencedTables } from './refs.ts';
import { STALE_MARKER } from './rules/shape-guard.ts';
import { encodeMarker, expandViews, namesView, viewOf } from './views.ts';
import { fixStars } from './view-star.ts';
import { figureColname } from './two-stage/colname.ts';

export interface CreateViewPlan {
  /** The stand-in's CREATE VIEW, sent to the backend. */
  sql: string;
  /** The protected tables the view reads (directly or through other views). */
  tables: CatalogTable[];
}

const TYPE_NAMES = new Map<number, string>(Object.entries(OID).map(([name, oid]) => [oid as number, name]));

const lit = (s: string): string => `'${s.replace(/'/g, "''")}'`;
const ident = (s: string): string => `"${s.replace(/"/g, '""')}"`;

const length = (m: number): string | null => (m > 4 ? `(${m - 4})` : null);
const precision = (m: number): string | null => (m >= 0 ? `(${m})` : null);
/** The modifier of a declared type, by type (others have none the proxy records). */
const MODIFIERS: Record<string, (m: number) => string | null> = {
  varchar: length, bpchar: length, timestamp: precision, timestamptz: precision,
  numeric: (m) => (m > 4 ? `(${((m - 4) >> 16) & 0xffff}, ${(m - 4) & 0xffff})` : null),
};

/** The SQL type of a declared type (oid, typmod), for a typed NULL. */
function typeSql(c: CatalogColumn): string {
  const name = TYPE_NAMES.get(c.typeOid);
  if (!name) refuse('unexpectedShape', { error: `column ${c.name} has a declared type the view stand-in cannot name (oid ${c.typeOid})` });
  return `pg_catalog.${name}${MODIFIERS[name]?.(c.typmod ?? -1) ?? ''}`;
}

/**
 * `(SELECT plain, NULL::type AS protected, … FROM schema.table)`: the table's shape, none of its
 * protected values (the guard fails before a row is read). The columns are the backend's (the
 * catalog is loaded before a statement naming the table), else the policy's: a table the backend
 * does not have fails the CREATE VIEW there (42P01), as it would without the proxy.
 */
function standIn(t: CatalogTable): Json {
  const cols = t.columns.map((c) => (c.protection.kind === 'plain' ? ident(c.name) : `NULL::${typeSql(c)} AS ${ident(c.name)}`));
  const sql = `SELECT ${cols.join(', ')} FROM ${ident(t.schema)}.${ident(t.table)}`;
  return parseTree(sql).statements[0]?.stmt as Json;
}

/** The query with every protected table in a FROM position replaced by its stand-in (a new tree). */
function nulled(catalog: Catalog, node: unknown): unknown {
  if (Array.isArray(node)) return node.map((n) => nulled(catalog, n));
  if (!isObj(node)) return node;
  const rv = body(node, 'RangeVar');
  const t = rv ? catalog.lookup(typeof rv.schemaname === 'string' ? rv.schemaname : undefined, String(rv.relname)) : undefined;
  if (rv && t) {
    const alias = isObj(rv.alias) ? rv.alias : { aliasname: String(rv.relname) };
    return { RangeSubselect: { subquery: standIn(t), alias } };
  }
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, nulled(catalog, v)]));
}

/** Expression roots: each is checked on its own for a constant next to a protected column. */
const ROOTS = new Set(['targetList', 'whereClause', 'havingClause', 'quals', 'sortClause', 'groupClause', 'distinctClause', 'windowClause']);

function scan(node: unknown, names: ReadonlySet<string>, found: { constant: boolean; column?: string }): void {
  if (Array.isArray(node)) return node.forEach((n) => scan(n, names, found));
  if (!isObj(node)) return;
  const c = body(node, 'A_Const');
  if (c && c.isnull !== true) found.constant = true;
  const ref = body(node, 'ColumnRef');
  const last = ref ? colRefNames(ref).at(-1) : undefined;
  if (last !== undefined && names.has(last)) found.column ??= last;
  for (const v of Object.values(node)) scan(v, names, found);
}

/** A top-level AND is split into its conjuncts (`deleted = false AND name = ssn` holds no constant next to name). */
function conjuncts(node: unknown): unknown[] {
  const b = body(node, 'BoolExpr');
  return b && b.boolop === 'AND_EXPR' ? arr(b.args).flatMap(conjuncts) : Array.isArray(node) ? node : [node];
}

/** Whether a tree names one of `names` (a column reference's last name) or reads a whole row (`*`). */
function mentionsAny(node: unknown, names: ReadonlySet<string>): boolean {
  const found: { constant: boolean; column?: string } = { constant: false };
  scan(node, names, found);
  return found.column !== undefined || JSON.stringify(node ?? null).includes('"A_Star"');
}

/**
 * The names that may carry a protected value: the policy's protected columns, and the columns of
 * the proxy's views whose expression names one (every column of a view whose SELECT has a `*`).
 */
function protectedNames(catalog: Catalog): Set<string> {
  const names = new Set<string>();
  for (const t of catalog.all()) for (const c of t.byName.values()) if (c.protection.kind !== 'plain') names.add(c.name);
  const views = catalog.allViews().map((v) => ({ v, targets: arr(body(parseTree(v.text).statements[0]?.stmt, 'SelectStmt')?.targetList) }));
  for (let grown = true; grown;) {
    const before = names.size;
    for (const { v, targets } of views) {
      v.columns.forEach((c, i) => {
        if (targets.length !== v.columns.length || mentionsAny(targets[i], names)) names.add(c);
      });
    }
    grown = names.size > before;
  }
  return names;
}

/** Refuses a constant in an expression with a name that may carry a protected value (conservative: by name). */
function refuseConstants(catalog: Catalog, query: unknown): void {
  const names = protectedNames(catalog);
  const check = (root: unknown): void => {
    const found: { constant: boolean; column?: string } = { constant: false };
    scan(root, names, found);
    if (found.constant && found.column !== undefined) refuse('viewConstant', { column: found.column });
  };
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!isObj(node)) return;
    for (const [k, v] of Object.entries(node)) {
      if (ROOTS.has(k)) conjuncts(v).forEach(check);
      visit(v);
    }
  };
  visit(query);
}

function refuseOptions(b: Json, query: unknown): void {
  const view = b.view as Json;
  if (view.relpersistence === 't') refuse('viewOption', { what: 'TEMPORARY (the view is kept for every session and replica)' });
  if (arr(b.options).length > 0) refuse('viewOption', { what: 'WITH (options)' });
  if (b.withCheckOption && b.withCheckOption !== 'NO_CHECK_OPTION') refuse('viewOption', { what: 'WITH CHECK OPTION (a view of the proxy\'s is never written through)' });
  if (JSON.stringify(query).includes('"ParamRef"')) refuse('viewOption', { what: 'parameters' });
}

/** The output names of a view's SELECT (its aliases first), or null when a `*` leaves them to the backend. */
function columnNames(query: unknown, aliases: string[]): string[] | null {
  let s = body(query, 'SelectStmt');
  while (s && s.op && s.op !== 'SETOP_NONE') s = body(s.larg, 'SelectStmt') ?? (isObj(s.larg) ? s.larg : null);
  const names = arr(s?.targetList).map((t) => {
    const rt = body(t, 'ResTarget');
    if (!rt || JSON.stringify(rt.val).includes('"A_Star"')) return null;
    return typeof rt.name === 'string' ? rt.name : figureColname(rt.val) ?? '?column?';
  });
  const out = names.map((n, i) => aliases[i] ?? n);
  return out.every((n) => n !== null) && new Set(out).size === out.length ? (out as string[]) : null;
}

/**
 * What a reader of the view sends once the view is expanded (views.ts): its columns by name
 * (view-star.ts writes `SELECT *` over a view out), so the check computes what a reader computes.
 */
function readingSql(query: unknown, text: string, aliases: string[]): string {
  const names = columnNames(query, aliases);
  const alias = aliases.length ? `(${aliases.map(ident).join(', ')})` : '';
  if (!names) return `SELECT * FROM (${text}) AS clarus_view${alias}`;
  return `SELECT ${names.map((n) => `clarus_view.${ident(n)}`).join(', ')} FROM (${text}) AS clarus_view(${names.map(ident).join(', ')})`;
}

/** Whether a CREATE VIEW is one of the proxy's: its SELECT reads a protected table or a view of the proxy's. */
export function isProxyView(catalog: Catalog, b: Json): boolean {
  const query = b.query;
  return referencedTables(catalog, query).size > 0 || namesView(catalog, query);
}

/**
 * The stand-in for `CREATE VIEW` body `b` (isProxyView said it is one). `check` analyses a SELECT
 * as a reader's statement would be, returning its refusal (null when the proxy can run it).
 */
export function createView(catalog: Catalog, b: Json, check: (sql: string) => Refusal | null): CreateViewPlan {
  const view = b.view as Json;
  refuseOptions(b, b.query);
  // `*` is fixed now, as PostgreSQL fixes it (view-star.ts).
  const query = fixStars(catalog, b.query, (rv) => viewOf(catalog, rv)?.columns);
  const name = String(view.relname);
  if (catalog.isProtectedName(name)) refuse('shadowingRelation', { name });
  const expanded = expandViews(catalog, query).stmt;
  const refs = [...referencedTables(catalog, expanded)].map((n) => catalog.lookup(...(n.split('.') as [string, string])) as CatalogTable);
  refuseConstants(catalog, query);
  const text = deparseStatement(query);
  const aliases = arr(b.aliases).length ? `(${arr(b.aliases).map((a) => ident(String(body(a, 'String')?.sval))).join(', ')})` : '';
  const refused = check(readingSql(query, text, arr(b.aliases).map((a) => String(body(a, 'String')?.sval))));
  if (refused) refuse('viewQuery', { why: refused.message });
  const schema = typeof view.schemaname === 'string' ? view.schemaname : 'public';
  const message = `${STALE_MARKER}: view ${schema}.${name} is kept by the Clarus proxy, which computes it; this proxy loads its definition again: run the statement again`;
  const standInSql = deparseStatement(nulled(catalog, query) as Json);
  const stub = `CREATE ${b.replace ? 'OR REPLACE ' : ''}VIEW ${ident(schema)}.${ident(name)}${aliases} AS SELECT * FROM (${standInSql}) AS clarus_view
    WHERE (SELECT ${lit(message)}::text)::boolean AND ${lit(encodeMarker(text))}::text <> ''`;
  return { sql: stub, tables: refs };
}
