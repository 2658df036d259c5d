// Rule update-set: UPDATE … SET of protected columns (also the SET list of ON CONFLICT DO UPDATE).
// Postcondition: an encrypted column is set to NULL, DEFAULT, ciphertext, a parameter the proxy
// encrypts at Bind or (ON CONFLICT) EXCLUDED's same column, and a searchable column's hidden blind
// index is set with it; the WHERE clause went through the equality rewrite.
import { arr, body, colRefNames, stringNode } from '../ast.ts';
import type { Json } from '../ast.ts';
import { isEncrypted } from '../catalog.ts';
import type { CatalogTable } from '../catalog.ts';
import { blindIndexName, blindIndexPath } from '../hidden.ts';
import type { Ctx } from '../context.ts';
import { refuse } from '../refusals.ts';
import { plainExpr, predicate } from '../expr.ts';
import { addFromItem } from '../select.ts';
import type { OutCol, Scope } from '../scope.ts';
import { column, protectedWrite, returning, targetScope } from './target.ts';

/** SET col = value list; `EXCLUDED.col` is allowed for the same column (ciphertext moves as is). */
export function setList(ctx: Ctx, scope: Scope, table: CatalogTable, items: unknown[], allowExcluded: boolean): unknown[] {
  const out: unknown[] = [];
  for (const item of items) {
    const rt = body(item, 'ResTarget') as Json;
    if (body(rt.val, 'MultiAssignRef')) {
      plainExpr(ctx, scope, rt.val, 'multiple-column assignment');
      if (table.columns.some((c) => c.name === rt.name && c.protection.kind !== 'plain')) refuse('multiAssign', { table, column: String(rt.name) });
      out.push(item);
      continue;
    }
    const c = column(table, String(rt.name));
    const ref = body(rt.val, 'ColumnRef');
    const names = ref ? colRefNames(ref) : [];
    if (allowExcluded && names.length === 2 && names[0] === 'excluded' && names[1] === c.name && c.protection.kind !== 'plain') {
      ctx.touch(table, c.name);
      out.push(item);
      if (isEncrypted(c) && c.protection.searchable) out.push(setItem(blindIndexName(c.name), { ColumnRef: { fields: blindIndexPath(['excluded', c.name]).map(stringNode), location: -1 } }));
      continue;
    }
    const w = protectedWrite(ctx, scope, table, c, rt.val);
    rt.val = w.value;
    out.push(item);
    if (w.bidx !== undefined) out.push(setItem(blindIndexName(c.name), w.bidx));
  }
  return out;
}

export function setItem(name: string, val: unknown): Json {
  return { ResTarget: { name, val, location: -1 } };
}

export function analyzeUpdate(ctx: Ctx, s: Json): OutCol[] {
  ctx.write = true;
  const { scope, table } = targetScope(ctx, s);
  for (const f of arr(s.fromClause)) addFromItem(ctx, scope, f);
  if (table) s.targetList = setList(ctx, scope, table, arr(s.targetList), false);
  else plainExpr(ctx, scope, s.targetList, 'SET value');
  if (s.whereClause) s.whereClause = predicate(ctx, scope, s.whereClause);
  return returning(ctx, scope, s);
}
