// Rule insert: INSERT into a protected table, dispatching to insert-values, insert-select and
// on-conflict; INSERT … SELECT of ciphertext into an unprotected table is refused.
import { arr, body } from '../ast.ts';
import type { Json } from '../ast.ts';
import type { Ctx } from '../context.ts';
import { positional, refuseConstruct } from '../context.ts';
import { plainExpr } from '../expr.ts';
import { analyzeSelect } from '../select.ts';
import type { OutCol } from '../scope.ts';
import { insertSelect, insertSelectPlain } from './insert-select.ts';
import { unnestArgs, unnestAsValues } from './insert-unnest.ts';
import { unnestParams } from './insert-unnest-params.ts';
import { insertValues, withBidx } from './insert-values.ts';
import { onConflict } from './on-conflict.ts';
import { column, returning, targetScope } from './target.ts';

export function analyzeInsert(ctx: Ctx, s: Json): OutCol[] {
  ctx.write = true;
  const { scope, ctes, table } = targetScope(ctx, s);
  const sel = body(s.selectStmt, 'SelectStmt');
  if (!table) {
    const outs = sel ? analyzeSelect(ctx, sel, ctes, false) : [];
    const p = outs.find((o) => o.prov)?.prov;
    if (p) refuseConstruct(p, 'INSERT … SELECT of ciphertext into an unprotected table');
    if (s.onConflictClause) plainExpr(ctx, scope, s.onConflictClause, 'ON CONFLICT');
    return returning(ctx, scope, s);
  }
  const names = arr(s.cols).map((c) => String(body(c, 'ResTarget')?.name));
  if (!names.length && sel) positional(table, 'INSERT');
  const cols = names.map((n) => column(table, n));
  const protectedCols = cols.filter((c) => c.protection.kind !== 'plain');
  // Django's bulk_create: SELECT * FROM UNNEST(<arrays>): parameters encrypted element by element,
  // constants become the VALUES rows they stand for.
  const unnest = sel && !sel.valuesLists && protectedCols.length ? unnestArgs(sel) : null;
  const viaParams = Boolean(sel && unnest && unnest.length === cols.length && unnestParams(ctx, scope, table, cols, sel, unnest));
  if (!viaParams && sel && unnest) unnestAsValues(table, cols, sel);
  if (viaParams) {
    s.cols = withBidx(cols).map((c) => ({ ResTarget: { name: c, location: -1 } }));
  } else if (sel && !sel.valuesLists) {
    const outs = analyzeSelect(ctx, sel, ctes, false);
    if (protectedCols.length) {
      insertSelect(ctx, scope, table, cols, sel, outs);
      s.cols = withBidx(cols).map((c) => ({ ResTarget: { name: c, location: -1 } }));
    } else {
      insertSelectPlain(table, cols, outs);
    }
  } else if (sel) {
    insertValues(ctx, scope, table, cols, sel);
    s.cols = withBidx(cols).map((c) => ({ ResTarget: { name: c, location: -1 } }));
  }
  onConflict(ctx, scope, table, s);
  return returning(ctx, scope, s);
}
