// Rule on-conflict: INSERT … ON CONFLICT on a protected table (conflict target, DO UPDATE SET).
import type { InferClause, OnConflictClause } from '@pgsql/types';
import { arr, nodeBody } from '../ast.ts';
import { isEncrypted } from '../catalog.ts';
import type { CatalogTable } from '../catalog.ts';
import type { Ctx } from '../context.ts';
import { refuse } from '../refusals.ts';
import { refuseConstruct } from '../context.ts';
import { plainExpr, predicate } from '../expr.ts';
import { newScope, tableColumns } from '../scope.ts';
import type { Scope } from '../scope.ts';
import { setList } from './update-set.ts';

export function onConflict(ctx: Ctx, scope: Scope, table: CatalogTable, s: { onConflictClause?: OnConflictClause }): void {
  const oc = s.onConflictClause;
  if (!oc) return;
  const infer: InferClause | undefined = oc.infer;
  for (const e of arr(infer?.indexElems)) {
    const elem = nodeBody(e, 'IndexElem') ?? {};
    const c = table.byName.get(String(elem.name));
    if (c && isEncrypted(c) && c.protection.mode !== 'deterministic') refuseConstruct({ table, column: c }, 'ON CONFLICT target');
    if (elem.expr) plainExpr(ctx, scope, elem.expr, 'ON CONFLICT target');
  }
  // The proxy creates no partial index on a protected table, so there is none to infer.
  if (infer?.whereClause) refuse('onConflictWhere', { table });
  const excluded = newScope(scope);
  excluded.relations.push(...scope.relations, { alias: 'excluded', table, columns: tableColumns(table) });
  // The SET list goes through the untyped write path (update-set.ts: its values are not typed yet).
  oc.targetList = setList(ctx, excluded, table, arr(oc.targetList), true) as OnConflictClause['targetList'];
  if (oc.whereClause) oc.whereClause = predicate(ctx, excluded, oc.whereClause);
}
