// Rule group-by-distinct: GROUP BY, DISTINCT and DISTINCT ON group only deterministic ciphertext
// (equal plaintexts, equal ciphertexts); randomized values are refused.
import { arr, tagOf } from '../ast.ts';
import type { SelectStmt } from '@pgsql/types';
import type { Ctx } from '../context.ts';
import { refuseConstruct } from '../context.ts';
import { plainExpr, provOf } from '../expr.ts';
import type { OutCol, Scope } from '../scope.ts';
import { outputRef } from './order-by.ts';

export function grouping(ctx: Ctx, scope: Scope, s: SelectStmt, outs: OutCol[]): void {
  for (const g of arr(s.groupClause)) {
    const p = provOf(ctx, scope, g) ?? outputRef(g, outs)?.prov ?? null;
    if (p && p.column.protection.mode !== 'deterministic') refuseConstruct(p, 'GROUP BY');
    if (!p) plainExpr(ctx, scope, g, 'GROUP BY');
  }
  const distinct = arr(s.distinctClause);
  if (distinct.length === 0) return;
  const on = distinct.filter((d) => tagOf(d));
  // DISTINCT ON (expr) is an expression like any other (it may compare a column with a value).
  for (const d of on) if (!provOf(ctx, scope, d) && !outputRef(d, outs)) plainExpr(ctx, scope, d, 'DISTINCT ON');
  const provs = on.length ? on.map((d) => provOf(ctx, scope, d) ?? outputRef(d, outs)?.prov ?? null) : outs.map((o) => o.prov);
  for (const p of provs) if (p && p.column.protection.mode !== 'deterministic') refuseConstruct(p, 'DISTINCT');
}
