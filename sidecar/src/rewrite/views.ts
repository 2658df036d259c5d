// Views over protected tables (issue 10). The backend cannot evaluate such a view (it stores
// ciphertext), so the proxy keeps the view's SELECT and expands it into every statement that names
// the view: `FROM v` becomes `FROM (<the view's SELECT>) AS v(<its column names>)`, which the rules
// and the two-stage executor then handle like any subquery in FROM (the reader's grants apply to
// the tables underneath: a view is never a grant bypass).
//
// Where the definition lives: inside the backend's own view object, as the type records live in
// the constraint names of a protected table (rules/create-table.ts). The proxy creates the view on
// the backend as a stand-in (rewrite/create-view.ts) whose text carries the definition as one
// constant `'clarus-view:<hex of JSON>'`. So there is one object, not two that could disagree:
// DROP VIEW, ALTER VIEW … RENAME / SET SCHEMA, CASCADE and dependency checks are the backend's own,
// every replica reads the same catalog, and a view created directly on the backend (no marker) is
// never taken for one of the proxy's. The stand-in never returns a row: reading it fails with the
// STALE_MARKER error, on which a replica that did not know the view loads the catalog again.
// Pure: no I/O.
import type { Node, RangeVar } from '@pgsql/types';
import { arr, columnRef, isObj, nodeBody, sval } from './ast.ts';
import type { Json } from './ast.ts';
import type { Catalog } from './catalog.ts';
import { parseTree } from './parser.ts';
import { refuse } from './refusals.ts';
import { guardsOf } from './view-guards.ts';
import { cteNames, writeOutStars } from './view-star.ts';
import { refuseRenameUnderViews } from './view-renames.ts';
import type { KnownItem } from './view-star.ts';

/** The constant in the stand-in that carries the definition. */
export const VIEW_MARKER = 'clarus-view:';

/** A view the proxy keeps: where it is, its column names (the backend's), its SELECT. */
export interface ProxyView {
  schema: string;
  name: string;
  columns: readonly string[];
  /** The view's SELECT as written (views it names are expanded when a statement is analysed). */
  text: string;
  /** md5 of the stand-in's stored rule (pg_rewrite.ev_action) at load: what each expansion checks. */
  digest?: string;
}

/** What the marker constant holds (JSON, hex-encoded so no quoting can change it). */
interface Payload { v: 1; query: string }

export function encodeMarker(query: string): string {
  const p: Payload = { v: 1, query };
  return `${VIEW_MARKER}${Buffer.from(JSON.stringify(p), 'utf8').toString('hex')}`;
}

/** The definition from a loaded row (`hex`: what follows the marker), or null when it does not decode. */
/** A row of the views query (access/catalog-loader.ts): where, the column names as JSON, the marker's hex, the rule's md5. */
export interface ViewRow { schema: string; name: string; columns: string; hex: string; digest?: string }

export function viewFromRow({ schema, name, columns: columnsJson, hex, digest }: ViewRow): ProxyView | null {
  try {
    const p = JSON.parse(Buffer.from(hex, 'hex').toString('utf8')) as Partial<Payload>;
    const columns = JSON.parse(columnsJson) as unknown;
    if (p.v !== 1 || typeof p.query !== 'string' || !Array.isArray(columns) || !columns.every((c) => typeof c === 'string')) return null;
    // The definition must still be one SELECT (a forged or damaged marker is not a view of the proxy's).
    const parsed = parseTree(p.query).statements;
    if (parsed.length !== 1 || !nodeBody(parsed[0]?.stmt, 'SelectStmt')) return null;
    return { schema, name, columns: columns as string[], text: p.query, ...(digest ? { digest } : {}) };
  } catch {
    return null;
  }
}

/** Views of a statement nest at most this deep (a view over a view over …). */
const MAX_DEPTH = 16;

/** Statements that write into their `relation`: never into a view of the proxy's. */
const WRITES_RELATION = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt', 'CopyStmt']);

/** Keys whose values are FROM items (lists or single items). */
const FROM_KEYS = new Set(['fromClause', 'usingClause', 'larg', 'rarg']);

/** The proxy's view a RangeVar names, if any. An unqualified name is looked up in `public` (the pinned search_path). */
export function viewOf(catalog: Catalog, rv: RangeVar): ProxyView | undefined {
  const name = typeof rv.relname === 'string' ? rv.relname : undefined;
  if (!name) return undefined;
  return catalog.view(typeof rv.schemaname === 'string' ? rv.schemaname : 'public', name);
}

interface Walk {
  catalog: Catalog; ctes: ReadonlySet<string>; depth: number; expanded: boolean;
  /** The FROM items this walk made from views, with their names and columns (for `*`: view-star.ts). */
  items: Map<unknown, KnownItem>;
}

function aliasOf(rv: RangeVar, view: ProxyView): { aliasname: string; colnames: { String: { sval: string } }[] } {
  const given = isObj(rv.alias) ? rv.alias : undefined;
  const names = arr(given?.colnames).map(sval);
  // Names given in the statement's alias come first, as PostgreSQL renames a relation's columns.
  const colnames = view.columns.map((c, i) => ({ String: { sval: names[i] ?? c } }));
  return { aliasname: typeof given?.aliasname === 'string' ? given.aliasname : view.name, colnames };
}

/** The view's SELECT with its checks (view-guards.ts): ANDed into its WHERE clause, or around it for a set operation. */
function guarded(view: ProxyView, query: unknown, qualified: boolean): unknown {
  const s = nodeBody(query, 'SelectStmt');
  const guards = guardsOf(view, qualified);
  const all = (where?: Node): Node => {
    const args = where ? [where, ...guards] : guards;
    return (args.length === 1 ? args[0] : { BoolExpr: { boolop: 'AND_EXPR', args, location: -1 } }) as Node;
  };
  if (s && (s.op === undefined || s.op === 'SETOP_NONE')) {
    s.whereClause = all(s.whereClause);
    return query;
  }
  // Named columns, not `*`: what the proxy's engine computes holds no `*` (two-stage/split.ts).
  const targetList = view.columns.map((c) => ({ ResTarget: { val: columnRef(['clarus_view', c]), location: -1 } }));
  const alias = { aliasname: 'clarus_view', colnames: view.columns.map((c) => ({ String: { sval: c } })) };
  return { SelectStmt: { targetList, fromClause: [{ RangeSubselect: { subquery: query, alias } }], whereClause: all(), limitOption: 'LIMIT_OPTION_DEFAULT', op: 'SETOP_NONE' } };
}

/** A FROM item: a RangeVar naming a view of the proxy's becomes its SELECT as a subquery. */
function fromItem(w: Walk, item: unknown): unknown {
  const rv = nodeBody(item, 'RangeVar');
  const unqualifiedCte = rv && typeof rv.schemaname !== 'string' && w.ctes.has(String(rv.relname));
  const view = rv && !unqualifiedCte ? viewOf(w.catalog, rv) : undefined;
  if (!rv || !view) return visit(w, item);
  if (w.depth >= MAX_DEPTH) refuse('viewDepth', { view: `${view.schema}.${view.name}`, max: MAX_DEPTH });
  const parsed = parseTree(view.text).statements[0]?.stmt;
  const inner: Walk = { ...w, ctes: cteNames(parsed, new Set()), depth: w.depth + 1 };
  const subquery = guarded(view, visit(inner, parsed), typeof rv.schemaname === 'string');
  w.expanded = true;
  const alias = aliasOf(rv, view);
  const expansion = { RangeSubselect: { subquery, alias } };
  w.items.set(expansion, { alias: alias.aliasname, columns: alias.colnames.map((c) => c.String.sval) });
  return expansion;
}

function visit(w: Walk, node: unknown): unknown {
  if (Array.isArray(node)) return node.map((n) => visit(w, n));
  if (!isObj(node)) return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) {
    if (!FROM_KEYS.has(k)) out[k] = visit(w, v);
    else out[k] = Array.isArray(v) ? v.map((x) => fromItem(w, x)) : nodeBody(v, 'RangeVar') ? fromItem(w, v) : visit(w, v);
  }
  if (isObj(out.SelectStmt) && w.items.size > 0) writeOutStars(out.SelectStmt, (item) => w.items.get(item) ?? null);
  return out;
}

function refuseWriteInto(catalog: Catalog, tag: string, b: { relations?: Node[]; relation?: RangeVar }): void {
  const targets: unknown[] = tag === 'TruncateStmt' ? arr(b.relations) : WRITES_RELATION.has(tag) ? [b.relation] : [];
  for (const t of targets) {
    const rv: RangeVar | null = nodeBody(t, 'RangeVar') ?? (isObj(t) ? t : null);
    const view = rv ? viewOf(catalog, rv) : undefined;
    if (view) refuse('viewWrite', { view: `${view.schema}.${view.name}`, what: tag.replace(/Stmt$/, '').toUpperCase() });
  }
}

function refuseRenameOntoProtected(catalog: Catalog, tag: string, b: { relation?: RangeVar; newname?: string; renameType?: string }): void {
  if (tag !== 'RenameStmt' || !isObj(b.relation) || typeof b.newname !== 'string') return;
  const view = viewOf(catalog, b.relation);
  if (view && b.renameType !== 'OBJECT_COLUMN' && catalog.isProtectedName(b.newname)) refuse('shadowingRelation', { name: b.newname });
}

/**
 * The statement with every view of the proxy's it reads expanded (a new tree), and whether any
 * was. Refuses writes into such a view and renaming one to a protected table's name. CREATE VIEW
 * itself is left as it is (create-view.ts keeps its text unexpanded).
 */
export function expandViews(catalog: Catalog, stmt: unknown): { stmt: unknown; expanded: boolean } {
  if (!catalog.hasViews()) return { stmt, expanded: false };
  const t = nodeBody(stmt, 'ViewStmt');
  if (t) return { stmt, expanded: false };
  const [tag, b] = Object.entries(isObj(stmt) ? stmt : {})[0] ?? ['', {}];
  if (isObj(b)) {
    refuseWriteInto(catalog, tag, b);
    refuseRenameOntoProtected(catalog, tag, b);
    refuseRenameUnderViews(catalog, tag, b);
  }
  const w: Walk = { catalog, ctes: cteNames(stmt, new Set()), depth: 0, expanded: false, items: new Map() };
  const out = visit(w, stmt);
  return w.expanded ? { stmt: out, expanded: true } : { stmt, expanded: false };
}

/** Whether a tree names a view of the proxy's in a FROM position (CTE names aside). */
export function namesView(catalog: Catalog, node: unknown): boolean {
  return catalog.hasViews() && expandViews(catalog, { SelectStmt: { fromClause: [{ RangeSubselect: { subquery: node } }] } }).expanded;
}
