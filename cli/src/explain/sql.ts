// `clarus policy explain --sql`: which protected columns a statement touches, found with the real
// PostgreSQL parser (libpg-query). The rewriting itself is the proxy's (explain/rewrite.ts).
import type { RuntimeDataset } from '@clarus/policy/runtime/config.ts';
import { describeLeak, describeProtection } from './leaks.ts';

type Node = unknown;

interface Refs { tables: Array<{ schema?: string; name: string }>; columns: Set<string>; star: boolean }

function visit(node: Node, refs: Refs): void {
  if (Array.isArray(node)) {
    for (const n of node) visit(n, refs);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  // A RangeVar appears wrapped ({RangeVar: …}) in FROM lists but bare as InsertStmt.relation etc.
  const rv = node as { relname?: unknown; schemaname?: unknown };
  if (typeof rv.relname === 'string') refs.tables.push({ name: rv.relname, ...(typeof rv.schemaname === 'string' ? { schema: rv.schemaname } : {}) });
  for (const [key, value] of Object.entries(node)) {
    collect(key, value, refs);
    visit(value, refs);
  }
}

function collect(key: string, value: unknown, refs: Refs): void {
  const v = value as Record<string, unknown>;
  if (key === 'A_Star') refs.star = true;
  if (key === 'ColumnRef' && Array.isArray(v.fields)) {
    const last = v.fields[v.fields.length - 1] as { String?: { sval?: string } } | undefined;
    if (last?.String?.sval) refs.columns.add(last.String.sval);
  }
  if (key === 'ResTarget' && typeof v.name === 'string') refs.columns.add(v.name);
}

export interface SqlAnalysis { statements: number; rows: string[][]; tables: string[] }

export async function analyzeSql(sql: string, datasets: RuntimeDataset[], defaultBackend: string): Promise<SqlAnalysis> {
  const pg = await import('libpg-query');
  await pg.loadModule();
  const parsed = pg.parseSync(sql);
  const refs: Refs = { tables: [], columns: new Set(), star: false };
  visit(parsed.stmts, refs);
  const hit = datasets.filter((d) => refs.tables.some((t) => t.name === d.table && (t.schema ?? 'public') === d.schema));
  const rows = hit.flatMap((d) => d.columns
    .filter((c) => (refs.star || refs.columns.has(c.name)) && describeProtection(c, defaultBackend) !== 'none (stored as is)')
    .map((c) => [d.name, `${d.schema}.${d.table}.${c.name}`, describeProtection(c, defaultBackend), c.coordinates ? c.coordinates.join(' + ') : c.backend, describeLeak(c, defaultBackend)]));
  return { statements: parsed.stmts?.length ?? 0, rows, tables: refs.tables.map((t) => (t.schema ? `${t.schema}.${t.name}` : t.name)) };
}
