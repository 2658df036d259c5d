// Renaming or moving a relation that a view of the proxy's names (issue 10, views leftovers).
// PostgreSQL's views follow a renamed table or column (they hold its OID and attribute number); the
// proxy keeps a view's SELECT as text (views.ts), which would keep the old name: the view would fail
// when read, or read another relation or column that takes the old name later. So while a view's
// text names a relation, renaming it, one of its columns, or moving it to another schema through
// the proxy is refused, naming the views: drop them, rename, and create them again. (Renaming the
// view itself is the backend's: the proxy loads the views again; a view that another view names
// is such a relation too.) Pure: no I/O.
import { body, isObj } from './ast.ts';
import type { Json } from './ast.ts';
import type { Catalog } from './catalog.ts';
import { parseTree } from './parser.ts';
import { refuse } from './refusals.ts';

/** `schema.name` of a RangeVar that is not a WITH query's name. */
function relationNamed(rv: Json | null, ctes: ReadonlySet<string>): string | null {
  if (!rv || typeof rv.relname !== 'string') return null;
  if (typeof rv.schemaname === 'string') return `${rv.schemaname}.${rv.relname}`;
  return ctes.has(rv.relname) ? null : `public.${rv.relname}`;
}

/** The relations a tree names in FROM positions (as `schema.name`, an unqualified name as public's), WITH queries aside. */
function relationsOf(node: unknown, ctes: Set<string>, out: Set<string>): Set<string> {
  if (Array.isArray(node)) node.forEach((n) => relationsOf(n, ctes, out));
  else if (isObj(node)) {
    const cte = body(node, 'CommonTableExpr');
    if (cte && typeof cte.ctename === 'string') ctes.add(cte.ctename);
    const named = relationNamed(body(node, 'RangeVar'), ctes);
    if (named) out.add(named);
    for (const v of Object.values(node)) relationsOf(v, ctes, out);
  }
  return out;
}

/** The views of the proxy's whose kept SELECT names `relation` (`schema.name`). */
export function viewsNaming(catalog: Catalog, relation: string): string[] {
  return catalog.allViews()
    .filter((v) => relationsOf(parseTree(v.text).statements[0]?.stmt, new Set(), new Set()).has(relation))
    .map((v) => `${v.schema}.${v.name}`);
}

/** Object kinds whose rename changes a relation's name or one of its columns' names. */
const RENAMED = new Set(['OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_FOREIGN_TABLE', 'OBJECT_COLUMN']);

/** The relation a RENAME or SET SCHEMA statement changes the name of (or of a column of), if any. */
function changedRelation(tag: string, b: Json): Json | null {
  if (tag === 'RenameStmt' && RENAMED.has(String(b.renameType))) return body(b.relation, 'RangeVar') ?? (isObj(b.relation) ? b.relation : null);
  if (tag === 'AlterObjectSchemaStmt' && isObj(b.relation)) return body(b.relation, 'RangeVar') ?? b.relation;
  return null;
}

/** Refuses renaming or moving a relation (or renaming a column of it) that a view of the proxy's names. */
export function refuseRenameUnderViews(catalog: Catalog, tag: string, b: Json): void {
  const rv = changedRelation(tag, b);
  if (!rv || typeof rv.relname !== 'string') return;
  const relation = `${typeof rv.schemaname === 'string' ? rv.schemaname : 'public'}.${rv.relname}`;
  const views = viewsNaming(catalog, relation);
  if (views.length === 0) return;
  const what = tag === 'AlterObjectSchemaStmt' ? 'moving' : b.renameType === 'OBJECT_COLUMN' ? `renaming column ${String(b.subname)} of` : 'renaming';
  refuse('viewDependency', { what, relation, views: views.join(', ') });
}
