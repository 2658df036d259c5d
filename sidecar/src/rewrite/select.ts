// SELECT (and the query part of INSERT … SELECT, CTEs, subqueries, set operations).
// Postcondition: the returned output columns say, position by position, which ones carry
// ciphertext of which column; `*` over relations with protected columns is expanded (so hidden
// blind-index columns never reach the client); clauses that would compute on ciphertext
// (ORDER BY, range, LIKE, functions, DISTINCT/GROUP BY on randomized values) are refused.
import type { Alias, JoinExpr, Node, RangeVar, ResTarget, SelectStmt, WithClause } from '@pgsql/types';
import { arr, colRefNames, isObj, nodeBody, nodeTag, untyped } from './ast.ts';
import type { Ctx, ProtectedRef } from './context.ts';
import { refuse } from './refusals.ts';
import { mergeSources, refuseConstruct } from './context.ts';
import { outputAnon, plainExpr, predicate, provOf, subLink } from './expr.ts';
import type { OutAnon } from './expr.ts';
import { referencedTables } from './refs.ts';
import { newScope, tableColumns } from './scope.ts';
import { grouping } from './rules/group-by-distinct.ts';
import { ordering } from './rules/order-by.ts';
import { setOperation } from './rules/set-operation.ts';
import { expandStar, exposeBlindIndexes } from './rules/star-expansion.ts';
import { guardShape } from './rules/shape-guard.ts';
import type { OutCol, Relation, Scope } from './scope.ts';

/** `exposeIndex`: a FROM subquery or CTE also outputs the blind index of searchable columns it returns. */
export function analyzeSelect(ctx: Ctx, s: SelectStmt, parent: Scope | undefined, top: boolean, exposeIndex = false): OutCol[] {
  const scope = newScope(parent);
  withClause(ctx, s, scope);
  if (s.op && s.op !== 'SETOP_NONE') return setOperationSelect(ctx, s, scope, top);
  if (s.valuesLists) {
    plainExpr(ctx, scope, s.valuesLists, 'VALUES');
    return arr(nodeBody(arr(s.valuesLists)[0], 'List')?.items).map((_, i) => ({ name: `column${i + 1}`, prov: null, anon: null }));
  }
  for (const item of arr(s.fromClause)) addFromItem(ctx, scope, item);
  const expandedBefore = ctx.expanded.length;
  const outs = targets(ctx, scope, s);
  if (exposeIndex) exposeBlindIndexes(s, outs);
  if (s.whereClause) s.whereClause = predicate(ctx, scope, s.whereClause);
  guardShape(s, ctx.expanded.slice(expandedBefore));
  if (s.havingClause) s.havingClause = predicate(ctx, scope, s.havingClause);
  grouping(ctx, scope, s, outs);
  ordering(ctx, scope, arr(s.sortClause), outs);
  plainExpr(ctx, scope, [s.limitCount, s.limitOffset, s.windowClause], 'LIMIT/OFFSET/WINDOW');
  if (s.intoClause) newTableTarget(ctx, s.intoClause.rel);
  if (s.intoClause && ctx.touched.size > 0) plainNewTable(outs, 'SELECT INTO');
  return outs;
}

/** The table CREATE TABLE AS / SELECT INTO makes must not have a protected table's name (in any schema). */
export function newTableTarget(ctx: Ctx, rel: unknown): void {
  const rv: RangeVar | undefined = nodeBody(rel, 'RangeVar') ?? (isObj(rel) ? rel : undefined);
  const name = rv?.relname;
  if (typeof name !== 'string') return;
  const schema = typeof rv?.schemaname === 'string' ? rv.schemaname : undefined;
  if (ctx.catalog.lookup(schema, name) || ctx.catalog.lookup(undefined, name)) refuse('newTableNamedProtected', { name });
}

/**
 * CREATE TABLE AS / SELECT INTO over protected tables: the new table is outside the policy, so no
 * output may carry a protected column's stored form (ciphertext, blind index, anonymized value).
 */
export function plainNewTable(outs: OutCol[], what: string): void {
  for (const o of outs) {
    const p = o.prov ?? o.anon?.ref;
    if (p) refuse('newTableFromProtected', { what, column: `${p.table.table}.${p.column.name}` });
    if (o.anon === undefined) refuse('newTableFromProtected', { what, column: `a value the proxy cannot trace (${o.name})` });
  }
}

function setOperationSelect(ctx: Ctx, s: SelectStmt, scope: Scope, top: boolean): OutCol[] {
  const left = analyzeSelect(ctx, s.larg ?? {}, scope, top);
  const right = analyzeSelect(ctx, s.rarg ?? {}, scope, false);
  const outs = setOperation(s, left, right);
  ordering(ctx, scope, arr(s.sortClause), outs);
  plainExpr(ctx, scope, [s.limitCount, s.limitOffset], 'LIMIT/OFFSET');
  return outs;
}

export function withClause(ctx: Ctx, s: { withClause?: WithClause }, scope: Scope): void {
  const w = s.withClause;
  if (!w) return;
  for (const c of arr(w.ctes)) {
    const cte = nodeBody(c, 'CommonTableExpr') ?? {};
    const q = nodeBody(cte.ctequery, 'SelectStmt');
    if (!q) {
      if (referencedTables(ctx.catalog, cte.ctequery).size > 0) refuse('modifyingWith');
      plainExpr(ctx, scope, cte.ctequery, 'data-modifying WITH');
      continue;
    }
    if (w.recursive) scope.ctes.set(String(cte.ctename), []);
    let outs = analyzeSelect(ctx, q, scope, false, !w.recursive);
    if (w.recursive && outs.some((o) => o.prov)) refuse('recursiveWith', { cte: String(cte.ctename) });
    const names = arr(cte.aliascolnames).map((n) => String(nodeBody(n, 'String')?.sval));
    if (names.length) outs = outs.map((o, i) => ({ ...o, name: names[i] ?? o.name }));
    scope.ctes.set(String(cte.ctename), outs);
  }
}

function relationAlias(b: { alias?: Alias }, fallback: string): string {
  const a = b.alias;
  return a ? String(a.aliasname) : fallback;
}

function renameColumns(b: { alias?: Alias }, cols: OutCol[]): OutCol[] {
  const names = arr(b.alias?.colnames).map((n) => String(nodeBody(n, 'String')?.sval));
  return names.length ? cols.map((c, i) => ({ ...c, name: names[i] ?? c.name })) : cols;
}

export function rangeVarRelation(ctx: Ctx, scope: Scope, rv: RangeVar): Relation {
  const name = String(rv.relname);
  const schema = rv.schemaname;
  const cte = schema === undefined ? scope.ctes.get(name) : undefined;
  if (cte) return { alias: relationAlias(rv, name), columns: renameColumns(rv, cte) };
  const t = ctx.catalog.lookup(schema, name);
  if (!t) return { alias: relationAlias(rv, name) };
  ctx.touch(t);
  return { alias: relationAlias(rv, name), table: t, columns: renameColumns(rv, tableColumns(t)) };
}

/** The SELECT a subquery node holds (always one where the grammar puts a subquery). */
function selectOf(node: unknown): SelectStmt {
  return nodeBody(node, 'SelectStmt') ?? {};
}

/** A select-list item (always a ResTarget). */
function resTargetOf(item: unknown): ResTarget {
  return nodeBody(item, 'ResTarget') ?? {};
}

export function addFromItem(ctx: Ctx, scope: Scope, item: unknown): void {
  const t = nodeTag(item);
  if (!t) return;
  const [tag, b] = t;
  if (tag === 'RangeVar') scope.relations.push(rangeVarRelation(ctx, scope, b));
  else if (tag === 'RangeSubselect') {
    const q = selectOf(b.subquery);
    // Not LATERAL: the subquery sees this level's WITH queries but none of its FROM items.
    const outer: Scope = b.lateral ? scope : { relations: [], ctes: scope.ctes, parent: scope.parent, mergedJoin: false };
    const outs = analyzeSelect(ctx, q, outer, false, true);
    scope.relations.push({ alias: relationAlias(b, '?subquery?'), columns: renameColumns(b, outs) });
  } else if (tag === 'JoinExpr') {
    addFromItem(ctx, scope, b.larg);
    addFromItem(ctx, scope, b.rarg);
    if (b.usingClause || b.isNatural) joinUsing(ctx, scope, b);
    if (b.quals) b.quals = predicate(ctx, scope, b.quals);
  } else if (tag === 'RangeTableSample') {
    addFromItem(ctx, scope, b.relation);
    plainExpr(ctx, scope, [b.args, b.repeatable], 'TABLESAMPLE');
  } else {
    // Functions, XMLTABLE, JSON_TABLE…: fine over plain data; a protected table inside is refused.
    if (referencedTables(ctx.catalog, b).size > 0) refuse('fromItem', { tag });
    plainExpr(ctx, scope, b, 'FROM item');
    scope.relations.push({ alias: relationAlias(untyped(b), '?') });
  }
}

function joinUsing(ctx: Ctx, scope: Scope, b: JoinExpr): void {
  scope.mergedJoin = true;
  for (const u of arr(b.usingClause)) {
    const name = String(nodeBody(u, 'String')?.sval);
    const provs = scope.relations.flatMap((r) => r.columns?.filter((c) => c.name === name && c.prov).map((c) => c.prov as ProtectedRef) ?? []);
    for (const p of provs) if (p.column.protection.mode !== 'deterministic') refuseConstruct(p, 'JOIN USING');
    mergeUsingColumn(scope, name, provs);
  }
  if (b.isNatural && scope.relations.some((r) => r.columns?.some((c) => c.prov))) {
    refuse('naturalJoin');
  }
}

/**
 * The merged column of JOIN … USING (name) takes either side's value (the right one for rows
 * only the right side has): each side's column of that name now carries every side's sources.
 */
function mergeUsingColumn(scope: Scope, name: string, provs: ProtectedRef[]): void {
  if (provs.length < 2) return;
  const merged = provs.reduce((a, b) => mergeSources(a, b));
  for (const r of scope.relations) {
    if (!r.columns?.some((c) => c.name === name && c.prov)) continue;
    r.columns = r.columns.map((c) => (c.name === name && c.prov ? { ...c, prov: mergeSources(c.prov, merged) } : c));
  }
}

export function targets(ctx: Ctx, scope: Scope, s: { targetList?: Node[] }): OutCol[] {
  const outs: OutCol[] = [];
  const list: Node[] = [];
  for (const item of arr(s.targetList)) {
    const rt: ResTarget = resTargetOf(item);
    const ref = nodeBody(rt.val, 'ColumnRef');
    const names = ref ? colRefNames(ref) : [];
    if (names[names.length - 1] === '*') {
      const expanded = expandStar(ctx, scope, names);
      if (expanded) {
        for (const e of expanded) {
          list.push({ ResTarget: { val: e.node, location: -1 } });
          outs.push(e.out);
        }
        continue;
      }
      outs.push({ name: '*', prov: null, star: true });
      list.push(item);
      continue;
    }
    const isNull = nodeBody(rt.val, 'A_Const')?.isnull === true;
    outs.push({ name: rt.name ? String(rt.name) : (names[names.length - 1] ?? '?column?'), ...targetProv(ctx, scope, rt.val), ...(isNull ? { nullConst: true } : {}) });
    list.push(item);
  }
  s.targetList = list;
  return outs;
}

function targetProv(ctx: Ctx, scope: Scope, val: unknown): { prov: ProtectedRef | null; anon?: OutAnon | null } {
  const p = provOf(ctx, scope, val);
  if (p) return { prov: p, anon: null };
  if (nodeBody(val, 'ColumnRef')) return { prov: null, anon: outputAnon(ctx, scope, val) };
  const sl = nodeBody(val, 'SubLink');
  if (sl && sl.subLinkType === 'EXPR_SUBLINK') {
    const q = selectOf(sl.subselect);
    const outs = analyzeSelect(ctx, q, scope, false);
    return { prov: outs[0]?.prov ?? null, anon: outs[0]?.anon };
  }
  if (sl) {
    subLink(ctx, scope, sl, 'subquery');
    return { prov: null, anon: null };
  }
  return { prov: null, anon: plainExpr(ctx, scope, val, 'expression in the select list') };
}

