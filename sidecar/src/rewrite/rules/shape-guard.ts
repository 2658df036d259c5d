// Rule shape-guard: a `*` over a protected table is expanded into the columns the proxy's catalog
// lists (rules/star-expansion.ts). When DDL went through another replica, or straight to the
// backend, since the catalog was loaded, that list is out of date and the client would get a row
// shape PostgreSQL would not give. So the SELECT also checks, in the backend and before it reads a
// row, that the table's columns are still those (a one-time filter: an uncorrelated condition);
// when they are not, the statement fails with 22P02 and a message carrying STALE_MARKER, on which
// the session has the catalog loaded again (access/pipeline.ts backendError) before the next
// statement. Postcondition: a SELECT whose `*` was expanded over a loaded protected table returns
// the rows only when the backend's columns of that table (hidden blind indexes aside) are, in
// order, the ones it was expanded into.
import { parseSync } from 'libpg-query';
import type { Node, ParseResult, SelectStmt } from '@pgsql/types';
import { arr, nodeBody } from '../ast.ts';
import type { CatalogTable } from '../catalog.ts';

export const STALE_MARKER = 'clarus-stale-schema';

const lit = (s: string): string => `'${s.replace(/'/g, "''")}'`;

function guardSql(t: CatalogTable, columns: readonly string[]): string {
  const expected = `ARRAY[${columns.map(lit).join(', ')}]::text[]`;
  const message = `${STALE_MARKER}: the columns of ${t.schema}.${t.table} changed since this proxy loaded them (DDL through another proxy or straight to the backend); it loads them again: run the statement again`;
  return `CASE WHEN (SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
    WHERE a.attrelid = pg_catalog.format('%I.%I', ${lit(t.schema)}, ${lit(t.table)})::pg_catalog.regclass AND a.attnum > 0 AND NOT a.attisdropped
    AND right(a.attname, 6) <> '__bidx') IS NOT DISTINCT FROM ${expected} THEN true ELSE (SELECT ${lit(message)}::text)::boolean END`;
}

function exprOf(sql: string): Node {
  const tree = parseSync(`SELECT ${sql}`) as ParseResult;
  return nodeBody(arr(nodeBody(arr(tree.stmts)[0]?.stmt, 'SelectStmt')?.targetList)[0], 'ResTarget')?.val as Node;
}

/** ANDs the shape check of each expanded table into the SELECT's WHERE clause (after its analysis). */
export function guardShape(s: SelectStmt, expanded: ReadonlyArray<{ table: CatalogTable; columns: string[] }>): void {
  const seen = new Set<string>();
  const guards = expanded.filter((e) => {
    const key = `${e.table.schema}.${e.table.table}`;
    return !seen.has(key) && seen.add(key);
  }).map((e) => exprOf(guardSql(e.table, e.columns)));
  if (!guards.length) return;
  const all = s.whereClause ? [s.whereClause, ...guards] : guards;
  s.whereClause = all.length === 1 ? all[0] : { BoolExpr: { boolop: 'AND_EXPR', args: all, location: -1 } };
}
