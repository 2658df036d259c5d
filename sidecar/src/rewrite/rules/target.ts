// The target of INSERT, UPDATE and DELETE: the scope (WITH queries, then the target relation),
// RETURNING, and the write of one value into a protected column (shared by the DML rules).
import type { RangeVar, ReturningClause, SelectStmt, WithClause } from '@pgsql/types';
import { arr, castChanges } from '../ast.ts';
import type { CatalogColumn, CatalogTable } from '../catalog.ts';
import type { Ctx } from '../context.ts';
import { refuse } from '../refusals.ts';
import { rangeVarRelation, targets, withClause } from '../select.ts';
import { newScope } from '../scope.ts';
import type { OutCol, Scope } from '../scope.ts';
import { writeValue } from './write-value.ts';
import type { Written } from './write-value.ts';

/**
 * writeValue, after refusing a cast around the value of a protected column that PostgreSQL
 * would apply but the proxy drops (`$1::bytea`, `'0042'::int` into a text column, `B'01'` into a
 * number): the proxy protects the value as written, so it would store something else.
 */
export function protectedWrite(ctx: Ctx, scope: Scope, table: CatalogTable, c: CatalogColumn, node: unknown): Written {
  const why = c.protection.kind === 'plain' ? null : castChanges(node, c.typeOid);
  if (why) refuse('convertedValue', { table, column: c, why });
  return writeValue(ctx, scope, table, c, node);
}

export function column(t: CatalogTable, name: string): CatalogColumn {
  return t.byName.get(name) ?? { name, protection: { kind: 'plain' }, typeOid: 25 };
}

/**
 * The scope of a data-modifying statement: its WITH queries (analysed like a SELECT's, so a CTE
 * reading ciphertext is tracked), then the target relation.
 */
export function targetScope(ctx: Ctx, s: { withClause?: WithClause; relation?: RangeVar }): { scope: Scope; ctes: Scope; table: CatalogTable | undefined } {
  const ctes = newScope();
  withClause(ctx, s, ctes);
  const rv = s.relation ?? {};
  const scope = newScope(ctes);
  const rel = rangeVarRelation(ctx, scope, rv);
  scope.relations.push(rel);
  return { scope, ctes, table: rel.table };
}

/** RETURNING behaves like a select list over the target (and FROM/USING) relations. */
export function returning(ctx: Ctx, scope: Scope, s: { returningClause?: ReturningClause }): OutCol[] {
  const rc = s.returningClause;
  if (!rc) return [];
  // PostgreSQL 18 lets RETURNING name the row before and after the change (old.*, new.*, or
  // aliases given by RETURNING WITH (OLD AS o…)); earlier majors read `old` as a missing table.
  if (arr(rc.options).length > 0 || JSON.stringify(rc.exprs ?? []).match(/"ColumnRef":\{"fields":\[\{"String":\{"sval":"(old|new)"\}\},/)) {
    refuse('returningOldNew');
  }
  const q: SelectStmt = { targetList: rc.exprs, op: 'SETOP_NONE' };
  const outs = targets(ctx, scope, q);
  rc.exprs = q.targetList;
  return outs;
}
