// Django's bulk_create on PostgreSQL (5.2+): `INSERT INTO t (a, b) SELECT * FROM UNNEST((%s)::T1[],
// (%s)::T2[])`, one array per column. With client-side binding (Django's default with psycopg 3)
// each array arrives as a constant (`(E'{a,"b c",NULL}')::varchar[]`, `('{1,2}'::int2[])::bigint[]`):
// such a statement is the multi-row INSERT … VALUES it stands for — row i takes element i of each
// array, cast to the array's element type, NULL past an array's end as UNNEST pads — and is then
// rewritten like any VALUES list (encrypted, blind indexes, anonymized, k-anonymity batches).
// Postcondition: the SELECT is replaced by VALUES with the same rows in the same order, or the
// statement is refused naming the column whose array the proxy cannot read (an array parameter,
// whose elements are only known at Bind, into a protected column).
import { arr, body, nodeBody, textConst } from '../ast.ts';
import type { Json } from '../ast.ts';
import type { CatalogColumn, CatalogTable } from '../catalog.ts';
import { refuse } from '../refusals.ts';

const SPACE = /[ \t\n\r\v\f]/;

/** One element at `i` (after leading space): its value (null for NULL) and where it ends, or null. */
function element(s: string, i: number, end: number): { v: string | null; at: number } | null {
  let v = '';
  if (s[i] === '"') {
    for (i++; i < end && s[i] !== '"'; i++) v += s[i] === '\\' ? (s[++i] ?? '') : s[i];
    if (s[i] !== '"') return null;
    return { v, at: i + 1 };
  }
  let escaped = false;
  let kept = 0;
  for (; i < end && !',{}"'.includes(s[i] as string); i++) {
    if (s[i] === '\\') { v += s[++i] ?? ''; escaped = true; kept = v.length; continue; }
    v += s[i];
    if (!SPACE.test(s[i] as string)) kept = v.length;
  }
  v = v.slice(0, kept);
  if (v === '') return null;
  return { v: !escaped && v.toUpperCase() === 'NULL' ? null : v, at: i };
}

/** Elements of a one-dimensional array literal as array_in reads it (null for NULL), or null when it is not one. */
export function arrayElements(text: string): Array<string | null> | null {
  const s = text.trim();
  if (!s.startsWith('{') || !s.endsWith('}')) return null;
  const end = s.length - 1;
  const skip = (i: number): number => { while (i < end && SPACE.test(s[i] as string)) i++; return i; };
  const out: Array<string | null> = [];
  let i = skip(1);
  if (i === end) return out;
  for (;;) {
    const e = element(s, skip(i), end);
    if (!e) return null;
    out.push(e.v);
    i = skip(e.at);
    if (i === end) return out;
    if (s[i] !== ',') return null;
    i++;
  }
}

interface ArrayArg { elements: Array<string | null>; elemType: Json }

/** `(<string>)::T[]` or `(<string>::T0[])::T[]` → its elements and T (without the array bounds). */
function constantArray(node: unknown): ArrayArg | null {
  const outer = nodeBody(node, 'TypeCast');
  const tn = outer?.typeName as Json | undefined;
  if (!outer || !tn || arr(tn.arrayBounds).length !== 1) return null;
  const inner = nodeBody(outer.arg, 'TypeCast');
  if (inner && (arr((inner.typeName as Json | undefined)?.typmods).length || arr((inner.typeName as Json | undefined)?.arrayBounds).length !== 1)) return null;
  const c = body(inner ? inner.arg : outer.arg, 'A_Const');
  const text = (c?.sval as Json | undefined)?.sval;
  if (typeof text !== 'string') return null;
  const elements = arrayElements(text);
  return elements ? { elements, elemType: { ...tn, arrayBounds: undefined } } : null;
}

/** The UNNEST call of `SELECT * FROM UNNEST(…)` (nothing else in the SELECT), or null. */
function unnestArgs(sel: Json): unknown[] | null {
  const targets = arr(sel.targetList);
  const star = targets.length === 1 && body(body(body(targets[0], 'ResTarget')?.val, 'ColumnRef') && arr(body(body(targets[0], 'ResTarget')?.val, 'ColumnRef')?.fields)[0], 'A_Star');
  const from = arr(sel.fromClause);
  const rf = from.length === 1 ? body(from[0], 'RangeFunction') : null;
  const fns = arr(rf?.functions);
  const call = fns.length === 1 ? body(arr(body(fns[0], 'List')?.items)[0], 'FuncCall') : null;
  const name = arr(call?.funcname).map((n) => body(n, 'String')?.sval);
  const unnest = name.length > 0 && name[name.length - 1] === 'unnest' && (name.length === 1 || name[0] === 'pg_catalog');
  const clauses = ['whereClause', 'groupClause', 'havingClause', 'sortClause', 'limitCount', 'limitOffset', 'distinctClause', 'withClause', 'windowClause', 'lockingClause'];
  if (!star || !rf || !unnest || rf.ordinality || rf.lateral || rf.coldeflist || clauses.some((k) => sel[k] !== undefined)) return null;
  return arr(call?.args);
}

/**
 * Replaces `SELECT * FROM UNNEST(<constant arrays>)` feeding protected columns by the VALUES rows
 * it stands for; returns false when the SELECT is not of that form (the caller goes on).
 */
export function unnestAsValues(table: CatalogTable, cols: CatalogColumn[], sel: Json): boolean {
  const args = unnestArgs(sel);
  if (!args || args.length !== cols.length) return false;
  const arrays = args.map(constantArray);
  // Every array must be read here: a parameter's elements are only known at Bind.
  const bad = arrays.findIndex((a) => a === null);
  if (bad >= 0) refuse('insertUnnest', { table, column: cols.find((c, i) => c.protection.kind !== 'plain' && arrays[i] === null) ?? (cols[bad] as CatalogColumn) });
  const known = arrays as ArrayArg[];
  const rows = Math.max(0, ...known.map((a) => a.elements.length));
  if (rows === 0) return false;
  const valuesLists: unknown[] = [];
  for (let r = 0; r < rows; r++) {
    valuesLists.push({ List: { items: known.map((a) => {
      const v = a.elements[r];
      return { TypeCast: { arg: v === undefined || v === null ? { A_Const: { isnull: true, location: -1 } } : textConst(v), typeName: a.elemType, location: -1 } };
    }) } });
  }
  for (const k of Object.keys(sel)) delete sel[k];
  Object.assign(sel, { valuesLists, limitOption: 'LIMIT_OPTION_DEFAULT', op: 'SETOP_NONE' });
  return true;
}
