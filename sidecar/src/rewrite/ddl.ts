// CREATE TABLE / CREATE INDEX / ALTER TABLE on protected tables.
// Postcondition: encrypted columns are declared bytea (plus a hidden `<col>__bidx bytea` for
// searchable ones); constraints that would need plaintext (CHECK, DEFAULT, UNIQUE/PK on
// randomized values) are refused; the declared types are reported so the catalog can restore
// them in RowDescription.
import { typeOid } from '../protection/encryption/canonical.ts';
import { arr, body, sval, stringNode, typeNameOf } from './ast.ts';
import type { Json } from './ast.ts';
import { BIDX_SUFFIX, isEncrypted } from './catalog.ts';
import type { CatalogTable } from './catalog.ts';
import type { Ctx } from './context.ts';
import { Refusal, refuseConstruct } from './context.ts';

export interface Learned {
  schema: string;
  table: string;
  columns: Array<{ name: string; typeOid: number }>;
}

function byteaType(): Json {
  return { names: [stringNode('bytea')], typemod: -1, location: -1 };
}

const KEY_CONSTRAINTS = new Set(['CONSTR_PRIMARY', 'CONSTR_UNIQUE', 'CONSTR_FOREIGN']);

function checkColumnConstraints(t: CatalogTable, def: Json): void {
  const c = t.byName.get(String(def.colname));
  if (!c || !isEncrypted(c)) return;
  for (const con of arr(def.constraints)) {
    const type = String(body(con, 'Constraint')?.contype);
    if (type === 'CONSTR_NOTNULL' || type === 'CONSTR_NULL') continue;
    if (KEY_CONSTRAINTS.has(type) && c.protection.mode === 'deterministic') continue;
    refuseConstruct({ table: t, column: c }, `column constraint ${type.replace('CONSTR_', '')}`);
  }
}

function checkTableConstraint(t: CatalogTable, con: Json): void {
  const keys = [...arr(con.keys), ...arr(con.fk_attrs)].map((k) => sval(k) ?? '');
  for (const k of keys) {
    const c = t.byName.get(k);
    if (c && isEncrypted(c) && c.protection.mode !== 'deterministic') refuseConstruct({ table: t, column: c }, `table constraint ${String(con.contype).replace('CONSTR_', '')}`);
  }
  if (con.contype === 'CONSTR_CHECK' && t.columns.some((c) => isEncrypted(c) && JSON.stringify(con.raw_expr ?? '').includes(`"${c.name}"`))) {
    throw new Refusal('0A000', `clarus: CHECK constraint over an encrypted column of ${t.table} is not supported`);
  }
}

export function createTable(ctx: Ctx, t: CatalogTable, s: Json): Learned {
  ctx.write = true;
  ctx.touch(t);
  const learned: Learned = { schema: t.schema, table: t.table, columns: [] };
  const extra: unknown[] = [];
  for (const el of arr(s.tableElts)) {
    const con = body(el, 'Constraint');
    if (con) {
      checkTableConstraint(t, con);
      continue;
    }
    const def = body(el, 'ColumnDef');
    if (!def) throw new Refusal('0A000', `clarus: CREATE TABLE … LIKE/OF for protected table ${t.table} is not supported`);
    const name = String(def.colname);
    const declared = typeNameOf(def.typeName as Json);
    const oid = typeOid(declared) ?? 25;
    learned.columns.push({ name, typeOid: oid });
    const c = t.byName.get(name);
    if (!c || !isEncrypted(c)) continue;
    if (arr((def.typeName as Json).arrayBounds).length) refuseConstruct({ table: t, column: c }, 'array type');
    checkColumnConstraints(t, def);
    def.typeName = byteaType();
    def.constraints = [...arr(def.constraints), ...typeRecord(name, oid)];
    if (c.protection.searchable) extra.push({ ColumnDef: { colname: name + BIDX_SUFFIX, typeName: byteaType(), is_local: true, location: -1 } });
  }
  s.tableElts = [...arr(s.tableElts), ...extra];
  if (s.inhRelations || s.partspec) throw new Refusal('0A000', `clarus: inheritance/partitioning of protected table ${t.table} is not supported`);
  return learned;
}

export function createIndex(ctx: Ctx, t: CatalogTable, s: Json): void {
  ctx.write = true;
  ctx.touch(t);
  for (const p of arr(s.indexParams)) {
    const e = body(p, 'IndexElem') as Json;
    if (e.expr && t.columns.some((c) => isEncrypted(c) && JSON.stringify(e.expr).includes(`"${c.name}"`))) {
      throw new Refusal('0A000', `clarus: expression index over an encrypted column of ${t.table} is not supported`);
    }
    const c = e.name ? t.byName.get(String(e.name)) : undefined;
    if (!c || !isEncrypted(c)) continue;
    if (c.protection.searchable) e.name = c.name + BIDX_SUFFIX;
    else if (c.protection.mode !== 'deterministic') refuseConstruct({ table: t, column: c }, 'index (declare it searchable or deterministic)');
  }
  if (s.whereClause) throw new Refusal('0A000', `clarus: partial index on protected table ${t.table} is not supported`);
}

export function alterTable(ctx: Ctx, t: CatalogTable, s: Json): void {
  ctx.write = true;
  ctx.touch(t);
  for (const cmd of arr(s.cmds)) {
    const b = body(cmd, 'AlterTableCmd') as Json;
    const def = body(b.def, 'ColumnDef');
    const name = String(def?.colname ?? b.name ?? '');
    const c = t.byName.get(name);
    if (c && c.protection.kind !== 'plain') throw new Refusal('0A000', `clarus: ALTER TABLE ${String(b.subtype).replace('AT_', '')} on protected column ${t.table}.${name} is not supported`);
    if (def || b.def) {
      const text = JSON.stringify(b.def ?? '');
      const hit = t.columns.find((x) => isEncrypted(x) && text.includes(`"${x.name}"`));
      if (hit) throw new Refusal('0A000', `clarus: ALTER TABLE definition referencing encrypted column ${t.table}.${hit.name} is not supported`);
    }
  }
}

/**
 * A CHECK constraint whose name records the declared type (`clarus:<oid>:<column>`), so replicas
 * and restarted proxies can restore the client-facing type from the backend catalog. Its check
 * (at least a ciphertext header long) is a cheap integrity guard. Skipped if the name would
 * exceed PostgreSQL's 63-byte identifier limit (the type then shows as text).
 */
function typeRecord(column: string, oid: number): unknown[] {
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
