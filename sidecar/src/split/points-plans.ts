// Points split by coordinates (points.ts) in the statements that plan a SELECT or an INSERT of
// their own (issue 12): COPY … TO, COPY … FROM, DECLARE … CURSOR and INSERT … SELECT. The inner
// SELECT is rewritten over the hidden columns and its relations recompose the point (hex EWKB, as
// PostGIS prints a geometry); the inner INSERT … VALUES takes each point as the parameters its
// parts are derived into at execution (a value that is not a 2-D point fails with 22023).
import type { Json } from '../rewrite/ast.ts';
import type { SplitLayout } from './layout.ts';
import { planSplit } from './plan.ts';
import type { InsertPlan, SplitPlan } from './plan.ts';
import { derivedValues, rewritePoints } from './points.ts';
import type { Derived } from './points.ts';

/** A split plan over the hidden columns of the point columns the statement names, and its derived parameters. */
export function planWithPoints(l: SplitLayout, stmt: Json, layouts: ReadonlyMap<string, SplitLayout>, paramCount: number): { plan: SplitPlan; derived: Derived[] } {
  const points = rewritePoints(layouts.values(), stmt, paramCount, l);
  if (!points) return { plan: planSplit(l, stmt, layouts), derived: [] };
  const plan = planSplit(l, points.stmt, layouts);
  const relations = plan.kind === 'select' ? plan.relations : plan.kind === 'update' || plan.kind === 'delete' ? plan.keys.relations : [];
  for (const r of relations) if (r.layout?.points) r.points = { keepParts: points.keepParts };
  return { plan, derived: points.derived };
}

/** An INSERT … VALUES plan with its derived point parameters (see withDerived). */
export interface PointInsert { plan: InsertPlan; derived: Derived[] }

/** The values of an INSERT plan's parameters: the given ones, then the parts of their points. */
export function withDerived(p: PointInsert, values: ReadonlyArray<string | null>): Array<string | null> {
  return p.derived.length === 0 ? [...values] : [...values, ...derivedValues(p.derived, values)];
}
