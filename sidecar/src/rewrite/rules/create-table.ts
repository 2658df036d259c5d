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
import { arr, body, sval, stringNode, typeNameOf } from '../ast.ts';
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

export function checkType(t: CatalogTable, c: CatalogColumn, tn: Json): void {
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

/** Checks a protected column's constraints; returns the key constraints that move to its blind index. */
function checkColumnConstraints(t: CatalogTable, c: CatalogColumn, def: Json): unknown[] {
  const moved: unknown[] = [];
  const kept: unknown[] = [];
  for (const con of arr(def.constraints)) (movesToBlindIndex(t, c, body(con, 'Constraint') as Json) ? moved : kept).push(con);
  def.constraints = kept;
  if (def.raw_default || def.cooked_default || def.identity || def.generated) refuseProtected(t, c, 'DEFAULT or GENERATED');
  return moved;
}

/** PRIMARY KEY / UNIQUE over encrypted columns: each key column becomes the stored form equal values share. */
export function mapKeyColumns(t: CatalogTable, con: Json): void {
  if (con.contype !== 'CONSTR_PRIMARY' && con.contype !== 'CONSTR_UNIQUE') return;
  const construct = `table constraint ${String(con.contype).replace('CONSTR_', '')}`;
  con.keys = arr(con.keys).map((k) => {
    const c = t.byName.get(sval(k) ?? '');
    return c ? stringNode(keyColumn(t, c, construct)) : k;
  });
}

/** A table constraint (CREATE TABLE element or ALTER TABLE … ADD): keys mapped, definitions over protected columns refused. */
export function checkTableConstraint(t: CatalogTable, con: Json): void {
  mapKeyColumns(t, con);
  const hit = protectedColumnIn(t, [con.raw_expr ?? '', con.exclusions ?? '', con.where_clause ?? ''].filter(Boolean));
  if (hit) refuse('constraint', { table: t, kind: String(con.contype).replace('CONSTR_', ''), column: hit });
}

/**
 * A protected column's definition (CREATE TABLE element or ALTER TABLE … ADD COLUMN) made safe:
 * an encrypted column is declared bytea with its type record; returns the hidden columns to add
 * next to it (the blind index of a searchable column, carrying the keys moved to it).
 */
export function protectColumn(t: CatalogTable, c: CatalogColumn, def: Json): Json[] {
  const oid = typeOid(typeNameOf(def.typeName as Json)) ?? 25;
  checkType(t, c, def.typeName as Json);
  const moved = checkColumnConstraints(t, c, def);
  if (!isEncrypted(c)) return [];
  if (def.collClause) refuseConstruct({ table: t, column: c }, 'COLLATE');
  def.typeName = byteaType();
  def.constraints = [...arr(def.constraints), ...typeRecord(c.name, oid)];
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
      checkTableConstraint(t, con);
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

/**
 * A CHECK constraint whose name records the declared type (`clarus:<oid>:<column>`), so replicas
 * and restarted proxies can restore the client-facing type from the backend catalog. Its check
 * (at least a ciphertext header long) is a cheap integrity guard. Skipped if the name would
 * exceed PostgreSQL's 63-byte identifier limit (the type then shows as text).
 */
export function typeRecord(column: string, oid: number): unknown[] {
  const conname = `clarus:${oid}:${column}`;
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
