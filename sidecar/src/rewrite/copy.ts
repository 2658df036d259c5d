// COPY of protected tables. Only the text format is streamed through encryption/decryption
// (CSV and binary are refused); server-side files and programs are refused because their data
// would bypass the proxy.
import { arr, body, sval, stringNode } from './ast.ts';
import type { Json } from './ast.ts';
import { BIDX_SUFFIX, isEncrypted } from './catalog.ts';
import type { CatalogColumn, CatalogTable } from './catalog.ts';
import type { Ctx } from './context.ts';
import { Refusal } from './context.ts';
import { analyzeSelect } from './select.ts';
import { tableColumns } from './scope.ts';
import type { OutCol } from './scope.ts';

export type CopyPlan =
  | { direction: 'in'; table: CatalogTable; columns: CatalogColumn[] }
  | { direction: 'out'; outputs: OutCol[] };

function format(s: Json): string {
  for (const o of arr(s.options)) {
    const d = body(o, 'DefElem');
    if (d?.defname === 'format') return String(sval(d.arg) ?? 'text').toLowerCase();
    if (d?.defname === 'binary') return 'binary';
    if (d?.defname === 'csv') return 'csv';
  }
  return 'text';
}

/** Returns the plan when the COPY touches protected data, else null (plain COPY passes). */
export function analyzeCopy(ctx: Ctx, s: Json): CopyPlan | null {
  const q = body(s.query, 'SelectStmt');
  const rv = s.relation as Json | undefined;
  const table = rv ? ctx.catalog.lookup(rv.schemaname as string | undefined, String(rv.relname)) : undefined;
  const outputs = q ? analyzeSelect(ctx, q, undefined, true) : [];
  if (!table && !outputs.some((o) => o.prov)) {
    if (ctx.touched.size > 0) return { direction: 'out', outputs };
    return null;
  }
  if (s.filename || s.is_program) throw new Refusal('0A000', 'clarus: COPY to or from a server file or program is not supported for protected tables; use STDIN/STDOUT');
  const fmt = format(s);
  if (fmt !== 'text') throw new Refusal('0A000', `clarus: COPY in ${fmt} format is not supported for protected tables; use the text format`);
  if (q) {
    if (outputs.some((o) => o.star)) throw new Refusal('0A000', 'clarus: COPY (SELECT *) over an unknown relation next to encrypted columns is not supported; list the columns');
    return { direction: 'out', outputs };
  }
  const t = table as CatalogTable;
  ctx.touch(t);
  const names = arr(s.attlist).map((a) => sval(a) ?? '');
  const columns = names.length ? names.map((n) => t.byName.get(n) ?? { name: n, protection: { kind: 'plain' as const }, typeOid: 25 }) : t.columns;
  for (const c of columns) ctx.touch(t, c.name);
  if (s.whereClause) throw new Refusal('0A000', `clarus: COPY … WHERE on protected table ${t.table} is not supported`);
  if (s.is_from) {
    ctx.write = true;
    const bidx = columns.filter((c) => isEncrypted(c) && c.protection.searchable).map((c) => c.name + BIDX_SUFFIX);
    s.attlist = [...columns.map((c) => c.name), ...bidx].map(stringNode);
    return { direction: 'in', table: t, columns };
  }
  s.attlist = columns.map((c) => stringNode(c.name));
  const all = tableColumns(t);
  return { direction: 'out', outputs: columns.map((c) => all.find((o) => o.name === c.name) ?? { name: c.name, prov: null }) };
}
