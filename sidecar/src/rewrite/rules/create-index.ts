// Rule create-index: CREATE INDEX on a protected table.
// Postcondition: an index on a searchable encrypted column is built on its hidden blind index, one
// on a deterministic column on the ciphertext; indexes needing plaintext (randomized, expressions
// over protected columns, partial indexes) are refused.
import { arr, nodeBody } from '../ast.ts';
import type { Json, NodeOf } from '../ast.ts';
import { isEncrypted } from '../catalog.ts';
import type { CatalogTable } from '../catalog.ts';
import { blindIndexName } from '../hidden.ts';
import type { Ctx } from '../context.ts';
import { refuse } from '../refusals.ts';
import { refuseConstruct } from '../context.ts';

export function createIndex(ctx: Ctx, t: CatalogTable, s: Json): void {
  ctx.write = true;
  ctx.touch(t);
  for (const p of arr(s.indexParams)) {
    const e = nodeBody(p, 'IndexElem') as NodeOf<'IndexElem'>;
    // An index stores its expression's values: over a protected column with constants it would
    // store them next to it (`(zip || 'x')`), over an encrypted one it would need plaintext.
    const hit = e.expr ? t.columns.find((c) => c.protection.kind !== 'plain' && JSON.stringify(e.expr).includes(`"${c.name}"`)) : undefined;
    if (hit) refuse('expressionIndex', { table: t, column: hit.name });
    const c = e.name ? t.byName.get(String(e.name)) : undefined;
    if (!c || !isEncrypted(c)) continue;
    if (c.protection.searchable) e.name = blindIndexName(c.name);
    else if (c.protection.mode !== 'deterministic') refuseConstruct({ table: t, column: c }, 'index (declare it searchable or deterministic)');
  }
  if (s.whereClause) refuse('partialIndex', { table: t });
}
