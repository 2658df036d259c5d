// Catalog introspection through the proxy shows the logical schema (issue 11, item 5). The backend
// stores an encrypted column as bytea, next to a hidden blind index `<col>__bidx` and a `clarus:`
// type-record constraint; ORMs that read the catalog (psql \d, SQLAlchemy's inspector and Alembic
// autogenerate, Django introspection, TypeORM synchronize) would propose changes to all of it.
// A statement that reads one of the catalog relations below has each such relation replaced by a
// subquery of the same row type (jsonb_populate_record over the real row, so every column keeps its
// name, order and type on any server version) that, on the tables with encrypted columns:
//   - shows an encrypted column's declared type (from its type record) instead of bytea,
//   - leaves out the hidden blind-index columns and the `clarus:` constraints,
//   - shows keys and indexes built on a blind index as being on the column it belongs to,
//   - shows no default on an encrypted column (pg_attrdef, atthasdef, column_default: the stored
//     default is ciphertext) and no statistics of encrypted or hidden columns (pg_stats, pg_statistic).
// pg_get_indexdef / pg_get_constraintdef of such a table's objects show the column names too.
// The type records live in the backend, so what is shown follows DDL made through any replica.
// The rows of protected tables come in attribute order (what ORMs that read without ORDER BY, such
// as Sequelize's describeTable, get from PostgreSQL's own plans).
// Pure: the subqueries are parsed from SQL text built from the policy's table list.
import { parseSync } from 'libpg-query';
import { arr, body, colRefNames, isObj, sval } from './ast.ts';
import type { Json } from './ast.ts';
import { isEncrypted } from './catalog.ts';
import type { Catalog, CatalogTable } from './catalog.ts';
import { VIEW_MARKER } from './views.ts';
import { classView, definitionBranch, notNullBranches, objectBranches, objectValues, visibleBranch } from './logical-catalog-split.ts';

const quote = (s: string): string => `'${s.replace(/'/g, "''")}'`;

/** Relations shown logically, by `schema.name`; unqualified pg_catalog names resolve there first. */
type Views = Map<string, Json>;

/** The SQL pieces every view shares, for one policy's tables with encrypted columns. */
function pieces(tables: ReadonlyArray<{ schema: string; table: string }>): { pairs: string; rel: string } {
  const pairs = `(VALUES ${tables.map((t) => `(${quote(t.schema)}, ${quote(t.table)})`).join(', ')})`;
  const rel = `SELECT pc.oid FROM pg_catalog.pg_class pc JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace WHERE (pn.nspname::text, pc.relname::text) IN ${pairs}`;
  return { pairs, rel };
}

/** The type record (`<oid>[.<typmod>]`) of column `att` of relation `relid`, or NULL. */
const declared = (relid: string, att: string): string =>
  `(SELECT split_part(k.conname, ':', 2) FROM pg_catalog.pg_constraint k WHERE k.conrelid = ${relid} AND k.contype = 'c'
    AND k.conname = 'clarus:' || split_part(k.conname, ':', 2) || ':' || ${att} LIMIT 1)`;
const recOid = (d: string): string => `split_part(${d}, '.', 1)::pg_catalog.oid`;
const recMod = (d: string): string => `coalesce(nullif(split_part(${d}, '.', 2), '')::int4, -1)`;

/** Attribute numbers with each blind index's replaced by its column's (an int2[] expression). */
function mapKeys(rel: string, relid: string, keys: string): string {
  return `CASE WHEN ${keys} IS NULL THEN NULL ELSE ARRAY(SELECT coalesce((SELECT l.attnum FROM pg_catalog.pg_attribute h
    JOIN pg_catalog.pg_attribute l ON l.attrelid = h.attrelid AND l.attname = left(h.attname, -6)
    WHERE h.attrelid = ${relid} AND h.attnum = x.n AND right(h.attname, 6) = '__bidx' AND ${relid} IN (${rel})), x.n)
    FROM unnest(${keys}) WITH ORDINALITY x(n, i) ORDER BY x.i) END`;
}

/** information_schema.columns' type fields of type oid `o` with modifier `m` (a jsonb object). */
function columnType(o: string, m: string): string {
  return `pg_catalog.jsonb_build_object(
      'data_type', pg_catalog.format_type(${o}, NULL), 'udt_schema', 'pg_catalog', 'udt_name', (SELECT ty.typname FROM pg_catalog.pg_type ty WHERE ty.oid = ${o}),
      'character_maximum_length', information_schema._pg_char_max_length(${o}, ${m}), 'character_octet_length', information_schema._pg_char_octet_length(${o}, ${m}),
      'numeric_precision', information_schema._pg_numeric_precision(${o}, ${m}), 'numeric_precision_radix', information_schema._pg_numeric_precision_radix(${o}, ${m}),
      'numeric_scale', information_schema._pg_numeric_scale(${o}, ${m}), 'datetime_precision', information_schema._pg_datetime_precision(${o}, ${m}),
      'interval_type', information_schema._pg_interval_type(${o}, ${m}))`;
}

/** The SELECT a view of the proxy's keeps, decoded from its stand-in's text `def` (rewrite/views.ts). */
function keptDefinition(def: string): string {
  return `(pg_catalog.convert_from(pg_catalog.decode(substring(${def} from '${VIEW_MARKER}([0-9a-f]+)'), 'hex'), 'UTF8')::jsonb ->> 'query')`;
}

/**
 * Split tables (issue 12): the columns stored on other backends, as rows `v(s, t, k, name, n, o,
 * m, nn)` (schema, table, row key, column, position among them, declared type and modifier, NOT
 * NULL). They are shown after the home fragment's columns, with attribute numbers after its last
 * one, as rows made from the row key's own row (the key is on the home fragment).
 */
function remoteValues(tables: readonly CatalogTable[]): string | null {
  const rows: string[] = [];
  for (const t of tables) {
    for (const [i, c] of (t.remote ?? []).entries()) {
      rows.push(`(${quote(t.schema)}, ${quote(t.table)}, ${quote(t.rowKey ?? '')}, ${quote(c.name)}, ${i + 1}, ${c.typeOid}::pg_catalog.oid, ${c.typmod ?? -1}, ${c.notNull})`);
    }
  }
  return rows.length ? `(VALUES ${rows.join(', ')}) v(s, t, k, name, n, o, m, nn)` : null;
}

const remoteRel = "pg_catalog.to_regclass(pg_catalog.format('%I.%I', v.s, v.t))";
const lastAttnum = `(SELECT max(x.attnum) FROM pg_catalog.pg_attribute x WHERE x.attrelid = ${remoteRel})`;

function remoteAttributes(values: string): string {
  return `SELECT r.* FROM ${values} JOIN pg_catalog.pg_attribute a ON a.attrelid = ${remoteRel} AND a.attname = v.k
    JOIN pg_catalog.pg_type ty ON ty.oid = v.o CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(a, pg_catalog.jsonb_build_object(
      'attname', v.name, 'attnum', ${lastAttnum} + v.n, 'atttypid', v.o, 'atttypmod', v.m, 'attlen', ty.typlen, 'attbyval', ty.typbyval,
      'attalign', ty.typalign, 'attstorage', ty.typstorage, 'attcollation', ty.typcollation, 'attnotnull', v.nn, 'atthasdef', false,
      'atthasmissing', false, 'attidentity', '', 'attgenerated', '', 'attisdropped', false, 'attndims', 0)) r`;
}

function remoteColumns(values: string): string {
  return `SELECT r.* FROM ${values} JOIN information_schema.columns c ON c.table_schema::text = v.s AND c.table_name::text = v.t AND c.column_name::text = v.k
    CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(c, ${columnType('v.o', 'v.m')} || pg_catalog.jsonb_build_object('column_name', v.name,
      'ordinal_position', ${lastAttnum} + v.n, 'dtd_identifier', (${lastAttnum} + v.n)::text, 'column_default', NULL, 'is_nullable', CASE WHEN v.nn THEN 'NO' ELSE 'YES' END,
      'is_identity', 'NO', 'identity_generation', NULL, 'is_generated', 'NEVER', 'generation_expression', NULL, 'collation_name', NULL)) r`;
}

/** Each view with the UNION ALL branches of `more` added. */
function withBranches(views: Record<string, string>, more: Record<string, string>): Record<string, string> {
  const out = { ...views };
  for (const [key, branch] of Object.entries(more)) out[key] = `${views[key] as string} UNION ALL ${branch}`;
  return out;
}

/** The views with what split tables have on other backends: NOT NULL of their columns there (`remote`), their indexes and constraints there (`objects`). */
function withSplit(views: Record<string, string>, remote: string | null, objects: string | null): Record<string, string> {
  const out = remote ? withBranches(views, notNullBranches(remote)) : views;
  return objects ? { ...withBranches(out, objectBranches(objects)), 'pg_catalog.pg_class': classView(objects) } : out;
}

function viewSql(rel: string, pairs: string, remote: string | null): Record<string, string> {
  const d = 't.d';
  const attr = `SELECT a.* FROM pg_catalog.pg_attribute a WHERE a.attrelid NOT IN (${rel})
    UNION ALL (SELECT u.* FROM (SELECT r.* FROM pg_catalog.pg_attribute a CROSS JOIN LATERAL (SELECT ${declared('a.attrelid', 'a.attname')} AS d) t
    CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(a, coalesce((SELECT pg_catalog.jsonb_build_object('atttypid', ty.oid, 'atttypmod', ${recMod(d)},
      'attlen', ty.typlen, 'attbyval', ty.typbyval, 'attalign', ty.typalign, 'attstorage', ty.typstorage, 'attcollation', ty.typcollation, 'atthasdef', false)
      FROM pg_catalog.pg_type ty WHERE ty.oid = ${recOid(d)}), '{}'::jsonb)) r
    WHERE a.attrelid IN (${rel}) AND right(a.attname, 6) <> '__bidx'${remote ? ` UNION ALL ${remoteAttributes(remote)}` : ''}) u ORDER BY u.attrelid, u.attnum)`;
  const con = `SELECT k.* FROM pg_catalog.pg_constraint k WHERE k.conrelid NOT IN (${rel}) AND k.confrelid NOT IN (${rel})
    UNION ALL SELECT r.* FROM pg_catalog.pg_constraint k CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(k,
      pg_catalog.jsonb_build_object('conkey', ${mapKeys(rel, 'k.conrelid', 'k.conkey')}, 'confkey', ${mapKeys(rel, 'k.confrelid', 'k.confkey')})) r
    WHERE (k.conrelid IN (${rel}) OR k.confrelid IN (${rel})) AND NOT (k.conrelid IN (${rel}) AND k.conname LIKE 'clarus:%')`;
  const index = `SELECT i.* FROM pg_catalog.pg_index i WHERE i.indrelid NOT IN (${rel})
    UNION ALL SELECT r.* FROM pg_catalog.pg_index i CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(i,
      pg_catalog.jsonb_build_object('indkey', array_to_string(${mapKeys(rel, 'i.indrelid', 'i.indkey::int2[]')}, ' '))) r WHERE i.indrelid IN (${rel})`;
  const indexes = `SELECT x.schemaname, x.tablename, x.indexname, x.tablespace, CASE WHEN (x.schemaname::text, x.tablename::text) IN ${pairs}
    THEN regexp_replace(x.indexdef, '__bidx\\M', '', 'g') ELSE x.indexdef END AS indexdef FROM pg_catalog.pg_indexes x`;
  const isRel = `to_regclass(format('%I.%I', c.table_schema, c.table_name))`;
  const columns = `SELECT c.* FROM information_schema.columns c WHERE (c.table_schema::text, c.table_name::text) NOT IN ${pairs}
    UNION ALL (SELECT w.* FROM (SELECT r.* FROM information_schema.columns c CROSS JOIN LATERAL (SELECT ${declared(isRel, 'c.column_name::text')} AS d) t
    CROSS JOIN LATERAL (SELECT ${recOid(d)} AS o, ${recMod(d)} AS m) u
    CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(c, CASE WHEN t.d IS NULL THEN '{}'::jsonb
      ELSE ${columnType('u.o', 'u.m')} || pg_catalog.jsonb_build_object('column_default', NULL) END) r
    WHERE (c.table_schema::text, c.table_name::text) IN ${pairs} AND right(c.column_name::text, 6) <> '__bidx'${remote ? ` UNION ALL ${remoteColumns(remote)}` : ''}) w
    ORDER BY w.table_schema, w.table_name, w.ordinal_position)`;
  const hiddenCon = (v: string): string => `SELECT x.* FROM information_schema.${v} x WHERE NOT (x.constraint_name::text LIKE 'clarus:%'
    AND EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conname = x.constraint_name::text AND k.conrelid IN (${rel})))`;
  const usage = (v: string): string => `SELECT x.* FROM information_schema.${v} x WHERE (x.table_schema::text, x.table_name::text) NOT IN ${pairs}
    UNION ALL SELECT r.* FROM information_schema.${v} x CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(x,
      CASE WHEN right(x.column_name::text, 6) = '__bidx' THEN pg_catalog.jsonb_build_object('column_name', left(x.column_name::text, -6)) ELSE '{}'::jsonb END) r
    WHERE (x.table_schema::text, x.table_name::text) IN ${pairs} AND x.constraint_name::text NOT LIKE 'clarus:%'`;
  // A default of an encrypted column is ciphertext (and its blind index's a keyed hash): neither is shown.
  const attrdef = `SELECT ad.* FROM pg_catalog.pg_attrdef ad WHERE ad.adrelid NOT IN (${rel})
    UNION ALL SELECT ad.* FROM pg_catalog.pg_attrdef ad JOIN pg_catalog.pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
    WHERE ad.adrelid IN (${rel}) AND right(a.attname, 6) <> '__bidx' AND ${declared('ad.adrelid', 'a.attname::text')} IS NULL`;
  // Statistics of encrypted and hidden columns sample the stored values (most_common_vals, histogram_bounds): left out.
  const stats = `SELECT s.* FROM pg_catalog.pg_stats s WHERE (s.schemaname::text, s.tablename::text) NOT IN ${pairs}
    OR (right(s.attname::text, 6) <> '__bidx' AND ${declared(`to_regclass(format('%I.%I', s.schemaname, s.tablename))`, 's.attname::text')} IS NULL)`;
  const statistic = `SELECT s.* FROM pg_catalog.pg_statistic s WHERE s.starelid NOT IN (${rel})`;
  // A view over protected tables is a stand-in on the backend (rewrite/views.ts): its definition is the SELECT the proxy keeps.
  const kept = keptDefinition;
  const pgViews = `SELECT x.schemaname, x.viewname, x.viewowner, CASE WHEN x.definition LIKE '%${VIEW_MARKER}%' THEN ${kept('x.definition')} ELSE x.definition END AS definition
    FROM pg_catalog.pg_views x`;
  const isViews = `SELECT r.* FROM information_schema.views x CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(x, CASE WHEN x.view_definition::text LIKE '%${VIEW_MARKER}%'
    THEN pg_catalog.jsonb_build_object('view_definition', ${kept('x.view_definition::text')}) ELSE '{}'::jsonb END) r`;
  return {
    'pg_catalog.pg_views': pgViews, 'information_schema.views': isViews,
    'pg_catalog.pg_attrdef': attrdef, 'pg_catalog.pg_stats': stats, 'pg_catalog.pg_statistic': statistic,
    'pg_catalog.pg_attribute': attr, 'pg_catalog.pg_constraint': con, 'pg_catalog.pg_index': index, 'pg_catalog.pg_indexes': indexes,
    'information_schema.columns': columns, 'information_schema.table_constraints': hiddenCon('table_constraints'),
    'information_schema.check_constraints': hiddenCon('check_constraints'), 'information_schema.key_column_usage': usage('key_column_usage'),
    'information_schema.constraint_column_usage': usage('constraint_column_usage'),
  };
}

/** Functions whose text names a protected table's stored columns, and the catalog that says which objects are its. */
const DEF_FUNCTIONS: Record<string, string> = {
  pg_get_indexdef: 'SELECT ix.indexrelid FROM pg_catalog.pg_index ix WHERE ix.indrelid IN',
  pg_get_constraintdef: 'SELECT kx.oid FROM pg_catalog.pg_constraint kx WHERE kx.conrelid IN',
};

function selectOf(sql: string): Json {
  const tree = parseSync(sql) as { stmts: Array<{ stmt: Json }> };
  return tree.stmts[0]?.stmt as Json;
}

function exprOf(sql: string): Json {
  const tree = parseSync(`SELECT ${sql}`) as { stmts: Array<{ stmt: Json }> };
  return body(arr(body(tree.stmts[0]?.stmt, 'SelectStmt')?.targetList)[0], 'ResTarget')?.val as Json;
}

/** What the catalog views of one policy are built from (parsed once per catalog). */
export interface LogicalCatalog {
  views: Views;
  /** `regexp_replace` of a definition function's call, for the objects of protected tables. */
  defCall(fn: string, call: Json, arg: unknown): Json;
}

/** Built once per catalog, and again when the split tables' remote columns change (`sig`). */
const built = new WeakMap<Catalog, { sig: string; lc: LogicalCatalog | null }>();

export function logicalCatalogOf(catalog: Catalog): LogicalCatalog | null {
  const tables = catalog.all().filter((t) => t.policyColumns.some(isEncrypted) || (t.remote?.length ?? 0) > 0);
  const sig = JSON.stringify(tables.map((t) => [t.remote ?? [], t.remoteObjects ?? []]));
  const known = built.get(catalog);
  if (known?.sig === sig) return known.lc;
  let out: LogicalCatalog | null = null;
  if (tables.length) {
    const { pairs, rel } = pieces(tables);
    const objects = objectValues(tables);
    const remote = remoteValues(tables);
    const views: Views = new Map(Object.entries(withSplit(viewSql(rel, pairs, remote), remote, objects)).map(([k, v]) => [k, selectOf(v)]));
    const templates = new Map(Object.entries(DEF_FUNCTIONS).flatMap(([f, known]) => [false, true].map((pretty) => [`${f}${pretty ? PRETTY : ''}`,
      JSON.stringify(exprOf(`CASE ${definitionBranch(objects, f, pretty)} WHEN clarus__arg IN (${known} (${rel})) THEN regexp_replace(clarus__call, '__bidx\\M', '', 'g') ELSE clarus__call END`))])));
    // pg_get_viewdef (psql \d+) of a view of the proxy's: the SELECT it keeps, not its stand-in.
    templates.set(VIEWDEF, JSON.stringify(exprOf(`CASE WHEN clarus__call LIKE '%${VIEW_MARKER}%' THEN ${keptDefinition('clarus__call')} ELSE clarus__call END`)));
    // pg_table_is_visible (psql \di) of another fragment's index: its table's.
    templates.set(VISIBLE, JSON.stringify(exprOf(objects ? `CASE ${visibleBranch(objects)} ELSE clarus__call END` : 'clarus__call')));
    out = {
      views,
      defCall: (fn, call, arg) => substitute(JSON.parse(templates.get(fn) as string), { clarus__arg: arg, clarus__call: call }) as Json,
    };
  }
  built.set(catalog, { sig, lc: out });
  return out;
}

/** Replaces the single-name column references `names` in a template by copies of the given nodes. */
function substitute(node: unknown, by: Record<string, unknown>): unknown {
  if (Array.isArray(node)) return node.map((n) => substitute(n, by));
  if (!isObj(node)) return node;
  const ref = body(node, 'ColumnRef');
  if (ref) {
    const names = colRefNames(ref);
    const hit = names.length === 1 ? by[names[0] as string] : undefined;
    if (hit !== undefined) return structuredClone(hit);
  }
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, substitute(v, by)]));
}

const VIEWDEF = 'pg_get_viewdef';
const VISIBLE = 'pg_table_is_visible';
/** Template suffix of a definition function's pretty-printed call (psql's: pg_get_indexdef(oid, 0, true), pg_get_constraintdef(oid, true)). */
const PRETTY = ':pretty';

/** The template key of a definition function's call with `n` arguments. */
function templateKey(fn: string, n: number): string {
  return (fn === 'pg_get_indexdef' && n >= 3) || (fn === 'pg_get_constraintdef' && n >= 2) ? `${fn}${PRETTY}` : fn;
}

/** Cheap pre-check on the statement text: could it name a relation or function above? */
const MENTIONS = /pg_class|pg_attribute|pg_attrdef|pg_stat|pg_constraint|pg_index|columns|constraints|_usage|pg_get_indexdef|pg_get_constraintdef|pg_get_viewdef|views|u&/i;

/** Whether a text may read a relation or call a function the logical catalog replaces. */
export function mentionsCatalog(text: string): boolean {
  return MENTIONS.test(text);
}

/** The view key of a FROM-clause RangeVar, or undefined for a relation shown as it is. */
function viewKey(views: Views, rv: Json): string | undefined {
  const name = String(rv.relname);
  const schema = typeof rv.schemaname === 'string' ? rv.schemaname : name.startsWith('pg_') ? 'pg_catalog' : undefined;
  const key = schema === undefined ? undefined : `${schema}.${name}`;
  return key !== undefined && views.has(key) ? key : undefined;
}

interface Walk { lc: LogicalCatalog; unaliased: Set<string> }

/** A FROM item: a replaced catalog relation becomes its logical subquery under the same name. */
function fromItem(w: Walk, item: unknown): unknown {
  const rv = body(item, 'RangeVar');
  const key = rv ? viewKey(w.lc.views, rv) : undefined;
  if (!rv || key === undefined) return visit(w, item);
  const alias = isObj(rv.alias) ? rv.alias : { aliasname: String(rv.relname) };
  if (!isObj(rv.alias)) w.unaliased.add(key);
  return { RangeSubselect: { subquery: structuredClone(w.lc.views.get(key)), alias } };
}

function funcName(call: Json): string | undefined {
  const names = arr(call.funcname).map(sval);
  const last = names[names.length - 1];
  return (names.length === 1 || names[0] === 'pg_catalog') && last && (last in DEF_FUNCTIONS || last === VIEWDEF || last === VISIBLE) ? last : undefined;
}

function visitObject(w: Walk, node: Json): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'fromClause' || k === 'larg' || k === 'rarg') out[k] = Array.isArray(v) ? v.map((x) => fromItem(w, x)) : body(v, 'RangeVar') ? fromItem(w, v) : visit(w, v);
    else out[k] = visit(w, v);
  }
  return out;
}

function visit(w: Walk, node: unknown): unknown {
  if (Array.isArray(node)) return node.map((n) => visit(w, n));
  if (!isObj(node)) return node;
  const call = body(node, 'FuncCall');
  const fn = call ? funcName(call) : undefined;
  if (call && fn && arr(call.args).length >= 1) {
    const inner = { FuncCall: visitObject(w, call) };
    return w.lc.defCall(templateKey(fn, arr(call.args).length), inner, arr(body(inner, 'FuncCall')?.args)[0]);
  }
  return visitObject(w, node);
}

/** `pg_catalog.pg_attribute.attname` → `pg_attribute.attname` where the relation became an unaliased subquery. */
function unqualify(node: unknown, unaliased: Set<string>): void {
  if (Array.isArray(node)) return node.forEach((n) => unqualify(n, unaliased));
  if (!isObj(node)) return;
  const ref = body(node, 'ColumnRef');
  if (ref) {
    const f = arr(ref.fields);
    const names = f.map(sval);
    const at = names.length === 4 ? 1 : 0;
    if (names.length - at === 3 && unaliased.has(`${names[at]}.${names[at + 1]}`)) ref.fields = f.slice(at + 1);
    return;
  }
  for (const v of Object.values(node)) unqualify(v, unaliased);
}

/**
 * The statement with every catalog relation listed above shown logically (a new tree), or the
 * same tree when the policy encrypts nothing or the statement reads none of them.
 */
export function showLogicalCatalog(catalog: Catalog, stmt: Json, text: string): Json {
  const lc = logicalCatalogOf(catalog);
  if (!lc || !MENTIONS.test(text)) return stmt;
  const w: Walk = { lc, unaliased: new Set() };
  const out = visit(w, stmt) as Json;
  if (w.unaliased.size) unqualify(out, w.unaliased);
  return out;
}
