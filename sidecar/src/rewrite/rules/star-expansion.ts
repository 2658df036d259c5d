// Rule star-expansion: `*` and `rel.*` over relations with protected columns are expanded into
// the columns the policy knows, so hidden blind-index columns never reach the client; FROM
// subqueries and CTEs also output the blind index of searchable columns they return.
import type { Node, SelectStmt } from '@pgsql/types';
import { arr, colRefNames, columnRef, nodeBody } from '../ast.ts';
import { blindIndexName, blindIndexPath } from '../hidden.ts';
import type { Ctx } from '../context.ts';
import { refuse } from '../refusals.ts';
import type { OutCol, Scope } from '../scope.ts';

/** Expands `*` / `rel.*` into explicit columns where a relation has protected columns. */
export function expandStar(ctx: Ctx, scope: Scope, names: string[]): Array<{ node: Node; out: OutCol }> | null {
  const rels = names.length === 1 ? scope.relations : scope.relations.filter((r) => r.alias === names[names.length - 2]);
  if (!rels.some((r) => r.columns?.some((c) => c.prov))) return null;
  if (scope.mergedJoin) refuse('starJoinUsing');
  return rels.flatMap((r) => {
    if (!r.columns) return [{ node: columnRef([r.alias, '*']), out: { name: '*', prov: null, star: true } }];
    if (r.table) ctx.touch(r.table);
    for (const c of r.columns) if (r.table) ctx.touch(r.table, c.name);
    if (r.table && !r.table.unsafe && ctx.catalog.isLoaded(r.table)) ctx.expanded.push({ table: r.table, columns: r.table.columns.map((c) => c.name) });
    return r.columns.filter((c) => !c.hidden).map((c) => ({ node: columnRef([r.alias, c.name]), out: c }));
  });
}

/** Appends `<col>__bidx AS <name>__bidx` for each searchable column output as a bare reference. */
export function exposeBlindIndexes(s: SelectStmt, outs: OutCol[]): void {
  const list = arr(s.targetList);
  const extra: OutCol[] = [];
  outs.forEach((o, i) => {
    const ref = nodeBody(nodeBody(list[i], 'ResTarget')?.val, 'ColumnRef');
    if (!o.prov?.column.protection.searchable || !ref || o.star) return;
    list.push({ ResTarget: { name: blindIndexName(o.name), val: columnRef(blindIndexPath(colRefNames(ref))), location: -1 } });
    extra.push({ name: blindIndexName(o.name), prov: null, hidden: true, anon: null });
  });
  s.targetList = list;
  outs.push(...extra);
}
