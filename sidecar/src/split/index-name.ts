// Splitting (issue 12): the name PostgreSQL gives an index created without one, for the logical
// table. The backend holding the index's columns would choose one among its own relations only, so
// it could take a name another fragment's relation has, or one the logical table would not get
// (an unsplit PostgreSQL checks every relation of the schema). The proxy names the index itself:
// the candidates PostgreSQL tries in turn (`table_col_idx`, `table_col_idx1`, …: DefineIndex's
// ChooseIndexColumnNames, ChooseIndexNameAddition, ChooseRelationName and makeObjectName, NAMEDATALEN
// 64), the first one no backend of the table has a relation of (the DDL stage asks them).
// Pure: names from the statement's parse tree.
import { arr, body, nodeBody, tagOf } from '../rewrite/ast.ts';
import type { Json } from '../rewrite/ast.ts';

const NAMEDATALEN = 64;

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

/** The longest prefix of `s` of at most `limit` bytes that ends on a character (pg_mbcliplen, UTF-8). */
function clip(s: string, limit: number): string {
  let out = '';
  for (const ch of s) {
    if (bytes(out) + bytes(ch) > limit) break;
    out += ch;
  }
  return out;
}

const lastString = (items: unknown): string | undefined => arr(items).map((i) => body(i, 'String')?.sval).filter((x): x is string => typeof x === 'string').pop();

/** Expression nodes PostgreSQL gives no column name (FigureColnameInternal's strength 0): "expr". */
const NAMELESS = new Set(['A_Const', 'BoolExpr', 'NullTest', 'BooleanTest', 'ParamRef']);

type Figured = { name: string; strength: number } | undefined;
const NONE = { name: '', strength: 0 };
const named = (name: string | undefined, strength = 2): Figured => (name === undefined ? NONE : { name, strength });
/** A name from the node, else (a weak one, strength ≤ 1) `fallback`'s at strength 1. */
const orWeak = (f: Figured, fallback: string | undefined): Figured => (!f || f.strength > 1 ? f : named(fallback, 1));

/** FigureColnameInternal per node type: the name PostgreSQL derives from an index expression, with its strength (2 a name, 1 a type's or CASE's). */
const FIGURES: Record<string, (v: Json) => Figured> = {
  ColumnRef: (v) => named(lastString(v.fields)),
  A_Indirection: (v) => { const f = lastString(v.indirection); return f === undefined ? figure(v.arg) : named(f); },
  FuncCall: (v) => named(lastString(v.funcname)),
  A_Expr: (v) => named(v.kind === 'AEXPR_NULLIF' ? 'nullif' : undefined),
  CollateClause: (v) => figure(v.arg),
  TypeCast: (v) => orWeak(figure(v.arg), lastString(nodeBody({ TypeCast: v }, 'TypeCast')?.typeName?.names)),
  CaseExpr: (v) => orWeak(v.defresult === undefined ? NONE : figure(v.defresult), 'case'),
  A_ArrayExpr: () => named('array'),
  RowExpr: () => named('row'),
  CoalesceExpr: () => named('coalesce'),
  MinMaxExpr: (v) => named(v.op === 'IS_GREATEST' ? 'greatest' : 'least'),
};

/** FigureIndexColname ('' for no name), or undefined for a node this code does not know. */
function figure(node: unknown): Figured {
  const t = tagOf(node);
  if (!t) return undefined;
  const f = FIGURES[t[0]];
  if (f) return f(t[1]);
  return NAMELESS.has(t[0]) ? NONE : undefined;
}

/** An index element's preliminary name: its column's, or its expression's (transformIndexStmt's FigureIndexColname, "expr" for none). */
function elementName(ie: Json): string | undefined {
  if (typeof ie.indexcolname === 'string') return ie.indexcolname;
  if (typeof ie.name === 'string') return ie.name;
  const f = figure(ie.expr);
  return f ? f.name || 'expr' : undefined;
}

/** ChooseIndexColumnNames: each element's name, numbered when an earlier one has it; undefined when an expression is not understood. */
export function indexColumnNames(elems: readonly unknown[]): string[] | undefined {
  const out: string[] = [];
  for (const e of elems) {
    const orig = elementName(body(e, 'IndexElem') ?? {});
    if (orig === undefined) return undefined;
    let cur = orig;
    for (let i = 1; out.includes(cur); i++) cur = clip(orig, NAMEDATALEN - 1 - String(i).length) + String(i);
    out.push(cur);
  }
  return out;
}

/** ChooseIndexNameAddition: the column names joined by '_', stopped once NAMEDATALEN bytes are reached. */
export function nameAddition(names: readonly string[]): string {
  let buf = '';
  for (const n of names) {
    if (buf) buf += '_';
    buf += clip(n, NAMEDATALEN - 1);
    if (bytes(buf) >= NAMEDATALEN) break;
  }
  return buf;
}

/** makeObjectName: name1_name2_label within NAMEDATALEN - 1 bytes, the longer of name1 and name2 shortened first. */
export function makeObjectName(name1: string, name2: string, label: string): string {
  const avail = NAMEDATALEN - 1 - (name2 ? 1 : 0) - (label ? bytes(label) + 1 : 0);
  let [n1, n2] = [bytes(name1), bytes(name2)];
  while (n1 + n2 > avail) {
    if (n1 > n2) n1--;
    else n2--;
  }
  return [clip(name1, n1), ...(name2 ? [clip(name2, n2)] : []), ...(label ? [label] : [])].join('_');
}

/** What an unnamed CREATE INDEX's candidate names are made of: the table's name, its columns' addition, the label. */
export interface IndexStem { table: string; addition: string; label: string }

/** The stem of an unnamed CREATE INDEX on `table` (its key and INCLUDE elements), or undefined when an expression is not understood. */
export function indexStem(table: string, st: Json): IndexStem | undefined {
  const names = indexColumnNames([...arr(st.indexParams), ...arr(st.indexIncludingParams)]);
  return names ? { table, addition: nameAddition(names), label: 'idx' } : undefined;
}

/** ChooseRelationName's candidates `from` … `from + count - 1` (pass 0: the bare label, then label1, label2 …). */
export function candidates(s: IndexStem, from: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => makeObjectName(s.table, s.addition, from + i === 0 ? s.label : `${s.label}${from + i}`));
}
