// I/O: the tables and columns of a PostgreSQL database, read at import time (`clarus policy
// import --from-backend URL`) so that CLARUS name patterns (`*/geom`, `col`, `t/*`) are expanded
// against what exists. One short connection, read-only queries of pg_catalog; the proxy's own
// hidden columns (blind indexes) and its schema clarus_split (two-phase commit decisions) are left
// out, as they are never policy columns.
import pg from 'pg';
import { isHiddenName } from '@clarus/sidecar/rewrite/hidden.ts';
import type { CatalogTable } from '../import/names.ts';

const TABLES_SQL = `SELECT n.nspname AS schema, c.relname AS table, array_agg(a.attname::text ORDER BY a.attnum) AS columns
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'clarus_split'
  GROUP BY 1, 2 ORDER BY 1, 2`;

/**
 * A point split by coordinates is stored on its home backend as `<col>__srid` (and `<col>__x` when
 * X is there too; docs/splitting.md): the policy's column is `<col>`, in the SRID's place.
 */
export function logicalColumns(columns: string[]): string[] {
  const points = new Set(columns.filter((c) => c.endsWith('__srid')).map((c) => c.slice(0, -'__srid'.length)).filter((p) => p && !columns.includes(p)));
  const part = (c: string): boolean => [...points].some((p) => c === `${p}__x` || c === `${p}__y`);
  return columns.filter((c) => !part(c)).map((c) => (c.endsWith('__srid') && points.has(c.slice(0, -'__srid'.length)) ? c.slice(0, -'__srid'.length) : c));
}

export async function backendTables(url: string): Promise<CatalogTable[]> {
  const client = new pg.Client({ connectionString: url, application_name: 'clarus-import', connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    await client.query('SET default_transaction_read_only = on');
    const r = await client.query<{ schema: string; table: string; columns: string[] }>(TABLES_SQL);
    return r.rows.map((t) => ({ schema: t.schema, table: t.table, columns: logicalColumns(t.columns.filter((c) => !isHiddenName(c))) }));
  } finally {
    await client.end();
  }
}
