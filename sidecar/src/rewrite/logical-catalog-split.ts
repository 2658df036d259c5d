// Split tables (issue 12): the indexes and constraints of a split table's other fragments, shown
// in the catalog relations of the one logical table (logical-catalog.ts), with the logical table's
// attribute numbers (its columns on other backends are numbered after the home fragment's, as
// remoteAttributes shows them). The other backends' objects have no row in the home catalog: each
// is shown as a row made from the home fragment's primary key (the row key's) — its pg_class,
// pg_index, pg_constraint and information_schema rows, so the privileges that show the primary key
// show them — with the object's own fields, under an object id counted down from the top of the
// oid range. An object id the home catalog uses already is not shown (pg_indexes and
// information_schema still show the object: they do not name object ids).
// pg_index and pg_class show every index (its access method, key and INCLUDE columns, options, and
// its operator classes and collations under the home catalog's ids for their names) but without
// its expression and predicate trees (indexprs and indpred are NULL, an expression column's indkey
// is 0; pg_get_indexdef shows them), pg_constraint CHECK constraints without their expression tree
// (conbin is NULL; pg_get_constraintdef shows it).
// Pure: SQL text built from the catalog's loaded objects.
import type { CatalogTable, RemoteObject } from './catalog.ts';

const quote = (s: string): string => `'${s.replace(/'/g, "''")}'`;
const MAX_OID = 4294967295;

/** The home relation of a row `o` of the objects' VALUES. */
const orel = "pg_catalog.to_regclass(pg_catalog.format('%I.%I', o.s, o.t))";
/** Same numbering as the columns on other backends: after the home relation's last attribute. */
const lastOf = (rel: string): string => `(SELECT max(x.attnum) FROM pg_catalog.pg_attribute x WHERE x.attrelid = ${rel})`;

/** The logical attribute number of column `name` of `t` (SQL), or null for an expression. */
function attnum(t: CatalogTable, name: string): string | null {
  if (!name) return null;
  const rel = `pg_catalog.to_regclass(pg_catalog.format('%I.%I', ${quote(t.schema)}, ${quote(t.table)}))`;
  const i = (t.remote ?? []).findIndex((c) => c.name === name);
  if (i >= 0) return `(${lastOf(rel)} + ${i + 1})`;
  return `(SELECT a.attnum FROM pg_catalog.pg_attribute a WHERE a.attrelid = ${rel} AND a.attname = ${quote(name)} AND NOT a.attisdropped)`;
}

/** The attribute numbers of an object (an int2[] expression: an index's expression column 0), NULL when pg_index/pg_constraint cannot show it. */
function keysOf(t: CatalogTable, o: RemoteObject): string {
  const nums = o.columns.map((c) => (o.kind === 'index' && c === '' ? '0' : attnum(t, c)));
  const shown = nums.length > 0 && nums.every((n) => n !== null);
  return shown ? `ARRAY[${nums.join(', ')}]::pg_catalog.int2[]` : 'NULL::pg_catalog.int2[]';
}

/**
 * An index's access method, key count, operator classes and collations (JSON [schema, name]
 * arrays: the other backend's object ids mean nothing here), indoption and zeros for what is not
 * known (VALUES columns am, nkeys, cls, coll, opt, zer; NULL for a CHECK).
 */
function indexFields(o: RemoteObject): string {
  if (o.kind !== 'index') return 'NULL::text, NULL::int, NULL::jsonb, NULL::jsonb, NULL::text, NULL::text';
  const x = o.index ?? { am: 'btree', keys: o.columns.length, classes: '[]', collations: '[]', options: '' };
  const zeros = Array.from({ length: x.keys }, () => '0').join(' ');
  return `${quote(x.am)}, ${x.keys}, ${quote(x.classes)}::jsonb, ${quote(x.collations)}::jsonb, ${quote(x.options || zeros)}, ${quote(zeros)}`;
}

/** The home catalog's object ids for the names of `names` (a JSON array of [schema, name]), as a vector's text; 0 for one it does not have. */
function idsOf(names: string, lookup: string): string {
  return `coalesce((SELECT pg_catalog.string_agg(coalesce((${lookup}), 0)::text, ' ' ORDER BY x.i) FROM pg_catalog.jsonb_array_elements(${names}) WITH ORDINALITY x(c, i)), o.zer)`;
}
const opclassIds = idsOf('o.cls', `SELECT k.oid FROM pg_catalog.pg_opclass k JOIN pg_catalog.pg_namespace n ON n.oid = k.opcnamespace JOIN pg_catalog.pg_am a ON a.oid = k.opcmethod
  WHERE n.nspname = x.c->>0 AND k.opcname = x.c->>1 AND a.amname = o.am`);
const collationIds = idsOf('o.coll', `SELECT k.oid FROM pg_catalog.pg_collation k JOIN pg_catalog.pg_namespace n ON n.oid = k.collnamespace
  WHERE n.nspname = x.c->>0 AND k.collname = x.c->>1 AND k.collencoding IN (-1, pg_catalog.pg_char_to_encoding(pg_catalog.getdatabaseencoding())) ORDER BY k.collencoding DESC LIMIT 1`);

const oid = (n: number | null): string => (n === null ? 'NULL::pg_catalog.oid' : `${n}::pg_catalog.oid`);
const text = (s: string | undefined): string => (s === undefined ? 'NULL::text' : quote(s));

/** One VALUES row of an object: the index's oid and its constraint's (a CHECK has only the latter). */
function objectRow(t: CatalogTable, o: RemoteObject, n: number): string {
  const index = o.kind === 'index' ? MAX_OID - 2 * n : null;
  const con = o.kind === 'check' ? o : o.constraint;
  const cols = `ARRAY[${o.columns.map(quote).join(', ') || "''"}]::text[]`;
  return `(${quote(t.schema)}, ${quote(t.table)}, ${quote(o.kind)}, ${quote(o.name)}, ${o.unique}, ${keysOf(t, o)}, ${cols},
    ${quote(o.definition)}, ${quote(o.pretty)}, ${text(con?.name)}, ${text(con?.definition)}, ${text(con?.pretty)}, ${oid(index)}, ${oid(con ? MAX_OID - 2 * n - 1 : null)}, ${indexFields(o)})`;
}

/**
 * The objects of the split tables' other fragments as rows `o(s, t, kind, name, uniq, keys,
 * cols, def, pdef, con, cdef, pcdef, ioid, coid, am, nkeys, cls, coll, opt, zer)`, or null when there are none.
 */
export function objectValues(tables: readonly CatalogTable[]): string | null {
  const rows = tables.flatMap((t) => (t.remoteObjects ?? []).map((o) => ({ t, o }))).map(({ t, o }, n) => objectRow(t, o, n));
  return rows.length ? `(VALUES ${rows.join(', ')}) o(s, t, kind, name, uniq, keys, cols, def, pdef, con, cdef, pcdef, ioid, coid, am, nkeys, cls, coll, opt, zer)` : null;
}

/** Whether row `o` can be shown in pg_class/pg_index/pg_constraint: every key column found, its object ids free. */
const shown = `o.keys IS NOT NULL AND pg_catalog.array_position(o.keys, NULL::pg_catalog.int2) IS NULL AND ${orel} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class x WHERE x.oid = o.ioid)
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint x WHERE x.oid = o.coid)`;
const homePk = `(SELECT p.conindid FROM pg_catalog.pg_constraint p WHERE p.conrelid = ${orel} AND p.contype = 'p')`;
const pkName = `(SELECT p.conname FROM pg_catalog.pg_constraint p WHERE p.conrelid = ${orel} AND p.contype = 'p')`;
const unbidx = (e: string): string => `regexp_replace(${e}, '__bidx\\M', '', 'g')`;

/**
 * pg_class with the other fragments' indexes; a home relation counts the other fragments' CHECK
 * constraints in relchecks (psql lists a table's CHECK constraints only when it is above 0).
 */
export function classView(values: string): string {
  const checked = `SELECT ${orel} FROM ${values} WHERE o.kind = 'check' AND ${shown}`;
  const checks = `(SELECT count(*) FROM ${values} WHERE o.kind = 'check' AND ${orel} = c.oid AND ${shown})::int`;
  return `SELECT c.* FROM pg_catalog.pg_class c WHERE c.oid NOT IN (${checked})
    UNION ALL SELECT r.* FROM pg_catalog.pg_class c CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(c, pg_catalog.jsonb_build_object('relchecks', c.relchecks + ${checks})) r
    WHERE c.oid IN (${checked})
    UNION ALL SELECT r.* FROM ${values} JOIN pg_catalog.pg_class c ON c.oid = ${homePk} CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(c, pg_catalog.jsonb_build_object(
      'oid', o.ioid, 'relname', o.name, 'relfilenode', 0, 'relpages', 0, 'reltuples', -1, 'relallvisible', 0, 'relnatts', pg_catalog.cardinality(o.keys),
      'relam', coalesce((SELECT a.oid FROM pg_catalog.pg_am a WHERE a.amname = o.am), c.relam))) r
    WHERE o.kind = 'index' AND ${shown}`;
}

function indexBranch(values: string): string {
  return `SELECT r.* FROM ${values} JOIN pg_catalog.pg_index i ON i.indexrelid = ${homePk} CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(i, pg_catalog.jsonb_build_object(
      'indexrelid', o.ioid, 'indnatts', pg_catalog.cardinality(o.keys), 'indnkeyatts', o.nkeys, 'indisunique', o.uniq, 'indisprimary', false,
      'indisexclusion', false, 'indimmediate', true, 'indisclustered', false, 'indisreplident', false, 'indkey', pg_catalog.array_to_string(o.keys, ' '),
      'indcollation', ${collationIds}, 'indclass', ${opclassIds}, 'indoption', o.opt, 'indexprs', NULL, 'indpred', NULL)) r WHERE o.kind = 'index' AND ${shown}`;
}

function constraintBranch(values: string): string {
  return `SELECT r.* FROM ${values} JOIN pg_catalog.pg_constraint k ON k.conrelid = ${orel} AND k.contype = 'p'
    CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(k, pg_catalog.jsonb_build_object('oid', o.coid, 'conname', o.con,
      'contype', CASE WHEN o.kind = 'check' THEN 'c' ELSE 'u' END, 'conkey', o.keys, 'conindid', coalesce(o.ioid, 0), 'connoinherit', false)) r
    WHERE o.coid IS NOT NULL AND ${shown}`;
}

/** information_schema rows made from the home primary key's (`x`, joined by `on`), with `set` (a jsonb object). */
function schemaBranch(values: string, view: string, b: { on: string; set: string; where: string }): string {
  return `SELECT r.* FROM ${values} JOIN information_schema.${view} x ON x.table_schema::text = o.s AND x.table_name::text = o.t AND ${b.on}
    CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(x, ${b.set}) r WHERE ${b.where} AND ${orel} IS NOT NULL`;
}

function schemaBranches(values: string): Record<string, string> {
  const each = `${values} CROSS JOIN LATERAL unnest(o.cols) WITH ORDINALITY u(col, i)`;
  const named = `x.constraint_name::text = ${pkName}::text`;
  const type = "CASE WHEN o.kind = 'check' THEN 'CHECK' ELSE 'UNIQUE' END";
  return {
    'information_schema.table_constraints': schemaBranch(values, 'table_constraints', { on: "x.constraint_type::text = 'PRIMARY KEY'",
      set: `pg_catalog.jsonb_build_object('constraint_name', o.con, 'constraint_type', ${type}, 'nulls_distinct', CASE WHEN o.kind = 'check' THEN NULL ELSE 'YES' END)`, where: 'o.con IS NOT NULL' }),
    'information_schema.key_column_usage': schemaBranch(each, 'key_column_usage', { on: `${named} AND x.ordinal_position = 1`,
      set: "pg_catalog.jsonb_build_object('constraint_name', o.con, 'column_name', u.col, 'ordinal_position', u.i, 'position_in_unique_constraint', NULL)", where: "o.con IS NOT NULL AND o.kind = 'index'" }),
    'information_schema.constraint_column_usage': schemaBranch(each, 'constraint_column_usage', { on: named,
      set: "pg_catalog.jsonb_build_object('constraint_name', o.con, 'column_name', u.col)", where: "o.con IS NOT NULL AND u.col <> ''" }),
  };
}

/** The name information_schema gives the NOT NULL of attribute `attnum` of relation `rel` (PostgreSQL 15-17: `<nsp oid>_<rel oid>_<attnum>_not_null`). */
const notNullName = (rel: string, attnum: string): string =>
  `pg_catalog.format('%s_%s_%s_not_null', (SELECT c.relnamespace FROM pg_catalog.pg_class c WHERE c.oid = ${rel})::pg_catalog.oid, ${rel}::pg_catalog.oid, ${attnum})`;
const pkFirst = (rel: string): string => `(SELECT p.conkey[1] FROM pg_catalog.pg_constraint p WHERE p.conrelid = ${rel} AND p.contype = 'p')`;

/** check_constraints: the other fragments' CHECK constraints, made from the row key's NOT NULL row (shown to the table's owner only, as PostgreSQL does). */
function checkBranch(values: string): string {
  return `SELECT r.* FROM ${values} JOIN information_schema.check_constraints x ON x.constraint_schema::text = o.s AND x.constraint_name::text = ${notNullName(orel, pkFirst(orel))}
    CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(x, pg_catalog.jsonb_build_object('constraint_name', o.con, 'check_clause', ${unbidx('substring(o.cdef from 7)')})) r
    WHERE o.kind = 'check' AND ${orel} IS NOT NULL`;
}

/**
 * The NOT NULL of the split tables' columns on other backends (`remote`: the rows `v` of
 * logical-catalog.ts remoteValues) in table_constraints and check_constraints, named after their
 * logical attribute numbers, made from the row key's NOT NULL rows.
 */
export function notNullBranches(remote: string): Record<string, string> {
  const vrel = "pg_catalog.to_regclass(pg_catalog.format('%I.%I', v.s, v.t))";
  const key = notNullName(vrel, pkFirst(vrel));
  const mine = notNullName(vrel, `${lastOf(vrel)} + v.n`);
  const from = (view: string, on: string): string => `SELECT r.* FROM ${remote} JOIN information_schema.${view} x ON ${on} AND x.constraint_name::text = ${key}`;
  return {
    'information_schema.table_constraints': `${from('table_constraints', 'x.table_schema::text = v.s AND x.table_name::text = v.t')}
      CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(x, pg_catalog.jsonb_build_object('constraint_name', ${mine})) r WHERE v.nn`,
    'information_schema.check_constraints': `${from('check_constraints', 'x.constraint_schema::text = v.s')}
      CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(x, pg_catalog.jsonb_build_object('constraint_name', ${mine}, 'check_clause', v.name || ' IS NOT NULL')) r WHERE v.nn`,
  };
}

/** What each catalog relation adds for the split tables' objects on other backends (a UNION ALL branch). */
export function objectBranches(values: string): Record<string, string> {
  return {
    'pg_catalog.pg_index': indexBranch(values),
    'pg_catalog.pg_constraint': constraintBranch(values),
    'information_schema.check_constraints': checkBranch(values),
    'pg_catalog.pg_indexes': `SELECT o.s::name, o.t::name, o.name::name, NULL::name, ${unbidx('o.def')} FROM ${values} WHERE o.kind = 'index' AND ${orel} IS NOT NULL`,
    ...schemaBranches(values),
  };
}

/**
 * The definition function's answer for an object of another fragment (`arg` its shown object id),
 * pretty-printed when the call asks for it (psql), as a CASE branch `WHEN … THEN …`, or '' when
 * there are none.
 */
export function definitionBranch(values: string | null, fn: string, pretty: boolean): string {
  if (!values) return '';
  const [id, def] = fn === 'pg_get_indexdef' ? ['o.ioid', pretty ? 'o.pdef' : 'o.def'] : ['o.coid', pretty ? 'o.pcdef' : 'o.cdef'];
  return `WHEN clarus__arg IN (SELECT ${id} FROM ${values} WHERE ${shown}) THEN (SELECT ${unbidx(def)} FROM ${values} WHERE ${id} = clarus__arg)`;
}

/**
 * pg_table_is_visible of another fragment's index (its shown object id, which the home catalog
 * does not hold: NULL there, so psql \di left it out): its table's visibility, as a CASE branch
 * `WHEN … THEN …`, or '' when there are none.
 */
export function visibleBranch(values: string | null): string {
  if (!values) return '';
  return `WHEN clarus__arg IN (SELECT o.ioid FROM ${values} WHERE o.kind = 'index' AND ${shown}) THEN pg_catalog.pg_table_is_visible((SELECT ${orel} FROM ${values} WHERE o.ioid = clarus__arg))`;
}
