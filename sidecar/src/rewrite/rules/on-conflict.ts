// Rule on-conflict: INSERT … ON CONFLICT on a protected table (conflict target, DO UPDATE SET).
import { arr, nodeBody } from '../ast.ts';
import type { Json, NodeOf } from '../ast.ts';
import { isEncrypted } from '../catalog.ts';
import type { CatalogTable } from '../catalog.ts';
import type { Ctx } from '../context.ts';
import { refuse } from '../refusals.ts';
import { refuseConstruct } from '../context.ts';
import { plainExpr, predicate } from '../expr.ts';
import { newScope, tableColumns } from '../scope.ts';
import type { Scope } from '../scope.ts';
import { setList } from './update-set.ts';

export function onConflict(ctx: Ctx, scope: Scope, table: CatalogTable, s: Json): void {
  const oc = s.onConflictClause as Json | undefined;
  if (!oc) return;
  const infer = oc.infer as Json | undefined;
  for (const e of arr(infer?.indexElems)) {
    const elem = nodeBody(e, 'IndexElem') as NodeOf<'IndexElem'>;
    const c = table.byName.get(String(elem.name));
    if (c && isEncrypted(c) && c.protection.mode !== 'deterministic') refuseConstruct({ table, column: c }, 'ON CONFLICT target');
    if (elem.expr) plainExpr(ctx, scope, elem.expr, 'ON CONFLICT target');
  }
  // The proxy creates no partial index on a protected table, so there is none to infer.
  if (infer?.whereClause) refuse('onConflictWhere', { table });
  const excluded = newScope(scope);
  excluded.relations.push(...scope.relations, { alias: 'excluded', table, columns: tableColumns(table) });
  oc.targetList = setList(ctx, excluded, table, arr(oc.targetList), true);
  if (oc.whereClause) oc.whereClause = predicate(ctx, excluded, oc.whereClause);
}
