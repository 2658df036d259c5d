// Django's bulk_create on PostgreSQL (5.2+): `INSERT INTO t (a, b) SELECT * FROM UNNEST((%s)::T1[],
// (%s)::T2[])`, one array per column. With client-side binding (Django's default with psycopg 3)
// each array arrives as a constant (`(E'{a,"b c",NULL}')::varchar[]`, `('{1,2}'::int2[])::bigint[]`):
// such a statement is the multi-row INSERT … VALUES it stands for — row i takes element i of each
// array, cast to the array's element type, NULL past an array's end as UNNEST pads — and is then
// rewritten like any VALUES list (encrypted, blind indexes, anonymized, k-anonymity batches).
// Postcondition: the SELECT is replaced by VALUES with the same rows in the same order, or the
// statement is refused naming the column whose array the proxy cannot read (an array parameter,
// whose elements are only known at Bind, into a protected column).
import type { FuncCall, Node, SelectStmt, TypeName } from '@pgsql/types';
import { arr, nodeBody, textConst } from '../ast.ts';
import type { CatalogColumn, CatalogTable } from '../catalog.ts';
import { refuse } from '../refusals.ts';
import { arrayElements } from '../../protection/array-text.ts';

interface ArrayArg { elements: Array<string | null>; elemType: TypeName }

const oneDimension = (tn: TypeName | undefined): boolean => arr(tn?.arrayBounds).length === 1;

/** `(<string>)::T[]` or `(<string>::T0[])::T[]` → its elements and T (without the array bounds). */
function constantArray(node: unknown): ArrayArg | null {
  const outer = nodeBody(node, 'TypeCast');
  const tn = outer?.typeName;
  if (!outer || !tn || !oneDimension(tn)) return null;
  const inner = nodeBody(outer.arg, 'TypeCast');
  const innerType = inner?.typeName;
  if (inner && (arr(innerType?.typmods).length || !oneDimension(innerType))) return null;
  const text = nodeBody(inner ? inner.arg : outer.arg, 'A_Const')?.sval?.sval;
  const elements = typeof text === 'string' ? arrayElements(text) : null;
  return elements ? { elements, elemType: { ...tn, arrayBounds: undefined } } : null;
}

const OTHER_CLAUSES: Array<keyof SelectStmt> = ['whereClause', 'groupClause', 'havingClause', 'sortClause', 'limitCount', 'limitOffset', 'distinctClause', 'withClause', 'windowClause', 'lockingClause'];

/** Whether the select list is exactly `*`. */
function starOnly(sel: SelectStmt): boolean {
  const targets = arr(sel.targetList);
  const ref = nodeBody(nodeBody(targets[0], 'ResTarget')?.val, 'ColumnRef');
  return targets.length === 1 && Boolean(nodeBody(arr(ref?.fields)[0], 'A_Star'));
}

/** The FuncCall of `FROM unnest(…)` (plain: no ORDINALITY, LATERAL or column definitions), or null. */
function unnestCall(sel: SelectStmt): FuncCall | null {
  const from = arr(sel.fromClause);
  const rf = from.length === 1 ? nodeBody(from[0], 'RangeFunction') : null;
  const fns = arr(rf?.functions);
  if (!rf || fns.length !== 1 || rf.ordinality || rf.lateral || rf.coldeflist) return null;
  const call = nodeBody(arr(nodeBody(fns[0], 'List')?.items)[0], 'FuncCall');
  const name = arr(call?.funcname).map((n) => nodeBody(n, 'String')?.sval);
  const unnest = name[name.length - 1] === 'unnest' && (name.length === 1 || name[0] === 'pg_catalog');
  return unnest ? call : null;
}

/** The UNNEST call's arguments of `SELECT * FROM UNNEST(…)` (nothing else in the SELECT), or null. */
export function unnestArgs(sel: SelectStmt): unknown[] | null {
  const call = unnestCall(sel);
  if (!call || !starOnly(sel) || OTHER_CLAUSES.some((k) => sel[k] !== undefined)) return null;
  return arr(call.args);
}

/**
 * Replaces `SELECT * FROM UNNEST(<constant arrays>)` feeding protected columns by the VALUES rows
 * it stands for; returns false when the SELECT is not of that form (the caller goes on).
 */
export function unnestAsValues(table: CatalogTable, cols: CatalogColumn[], sel: SelectStmt): boolean {
  const args = unnestArgs(sel);
  if (!args || args.length !== cols.length) return false;
  const arrays = args.map(constantArray);
  // Every array must be read here: a parameter's elements are only known at Bind.
  const bad = arrays.findIndex((a) => a === null);
  if (bad >= 0) refuse('insertUnnest', { table, column: cols.find((c, i) => c.protection.kind !== 'plain' && arrays[i] === null) ?? (cols[bad] as CatalogColumn) });
  const known = arrays as ArrayArg[];
  const rows = Math.max(0, ...known.map((a) => a.elements.length));
  if (rows === 0) return false;
  const valuesLists: Node[] = [];
  for (let r = 0; r < rows; r++) {
    valuesLists.push({ List: { items: known.map((a) => {
      const v = a.elements[r];
      return { TypeCast: { arg: v === undefined || v === null ? { A_Const: { isnull: true, location: -1 } } : textConst(v), typeName: a.elemType, location: -1 } };
    }) } });
  }
  for (const k of Object.keys(sel) as Array<keyof SelectStmt>) delete sel[k];
  Object.assign(sel, { valuesLists, limitOption: 'LIMIT_OPTION_DEFAULT', op: 'SETOP_NONE' });
  return true;
}
