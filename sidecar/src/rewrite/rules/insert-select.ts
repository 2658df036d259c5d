// Rule insert-select: INSERT … SELECT into a protected table.
import { arr, body, colRefNames, stringNode } from '../ast.ts';
import type { Json } from '../ast.ts';
import { isEncrypted } from '../catalog.ts';
import type { CatalogColumn, CatalogTable } from '../catalog.ts';
import { blindIndexPath } from '../hidden.ts';
import type { Ctx } from '../context.ts';
import { refuse } from '../refusals.ts';
import type { OutCol, Scope } from '../scope.ts';
import { protectedWrite } from './target.ts';

/**
 * INSERT … SELECT into protected columns: each protected target takes a constant / parameter /
 * NULL (encrypted like VALUES) or the ciphertext of the same column (copied as is: the AAD binds
 * it to that column; a deterministic value may also come from a column sharing its key), plus the
 * source's blind index for searchable columns. Anything else would need plaintext: refused.
 */
export function insertSelect(ctx: Ctx, scope: Scope, table: CatalogTable, cols: CatalogColumn[], sel: Json, outs: OutCol[]): void {
  const refuseColumn = (c: CatalogColumn, why: string): never => refuse('insertSelect', { table, column: c, why });
  if ((sel.op && sel.op !== 'SETOP_NONE') || outs.some((o) => o.star) || outs.length !== cols.length) {
    const first = cols.find((c) => c.protection.kind !== 'plain') as CatalogColumn;
    refuseColumn(first, 'the select list must name one expression per target column (no *, no set operation)');
  }
  const list = arr(sel.targetList);
  const extra: unknown[] = [];
  cols.forEach((c, i) => {
    if (c.protection.kind === 'plain') return;
    const rt = body(list[i], 'ResTarget') as Json;
    const src = outs[i]?.prov;
    if (src) {
      const same = src.table === table && src.column.name === c.name;
      const sharedKey = isEncrypted(c) && c.protection.mode === 'deterministic' && src.column.protection.mode === 'deterministic' && src.column.protection.keyName === c.protection.keyName;
      if (!same && !sharedKey) refuseColumn(c, `ciphertext of ${src.table.table}.${src.column.name} cannot be moved into it`);
      ctx.touch(table, c.name);
      if (isEncrypted(c) && c.protection.searchable) {
        const ref = body(rt.val, 'ColumnRef');
        if (!ref) refuseColumn(c, 'the blind index of the source is not reachable');
        const names = blindIndexPath(colRefNames(ref as Json));
        extra.push({ ResTarget: { val: { ColumnRef: { fields: names.map(stringNode), location: -1 } }, location: -1 } });
      }
      return;
    }
    if (body(rt.val, 'ColumnRef')) refuseColumn(c, 'a plain source column would be stored without protection');
    const w = protectedWrite(ctx, scope, table, c, rt.val);
    rt.val = w.value;
    if (w.bidx !== undefined) extra.push({ ResTarget: { val: w.bidx, location: -1 } });
  });
  sel.targetList = [...list, ...extra];
}
