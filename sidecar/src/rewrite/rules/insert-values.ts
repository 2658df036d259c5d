// Rule insert-values: INSERT … VALUES into a protected table.
// Postcondition: every value of an encrypted column is NULL, DEFAULT, ciphertext or a parameter
// the proxy encrypts at Bind, and the column list names the hidden blind index of each searchable
// column next to it (filled with the matching value); k-anonymity columns hold the values the
// microaggregation of the statement's rows published (insert-batch.ts).
import { arr, body } from '../ast.ts';
import type { Json } from '../ast.ts';
import { isEncrypted } from '../catalog.ts';
import type { CatalogColumn, CatalogTable } from '../catalog.ts';
import { blindIndexName } from '../hidden.ts';
import type { Ctx } from '../context.ts';
import { refuse } from '../refusals.ts';
import type { Scope } from '../scope.ts';
import { kAnonymizeValues } from './insert-batch.ts';
import { protectedWrite } from './target.ts';

export function withBidx(cols: CatalogColumn[]): string[] {
  return [...cols.map((c) => c.name), ...cols.filter((c) => isEncrypted(c) && c.protection.searchable).map((c) => blindIndexName(c.name))];
}

export function insertValues(ctx: Ctx, scope: Scope, table: CatalogTable, cols: CatalogColumn[], sel: Json): void {
  const lists = arr(sel.valuesLists).map((row) => body(row, 'List') as Json);
  for (const list of lists) if (arr(list.items).length !== cols.length) refuse('insertArity');
  // k-anonymity columns: the rows are one batch, microaggregated here (insert-batch.ts).
  const batch = kAnonymizeValues(table, cols, lists);
  if (batch) ctx.batch = { table, report: batch.report };
  const batched = batch?.qi;
  for (const list of lists) {
    const items = arr(list.items);
    const values: unknown[] = [];
    const extra: unknown[] = [];
    cols.forEach((c, i) => {
      if (batched?.has(i)) {
        ctx.touch(table, c.name);
        values.push(items[i]);
        return;
      }
      const w = protectedWrite(ctx, scope, table, c, items[i]);
      values.push(w.value);
      if (w.bidx !== undefined) extra.push(w.bidx);
    });
    list.items = [...values, ...extra];
  }
}
