// Splitting (issue 12): DROP INDEX, ALTER INDEX … RENAME, REINDEX INDEX and COMMENT ON INDEX of
// an index that another fragment of a split table holds (the catalog's loaded objects,
// logical-catalog-split.ts) go to the backend that holds it; several names over different backends
// are dropped in one write over them (the split write, two-phase commit). A name the catalog does
// not place elsewhere goes to the home backend, which answers as PostgreSQL does (42704, or IF
// EXISTS's notice). Other ALTER INDEX forms of such an index, and DROP INDEX / REINDEX
// CONCURRENTLY of one, are refused.
import { arr, body, isObj } from '../rewrite/ast.ts';
import type { Json } from '../rewrite/ast.ts';
import type { Catalog } from '../rewrite/catalog.ts';
import { deparseStatement } from '../rewrite/parser.ts';
import { indexNames, remoteIndex } from '../rewrite/split.ts';
import type { SplitLayout } from './layout.ts';
import { elsewhere, SplitUnsupported } from './plan.ts';
import type { DdlPlan } from './plan.ts';

const names = (schema: string | undefined, name: string): Json => ({ List: { items: [...(schema ? [{ String: { sval: schema } }] : []), { String: { sval: name } }] } });

type Named = { s: string | undefined; n: string; at: ReturnType<typeof remoteIndex> };

/** DROP INDEX: one statement per backend holding some of the names (home first), in one write. */
function planDropIndex(l: SplitLayout, drop: Json, named: readonly Named[], what: string): DdlPlan {
  if (drop.concurrent) throw new SplitUnsupported(`DROP INDEX CONCURRENTLY of ${what} is not supported (the proxy drops it in a transaction over the backends: drop it without CONCURRENTLY)`);
  const per = new Map<string, Json[]>();
  for (const x of named) {
    const b = x.at?.object.backend ?? l.home;
    per.set(b, [...(per.get(b) ?? []), names(x.at ? x.at.table.schema : x.s, x.n)]);
  }
  const order = [l.home, ...l.sides, ...[...per.keys()].filter((b) => b !== l.home && !l.sides.includes(b))];
  const statements = order.flatMap((b) => { const objects = per.get(b); return objects ? [{ backend: b, params: [], sql: deparseStatement({ DropStmt: { ...drop, objects } }) }] : []; });
  return { kind: 'ddl', layout: l, statements, tag: 'DROP INDEX' };
}

/**
 * REINDEX INDEX and COMMENT ON INDEX of an index on another fragment: that backend, the name
 * qualified by the table's schema; null for another statement. REINDEX CONCURRENTLY cannot run in
 * the transaction the proxy writes in: refused.
 */
function planRouted(l: SplitLayout, stmt: Json, at: NonNullable<Named['at']>, what: string): DdlPlan | null {
  const on = (sql: string, tag: string): DdlPlan => ({ kind: 'ddl', layout: l, statements: [{ backend: at.object.backend, params: [], sql }], tag });
  const reindex = body(stmt, 'ReindexStmt');
  if (reindex) {
    if (arr(reindex.params).some((p) => body(p, 'DefElem')?.defname === 'concurrently')) throw new SplitUnsupported(`REINDEX CONCURRENTLY of ${what} is not supported (the proxy runs it in a transaction: reindex it without CONCURRENTLY)`);
    return on(deparseStatement({ ReindexStmt: { ...reindex, relation: { ...(reindex.relation as Json), schemaname: at.table.schema } } }), 'REINDEX');
  }
  const comment = body(stmt, 'CommentStmt');
  return comment ? on(deparseStatement({ CommentStmt: { ...comment, object: names(at.table.schema, at.object.name) } }), 'COMMENT') : null;
}

/** The plan of an index statement naming an index on another fragment, or null (not such a statement). Throws SplitUnsupported. */
export function planIndexDdl(catalog: Catalog, layouts: ReadonlyMap<string, SplitLayout>, stmt: Json): DdlPlan | null {
  const named = indexNames(stmt).map(([s, n]): Named => ({ s, n, at: remoteIndex(catalog, s, n) }));
  const first = named.find((x) => x.at)?.at;
  const l = first ? layouts.get(`${first.table.schema}.${first.table.table}`) : undefined;
  if (!first || !l) return null;
  const what = `index ${first.object.name} of split table ${l.schema}.${l.table} (dataset ${l.dataset}), stored on backend ${first.object.backend},`;
  const drop = body(stmt, 'DropStmt');
  if (drop) return planDropIndex(l, drop, named, what);
  const rename = body(stmt, 'RenameStmt');
  if (rename && typeof rename.newname === 'string' && !rename.subname) {
    const relation = isObj(rename.relation) ? { ...rename.relation, schemaname: first.table.schema } : rename.relation;
    const unused = elsewhere(l, first.object.backend, [rename.newname]);
    return { kind: 'ddl', layout: l, statements: [{ backend: first.object.backend, params: [], sql: deparseStatement({ RenameStmt: { ...rename, relation } }) }], tag: 'ALTER INDEX', unused };
  }
  const routed = planRouted(l, stmt, first, what);
  if (routed) return routed;
  const alter = body(stmt, 'AlterTableStmt');
  const form = alter ? arr(alter.cmds).map((c) => String(body(c, 'AlterTableCmd')?.subtype ?? '').replace(/^AT_/, '')).join(', ') : 'this form';
  throw new SplitUnsupported(`ALTER INDEX (${form}) of ${what} is not supported (only RENAME TO, DROP INDEX, REINDEX INDEX and COMMENT ON INDEX are)`);
}
