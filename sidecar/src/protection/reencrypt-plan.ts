// Planning of a re-encryption pass (`clarus keys reencrypt`): which tables and columns, and the
// statements that move a batch of rows to the current key versions. The pass runs THROUGH the
// proxy: it reads plaintext in row-key order and writes the same values back, so the proxy
// encrypts them (and recomputes blind indexes) with the current version. Pure: no I/O here.
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';

export interface ReencryptTarget {
  dataset: string;
  schema: string;
  table: string;
  rowKey: string;
  columns: string[];
}

export interface ReencryptState {
  version: 1;
  /** Per dataset: last row key done (text form), rows rewritten, finished. */
  datasets: Record<string, { after?: string; rows: number; finished: boolean }>;
}

export function emptyState(): ReencryptState {
  return { version: 1, datasets: {} };
}

/** Datasets with encrypted columns (optionally only the named ones); an error names a missing rowKey. */
export function reencryptTargets(policy: RuntimePolicy, only: string[] = []): ReencryptTarget[] | string {
  const out: ReencryptTarget[] = [];
  for (const d of policy.datasets) {
    if (only.length && !only.includes(d.name)) continue;
    const columns = d.columns.filter((c) => c.encrypt).map((c) => c.name);
    if (columns.length === 0) continue;
    if (!d.rowKey) return `dataset ${d.name} has encrypted columns but no rowKey: re-encryption walks rows by row key`;
    out.push({ dataset: d.name, schema: d.schema, table: d.table, rowKey: d.rowKey, columns });
  }
  const missing = only.filter((n) => !policy.datasets.some((d) => d.name === n));
  if (missing.length) return `unknown dataset ${missing.join(', ')}`;
  return out;
}

function ident(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/** One batch, locked until the transaction commits so concurrent writers are not overwritten. */
export function selectBatchSql(t: ReencryptTarget, afterKey: boolean, batch: number): string {
  const cols = [t.rowKey, ...t.columns].map(ident).join(', ');
  const where = afterKey ? ` WHERE ${ident(t.rowKey)} > $1` : '';
  return `SELECT ${cols} FROM ${ident(t.schema)}.${ident(t.table)}${where} ORDER BY ${ident(t.rowKey)} LIMIT ${Math.max(1, Math.floor(batch))} FOR UPDATE`;
}

export function updateRowSql(t: ReencryptTarget): string {
  const sets = t.columns.map((c, i) => `${ident(c)} = $${i + 2}`).join(', ');
  return `UPDATE ${ident(t.schema)}.${ident(t.table)} SET ${sets} WHERE ${ident(t.rowKey)} = $1`;
}
