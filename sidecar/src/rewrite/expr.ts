// Expressions and predicates. Postcondition: every reference to an encrypted column either sits
// in a construct that works on ciphertext (equality/IN on deterministic values, blind-index
// equality for searchable ones, IS NULL, count()) and has been rewritten to compare stored forms,
// or the statement is refused naming the column and the construct.
import {
  arr, body, boolExpr, byteaLiteral, colRefNames, columnRef, constText, opExpr, paramRef, sval, tagOf, unwrapCast,
} from './ast.ts';
import type { Json } from './ast.ts';
import { BIDX_SUFFIX } from './catalog.ts';
import type { Ctx, ProtectedRef } from './context.ts';
import { Refusal, refuseConstruct } from './context.ts';
import { resolve } from './scope.ts';
import type { Scope } from './scope.ts';
import { analyzeSelect } from './select.ts';

/** The protected column a bare ColumnRef names, or null (plain, unknown, or not a ColumnRef). */
export function provOf(ctx: Ctx, scope: Scope, node: unknown): ProtectedRef | null {
  const ref = body(node, 'ColumnRef');
  if (!ref) return null;
  const names = colRefNames(ref);
  if (names.includes('*')) {
    wholeRow(scope, names.length > 1 ? names[names.length - 2] : undefined);
    return null;
  }
  const r = resolve(scope, names);
  if (r.kind === 'ambiguous') {
    throw new Refusal('0A000', `clarus: column ${names[0]} could come from a relation the policy does not describe or from protected column ${r.col.prov?.table.table}.${r.col.prov?.column.name} of an outer query; qualify it with its table`);
  }
  if (r.kind !== 'column') {
    if (names.length === 1) wholeRow(scope, names[0]);
    return null;
  }
  if (r.col.prov) {
    ctx.touch(r.col.prov.table, r.col.prov.column.name);
    return r.col.prov;
  }
  if (r.rel.table) ctx.touch(r.rel.table, r.col.name);
  return null;
}

/** A whole-row reference (`p`, `p.*`, `*` inside an expression) to a relation with ciphertext. */
function wholeRow(scope: Scope, alias: string | undefined): void {
  for (let sc: Scope | undefined = scope; sc; sc = sc.parent) {
    for (const rel of sc.relations) {
      if (alias !== undefined && rel.alias !== alias) continue;
      const p = rel.columns?.find((c) => c.prov)?.prov;
      if (p) refuseConstruct(p, 'whole-row reference');
    }
    if (alias === undefined) return;
  }
}

function constructOf(tag: string, b: Json): string {
  if (tag === 'FuncCall') return `function ${arr(b.funcname).map(sval).join('.')}()`;
  if (tag === 'A_Expr') {
    const kind = String(b.kind);
    if (kind === 'AEXPR_LIKE' || kind === 'AEXPR_ILIKE') return 'LIKE/ILIKE';
    if (kind === 'AEXPR_BETWEEN' || kind === 'AEXPR_NOT_BETWEEN') return 'BETWEEN (range)';
    const op = arr(b.name).map(sval).join('');
    return ['<', '>', '<=', '>='].includes(op) ? `range comparison (${op})` : `operator ${op}`;
  }
  if (tag === 'TypeCast') return 'cast';
  if (tag === 'CaseExpr') return 'CASE';
  if (tag === 'CoalesceExpr') return 'COALESCE';
  if (tag === 'MinMaxExpr') return 'GREATEST/LEAST';
  return 'expression';
}

/** Walks an expression that must not use encrypted values, refusing if it does. */
export function plainExpr(ctx: Ctx, scope: Scope, node: unknown, construct: string): void {
  if (Array.isArray(node)) {
    for (const n of node) plainExpr(ctx, scope, n, construct);
    return;
  }
  const t = tagOf(node);
  if (!t) {
    if (node && typeof node === 'object') for (const v of Object.values(node)) plainExpr(ctx, scope, v, construct);
    return;
  }
  const [tag, b] = t;
  if (tag === 'ColumnRef') {
    const p = provOf(ctx, scope, node);
    if (p) refuseConstruct(p, construct);
    return;
  }
  if (tag === 'SubLink') return subLink(ctx, scope, b, construct);
  if (tag === 'NullTest' && provOf(ctx, scope, b.arg)) return;
  if (tag === 'FuncCall' && isCount(b)) {
    for (const a of arr(b.args)) if (!provOf(ctx, scope, a)) plainExpr(ctx, scope, a, 'count()');
    return;
  }
  const inner = ['FuncCall', 'A_Expr', 'TypeCast', 'CaseExpr', 'CoalesceExpr', 'MinMaxExpr'].includes(tag) ? constructOf(tag, b) : construct;
  for (const v of Object.values(b)) if (v && typeof v === 'object') plainExpr(ctx, scope, v, inner);
}

function isCount(b: Json): boolean {
  const names = arr(b.funcname).map(sval);
  return names[names.length - 1] === 'count' && !b.agg_distinct;
}

/** Subqueries inside expressions: EXISTS, IN (SELECT …), scalar subqueries. */
export function subLink(ctx: Ctx, scope: Scope, b: Json, construct: string): void {
  const sub = body(b.subselect, 'SelectStmt');
  const type = String(b.subLinkType);
  if (type === 'ANY_SUBLINK' && sub) {
    const tp = provOf(ctx, scope, b.testexpr);
    if (!tp && b.testexpr) plainExpr(ctx, scope, b.testexpr, 'IN (subquery)');
    const outs = analyzeSelect(ctx, sub, scope, false);
    const sp = outs[0]?.prov ?? null;
    if (!tp && !sp) return;
    if (tp && sp && sameDeterministicKey(tp, sp)) return;
    refuseConstruct((tp ?? sp) as ProtectedRef, 'IN (subquery) across differently protected values');
  }
  if (!sub) return plainExpr(ctx, scope, b.subselect, construct);
  const outs = analyzeSelect(ctx, sub, scope, false);
  if (type === 'EXISTS_SUBLINK') return;
  const p = outs.find((o) => o.prov)?.prov;
  if (p) refuseConstruct(p, `${construct} over a subquery returning it`);
}

export function sameDeterministicKey(a: ProtectedRef, b: ProtectedRef): boolean {
  const pa = a.column.protection;
  const pb = b.column.protection;
  return pa.mode === 'deterministic' && pb.mode === 'deterministic' && pa.keyName === pb.keyName;
}

/** Rewrites a boolean condition (WHERE, HAVING, JOIN ON). Returns the replacement node. */
export function predicate(ctx: Ctx, scope: Scope, node: unknown): unknown {
  const t = tagOf(node);
  if (!t) return node;
  const [tag, b] = t;
  if (tag === 'BoolExpr') {
    b.args = arr(b.args).map((a) => predicate(ctx, scope, a));
    return node;
  }
  if (tag === 'NullTest') {
    if (!provOf(ctx, scope, b.arg)) plainExpr(ctx, scope, b.arg, 'IS NULL');
    return node;
  }
  if (tag === 'SubLink') {
    subLink(ctx, scope, b, 'comparison');
    return node;
  }
  if (tag === 'A_Expr') return comparison(ctx, scope, node as Json, b);
  plainExpr(ctx, scope, node, constructOf(tag, b));
  return node;
}

function comparison(ctx: Ctx, scope: Scope, node: Json, b: Json): unknown {
  const kind = String(b.kind);
  const op = arr(b.name).map(sval).join('');
  const equality = (kind === 'AEXPR_OP' || kind === 'AEXPR_IN') && (op === '=' || op === '<>');
  if (!equality) {
    plainExpr(ctx, scope, node, constructOf('A_Expr', b));
    return node;
  }
  const lp = provOf(ctx, scope, b.lexpr);
  const rp = kind === 'AEXPR_IN' ? null : provOf(ctx, scope, b.rexpr);
  if (!lp && !rp) {
    plainExpr(ctx, scope, [b.lexpr, b.rexpr], `operator ${op}`);
    return node;
  }
  if (lp && rp) {
    if (sameDeterministicKey(lp, rp)) return node;
    refuseConstruct(lp, 'comparison with another column that does not share its deterministic key');
  }
  const ref = (lp ?? rp) as ProtectedRef;
  const colNode = lp ? b.lexpr : b.rexpr;
  const others = kind === 'AEXPR_IN' ? arr(body(b.rexpr, 'List')?.items) : [lp ? b.rexpr : b.lexpr];
  return equalityRewrite(ctx, ref, colNode, others, op === '<>');
}

/** The stored-form target of an equality: the column itself, or its hidden blind index. */
function equalityTarget(ref: ProtectedRef, colNode: unknown): unknown {
  if (ref.column.protection.mode === 'deterministic') return colNode;
  if (!ref.column.protection.searchable) refuseConstruct(ref, 'equality comparison (declare it searchable or deterministic)');
  const names = colRefNames(body(colNode, 'ColumnRef') as Json);
  names[names.length - 1] = `${names[names.length - 1]}${BIDX_SUFFIX}`;
  return columnRef(names);
}

function equalityRewrite(ctx: Ctx, ref: ProtectedRef, colNode: unknown, others: unknown[], negate: boolean): unknown {
  const target = equalityTarget(ref, colNode);
  const det = ref.column.protection.mode === 'deterministic';
  const cipher = ctx.cipher(ref);
  const literals: unknown[] = [];
  const terms: unknown[] = [];
  for (const o of others) {
    const v = unwrapCast(o);
    const c = constText(v);
    const p = body(v, 'ParamRef');
    if (c && c.isNull) continue;
    if (c) {
      const canon = ctx.canonical(ref, c.text);
      for (const f of det ? cipher.equalityForms(canon) : cipher.blindIndexes(canon)) literals.push(byteaLiteral(f));
    } else if (p) {
      const n = Number(p.number);
      ctx.setParam(n, det ? { kind: 'equalityAny', ref } : { kind: 'blindIndexAny', ref });
      terms.push(opExpr(negate ? 'AEXPR_OP_ALL' : 'AEXPR_OP_ANY', negate ? '<>' : '=', target, paramRef(n)));
    } else {
      refuseConstruct(ref, 'comparison with an expression (only constants and parameters)');
    }
  }
  const op = negate ? '<>' : '=';
  if (literals.length === 1) terms.unshift(opExpr('AEXPR_OP', op, target, literals[0]));
  if (literals.length > 1) terms.unshift(opExpr('AEXPR_IN', op, target, { List: { items: literals } }));
  if (terms.length === 0) return opExpr('AEXPR_OP', op, target, { A_Const: { isnull: true, location: -1 } });
  return boolExpr(negate ? 'AND_EXPR' : 'OR_EXPR', terms);
}
