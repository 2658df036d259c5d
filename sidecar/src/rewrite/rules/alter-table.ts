// Rule alter-table: ALTER TABLE of a protected table.
// Postcondition: no command changes a protected column or defines something over one (GENERATED,
// CHECK, DEFAULT next to a protected column); other commands pass.
import { arr, body, nodeBody } from '../ast.ts';
import type { Json, NodeOf } from '../ast.ts';
import type { CatalogTable } from '../catalog.ts';
import type { Ctx } from '../context.ts';
import { refuse } from '../refusals.ts';

export function alterTable(ctx: Ctx, t: CatalogTable, s: Json): void {
  ctx.write = true;
  ctx.touch(t);
  for (const cmd of arr(s.cmds)) {
    const b = nodeBody(cmd, 'AlterTableCmd') as NodeOf<'AlterTableCmd'>;
    const def = body(b.def, 'ColumnDef');
    const name = String(def?.colname ?? b.name ?? '');
    const c = t.byName.get(name);
    if (c && c.protection.kind !== 'plain') refuse('alterColumn', { table: t, subtype: String(b.subtype).replace('AT_', ''), column: name });
    if (def || b.def) {
      // GENERATED … AS (zip || 'x'), CHECK (zip <> 'x'): a protected column next to values.
      const text = JSON.stringify(b.def ?? '');
      const hit = t.columns.find((x) => x.protection.kind !== 'plain' && text.includes(`"${x.name}"`));
      if (hit) refuse('alterDefinition', { table: t, column: hit.name });
    }
  }
}
