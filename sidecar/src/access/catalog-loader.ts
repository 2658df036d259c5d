// Loads the declared column lists and types of protected tables from the backend catalog, so a
// proxy replica that did not see the CREATE TABLE (or restarted) restores the client-facing types.
// The rewriter records the declared type of each encrypted column in the name of a CHECK
// constraint `clarus:<type oid>[.<typmod>]:<column>` (see rewrite/rules/create-table.ts); plain columns keep their own type.
// I/O shell: one short-lived backend connection with the proxy's own credentials per load.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RuntimeConfig } from '@clarus/policy/runtime/config.ts';
import type { BackendSecrets } from '../config/load.ts';
import { connectBackend } from '../io/backend.ts';
import { decodeBackend } from '../protocol/backend.ts';
import { Framer, NEXT_ERROR, NEXT_NONE } from '../protocol/framer.ts';
import { encodeFrontend } from '../protocol/frontend.ts';
import type { CatalogTable, DeclaredColumn, RemoteObject } from '../rewrite/catalog.ts';
import { isHiddenName, visibleName } from '../rewrite/hidden.ts';
import { VIEW_MARKER, viewFromRow } from '../rewrite/views.ts';
import type { ProxyView } from '../rewrite/views.ts';

/**
 * Columns as the backend declares them. `defaulted`: a DEFAULT or GENERATED expression;
 * `domain`: a domain type (which may carry a default). Either would let the backend store a
 * value the proxy never saw: on a protected column the table is refused (see Catalog.learn).
 */
export type DeclaredColumns = DeclaredColumn[];
export type CatalogLoader = (tables: readonly CatalogTable[]) => Promise<Map<string, DeclaredColumns>>;

/** One catalog row names one column: a generous bound that still stops a runaway length. */
const MAX_CATALOG_MESSAGE = 1 << 24;

function quote(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

export function catalogQuery(tables: readonly CatalogTable[]): string {
  const keys = tables.map((t) => `(${quote(t.schema)}, ${quote(t.table)})`).join(', ');
  return `SELECT n.nspname, c.relname, a.attname, a.atttypid::int, coalesce((SELECT split_part(con.conname, ':', 2) FROM pg_catalog.pg_constraint con
    WHERE con.conrelid = c.oid AND con.conname = 'clarus:' || split_part(con.conname, ':', 2) || ':' || a.attname LIMIT 1), ''),
    (a.atthasdef OR a.attgenerated <> '')::text, (ty.typtype = 'd')::text,
    CASE WHEN a.attgenerated = '' THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) END, a.attnotnull::text, a.atttypmod::text
  FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
  WHERE a.attnum > 0 AND NOT a.attisdropped AND (n.nspname, c.relname) IN (${keys}) ORDER BY 1, 2, a.attnum`;
}

/**
 * Rows of catalogQuery → declared columns per `schema.table` (hidden blind indexes dropped).
 * `storedTypmod`: a column without a type record keeps its own modifier (`varchar(20)`), as the
 * logical catalog shows a split table's other fragments (the rewriter's columns do not need it).
 */
export function declaredFromRows(rows: string[][], opts: { storedTypmod?: boolean } = {}): Map<string, DeclaredColumns> {
  const out = new Map<string, DeclaredColumns>();
  for (const row of rows) {
    const [schema, table, name] = row;
    if (!name || isHiddenName(name)) continue;
    const key = `${schema}.${table}`;
    const list = out.get(key) ?? [];
    list.push(columnFromRow(name, row, opts.storedTypmod === true));
    out.set(key, list);
  }
  return out;
}

/** One catalogQuery row as a declared column named `name`. */
function columnFromRow(name: string, row: string[], storedTypmod: boolean): DeclaredColumn {
  const [, , , oid, declared, defaulted, domain, defaultExpr, notNull, attTypmod] = row;
  const own = storedTypmod && !declared ? ownTypmod(attTypmod) : '';
  const [recorded, typmod] = (declared || own).split('.');
  return { name, typeOid: Number(recorded || oid) || 25, ...(typmod ? { typmod: Number(typmod) } : {}), ...columnFlags({ defaulted, domain, defaultExpr, notNull }) };
}

/** The column's own modifier as a type record's `.typmod` suffix ('' when it has none). */
function ownTypmod(attTypmod: string | undefined): string {
  return attTypmod && attTypmod !== '-1' ? `.${attTypmod}` : '';
}

function columnFlags(f: { defaulted?: string; domain?: string; defaultExpr?: string; notNull?: string }): Partial<DeclaredColumn> {
  return { ...(f.defaulted === 'true' ? { defaulted: true } : {}), ...(f.domain === 'true' ? { domain: true } : {}), ...(f.defaultExpr ? { defaultExpr: f.defaultExpr } : {}), ...(f.notNull === 'true' ? { notNull: true } : {}) };
}

/** Names of a relation's columns for an int2[] of attribute numbers (0, an expression: ''), as a JSON array. */
const keyNames = (relid: string, keys: string): string => `coalesce((SELECT pg_catalog.json_agg(coalesce(a.attname::text, '') ORDER BY x.i)
    FROM unnest(${keys}) WITH ORDINALITY x(n, i) LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = ${relid} AND a.attnum = x.n), '[]')::text`;

/** The [schema, name] of each object id of an oid[] in `catalog` (columns `<p>name`, `<p>namespace`; null for 0), as a JSON array. */
const namesOf = (oids: string, catalog: string, p: string): string => `coalesce((SELECT pg_catalog.json_agg(CASE WHEN o.oid IS NULL THEN NULL ELSE pg_catalog.json_build_array(n.nspname, o.${p}name) END ORDER BY x.i)
    FROM unnest(${oids}) WITH ORDINALITY x(id, i) LEFT JOIN ${catalog} o ON o.oid = x.id LEFT JOIN pg_catalog.pg_namespace n ON n.oid = o.${p}namespace), '[]')::text`;

/**
 * A split table's indexes (and the UNIQUE constraints they back) and CHECK constraints on one of
 * its other backends (issue 12), the primary key (the row key's) and the proxy's `clarus:` type
 * records left out; an index backing another kind of constraint (exclusion) too. One row each:
 * schema, table, kind, name, unique, plain (btree over columns only), definition (and pretty-printed),
 * key column names (JSON, INCLUDE columns too), constraint name and definition (and pretty-printed),
 * and of an index its access method, key column count, operator classes and collations (by name:
 * their object ids are the other backend's) and options.
 */
export function objectsQuery(tables: readonly CatalogTable[]): string {
  const keys = tables.map((t) => `(${quote(t.schema)}, ${quote(t.table)})`).join(', ');
  return `SELECT n.nspname, c.relname, 'index', ic.relname, i.indisunique::text,
    (i.indexprs IS NULL AND i.indpred IS NULL AND am.amname = 'btree' AND i.indnatts = i.indnkeyatts)::text, pg_catalog.pg_get_indexdef(i.indexrelid),
    pg_catalog.pg_get_indexdef(i.indexrelid, 0, true), ${keyNames('i.indrelid', 'i.indkey::int2[]')}, coalesce(k.conname::text, ''),
    coalesce(pg_catalog.pg_get_constraintdef(k.oid), ''), coalesce(pg_catalog.pg_get_constraintdef(k.oid, true), ''),
    am.amname::text, i.indnkeyatts::text, ${namesOf('i.indclass::pg_catalog.oid[]', 'pg_catalog.pg_opclass', 'opc')}, ${namesOf('i.indcollation::pg_catalog.oid[]', 'pg_catalog.pg_collation', 'coll')},
    i.indoption::text
  FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid JOIN pg_catalog.pg_am am ON am.oid = ic.relam
  LEFT JOIN pg_catalog.pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = i.indrelid AND k.contype = 'u'
  WHERE NOT i.indisprimary AND (n.nspname, c.relname) IN (${keys})
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint e WHERE e.conindid = i.indexrelid AND e.conrelid = i.indrelid AND e.contype <> 'u')
  UNION ALL SELECT n.nspname, c.relname, 'check', k.conname, 'false', 'false', pg_catalog.pg_get_constraintdef(k.oid), pg_catalog.pg_get_constraintdef(k.oid, true),
    ${keyNames('k.conrelid', 'k.conkey')}, '', '', '', '', '', '', '', ''
  FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class c ON c.oid = k.conrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE k.contype = 'c' AND k.conname NOT LIKE 'clarus:%' AND (n.nspname, c.relname) IN (${keys})
  ORDER BY 1, 2, 3 DESC, 4`;
}

/** One objectsQuery row as an object. */
function objectFromRow(row: string[]): RemoteObject {
  const [, , kind, name = '', unique, plain, definition = '', pretty = '', columns = '[]', conName, conDef = '', conPretty = ''] = row;
  const names = (JSON.parse(columns) as string[]).map((c) => (isHiddenName(c) ? visibleName(c) : c));
  return { kind: kind === 'check' ? 'check' : 'index', name, columns: names, unique: unique === 'true', plain: plain === 'true', definition, pretty,
    ...(conName ? { constraint: { name: conName, definition: conDef, pretty: conPretty } } : {}), ...indexFromRow(row) };
}

/** An index row's pg_index fields (objectsQuery's last five columns), when it is one and has them. */
function indexFromRow(row: string[]): Pick<RemoteObject, 'index'> {
  const [am, keys, classes, collations, options] = row.slice(12);
  return row[2] === 'index' && am && classes && collations ? { index: { am, keys: Number(keys), classes, collations, options: options ?? '' } } : {};
}

/** Rows of objectsQuery → the objects per `schema.table` (a blind index's name as its column's). */
export function objectsFromRows(rows: string[][]): Map<string, RemoteObject[]> {
  const out = new Map<string, RemoteObject[]>();
  for (const row of rows) {
    const key = `${row[0]}.${row[1]}`;
    const object = objectFromRow(row);
    out.set(key, [...(out.get(key) ?? []), object]);
  }
  return out;
}

/**
 * The views over protected tables the proxy keeps (rewrite/views.ts): every view whose text carries
 * the marker constant, with its columns as the backend has them now (after any ALTER VIEW … RENAME).
 */
export const VIEWS_QUERY = `SELECT n.nspname, c.relname, (SELECT pg_catalog.json_agg(a.attname ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)::text, substring(pg_catalog.pg_get_viewdef(c.oid) from '${VIEW_MARKER}([0-9a-f]+)'),
    (SELECT pg_catalog.md5(r.ev_action::text) FROM pg_catalog.pg_rewrite r WHERE r.ev_class = c.oid AND r.rulename = '_RETURN')
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'v' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND pg_catalog.pg_get_viewdef(c.oid) LIKE '%${VIEW_MARKER}%'
  ORDER BY 1, 2`;

/** Rows of VIEWS_QUERY → views (a marker that does not decode is no view of the proxy's: reading it fails at the backend). */
export function viewsFromRows(rows: string[][]): ProxyView[] {
  return rows.map(([schema = '', name = '', columns = '', hex = '', digest]) => viewFromRow({ schema, name, columns, hex, ...(digest ? { digest } : {}) })).filter((v): v is ProxyView => v !== null);
}

export type ViewLoader = () => Promise<ProxyView[]>;

export function backendViewLoader(configDir: string, config: RuntimeConfig): ViewLoader | undefined {
  const b = backendSecrets(configDir, config);
  if (!b) return undefined;
  return async () => viewsFromRows(await simpleQuery(b, VIEWS_QUERY, config.limits.connectTimeoutSeconds * 1000));
}

/**
 * One simple Query on a short-lived connection with the proxy's credentials. `sql` may depend on
 * what the server reported at startup (ParameterStatus: server_version…).
 */
export async function simpleQuery(b: BackendSecrets, sql: string | ((server: ReadonlyMap<string, string>) => string), timeoutMs: number): Promise<string[][]> {
  const conn = await connectBackend(b, { application_name: 'clarus-catalog' }, timeoutMs);
  const text = typeof sql === 'string' ? sql : sql(conn.parameters);
  const rows: string[][] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const framer = new Framer(MAX_CATALOG_MESSAGE);
      const onData = (chunk: Buffer): void => {
        framer.push(chunk);
        for (let r = framer.next(); r !== NEXT_NONE; r = framer.next()) {
          if (r === NEXT_ERROR) return reject(framer.error);
          const d = decodeBackend(framer.tag, framer.buf, framer.start, framer.end);
          if (!d.ok) return reject(d.error);
          if (d.msg.type === 'DataRow') rows.push(d.msg.values.map((v) => (v === null ? '' : Buffer.from(v).toString('utf8'))));
          if (d.msg.type === 'ErrorResponse') return reject(new Error(d.msg.fields.M ?? 'catalog query failed'));
          if (d.msg.type === 'ReadyForQuery') return resolve();
        }
      };
      onData(conn.rest);
      conn.socket.on('data', onData);
      conn.socket.once('error', reject);
      conn.socket.once('close', () => reject(new Error('backend closed the catalog connection')));
      conn.socket.write(encodeFrontend({ type: 'Query', sql: text }).finish());
    });
  } finally {
    conn.socket.end(encodeFrontend({ type: 'Terminate' }).finish());
  }
  return rows;
}

export function backendSecrets(configDir: string, config: RuntimeConfig): BackendSecrets | undefined {
  const spec = config.backends.find((b) => b.name === config.policy.defaultBackend) ?? config.backends[0];
  if (!spec) return undefined;
  const read = (f: string) => readFileSync(join(configDir, f), 'utf8').replace(/\r?\n$/, '');
  return { spec, username: read(spec.usernameFile), password: read(spec.passwordFile), ...(spec.tls.caFile ? { caPem: read(spec.tls.caFile) } : {}) };
}

export function backendCatalogLoader(configDir: string, config: RuntimeConfig): CatalogLoader | undefined {
  const b = backendSecrets(configDir, config);
  if (!b) return undefined;
  return async (tables) => declaredFromRows(await simpleQuery(b, catalogQuery(tables), config.limits.connectTimeoutSeconds * 1000));
}
