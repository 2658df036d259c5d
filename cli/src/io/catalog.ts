// I/O: the tables and columns of a PostgreSQL database, read at import time (`clarus policy
// import --from-backend URL`) so that CLARUS name patterns (`*/geom`, `col`, `t/*`) are expanded
// against what exists. One short connection, read-only queries of pg_catalog; the proxy's own
// hidden columns (blind indexes) are left out, as they are never policy columns.
import pg from 'pg';
import { isHiddenName } from '@clarus/sidecar/rewrite/hidden.ts';
import type { CatalogTable } from '../import/names.ts';

const TABLES_SQL = `SELECT n.nspname AS schema, c.relname AS table, array_agg(a.attname::text ORDER BY a.attnum) AS columns
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
  GROUP BY 1, 2 ORDER BY 1, 2`;

export async function backendTables(url: string): Promise<CatalogTable[]> {
  const client = new pg.Client({ connectionString: url, application_name: 'clarus-import', connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    await client.query('SET default_transaction_read_only = on');
    const r = await client.query<{ schema: string; table: string; columns: string[] }>(TABLES_SQL);
    return r.rows.map((t) => ({ schema: t.schema, table: t.table, columns: t.columns.filter((c) => !isHiddenName(c)) }));
  } finally {
    await client.end();
  }
}
