// Rule create-table: CREATE TABLE of a protected table.
// Postcondition: encrypted columns are declared bytea (plus a hidden `<col>__bidx bytea` for
// searchable ones); PRIMARY KEY / UNIQUE over an encrypted column are built on the stored form
// equal values share (deterministic ciphertext, or the blind index of a searchable column), on a
// randomized column without one refused; foreign keys follow rules/foreign-key.ts; constraints
// that would need plaintext (CHECK, EXCLUDE) are refused; the hidden names are reserved; a protected (encrypted or anonymized) column gets no value the backend
// would store without the proxy protecting it: no DEFAULT other than NULL, no GENERATED or
// IDENTITY, no serial type, no CHECK holding constants next to it, and only a built-in type
// (a domain can carry a DEFAULT, now or after an ALTER DOMAIN … SET DEFAULT). Each encrypted
// column's declared type is recorded in a constraint name, which the catalog loader reads back
// from the backend once the table is committed (the proxy never learns it from this text).
import { methodOf } from '../../protection/anonymize-write.ts';
import { typeOid } from '../../protection/encryption/canonical.ts';
import type { TypeName } from '@pgsql/types';
import { arr, body, isObj, nodeBody, sval, stringNode, typeNameOf } from '../ast.ts';
import type { Json } from '../ast.ts';
import { isEncrypted } from '../catalog.ts';
import type { CatalogColumn, CatalogTable } from '../catalog.ts';
import { blindIndexName, isHiddenName } from '../hidden.ts';
import type { Ctx } from '../context.ts';
import { refuse } from '../refusals.ts';
import { refuseConstruct } from '../context.ts';
import { checkForeignKey, foreignKeysOf } from './foreign-key.ts';
import { protectedColumnIn } from './rule.ts';


function byteaType(): Json {
  return { names: [stringNode('bytea')], typemod: -1, location: -1 };
}

const KEY_CONSTRAINTS = new Set(['CONSTR_PRIMARY', 'CONSTR_UNIQUE']);

/**
 * PostgreSQL's built-in types, as the parser names them (SQL spellings such as `integer` or
 * `character varying` arrive as `pg_catalog.int4`, `pg_catalog.varchar`). An unqualified name
 * resolves to pg_catalog first (it is searched before the pinned search_path), so a domain or
 * type of the same name elsewhere cannot stand in. Not listed: the serial types (they declare a
 * DEFAULT nextval(…)) and every user-defined type, domains included.
 */
const BUILTIN_TYPES = new Set([
  'bool', 'bytea', 'char', 'name', 'int2', 'int4', 'int8', 'text', 'json', 'jsonb', 'xml', 'float4', 'float8', 'numeric',
  'money', 'bpchar', 'varchar', 'date', 'time', 'timetz', 'timestamp', 'timestamptz', 'interval', 'bit', 'varbit', 'uuid',
  'inet', 'cidr', 'macaddr', 'macaddr8', 'point', 'line', 'lseg', 'box', 'path', 'polygon', 'circle', 'tsvector', 'tsquery',
]);

export function checkType(t: CatalogTable, c: CatalogColumn, tn: TypeName): void {
  const names = arr(tn.names).map((n) => sval(n) ?? '');
  const name = names[names.length - 1] ?? '';
  const qualified = names.length > 2 || (names.length === 2 && names[0] !== 'pg_catalog');
  if (qualified || !BUILTIN_TYPES.has(name) || tn.pct_type || tn.setof) {
    refuseProtected(t, c, `type ${names.join('.')} (only built-in types: a domain or another type can carry a DEFAULT the backend would store unprotected)`);
  }
  if (arr(tn.arrayBounds).length) refuseProtected(t, c, 'array type');
}

function refuseProtected(t: CatalogTable, c: CatalogColumn, construct: string): never {
  if (isEncrypted(c)) return refuseConstruct({ table: t, column: c }, construct);
  const method = c.protection.kind === 'anonymize' ? methodOf(c.protection.spec) : 'plain';
  return refuse('anonymizedConstruct', { table: t, column: c, method, construct });
}

/** A DEFAULT that stores nothing: `DEFAULT NULL` (possibly cast). */
function nullDefault(con: Json): boolean {
  const e = body(con.raw_expr, 'TypeCast')?.arg ?? con.raw_expr;
  return Boolean(body(e, 'A_Const')?.isnull);
}

/**
 * The stored column a key (PRIMARY KEY, UNIQUE) on column `c` is built on: the ciphertext of a
 * deterministic column, the blind index of a searchable one, the column itself when it is not
 * encrypted. A randomized column without a blind index has no stored form equal values share.
 */
export function keyColumn(t: CatalogTable, c: CatalogColumn, construct: string): string {
  if (!isEncrypted(c) || c.protection.mode === 'deterministic') return c.name;
  if (c.protection.searchable) return blindIndexName(c.name);
  return refuseConstruct({ table: t, column: c }, `${construct} (declare it deterministic or searchable)`);
}

/** Constraints a protected column keeps as they are (foreign keys: rules/foreign-key.ts). */
const KEPT_CONSTRAINTS = new Set(['CONSTR_NOTNULL', 'CONSTR_NULL', 'CONSTR_FOREIGN']);
const VALUE_CONSTRAINTS = new Set(['CONSTR_DEFAULT', 'CONSTR_GENERATED', 'CONSTR_IDENTITY']);

/** Whether one constraint of a protected column moves to its blind index (refuses what cannot hold). */
function movesToBlindIndex(t: CatalogTable, c: CatalogColumn, b: Json): boolean {
  const type = String(b.contype);
  if (KEPT_CONSTRAINTS.has(type) || (type === 'CONSTR_DEFAULT' && nullDefault(b))) return false;
  if (VALUE_CONSTRAINTS.has(type)) {
    refuseProtected(t, c, `${type === 'CONSTR_DEFAULT' ? 'DEFAULT' : 'GENERATED'} (the backend would store the value without protection)`);
  }
  const construct = `column constraint ${type.replace('CONSTR_', '')}`;
  if (!KEY_CONSTRAINTS.has(type)) refuseProtected(t, c, construct);
  return keyColumn(t, c, construct) !== c.name;
}

/**
 * The name PostgreSQL gives an unnamed UNIQUE constraint (`<table>_<columns>_key`) or index
 * (`_idx`) over the logical columns, for one the proxy builds on a blind index instead (PostgreSQL
 * would name it after the hidden column): catalog introspection then shows what the application
 * declared. Undefined when the name would need PostgreSQL's truncation (it then names it itself).
 */
export function logicalObjectName(table: string, columns: readonly string[], suffix: 'key' | 'idx'): string | undefined {
  const name = `${table}_${columns.join('_')}_${suffix}`;
  return Buffer.byteLength(name) <= 63 ? name : undefined;
}

function nameMoved(t: CatalogTable, c: CatalogColumn, con: Json): void {
  const name = con.contype === 'CONSTR_UNIQUE' && !con.conname ? logicalObjectName(t.table, [c.name], 'key') : undefined;
  if (name) con.conname = name;
}

/** Checks a protected column's constraints; returns the key constraints that move to its blind index. */
function checkColumnConstraints(t: CatalogTable, c: CatalogColumn, def: Json): unknown[] {
  const moved: unknown[] = [];
  const kept: unknown[] = [];
  for (const con of arr(def.constraints)) {
    const b = body(con, 'Constraint') as Json;
    if (movesToBlindIndex(t, c, b)) {
      nameMoved(t, c, b);
      moved.push(con);
    } else kept.push(con);
  }
  def.constraints = kept;
  if (def.raw_default || def.cooked_default || def.identity || def.generated) refuseProtected(t, c, 'DEFAULT or GENERATED');
  return moved;
}

/** PRIMARY KEY / UNIQUE over encrypted columns: each key column becomes the stored form equal values share. */
export function mapKeyColumns(t: CatalogTable, con: Json, nameIt: boolean): void {
  if (con.contype !== 'CONSTR_PRIMARY' && con.contype !== 'CONSTR_UNIQUE') return;
  const construct = `table constraint ${String(con.contype).replace('CONSTR_', '')}`;
  const logical = arr(con.keys).map((k) => sval(k) ?? '');
  con.keys = arr(con.keys).map((k) => {
    const c = t.byName.get(sval(k) ?? '');
    return c ? stringNode(keyColumn(t, c, construct)) : k;
  });
  const moved = arr(con.keys).some((k, i) => sval(k) !== logical[i]);
  const name = nameIt && moved && con.contype === 'CONSTR_UNIQUE' && !con.conname ? logicalObjectName(t.table, logical, 'key') : undefined;
  if (name) con.conname = name;
}

/**
 * A table constraint (CREATE TABLE element or ALTER TABLE … ADD): keys mapped, definitions over
 * protected columns refused. `nameIt` (CREATE TABLE): an unnamed key moved to a blind index gets
 * the logical name; not in ALTER TABLE … ADD UNIQUE, where PostgreSQL picks another name when
 * that one is taken (Sequelize's sync({ alter: true }) adds the same UNIQUE each time).
 */
export function checkTableConstraint(t: CatalogTable, con: Json, nameIt = false): void {
  mapKeyColumns(t, con, nameIt);
  const hit = protectedColumnIn(t, [con.raw_expr ?? '', con.exclusions ?? '', con.where_clause ?? ''].filter(Boolean));
  if (hit) refuse('constraint', { table: t, kind: String(con.contype).replace('CONSTR_', ''), column: hit });
}

/**
 * A protected column's definition (CREATE TABLE element or ALTER TABLE … ADD COLUMN) made safe:
 * an encrypted column is declared bytea with its type record; returns the hidden columns to add
 * next to it (the blind index of a searchable column, carrying the keys moved to it).
 */
export function protectColumn(t: CatalogTable, c: CatalogColumn, def: Json): Json[] {
  const tn: TypeName = isObj(def.typeName) ? def.typeName : {};
  const oid = typeOid(typeNameOf(tn)) ?? 25;
  const mod = typmodOf(tn, oid);
  checkType(t, c, tn);
  const moved = checkColumnConstraints(t, c, def);
  if (!isEncrypted(c)) return [];
  if (def.collClause) refuseConstruct({ table: t, column: c }, 'COLLATE');
  def.typeName = byteaType();
  def.constraints = [...arr(def.constraints), ...typeRecord(c.name, oid, mod)];
  if (!c.protection.searchable) return [];
  return [{ ColumnDef: { colname: blindIndexName(c.name), typeName: byteaType(), is_local: true, location: -1, ...(moved.length ? { constraints: moved } : {}) } }];
}

export function createTable(ctx: Ctx, t: CatalogTable, s: Json): void {
  ctx.write = true;
  ctx.touch(t);
  const extra: unknown[] = [];
  for (const fk of foreignKeysOf(s)) checkForeignKey(ctx, t, t.table, fk);
  for (const el of arr(s.tableElts)) {
    const con = body(el, 'Constraint');
    if (con) {
      checkTableConstraint(t, con, true);
      continue;
    }
    const def = body(el, 'ColumnDef');
    if (!def) refuse('createLike', { table: t });
    const name = String(def.colname);
    if (isHiddenName(name)) refuse('hiddenStorage', { table: t, what: `column ${name}` });
    const c = t.byName.get(name);
    if (!c || c.protection.kind === 'plain') continue;
    extra.push(...protectColumn(t, c, def));
  }
  s.tableElts = [...arr(s.tableElts), ...extra];
  if (s.inhRelations || s.partspec) refuse('inheritance', { table: t });
}

const intMod = (n: unknown): number | null => {
  const v = nodeBody(n, 'A_Const')?.ival;
  return v === undefined ? null : Number(v.ival ?? 0);
};

/** Types whose modifier PostgreSQL stores as length + 4 (VARHDRSZ), and their default when none is written. */
const LENGTH_TYPES: Record<number, number> = { 1043: -1, 1042: 5 };
const PRECISION_TYPES = new Set([1114, 1184]);

/**
 * The type modifier PostgreSQL would store for a declared type (atttypmod: `varchar(254)` is 258,
 * `numeric(10,2)` is (10 << 16 | 2) + 4), or -1; the catalog shows it (format_type,
 * information_schema) as the backend would for the declared column.
 */
export function typmodOf(tn: TypeName, oid: number): number {
  const mods = arr(tn.typmods).map(intMod);
  if (mods.some((m) => m === null || m < 0)) return -1;
  const [a, b] = mods as number[];
  if (oid in LENGTH_TYPES) return a === undefined ? (LENGTH_TYPES[oid] as number) : a + 4;
  if (oid === 1700 && a !== undefined) return ((a << 16) | (b ?? 0)) + 4;
  if (PRECISION_TYPES.has(oid) && a !== undefined) return a;
  return -1;
}

/** The middle of a type record's name: `<oid>` or `<oid>.<typmod>`. */
export function typeRecordKey(oid: number, typmod = -1): string {
  return typmod >= 0 ? `${oid}.${typmod}` : `${oid}`;
}

/**
 * A CHECK constraint whose name records the declared type (`clarus:<oid>:<column>`, or
 * `clarus:<oid>.<typmod>:<column>` when the type has a modifier such as a length), so replicas
 * and restarted proxies can restore the client-facing type from the backend catalog, and catalog
 * queries through the proxy show it (rewrite/logical-catalog.ts). Its check (at least a
 * ciphertext header long) is a cheap integrity guard. Skipped if the name would exceed
 * PostgreSQL's 63-byte identifier limit (the type then shows as text).
 */
export function typeRecord(column: string, oid: number, typmod = -1): unknown[] {
  const conname = `clarus:${typeRecordKey(oid, typmod)}:${column}`;
  if (Buffer.byteLength(conname) > 63) return [];
  const expr = {
    A_Expr: {
      kind: 'AEXPR_OP', name: [stringNode('>=')], location: -1,
      lexpr: { FuncCall: { funcname: [stringNode('octet_length')], args: [{ ColumnRef: { fields: [stringNode(column)], location: -1 } }], funcformat: 'COERCE_EXPLICIT_CALL', location: -1 } },
      rexpr: { A_Const: { ival: { ival: 8 }, location: -1 } },
    },
  };
  return [{ Constraint: { contype: 'CONSTR_CHECK', conname, raw_expr: expr, is_enforced: true, initially_valid: true, location: -1 } }];
}
