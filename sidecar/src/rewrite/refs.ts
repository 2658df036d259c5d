// Every protected table a statement names anywhere in its tree (RangeVar nodes and the name lists
// of DROP and similar statements): the conservative net for statement kinds no rule handles.
import { body } from './ast.ts';
import type { Catalog } from './catalog.ts';

export function referencedTables(catalog: Catalog, node: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(node)) {
    for (const n of node) referencedTables(catalog, n, found);
    return found;
  }
  if (!node || typeof node !== 'object') return found;
  // RangeVars appear tagged in lists but untagged as `relation` fields (INSERT/UPDATE/DELETE/MERGE/COPY…).
  const plain = node as Record<string, unknown>;
  const rv = body(node, 'RangeVar') ?? (typeof plain.relname === 'string' ? plain : null);
  if (rv) {
    const t = catalog.lookup(rv.schemaname as string | undefined, String(rv.relname));
    if (t) found.add(`${t.schema}.${t.table}`);
  }
  const list = body(node, 'List');
  if (list) {
    const names = (list.items as unknown[] | undefined ?? []).map((i) => body(i, 'String')?.sval).filter((x): x is string => typeof x === 'string');
    const t = names.length === 1 ? catalog.lookup(undefined, names[0] as string) : names.length === 2 ? catalog.lookup(names[0], names[1] as string) : undefined;
    if (t) found.add(`${t.schema}.${t.table}`);
  }
  for (const v of Object.values(node)) referencedTables(catalog, v, found);
  return found;
}
