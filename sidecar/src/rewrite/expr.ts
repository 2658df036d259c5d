// Expressions and predicates. Postconditions:
//  - every reference to an encrypted column either sits in a construct that works on ciphertext
//    (equality/IN on deterministic values, blind-index equality for searchable ones, IS NULL,
//    count()) and has been rewritten to compare stored forms, or the statement is refused naming
//    the column and the construct;
//  - a constant or parameter meets an anonymized column only in a direct comparison (`col = c`,
//    `col <> c`, `col IN (…)`, `col IS [NOT] DISTINCT FROM c`, `CASE col WHEN c`), and only when
//    the proxy applies the column's (deterministic) anonymization itself: the constant is replaced
//    by its anonymized form, a parameter is anonymized at Bind, so the backend compares stored
//    forms and never sees the value. Any other expression that combines an anonymized column's
//    value with a constant, a parameter, or a value that may hold one (a subquery result, a column
//    of a subquery, WITH query or VALUES list) is refused naming the column.
import { anonymizeText, appliesToComparison, methodOf } from '../protection/anonymize-write.ts';
import type { A_Expr, CaseExpr, FuncCall, Node, SubLink } from '@pgsql/types';
import { arr, castChanges, colRefNames, constText, nodeBody, nodeTag, nullConst, sval, textConst, unwrapCast } from './ast.ts';
import type { Tagged } from './ast.ts';
import type { CatalogColumn, CatalogTable } from './catalog.ts';
import { equalityRewrite } from './rules/where-equality.ts';
import type { Ctx, ProtectedRef } from './context.ts';
import { refuse } from './refusals.ts';
import { refuseConstruct } from './context.ts';
import { resolve } from './scope.ts';
import type { OutCol, Relation, Scope } from './scope.ts';

/** A column whose stored values are its anonymized values (in clear). */
export interface AnonRef {
  table: CatalogTable;
  column: CatalogColumn & { protection: { kind: 'anonymize' } };
}

/**
 * What an output column of a subquery, WITH query or set operation carries of anonymized columns:
 * `exact` when it is the column's stored value as is (a bare reference), so a constant compared
 * with it can be anonymized like the column's own; otherwise a value computed from it. An OutCol
 * whose `anon` is undefined has not been traced (see `column`): it may carry one.
 */
export interface OutAnon { ref: AnonRef; exact: boolean }
type TracedOutCol = OutCol & { anon?: OutAnon | null };

function isAnonymized(c: CatalogColumn): c is AnonRef['column'] {
  return c.protection.kind === 'anonymize';
}

/** What a column reference resolves to, as far as protection goes. */
type Column =
  | { kind: 'encrypted'; ref: ProtectedRef }
  | { kind: 'anon'; ref: AnonRef; exact: boolean }
  /** A column of a table, or of a relation the policy does not describe: stored data. */
  | { kind: 'stored' }
  /** A column of a subquery, WITH query or VALUES list: may hold a constant of the statement. */
  | { kind: 'derived'; maybeAnon: AnonRef | null };

/** The protected column a bare ColumnRef names, or null (plain, unknown, or not a ColumnRef). */
export function provOf(ctx: Ctx, scope: Scope, node: unknown): ProtectedRef | null {
  const c = column(ctx, scope, node);
  return c?.kind === 'encrypted' ? c.ref : null;
}

/**
 * What a select-list item that is a bare ColumnRef carries of anonymized columns (for
 * OutCol.anon): exact for a reference to an anonymized column or to an exact output of a
 * subquery, computed for a whole-row reference, null for anything else. Other items: the
 * result of plainExpr, which walks them once.
 */
export function outputAnon(ctx: Ctx, scope: Scope, node: unknown): OutAnon | null {
  const c = column(ctx, scope, node);
  if (c?.kind === 'anon') return { ref: c.ref, exact: c.exact };
  return c?.kind === 'derived' && c.maybeAnon ? { ref: c.maybeAnon, exact: false } : null;
}

function column(ctx: Ctx, scope: Scope, node: unknown): Column | null {
  const ref = nodeBody(node, 'ColumnRef');
  if (!ref) return null;
  const names = colRefNames(ref);
  if (names.includes('*')) return wholeRow(ctx, scope, names.length > 1 ? names[names.length - 2] : undefined) ?? { kind: 'stored' };
  const r = resolve(scope, names);
  if (r.kind === 'unknown') refuseMissingQualifier(ctx, scope, names);
  if (r.kind === 'ambiguous') {
    refuse('ambiguousOuterColumn', { name: String(names[0]), protectedColumn: `${r.col.prov?.table.table}.${r.col.prov?.column.name}` });
  }
  if (r.kind !== 'column') return (names.length === 1 ? wholeRow(ctx, scope, names[0]) : null) ?? { kind: 'stored' };
  if (r.col.prov) {
    ctx.touch(r.col.prov.table, r.col.prov.column.name);
    return { kind: 'encrypted', ref: r.col.prov };
  }
  if (r.rel.table) {
    ctx.touch(r.rel.table, r.col.name);
    const c = tableColumn(r.rel, r.col);
    return c && isAnonymized(c) ? { kind: 'anon', ref: { table: r.rel.table, column: c }, exact: true } : { kind: 'stored' };
  }
  const traced = (r.col as TracedOutCol).anon;
  if (traced) return { kind: 'anon', ref: traced.ref, exact: traced.exact };
  if (traced === null) return { kind: 'derived', maybeAnon: null };
  return { kind: 'derived', maybeAnon: touchedAnonymized(ctx) };
}

/**
 * `p.col` where no level of the statement has a relation `p`: PostgreSQL fails it (42P01), but only
 * after its server log holds the text. When `p` or `col` could mean a protected table or column, a
 * value compared with it may be one the user meant to protect: refused before anything is sent.
 */
function refuseMissingQualifier(ctx: Ctx, scope: Scope, names: string[]): void {
  if (names.length < 2) return;
  const qual = names[names.length - 2] as string;
  for (let s: Scope | undefined = scope; s; s = s.parent) if (s.relations.some((rel) => rel.alias === qual)) return;
  const col = names[names.length - 1] as string;
  const protectedName = ctx.catalog.all().some((t) => t.table === qual || (t.byName.get(col)?.protection.kind ?? 'plain') !== 'plain');
  if (protectedName) refuse('missingQualifier', { name: qual });
}

/** The catalog column behind a table relation's column (by position: aliases may rename it). */
function tableColumn(rel: Relation, col: OutCol): CatalogColumn | undefined {
  const t = rel.table as CatalogTable;
  const i = rel.columns?.indexOf(col) ?? -1;
  const byPosition = i >= 0 && rel.columns?.length === t.columns.length ? t.columns[i] : undefined;
  return byPosition ?? t.byName.get(col.name);
}

/**
 * An anonymized column the statement has referenced so far: the conservative stand-in for a
 * column of a subquery or WITH query whose provenance the analysis has not traced.
 */
function touchedAnonymized(ctx: Ctx): AnonRef | null {
  for (const [dataset, names] of ctx.touched) {
    const table = ctx.catalog.all().find((t) => t.dataset === dataset);
    if (!table) continue;
    for (const name of names) {
      const c = table.byName.get(name);
      if (c && isAnonymized(c)) return { table, column: c };
    }
  }
  return null;
}

/**
 * A whole-row reference (`p`, `p.*`, `*` inside an expression). Refused over a relation with
 * ciphertext; over one with anonymized columns it carries their values (computed, not exact).
 */
function wholeRow(ctx: Ctx, scope: Scope, alias: string | undefined): Column | null {
  const rels: Relation[] = [];
  for (let sc: Scope | undefined = scope; sc; sc = sc.parent) {
    rels.push(...sc.relations.filter((rel) => alias === undefined || rel.alias === alias));
    if (alias === undefined) break;
  }
  for (const rel of rels) {
    const p = rel.columns?.find((c) => c.prov)?.prov;
    if (p) refuseConstruct(p, 'whole-row reference');
  }
  const carried = rels.map((rel) => rowAnon(rel)).find((x) => x !== null);
  if (carried) return { kind: 'anon', ref: carried, exact: false };
  if (rels.some((rel) => !rel.table && rel.columns?.some((c) => (c as TracedOutCol).anon === undefined))) {
    return { kind: 'derived', maybeAnon: touchedAnonymized(ctx) };
  }
  return rels.length ? { kind: 'stored' } : null;
}

/** An anonymized column a relation's row carries, if any. */
function rowAnon(rel: Relation): AnonRef | null {
  if (rel.table) {
    const c = rel.table.columns.find(isAnonymized);
    return c ? { table: rel.table, column: c } : null;
  }
  return (rel.columns as TracedOutCol[] | undefined)?.find((c) => c.anon)?.anon?.ref ?? null;
}

// ---------------------------------------------------------------------------------------------
// What an expression carries

/**
 * The leaves an expression's value is made of, for the anonymized-column rule: `a` references
 * to anonymized columns (the first is `anon`), `d` columns that may be anonymized or may hold a
 * constant (untraced subquery / WITH columns), `s` supplied values (constants, parameters,
 * subquery results, columns of subqueries, WITH queries and VALUES lists).
 */
interface Carry { anon: AnonRef | null; a: number; d: number; s: number }

const NONE: Carry = { anon: null, a: 0, d: 0, s: 0 };
const SUPPLIED: Carry = { anon: null, a: 0, d: 0, s: 1 };

function union(cs: Carry[]): Carry {
  let out = NONE;
  for (const c of cs) {
    if (c === NONE) continue;
    out = { anon: out.anon ?? c.anon, a: out.a + c.a, d: out.d + c.d, s: out.s + c.s };
  }
  return out;
}

function describe(ref: AnonRef): string {
  return `anonymized column ${ref.table.table}.${ref.column.name} (${methodOf(ref.column.protection.spec)})`;
}

const ONLY = 'an anonymized column meets constants and parameters only in col = value, col <> value, col IN (…), '
  + 'col IS [NOT] DISTINCT FROM value and CASE col WHEN value, where the proxy anonymizes the value';

/**
 * Refuses when one leaf of `c` may be an anonymized column's value and another may be a value
 * the statement supplies: the backend would compute with (and log) the value next to the column.
 */
function mix(ctx: Ctx, c: Carry, construct: string): void {
  const mixes = (c.a > 0 && c.s + c.d > 0) || (c.d > 0 && c.s > 0) || c.d > 1;
  if (!mixes) return;
  if (c.anon) {
    refuse('anonymizedMix', { construct, column: describe(c.anon), only: ONLY });
  }
  const ref = touchedAnonymized(ctx);
  refuse('anonymizedMixDerived', { construct, column: ref ? describe(ref) : 'an anonymized column', only: ONLY });
}

function leaf(ctx: Ctx, scope: Scope, node: unknown, construct: string): Carry {
  const c = column(ctx, scope, node);
  if (!c) return NONE;
  switch (c.kind) {
    case 'encrypted': return refuseConstruct(c.ref, construct);
    case 'anon': return { anon: c.ref, a: 1, d: 0, s: 0 };
    case 'stored': return NONE;
    case 'derived': return c.maybeAnon ? { anon: null, a: 0, d: 1, s: 0 } : SUPPLIED;
  }
}

/** An output column of a subquery, as a leaf of the expression that uses its result. */
function outputLeaf(ctx: Ctx, o: OutCol | undefined): Carry {
  const traced = (o as TracedOutCol | undefined)?.anon;
  if (traced) return { anon: traced.ref, a: 1, d: 0, s: 0 };
  if (traced === null) return SUPPLIED;
  return touchedAnonymized(ctx) ? { anon: null, a: 0, d: 1, s: 0 } : SUPPLIED;
}

function constructOf(t: Tagged): string {
  const [tag, b] = t;
  if (tag === 'FuncCall') return `function ${arr(b.funcname).map(sval).join('.')}()`;
  if (tag === 'A_Expr') {
    const kind = String(b.kind);
    if (kind === 'AEXPR_LIKE' || kind === 'AEXPR_ILIKE' || kind === 'AEXPR_SIMILAR') return 'LIKE/ILIKE';
    if (kind.includes('BETWEEN')) return 'BETWEEN (range)';
    const op = opName(b);
    return ['<', '>', '<=', '>='].includes(op) ? `range comparison (${op})` : `operator ${op}`;
  }
  if (tag === 'TypeCast') return 'cast';
  if (tag === 'CaseExpr') return 'CASE';
  if (tag === 'CoalesceExpr') return 'COALESCE';
  if (tag === 'MinMaxExpr') return 'GREATEST/LEAST';
  return 'expression';
}

function opName(b: { name?: Node[] }): string {
  return arr(b.name).map(sval).join('');
}

/** Operators whose result is a boolean, not a value computed from the operands. */
const COMPARISON_OPS = new Set(['=', '<>', '<', '>', '<=', '>=', '~~', '!~~', '~~*', '!~~*', '~', '!~', '~*', '!~*', '@@', '@>', '<@', '&&']);

function booleanResult(b: A_Expr): boolean {
  const kind = String(b.kind);
  if (kind === 'AEXPR_NULLIF') return false;
  if (kind !== 'AEXPR_OP') return true;
  return COMPARISON_OPS.has(opName(b));
}

function isCount(b: FuncCall): boolean {
  const names = arr(b.funcname).map(sval);
  return names[names.length - 1] === 'count' && !b.agg_distinct;
}

/**
 * Walks an expression, refusing encrypted values in it and the anonymized-column combinations
 * above, rewriting direct comparisons of anonymized columns in place. Returns what its value
 * carries.
 */
function walk(ctx: Ctx, scope: Scope, node: unknown, construct: string): Carry {
  if (Array.isArray(node)) return union(node.map((n) => walk(ctx, scope, n, construct)));
  const t = nodeTag(node);
  if (!t) {
    if (!node || typeof node !== 'object') return NONE;
    // Untagged structs (a TypeName, a WindowDef in `over`…): their own parts; a type's modifiers are no values.
    return union(Object.entries(node).filter(([k]) => k !== 'typeName').map(([, v]) => walk(ctx, scope, v, construct)));
  }
  const [tag, b] = t;
  switch (tag) {
    case 'ColumnRef': return leaf(ctx, scope, node, construct);
    case 'A_Const': return b.isnull ? NONE : SUPPLIED;
    case 'ParamRef': return SUPPLIED;
    case 'TypeName': return NONE;
    case 'SubLink': return subLink(ctx, scope, b, construct);
    case 'NullTest':
      if (!provOf(ctx, scope, b.arg)) walk(ctx, scope, b.arg, construct);
      return NONE;
    case 'BooleanTest':
      walk(ctx, scope, b.arg, construct);
      return NONE;
    case 'BoolExpr':
      for (const a of arr(b.args)) walk(ctx, scope, a, construct);
      return NONE;
    case 'A_Expr': return operator(ctx, scope, b);
    case 'FuncCall': return funcCall(ctx, scope, b);
    case 'TypeCast': return walk(ctx, scope, b.arg, 'cast');
    case 'CaseExpr': return caseExpr(ctx, scope, b);
    case 'CoalesceExpr': case 'MinMaxExpr': case 'XmlExpr': case 'XmlSerialize': case 'A_Indirection': {
      const inner = constructOf(t);
      const c = union(Object.values(b).map((v) => walk(ctx, scope, v, inner)));
      mix(ctx, c, inner);
      return c;
    }
    default:
      // Containers (lists, rows, arrays, select-list and sort items, FROM items…): their parts.
      return union(Object.values(b).map((v) => walk(ctx, scope, v, construct)));
  }
}

function operator(ctx: Ctx, scope: Scope, b: A_Expr): Carry {
  const inner = constructOf(['A_Expr', b]);
  if (anonComparison(ctx, scope, b)) return NONE;
  const c = union([walk(ctx, scope, b.lexpr, inner), walk(ctx, scope, b.rexpr, inner)]);
  mix(ctx, c, inner);
  return booleanResult(b) ? NONE : c;
}

function funcCall(ctx: Ctx, scope: Scope, b: FuncCall): Carry {
  const inner = constructOf(['FuncCall', b]);
  // A FILTER, an ORDER BY inside the call and the window are expressions of their own.
  if (b.agg_filter) walk(ctx, scope, b.agg_filter, inner);
  for (const o of arr(b.agg_order)) walk(ctx, scope, o, inner);
  if (b.over) walk(ctx, scope, b.over, inner);
  if (isCount(b)) {
    for (const a of arr(b.args)) if (!provOf(ctx, scope, a)) walk(ctx, scope, a, 'count()');
    return NONE;
  }
  const c = union(arr(b.args).map((a) => walk(ctx, scope, a, inner)));
  mix(ctx, c, inner);
  return c;
}

function caseExpr(ctx: Ctx, scope: Scope, b: CaseExpr): Carry {
  const whens = arr(b.args).map((w) => nodeBody(w, 'CaseWhen') ?? {});
  const arg = b.arg ? column(ctx, scope, b.arg) : null;
  if (arg?.kind === 'anon' && arg.exact) {
    // CASE col WHEN c …: each WHEN value is compared with the column.
    for (const w of whens) w.expr = anonOperand(ctx, scope, arg.ref, w.expr, 'CASE … WHEN');
  } else if (b.arg) {
    mix(ctx, union([walk(ctx, scope, b.arg, 'CASE'), ...whens.map((w) => walk(ctx, scope, w.expr, 'CASE'))]), 'CASE … WHEN');
  } else {
    for (const w of whens) walk(ctx, scope, w.expr, 'CASE');
  }
  const results = union([...whens.map((w) => walk(ctx, scope, w.result, 'CASE')), walk(ctx, scope, b.defresult, 'CASE')]);
  mix(ctx, results, 'CASE');
  return results;
}

/**
 * Walks an expression that must not use encrypted values, refusing if it does (and refusing the
 * anonymized-column combinations above). Returns what its value carries of anonymized columns
 * (a computed value, never `exact`), for OutCol.anon.
 */
export function plainExpr(ctx: Ctx, scope: Scope, node: unknown, construct: string): OutAnon | null {
  const c = walk(ctx, scope, node, construct);
  const ref = c.anon ?? (c.d > 0 ? touchedAnonymized(ctx) : null);
  return ref ? { ref, exact: false } : null;
}

// ---------------------------------------------------------------------------------------------
// Comparisons of anonymized columns

const EQUALITY_KINDS = new Set(['AEXPR_OP', 'AEXPR_IN', 'AEXPR_DISTINCT', 'AEXPR_NOT_DISTINCT']);

/**
 * `col = v`, `col <> v`, `v = col`, `col [NOT] IN (v, …)`, `col IS [NOT] DISTINCT FROM v` with an
 * anonymized column: each value is anonymized in place (see anonOperand). False when the
 * comparison is not of that shape (the caller walks it as any expression).
 */
function anonComparison(ctx: Ctx, scope: Scope, b: A_Expr): boolean {
  const kind = String(b.kind);
  const op = opName(b);
  if (!EQUALITY_KINDS.has(kind) || (kind !== 'AEXPR_DISTINCT' && kind !== 'AEXPR_NOT_DISTINCT' && op !== '=' && op !== '<>')) return false;
  const l = column(ctx, scope, b.lexpr);
  const r = kind === 'AEXPR_IN' ? null : column(ctx, scope, b.rexpr);
  const la = l?.kind === 'anon' && l.exact ? l.ref : null;
  const ra = r?.kind === 'anon' && r.exact ? r.ref : null;
  if (!la && !ra) return false;
  if (la && ra) return true;
  const construct = kind === 'AEXPR_IN' ? 'IN (…)' : kind === 'AEXPR_OP' ? `comparison (${op})` : 'IS [NOT] DISTINCT FROM';
  if (la && kind === 'AEXPR_IN') {
    const list = nodeBody(b.rexpr, 'List');
    if (!list) refuse('anonymizedInNonList', { column: describe(la) });
    list.items = arr(list.items).map((i) => anonOperand(ctx, scope, la, i, construct));
  } else if (la) b.rexpr = anonOperand(ctx, scope, la, b.rexpr, construct);
  else if (ra) b.lexpr = anonOperand(ctx, scope, ra, b.lexpr, construct);
  return true;
}

/**
 * A value compared with an anonymized column: NULL as is; a constant replaced by its anonymized
 * form; a parameter anonymized at Bind; a column of a table (or another anonymized column) as
 * is. Anything else, or an anonymization the proxy does not apply itself (not deterministic:
 * noise; or needing more than the value: pseudonymize, k-anonymity), is refused.
 */
function anonOperand<N>(ctx: Ctx, scope: Scope, ref: AnonRef, node: N, construct: string): N | Node {
  const refuseOperand = (what: string): never => refuse('anonymizedOperand', { construct, column: describe(ref), what, only: ONLY });
  const v = unwrapCast(node);
  const isConst = Boolean(nodeBody(v, 'A_Const'));
  const p = nodeBody(v, 'ParamRef');
  if (isConst || p) {
    const c = constText(v);
    if (c?.isNull) return node;
    if (isConst && !c) refuseOperand('a constant the proxy cannot read as PostgreSQL would');
    const spec = ref.column.protection.spec;
    if (!appliesToComparison(spec, ref.column.typeOid)) {
      const why = spec.noise || spec.generalize?.shiftMeters !== undefined ? 'its anonymization is not deterministic' : 'the proxy does not apply its anonymization to single values';
      refuseOperand(`a constant or parameter (${why})`);
    }
    const cast = castChanges(node, ref.column.typeOid);
    if (cast) refuseOperand(cast);
    if (p) {
      ctx.setParam(Number(p.number), { kind: 'anonymize', table: ref.table, column: ref.column });
      return node;
    }
    const out = anonymizeText(spec, (c as { text: string }).text, ref.column.typeOid);
    if (out === undefined) refuse('notAnonymizable', { what: `value compared with ${describe(ref)}` });
    return out === null ? nullConst() : textConst(out);
  }
  const col = column(ctx, scope, node);
  if (col?.kind === 'encrypted') refuseConstruct(col.ref, `comparison with ${describe(ref)}`);
  if (col?.kind === 'stored' || (col?.kind === 'anon' && col.exact)) return node;
  if (col) refuseOperand('a column of a subquery, WITH query or VALUES list (it may hold a constant of the statement)');
  return refuseOperand('an expression (only constants, parameters, NULL and columns of tables)');
}

// ---------------------------------------------------------------------------------------------
// Subqueries, predicates, encrypted equality

/** Subqueries inside expressions: EXISTS, IN (SELECT …), scalar subqueries. */
export function subLink(ctx: Ctx, scope: Scope, b: SubLink, construct: string): Carry {
  const sub = nodeBody(b.subselect, 'SelectStmt');
  const type = String(b.subLinkType);
  if (!sub) {
    walk(ctx, scope, b.subselect, construct);
    return SUPPLIED;
  }
  const eq = type === 'ANY_SUBLINK' && (arr(b.operName).length === 0 || opName({ name: b.operName }) === '=');
  if (eq) {
    const tp = provOf(ctx, scope, b.testexpr);
    const tc = tp ? NONE : walk(ctx, scope, b.testexpr, 'IN (subquery)');
    const outs = ctx.subquery(ctx, sub, scope);
    const sp = outs[0]?.prov ?? null;
    if (tp || sp) {
      if (tp && sp && sameDeterministicKey(tp, sp)) return NONE;
      refuseConstruct((tp ?? sp) as ProtectedRef, 'IN (subquery) across differently protected values');
    }
    const out = outputLeaf(ctx, outs[0]);
    const col = column(ctx, scope, b.testexpr);
    // col IN (SELECT col …) of the same anonymized values compares stored forms.
    if (!(col?.kind === 'anon' && col.exact && out.a === 1 && (outs[0] as TracedOutCol).anon?.exact)) mix(ctx, union([tc, out]), 'IN (subquery)');
    return NONE;
  }
  const tc = b.testexpr ? walk(ctx, scope, b.testexpr, construct) : NONE;
  const outs = ctx.subquery(ctx, sub, scope);
  if (type === 'EXISTS_SUBLINK') return NONE;
  const p = outs.find((o) => o.prov)?.prov;
  if (p) refuseConstruct(p, `${construct} over a subquery returning it`);
  const out = union(outs.map((o) => outputLeaf(ctx, o)));
  if (!b.testexpr) return out;
  mix(ctx, union([tc, out]), `${construct} (subquery)`);
  return NONE;
}

export function sameDeterministicKey(a: ProtectedRef, b: ProtectedRef): boolean {
  const pa = a.column.protection;
  const pb = b.column.protection;
  return pa.mode === 'deterministic' && pb.mode === 'deterministic' && pa.keyName === pb.keyName;
}

/** Rewrites a boolean condition (WHERE, HAVING, JOIN ON). Returns the replacement node. */
export function predicate<N>(ctx: Ctx, scope: Scope, node: N): N | Node {
  const t = nodeTag(node);
  if (!t) return node;
  const [tag, b] = t;
  if (tag === 'BoolExpr') {
    b.args = arr(b.args).map((a) => predicate(ctx, scope, a));
    return node;
  }
  if (tag === 'NullTest') {
    if (!provOf(ctx, scope, b.arg)) walk(ctx, scope, b.arg, 'IS NULL');
    return node;
  }
  if (tag === 'SubLink') {
    subLink(ctx, scope, b, 'comparison');
    return node;
  }
  if (tag === 'A_Expr') return comparison(ctx, scope, node, b);
  walk(ctx, scope, node, constructOf(t));
  return node;
}

function comparison<N>(ctx: Ctx, scope: Scope, node: N, b: A_Expr): N | Node {
  const kind = String(b.kind);
  const op = opName(b);
  const equality = (kind === 'AEXPR_OP' || kind === 'AEXPR_IN') && (op === '=' || op === '<>');
  const lp = equality ? provOf(ctx, scope, b.lexpr) : null;
  const rp = equality && kind !== 'AEXPR_IN' ? provOf(ctx, scope, b.rexpr) : null;
  if (!lp && !rp) {
    walk(ctx, scope, node, constructOf(['A_Expr', b]));
    return node;
  }
  if (lp && rp) {
    if (sameDeterministicKey(lp, rp)) return node;
    refuseConstruct(lp, 'comparison with another column that does not share its deterministic key');
  }
  const ref = (lp ?? rp) as ProtectedRef;
  const colNode = lp ? b.lexpr : b.rexpr;
  const others = kind === 'AEXPR_IN' ? arr(nodeBody(b.rexpr, 'List')?.items) : [lp ? b.rexpr : b.lexpr];
  return equalityRewrite(ctx, ref, colNode, others, op === '<>');
}

