// Rule insert-select: INSERT … SELECT into a protected table.
import { arr, body, colRefNames, stringNode } from '../ast.ts';
import type { Json } from '../ast.ts';
import { isEncrypted } from '../catalog.ts';
import type { CatalogColumn, CatalogTable } from '../catalog.ts';
import { blindIndexPath } from '../hidden.ts';
import type { Ctx } from '../context.ts';
import { refuse } from '../refusals.ts';
import type { OutCol, Scope } from '../scope.ts';
import { protectedWrite } from './target.ts';

const withoutLocations = (x: unknown): string => JSON.stringify(x, (k, val: unknown) => (k === 'location' ? undefined : val));

/** A column of the SELECT's only FROM item, a `(VALUES …) AS alias(cols)` list, and its rows. */
interface ValuesColumn { rows: unknown[][]; index: number; alias: Json; name: string; cast: Json | null }

/**
 * The VALUES column a select-list item reads (`p0` or `p0::VARCHAR`, as SQLAlchemy's
 * insertmanyvalues sends: `INSERT … SELECT p0::VARCHAR, … FROM (VALUES ($1, …, 0), …) AS
 * imp_sen(p0, …, sen_counter) ORDER BY sen_counter`), when it is read nowhere else.
 */
function valuesColumn(sel: Json, val: unknown): ValuesColumn | null {
  const from = arr(sel.fromClause);
  const sub = from.length === 1 ? body(from[0], 'RangeSubselect') : null;
  const values = sub ? body(sub.subquery, 'SelectStmt') : null;
  const alias = sub?.alias as Json | undefined;
  if (!values?.valuesLists || !alias || sub?.lateral) return null;
  const cast = body(val, 'TypeCast');
  const ref = body(cast ? cast.arg : val, 'ColumnRef');
  const names = ref ? colRefNames(ref) : [];
  const name = names[names.length - 1];
  if (!name || names.length > 2 || (names.length === 2 && names[0] !== alias.aliasname)) return null;
  const cols = arr(alias.colnames).map((n) => String(body(n, 'String')?.sval));
  const index = cols.indexOf(name);
  if (index < 0) return null;
  // Read anywhere else (another target, WHERE, ORDER BY…), its plaintext would be needed there.
  const uses = JSON.stringify({ ...sel, fromClause: undefined }).split(`{"String":{"sval":"${name}"}}`).length - 1;
  if (uses !== 1) return null;
  return { rows: arr(values.valuesLists).map((l) => arr(body(l, 'List')?.items)), index, alias, name, cast };
}

/** Each row's value for the column is written like VALUES (encrypted, anonymized); the blind index gets a VALUES column of its own. */
function writeValuesColumn(ctx: Ctx, scope: Scope, table: CatalogTable, c: CatalogColumn, v: ValuesColumn, rt: Json, extra: unknown[]): void {
  let indexed = false;
  for (const row of v.rows) {
    // The select list's cast applies to each row's value, as in `VALUES ($1::VARCHAR)`; a value
    // already cast to that type (SQLAlchemy 2.1 sends `VALUES ($1::VARCHAR, …)`) is cast once.
    const own = body(row[v.index], 'TypeCast');
    const once = own && v.cast && withoutLocations(own.typeName) === withoutLocations(v.cast.typeName);
    const w = protectedWrite(ctx, scope, table, c, v.cast && !once ? { TypeCast: { ...v.cast, arg: row[v.index] } } : row[v.index]);
    row[v.index] = w.value;
    if (w.bidx !== undefined) { row.push(w.bidx); indexed = true; }
  }
  // The select list reads the stored form as it is (a cast to the declared type would convert it).
  rt.val = { ColumnRef: { fields: [stringNode(v.name)], location: -1 } };
  if (!indexed) return;
  const bidxName = `${v.name}__clarus_bidx`;
  v.alias.colnames = [...arr(v.alias.colnames), stringNode(bidxName)];
  extra.push({ ResTarget: { val: { ColumnRef: { fields: [stringNode(bidxName)], location: -1 } }, location: -1 } });
}

/** An unprotected target column takes no encrypted source: its ciphertext would pass for the value. */
function plainTarget(table: CatalogTable, c: CatalogColumn, out: OutCol | undefined): void {
  const src = out?.prov;
  if (src && isEncrypted(src.column)) refuse('ciphertextIntoPlain', { table, column: c, source: `${src.table.table}.${src.column.name}` });
}

/** INSERT … SELECT into unprotected columns of a protected table only: none takes an encrypted source. */
export function insertSelectPlain(table: CatalogTable, cols: CatalogColumn[], outs: OutCol[]): void {
  outs.forEach((o, i) => plainTarget(table, cols[i] ?? (cols[0] as CatalogColumn), o));
}

/**
 * INSERT … SELECT into protected columns: each protected target takes a constant / parameter /
 * NULL (encrypted like VALUES) or the ciphertext of the same column (copied as is: the AAD binds
 * it to that column; a deterministic value may also come from a column sharing its key), plus the
 * source's blind index for searchable columns. Anything else would need plaintext: refused.
 */
export function insertSelect(ctx: Ctx, scope: Scope, table: CatalogTable, cols: CatalogColumn[], sel: Json, outs: OutCol[]): void {
  const refuseColumn = (c: CatalogColumn, why: string): never => refuse('insertSelect', { table, column: c, why });
  if ((sel.op && sel.op !== 'SETOP_NONE') || outs.some((o) => o.star) || outs.length !== cols.length) {
    const first = cols.find((c) => c.protection.kind !== 'plain') as CatalogColumn;
    refuseColumn(first, 'the select list must name one expression per target column (no *, no set operation)');
  }
  const list = arr(sel.targetList);
  const extra: unknown[] = [];
  cols.forEach((c, i) => {
    if (c.protection.kind === 'plain') { plainTarget(table, c, outs[i]); return; }
    const rt = body(list[i], 'ResTarget') as Json;
    const src = outs[i]?.prov;
    if (src) {
      const same = src.table === table && src.column.name === c.name;
      const sharedKey = isEncrypted(c) && c.protection.mode === 'deterministic' && src.column.protection.mode === 'deterministic' && src.column.protection.keyName === c.protection.keyName;
      if (!same && !sharedKey) refuseColumn(c, `ciphertext of ${src.table.table}.${src.column.name} cannot be moved into it`);
      ctx.touch(table, c.name);
      if (isEncrypted(c) && c.protection.searchable) {
        const ref = body(rt.val, 'ColumnRef');
        if (!ref) refuseColumn(c, 'the blind index of the source is not reachable');
        const names = blindIndexPath(colRefNames(ref as Json));
        extra.push({ ResTarget: { val: { ColumnRef: { fields: names.map(stringNode), location: -1 } }, location: -1 } });
      }
      return;
    }
    const fromValues = valuesColumn(sel, rt.val);
    if (fromValues) {
      writeValuesColumn(ctx, scope, table, c, fromValues, rt, extra);
      return;
    }
    if (body(rt.val, 'ColumnRef')) refuseColumn(c, 'a plain source column would be stored without protection');
    const w = protectedWrite(ctx, scope, table, c, rt.val);
    rt.val = w.value;
    if (w.bidx !== undefined) extra.push({ ResTarget: { val: w.bidx, location: -1 } });
  });
  sel.targetList = [...list, ...extra];
}
