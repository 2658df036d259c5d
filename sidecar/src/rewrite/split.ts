// Fail closed on split datasets. A policy may place a column on another backend
// (`protection.split.backend`), but fan-out, recomposition and two-phase commit are not
// implemented: forwarding the statement to the default backend would silently store the column
// where the policy says it must not be. So any statement naming a table that has a split column,
// whatever its kind (DDL, DML, COPY, `*`), is refused before any rule rewrites it.
import { arr, body, isObj } from './ast.ts';
import type { Json } from './ast.ts';
import type { Catalog, CatalogTable, RemoteObject } from './catalog.ts';
import type { Ctx } from './context.ts';
import { refuse } from './refusals.ts';
import { referencedTables } from './refs.ts';

function describe(t: CatalogTable): string {
  const cols = t.split.map((s) => `${s.column} → backend ${s.backend}`).join(', ');
  return `dataset ${t.dataset} (${t.schema}.${t.table}) places column(s) ${cols}`;
}

/**
 * PostGIS functions the proxy computes itself over a point column split by coordinates
 * (split/points.ts): a statement that names such a table may call them; split/points.ts refuses
 * them over anything else, so they never reach a backend.
 */
export const POINT_FUNCTIONS: ReadonlySet<string> = new Set(['st_x', 'st_y', 'st_srid', 'st_astext', 'st_asewkt', 'st_distance']);

/** Whether a statement names a table with a point column split by coordinates. */
export function namesPointSplit(catalog: Catalog, stmt: Json): boolean {
  return splitTables(catalog, [stmt]).some((t) => t.split.some((s) => s.coordinates));
}

/** The split tables the statements name anywhere in their trees, in catalog order. */
export function splitTables(catalog: Catalog, stmts: Json[]): CatalogTable[] {
  const split = catalog.all().filter((t) => t.split.length > 0);
  // Without split tables in the policy nothing can match: skip walking every statement's tree.
  if (split.length === 0) return [];
  const names = new Set<string>();
  for (const s of stmts) { referencedTables(catalog, s, names); for (const n of indexTables(catalog, s)) names.add(n); }
  return split.filter((t) => names.has(`${t.schema}.${t.table}`));
}

/**
 * Refuses (SQLSTATE 0A000) when any statement names a split table; the touched datasets are
 * recorded first so the audit log shows which ones were involved.
 */
export function refuseSplit(ctx: Ctx, stmts: Json[]): void {
  const hit = splitTables(ctx.catalog, stmts);
  if (hit.length === 0) return;
  for (const t of hit) ctx.touch(t);
  refuse('splitDataset', { tables: hit.map(describe).join('; ') });
}

/** An index of a split table held by another backend (the catalog's loaded objects), by its name as a statement gives it. */
export function remoteIndex(catalog: Catalog, schema: string | undefined, name: string): { table: CatalogTable; object: RemoteObject & { backend: string } } | undefined {
  for (const t of catalog.all()) {
    if (t.split.length === 0 || (schema !== undefined && schema !== t.schema)) continue;
    const o = (t.remoteObjects ?? []).find((x) => x.kind === 'index' && x.name === name && x.backend !== undefined);
    if (o) return { table: t, object: o as RemoteObject & { backend: string } };
  }
  return undefined;
}

/** The index an ALTER INDEX (RENAME, other forms, SET SCHEMA) or REINDEX INDEX names. */
function indexRelation(stmt: Json): unknown {
  for (const [tag, field] of [['RenameStmt', 'renameType'], ['AlterTableStmt', 'objtype'], ['AlterObjectSchemaStmt', 'objectType']] as const) {
    const b = body(stmt, tag);
    if (b?.[field] === 'OBJECT_INDEX') return b.relation;
  }
  const reindex = body(stmt, 'ReindexStmt');
  return reindex?.kind === 'REINDEX_OBJECT_INDEX' ? reindex.relation : undefined;
}

/** A qualified name as a List of Strings (DROP, COMMENT ON): [schema or undefined, name]. */
function listName(o: unknown): [string | undefined, string] {
  const n = arr(body(o, 'List')?.items).map((i) => body(i, 'String')?.sval as string);
  return n.length === 1 ? [undefined, n[0] as string] : [n[n.length - 2], n[n.length - 1] as string];
}

/** The qualified names (schema or undefined, name) an index statement names: DROP INDEX, ALTER INDEX, REINDEX INDEX, COMMENT ON INDEX. */
export function indexNames(stmt: Json): Array<[string | undefined, string]> {
  const drop = body(stmt, 'DropStmt');
  if (drop?.removeType === 'OBJECT_INDEX') return arr(drop.objects).map(listName);
  const comment = body(stmt, 'CommentStmt');
  if (comment?.objtype === 'OBJECT_INDEX') return [listName(comment.object)];
  const rv = indexRelation(stmt);
  return isObj(rv) && typeof rv.relname === 'string' ? [[typeof rv.schemaname === 'string' ? rv.schemaname : undefined, rv.relname]] : [];
}

/** The split tables whose other fragments hold an index the statement drops or alters. */
function indexTables(catalog: Catalog, stmt: Json): string[] {
  return indexNames(stmt).flatMap(([s, n]) => { const r = remoteIndex(catalog, s, n); return r ? [`${r.table.schema}.${r.table.table}`] : []; });
}
