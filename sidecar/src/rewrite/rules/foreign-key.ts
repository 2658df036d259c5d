// Rule foreign-key: FOREIGN KEY constraints that involve a protected table, on either side (in
// CREATE TABLE and ALTER TABLE … ADD [CONSTRAINT], of a protected table or of any other table).
// Postcondition: a foreign key is accepted only when both sides keep the same stored form: plain
// values on both sides (e.g. an order's customer_id referencing customer.id, the row key), or
// deterministic ciphertext of the same key and declared type on both sides; the referenced
// columns are named (a foreign key that names none, `REFERENCES customer`, is given the referenced
// dataset's rowKey: Hibernate's form). Anything else is refused by name: the backend would compare different forms
// (plaintext with ciphertext, anonymized with raw values), and ON UPDATE CASCADE / SET DEFAULT
// would copy one form into a column that holds the other (ciphertext shown as data).
import type { ColumnDef, Constraint, Node, RangeVar } from '@pgsql/types';
import { arr, isObj, nodeBody, stringNode, sval } from '../ast.ts';
import type { Json } from '../ast.ts';
import type { CatalogTable } from '../catalog.ts';
import type { Ctx } from '../context.ts';
import { refuse } from '../refusals.ts';
import { referencedTables } from '../refs.ts';

/** One FOREIGN KEY constraint with the referencing columns it applies to. */
export interface ForeignKey { columns: string[]; con: Constraint }

function fromColumnDef(def: ColumnDef): ForeignKey[] {
  return arr(def.constraints).map((c) => nodeBody(c, 'Constraint')).filter((c): c is Constraint => c?.contype === 'CONSTR_FOREIGN')
    .map((con) => ({ columns: [String(def.colname)], con }));
}

function fromElement(el: unknown): ForeignKey[] {
  const def = nodeBody(el, 'ColumnDef');
  if (def) return fromColumnDef(def);
  const con = nodeBody(el, 'Constraint');
  return con?.contype === 'CONSTR_FOREIGN' ? [{ columns: arr(con.fk_attrs).map((a) => sval(a) ?? ''), con }] : [];
}

/** Every foreign key a CREATE TABLE (tableElts) or ALTER TABLE (cmds) defines. */
export function foreignKeysOf(b: { tableElts?: Node[]; cmds?: Node[] }): ForeignKey[] {
  if (b.tableElts) return arr(b.tableElts).flatMap(fromElement);
  return arr(b.cmds).flatMap((c) => {
    const cmd = nodeBody(c, 'AlterTableCmd');
    return cmd && (cmd.subtype === 'AT_AddColumn' || cmd.subtype === 'AT_AddConstraint') ? fromElement(cmd.def) : [];
  });
}

/** The stored form of a column: what the backend compares. */
function storedForm(t: CatalogTable | undefined, name: string | undefined): string {
  const c = t && name !== undefined ? t.byName.get(name) : undefined;
  if (!c || c.protection.kind === 'plain') return 'plain';
  if (c.protection.kind === 'encrypt' && c.protection.mode === 'deterministic') return `deterministic ciphertext (key ${c.protection.keyName}, type ${c.typeOid})`;
  return c.protection.kind === 'encrypt' ? `${c.protection.mode} ciphertext` : 'anonymized values';
}

const label = (t: CatalogTable | undefined, rv: RangeVar | undefined, cols: readonly string[]): string =>
  `${t?.table ?? String(rv?.relname ?? '?')}(${cols.join(', ')})`;

/** Refuses a foreign key whose two sides do not hold the same stored form. */
export function checkForeignKey(ctx: Ctx, from: CatalogTable | undefined, fromName: string, fk: ForeignKey): void {
  const rv = fk.con.pktable;
  const to = rv ? ctx.catalog.lookup(rv.schemaname, String(rv.relname)) : undefined;
  if (to) ctx.touch(to);
  if (to?.rowKey && fk.columns.length === 1 && arr(fk.con.pk_attrs).length === 0) fk.con.pk_attrs = [stringNode(to.rowKey)];
  const refs = arr(fk.con.pk_attrs).map((a) => sval(a) ?? '');
  const what = `${fromName}(${fk.columns.join(', ')}) → ${label(to, rv, refs)}`;
  if (to && refs.length === 0) refuse('foreignKey', { what, why: `name the referenced columns (the proxy knows ${to.table}'s primary key only as its dataset's rowKey, which is not set or not one column)` });
  fk.columns.forEach((col, i) => {
    const a = storedForm(from, col);
    const b = storedForm(to, refs[i]);
    if (a !== b || (a !== 'plain' && !a.startsWith('deterministic'))) {
      refuse('foreignKey', { what, why: `${col} holds ${a} and ${refs[i] ?? 'the referenced column'} holds ${b}; only plain columns, or deterministic columns of the same key and type, can reference each other` });
    }
  });
}

function withoutReferencedTables(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutReferencedTables);
  if (!node || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'pktable' && isObj(node) && node.contype === 'CONSTR_FOREIGN') continue;
    out[k] = withoutReferencedTables(v);
  }
  return out;
}

/**
 * CREATE TABLE / ALTER TABLE of a table the policy does not describe that names a protected
 * table: accepted only when every such name is the referenced table of a foreign key that holds
 * (an order's customer_id → customer.id); any other reference is refused as before.
 */
export function foreignKeysOnly(ctx: Ctx, s: { relation?: RangeVar; tableElts?: Node[]; cmds?: Node[] }, tag: string): void {
  ctx.write = true;
  if (referencedTables(ctx.catalog, withoutReferencedTables(s)).size > 0) refuse('statementKind', { kind: tag.replace(/Stmt$/, '') });
  const name = String(s.relation?.relname ?? '?');
  for (const fk of foreignKeysOf(s)) checkForeignKey(ctx, undefined, name, fk);
}
