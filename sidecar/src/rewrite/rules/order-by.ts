// Rule order-by: ORDER BY never sorts on ciphertext (by expression, output name or ordinal).
import { body, colRefNames, constText } from '../ast.ts';
import type { Ctx } from '../context.ts';
import { refuseConstruct } from '../context.ts';
import { plainExpr, provOf } from '../expr.ts';
import type { OutCol, Scope } from '../scope.ts';

/** The output column an ORDER BY / GROUP BY item names by ordinal or output alias, if any. */
export function outputRef(node: unknown, outs: OutCol[]): OutCol | undefined {
  const c = constText(node);
  if (c && /^\d+$/.test(c.text)) return outs[Number(c.text) - 1];
  const ref = body(node, 'ColumnRef');
  if (ref && colRefNames(ref).length === 1) return outs.find((o) => o.name === colRefNames(ref)[0]);
  return undefined;
}

export function ordering(ctx: Ctx, scope: Scope, sorts: unknown[], outs: OutCol[]): void {
  for (const sb of sorts) {
    const n = body(sb, 'SortBy')?.node;
    const p = outputRef(n, outs)?.prov ?? provOf(ctx, scope, n);
    if (p) refuseConstruct(p, 'ORDER BY');
    plainExpr(ctx, scope, n, 'ORDER BY');
  }
}
