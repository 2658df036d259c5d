// Rule alter-table: ALTER TABLE of a protected table.
// Postcondition: plain columns and constraints over them are plain DDL; on a protected column only
// what keeps its stored form protected is accepted, rewritten to the stored form: ADD COLUMN of a
// policy column is declared as CREATE TABLE would (bytea, type record, blind index), DROP COLUMN
// also drops the blind index, SET DEFAULT takes a constant only and stores it encrypted (the blind
// index gets the matching default) or anonymized, ALTER TYPE of an encrypted column changes only
// the recorded declared type (between types that keep every stored value valid), SET/DROP NOT
// NULL pass; keys over encrypted columns go to the stored form equal values share; foreign keys
// follow rules/foreign-key.ts. The hidden storage (blind-index columns, `clarus:` constraints)
// is never named. Anything else on a protected column is refused by name.
import type { ColumnDef, TypeName } from '@pgsql/types';
import { typeOid } from '../../protection/encryption/canonical.ts';
import { arr, body, castChanges, nodeBody, sval, typeNameOf } from '../ast.ts';
import type { Json, NodeOf } from '../ast.ts';
import { isEncrypted } from '../catalog.ts';
import type { CatalogColumn, CatalogTable } from '../catalog.ts';
import type { Ctx } from '../context.ts';
import { blindIndexName, isHiddenName } from '../hidden.ts';
import { refuse } from '../refusals.ts';
import type { Scope } from '../scope.ts';
import { checkTableConstraint, checkType, protectColumn, typeRecord, typeRecordKey, typmodOf } from './create-table.ts';
import { checkForeignKey, foreignKeysOf } from './foreign-key.ts';
import { protectedColumnIn } from './rule.ts';
import { writeValue } from './write-value.ts';
import type { Written } from './write-value.ts';

const NO_SCOPE = undefined as unknown as Scope;

type Cmd = Json & Omit<NodeOf<'AlterTableCmd'>, 'def'>;

/** Subcommands on a protected column that leave its stored values as they are. */
const KEEPS_VALUES = new Set(['AT_SetNotNull', 'AT_DropNotNull', 'AT_SetStatistics', 'AT_SetStorage', 'AT_SetCompression']);

/** Declared types an encrypted column can move between: every stored value stays valid. */
const WIDENS: Record<number, readonly number[]> = {
  25: [25, 1043, 1042], 1043: [25, 1043, 1042], 1042: [25, 1043, 1042],
  21: [21, 23, 20], 23: [23, 20], 20: [20], 700: [700, 701], 701: [701],
};

const TYPE_NAMES: Record<number, string> = { 25: 'text', 1043: 'varchar', 1042: 'char', 21: 'smallint', 23: 'integer', 20: 'bigint', 700: 'real', 701: 'double precision' };
const typeLabel = (oid: number): string => TYPE_NAMES[oid] ?? `type ${oid}`;

function cmdOf(subtype: string, fields: Json): Json {
  return { AlterTableCmd: { subtype, behavior: 'DROP_RESTRICT', ...fields } };
}

/** The names a subcommand gives a column or constraint (the hidden storage is never one of them). */
function guardHidden(t: CatalogTable, b: Cmd): void {
  const def = body(b.def, 'ColumnDef') ?? body(b.def, 'Constraint') ?? body(b.def, 'ATAlterConstraint');
  const names = [b.name, def?.colname, def?.conname].filter((n): n is string => typeof n === 'string');
  for (const n of names) {
    if (isHiddenName(n)) refuse('hiddenStorage', { table: t, what: `column ${n}` });
    if (n.startsWith('clarus:')) refuse('hiddenStorage', { table: t, what: `constraint "${n}"` });
  }
}

const defaultConstraint = (expr: unknown): Json => ({ Constraint: { contype: 'CONSTR_DEFAULT', raw_expr: expr, location: -1 } });

/** Removes a column definition's DEFAULT other than NULL; returns its expression. */
function takeDefault(def: Json): unknown {
  const all = arr(def.constraints);
  const d = all.find((x) => body(x, 'Constraint')?.contype === 'CONSTR_DEFAULT' && !body(body(x, 'Constraint')?.raw_expr, 'A_Const')?.isnull);
  if (d === undefined) return undefined;
  def.constraints = all.filter((x) => x !== d);
  return body(d, 'Constraint')?.raw_expr;
}

/**
 * ADD COLUMN of a policy column: declared as CREATE TABLE would; a DEFAULT constant (Django adds a
 * NOT NULL field to a table with rows as ADD COLUMN … DEFAULT x NOT NULL, then DROP DEFAULT) is
 * stored protected like SET DEFAULT, its blind index gets the matching default.
 */
function addProtectedColumn(ctx: Ctx, t: CatalogTable, c: CatalogColumn, def: Json): Json[] {
  const declared = { ...c, typeOid: typeOid(typeNameOf(def.typeName as Json)) ?? 25 };
  const dflt = takeDefault(def);
  const hidden = protectColumn(t, c, def);
  if (dflt === undefined) return hidden;
  const w = defaultValue(ctx, t, declared, dflt);
  def.constraints = [...arr(def.constraints), defaultConstraint(w.value)];
  const bidx = body(hidden[0], 'ColumnDef');
  if (bidx && w.bidx) bidx.constraints = [...arr(bidx.constraints), defaultConstraint(w.bidx)];
  return hidden;
}

function addColumn(ctx: Ctx, t: CatalogTable, b: Cmd): Json[] {
  const def = body(b.def, 'ColumnDef') as Json;
  const c = t.byName.get(String(def.colname));
  if (c && c.protection.kind !== 'plain') {
    return addProtectedColumn(ctx, t, c, def).map((hidden) => cmdOf('AT_AddColumn', { def: hidden, ...(b.missing_ok ? { missing_ok: true } : {}) }));
  }
  const hit = protectedColumnIn(t, def);
  if (hit) refuse('alterDefinition', { table: t, column: hit });
  return [];
}

/** A DEFAULT of a protected column: a constant only, written as an INSERT would write it. */
function defaultValue(ctx: Ctx, t: CatalogTable, c: CatalogColumn, expr: unknown): Written {
  if (JSON.stringify(expr).includes('"ParamRef"') || body(expr, 'SetToDefault')) refuse('alterColumn', { table: t, subtype: 'SET DEFAULT (only a constant)', column: c.name });
  const why = castChanges(expr, c.typeOid);
  if (why) refuse('convertedValue', { table: t, column: c, why });
  // A randomized column's default is one ciphertext, the same in every row that takes it;
  // writeValue needs no scope for a protected column.
  return writeValue(ctx, NO_SCOPE, t, c, expr);
}

function dropColumn(c: CatalogColumn, b: Cmd): Json[] {
  if (!isEncrypted(c) || !c.protection.searchable) return [];
  return [cmdOf('AT_DropColumn', { name: blindIndexName(c.name), missing_ok: true, behavior: b.behavior })];
}

/** SET DEFAULT <constant> (stored protected, as an INSERT would store it) or DROP DEFAULT. */
function columnDefault(ctx: Ctx, t: CatalogTable, c: CatalogColumn, b: Cmd): Json[] {
  const searchable = isEncrypted(c) && c.protection.searchable;
  if (!b.def) return searchable ? [cmdOf('AT_ColumnDefault', { name: blindIndexName(c.name) })] : [];
  const w = defaultValue(ctx, t, c, b.def);
  b.def = w.value as Json;
  return searchable && w.bidx ? [cmdOf('AT_ColumnDefault', { name: blindIndexName(c.name), def: w.bidx })] : [];
}

const withoutLocations = (x: unknown): string => JSON.stringify(x, (k, v: unknown) => (k === 'location' ? undefined : v));

/** `USING col::<the new type>` (Django always sends it): the conversion ALTER TYPE makes anyway. */
function identityUsing(c: CatalogColumn, def: ColumnDef): boolean {
  const cast = body(def.raw_default, 'TypeCast');
  const fields = arr(body(cast?.arg, 'ColumnRef')?.fields).map((f) => sval(f));
  return fields.length === 1 && fields[0] === c.name && withoutLocations(cast?.typeName) === withoutLocations(def.typeName);
}

/** The column definition ALTER TYPE carries, and its type. */
function columnDefOf(node: unknown): { def: ColumnDef; tn: TypeName } {
  const def = nodeBody(node, 'ColumnDef') ?? {};
  return { def, tn: def.typeName ?? {} };
}

/** ALTER TYPE of an encrypted column: the stored bytea stays; the recorded declared type changes. */
function alterType(t: CatalogTable, c: CatalogColumn, b: Cmd): Json[] | null {
  const { def, tn } = columnDefOf(b.def);
  if (def.raw_default && !identityUsing(c, def)) refuse('alterColumn', { table: t, subtype: 'TYPE … USING', column: c.name });
  // An anonymized column's values are converted by PostgreSQL like any other; only a built-in
  // type (a domain could carry a DEFAULT) is accepted.
  checkType(t, c, tn);
  if (!isEncrypted(c)) return null;
  const to = typeOid(typeNameOf(tn));
  if (def.collClause || to === null || !(WIDENS[c.typeOid] ?? []).includes(to)) {
    return refuse('alterType', { table: t, column: c.name, from: typeLabel(c.typeOid), to: to === null ? typeNameOf(tn) : typeLabel(to) });
  }
  const typmod = typmodOf(tn, to);
  // A length limit the stored values may exceed: PostgreSQL would check every value (22001), the
  // proxy cannot read them here, so only a limit at least the old one is declared.
  if (typmod >= 0 && (c.typmod === undefined || c.typmod < 0 || c.typmod > typmod)) refuse('alterTypeNarrows', { table: t, column: c.name });
  const add = typeRecord(c.name, to, typmod).map((con) => cmdOf('AT_AddConstraint', { def: con }));
  return [cmdOf('AT_DropConstraint', { name: `clarus:${typeRecordKey(c.typeOid, c.typmod)}:${c.name}`, missing_ok: true }), ...add];
}

/** One subcommand on a protected column: the subcommands it becomes (null: kept as it is). */
function protectedCmd(ctx: Ctx, t: CatalogTable, c: CatalogColumn, b: Cmd): Json[] | null {
  switch (b.subtype) {
    case 'AT_DropColumn': return [{ AlterTableCmd: b }, ...dropColumn(c, b)];
    case 'AT_ColumnDefault': return [{ AlterTableCmd: b }, ...columnDefault(ctx, t, c, b)];
    case 'AT_AlterColumnType': return alterType(t, c, b);
    default:
      if (KEEPS_VALUES.has(String(b.subtype))) return null;
      return refuse('alterColumn', { table: t, subtype: String(b.subtype).replace('AT_', ''), column: c.name });
  }
}

function plainCmd(ctx: Ctx, t: CatalogTable, b: Cmd): Json[] | null {
  if (b.subtype === 'AT_AddColumn') {
    const extra = addColumn(ctx, t, b);
    return extra.length ? [{ AlterTableCmd: b }, ...extra] : null;
  }
  const con = body(b.def, 'Constraint');
  if (b.subtype === 'AT_AddConstraint' && con) {
    checkTableConstraint(t, con);
    return null;
  }
  const hit = protectedColumnIn(t, b.def);
  if (hit) refuse('alterDefinition', { table: t, column: hit });
  return null;
}

export function alterTable(ctx: Ctx, t: CatalogTable, s: Json): void {
  ctx.write = true;
  ctx.touch(t);
  for (const fk of foreignKeysOf(s)) checkForeignKey(ctx, t, t.table, fk);
  const out: unknown[] = [];
  for (const cmd of arr(s.cmds)) {
    const b = nodeBody(cmd, 'AlterTableCmd') as Cmd;
    guardHidden(t, b);
    const c = b.subtype === 'AT_AddColumn' ? undefined : t.byName.get(String(b.name ?? ''));
    const edited = c && c.protection.kind !== 'plain' ? protectedCmd(ctx, t, c, b) : plainCmd(ctx, t, b);
    out.push(...(edited ?? [cmd]));
  }
  s.cmds = out;
}
