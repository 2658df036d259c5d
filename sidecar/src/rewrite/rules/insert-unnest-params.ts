// Django's bulk_create with server-side binding (and asyncpg's bulk-insert idiom): `INSERT INTO t
// (a, b) SELECT * FROM UNNEST($1::T1[], $2::T2[])`, the arrays as parameters. Each protected
// column's array parameter is encrypted element by element at Bind (ParamRole encryptArray: sent
// as bytea[]; a searchable column's elements as blind index || ciphertext), and the SELECT names
// the UNNEST's columns: a searchable column's value and blind index are split from its element.
// Postcondition: every protected target column receives an element of an array the proxy
// encrypted at Bind (or its blind-index part); plain targets receive their arrays' elements, and
// those arrays read no protected value. An anonymized column's array parameter is anonymized
// element by element at Bind (ParamRole anonymizeArray, sent as text[]; not k-anonymity, whose
// batch must be read with the statement). Constant arrays mixed with array parameters are left to
// rules/insert-unnest.ts (which refuses what it cannot read).
import { BLIND_INDEX_BYTES } from '../../protection/encryption/sizes.ts';
import { appliesAtWrite } from '../../protection/anonymize-write.ts';
import { arr, body, castChanges, columnRef, nodeBody, paramRef, stringNode } from '../ast.ts';
import type { Json } from '../ast.ts';
import { isEncrypted } from '../catalog.ts';
import type { CatalogColumn, CatalogTable } from '../catalog.ts';
import type { Ctx } from '../context.ts';
import { plainExpr } from '../expr.ts';
import { refuse } from '../refusals.ts';
import type { Scope } from '../scope.ts';

const ALIAS = 'clarus_unnest';

/** `$n::T[]`: the parameter number and T, or null. */
function paramArray(arg: unknown): { n: number; elemType: Json } | null {
  const tc = nodeBody(arg, 'TypeCast');
  const tn = tc?.typeName as Json | undefined;
  const p = body(tc?.arg, 'ParamRef');
  if (!tc || !tn || !p || arr(tn.arrayBounds).length !== 1) return null;
  return { n: Number(p.number), elemType: { ...tn, arrayBounds: undefined } };
}

const target = (val: unknown): Json => ({ ResTarget: { val, location: -1 } });

function substr(arg: unknown, from: number, len?: number): Json {
  const args = [arg, { A_Const: { ival: { ival: from }, location: -1 } }, ...(len === undefined ? [] : [{ A_Const: { ival: { ival: len }, location: -1 } }])];
  return { FuncCall: { funcname: [stringNode('substr')], args, funcformat: 'COERCE_EXPLICIT_CALL', location: -1 } };
}

const BYTEA_ARRAY = { names: [stringNode('bytea')], typemod: -1, arrayBounds: [{ Integer: { ival: -1 } }], location: -1 };

const TEXT_ARRAY = { names: [stringNode('text')], typemod: -1, arrayBounds: [{ Integer: { ival: -1 } }], location: -1 };

/**
 * An anonymized column's array parameter: each element anonymized at Bind as a single value would
 * be (ParamRole anonymizeArray), sent as text[] and cast back to the element type the client named.
 * k-anonymity needs the batch's values when the statement is read: refused, as for any parameter.
 */
function anonymizedArray(ctx: Ctx, table: CatalogTable, c: CatalogColumn, args: unknown[], i: number): { value: Json } {
  const p = paramArray(args[i]);
  if (!p || c.protection.kind !== 'anonymize' || c.protection.spec.kAnonymity) return refuse('insertUnnest', { table, column: c });
  if (!appliesAtWrite(c.protection.spec, c.typeOid)) refuse('anonymizeAtWrite', { table, column: c });
  const why = castChanges({ TypeCast: { arg: paramRef(p.n), typeName: p.elemType } }, c.typeOid);
  if (why) refuse('convertedValue', { table, column: c, why });
  ctx.touch(table, c.name);
  ctx.setParam(p.n, { kind: 'anonymizeArray', table, column: c });
  args[i] = { TypeCast: { arg: paramRef(p.n), typeName: TEXT_ARRAY, location: -1 } };
  return { value: { TypeCast: { arg: columnRef([ALIAS, `c${i + 1}`]), typeName: p.elemType, location: -1 } } };
}

/** One protected column's array parameter: encrypted (or anonymized) at Bind; its select-list items. */
function protectedArray(ctx: Ctx, table: CatalogTable, c: CatalogColumn, args: unknown[], i: number): { value: Json; bidx?: Json } {
  if (c.protection.kind === 'anonymize') return anonymizedArray(ctx, table, c, args, i);
  const p = paramArray(args[i]);
  if (!p || !isEncrypted(c)) return refuse('insertUnnest', { table, column: c });
  const why = castChanges({ TypeCast: { arg: paramRef(p.n), typeName: p.elemType } }, c.typeOid);
  if (why) refuse('convertedValue', { table, column: c, why });
  ctx.touch(table, c.name);
  ctx.setParam(p.n, { kind: 'encryptArray', ref: { table, column: c } });
  args[i] = { TypeCast: { arg: paramRef(p.n), typeName: BYTEA_ARRAY, location: -1 } };
  const col = columnRef([ALIAS, `c${i + 1}`]);
  return c.protection.searchable ? { value: substr(col, BLIND_INDEX_BYTES + 1), bidx: substr(col, 1, BLIND_INDEX_BYTES) } : { value: col };
}

/**
 * `SELECT * FROM UNNEST(<args>)` whose protected columns' arrays are all parameters, rewritten as
 * above; false (nothing changed) when one of them is not a parameter.
 */
export function unnestParams(ctx: Ctx, scope: Scope, table: CatalogTable, cols: CatalogColumn[], sel: Json, args: unknown[]): boolean {
  const rf = body(arr(sel.fromClause)[0], 'RangeFunction') as Json;
  if (rf.alias || cols.some((c, i) => c.protection.kind !== 'plain' && !paramArray(args[i]))) return false;
  plainExpr(ctx, scope, args.filter((_, i) => cols[i]?.protection.kind === 'plain'), 'UNNEST array of a plain column');
  const values: Json[] = [];
  const extra: Json[] = [];
  cols.forEach((c, i) => {
    if (c.protection.kind === 'plain') { values.push(target(columnRef([ALIAS, `c${i + 1}`]))); return; }
    const w = protectedArray(ctx, table, c, args, i);
    values.push(target(w.value));
    if (w.bidx) extra.push(target(w.bidx));
  });
  rf.alias = { aliasname: ALIAS, colnames: cols.map((_, i) => stringNode(`c${i + 1}`)) };
  sel.targetList = [...values, ...extra];
  return true;
}
