// Rule insert-values: INSERT … VALUES into a protected table.
// Postcondition: every value of an encrypted column is NULL, DEFAULT, ciphertext or a parameter
// the proxy encrypts at Bind, and the column list names the hidden blind index of each searchable
// column next to it (filled with the matching value).
import { arr, body } from '../ast.ts';
import type { Json } from '../ast.ts';
import { isEncrypted } from '../catalog.ts';
import type { CatalogColumn, CatalogTable } from '../catalog.ts';
import { blindIndexName } from '../hidden.ts';
import type { Ctx } from '../context.ts';
import { refuse } from '../refusals.ts';
import type { Scope } from '../scope.ts';
import { protectedWrite } from './target.ts';

export function withBidx(cols: CatalogColumn[]): string[] {
  return [...cols.map((c) => c.name), ...cols.filter((c) => isEncrypted(c) && c.protection.searchable).map((c) => blindIndexName(c.name))];
}

export function insertValues(ctx: Ctx, scope: Scope, table: CatalogTable, cols: CatalogColumn[], sel: Json): void {
  for (const row of arr(sel.valuesLists)) {
    const list = body(row, 'List') as Json;
    const items = arr(list.items);
    if (items.length !== cols.length) refuse('insertArity');
    const values: unknown[] = [];
    const extra: unknown[] = [];
    cols.forEach((c, i) => {
      const w = protectedWrite(ctx, scope, table, c, items[i]);
      values.push(w.value);
      if (w.bidx !== undefined) extra.push(w.bidx);
    });
    list.items = [...values, ...extra];
  }
}
