// Fail closed on split datasets. A policy may place a column on another backend
// (`protection.split.backend`), but fan-out, recomposition and two-phase commit are not
// implemented: forwarding the statement to the default backend would silently store the column
// where the policy says it must not be. So any statement naming a table that has a split column,
// whatever its kind (DDL, DML, COPY, `*`), is refused before any rule rewrites it.
import type { Json } from './ast.ts';
import type { Catalog, CatalogTable } from './catalog.ts';
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
  for (const s of stmts) referencedTables(catalog, s, names);
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
