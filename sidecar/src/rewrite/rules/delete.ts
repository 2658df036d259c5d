// Rule delete: DELETE from a protected table (its WHERE clause and RETURNING list).
import type { DeleteStmt } from '@pgsql/types';
import { arr } from '../ast.ts';
import type { Ctx } from '../context.ts';
import { predicate } from '../expr.ts';
import { addFromItem } from '../select.ts';
import type { OutCol } from '../scope.ts';
import { returning, targetScope } from './target.ts';

export function analyzeDelete(ctx: Ctx, s: DeleteStmt): OutCol[] {
  ctx.write = true;
  const { scope } = targetScope(ctx, s);
  for (const f of arr(s.usingClause)) addFromItem(ctx, scope, f);
  if (s.whereClause) s.whereClause = predicate(ctx, scope, s.whereClause);
  return returning(ctx, scope, s);
}
