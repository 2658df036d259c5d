// Values the proxy computes into an unprotected column of a split table (issue 12): a computed
// UPDATE (`… FROM`, a SET that reads other backends' columns) or an INSERT … SELECT. The proxy
// reads their sources decrypted and recomposed, so a value copied into a column stored in clear
// would hand a provider what the policy keeps encrypted, or what it places on another provider.
// Such a value may come only from constants, parameters, and unprotected columns stored on the
// target column's backend (a row key too: it is on every backend); the row key itself, replicated
// to every backend by design, may take any unprotected column. Anything else, and a source that
// cannot be resolved to one table's column, is refused (SplitUnsupported: 0A000). Pure: the
// statement's tree, the layouts and the policy's protected columns.
//
// What a WHERE clause selects is not a value flow (an application's `UPDATE … SET ward = 'x'
// WHERE <encrypted column> = …` stores a constant): only the written values are judged.
import type { InsertStmt, SelectStmt, UpdateStmt } from '@pgsql/types';
import { arr, body, colRefNames, isObj, nodeBody } from '../rewrite/ast.ts';
import { backendOfColumn } from './layout.ts';
import type { SplitLayout } from './layout.ts';
import { relationOf, SplitUnsupported } from './plan.ts';

/** Protected (encrypted or anonymized) columns of every policy dataset, by `schema.table`. */
export type ProtectedColumns = ReadonlyMap<string, ReadonlySet<string>>;

/** A relation a column reference may name: a split table's layout, or another table (stored at home). */
interface Source { layout: SplitLayout | null; schema?: string; table: string }

/** A FROM item: a table, or a subquery / WITH query whose items are judged where they are read. */
type Rel = { kind: 'table'; source: Source } | { kind: 'derived'; select: SelectStmt; colnames: string[] | null; ctes: Ctes };

type Ctes = ReadonlyMap<string, { query: unknown; colnames: string[] | null }>;

/** The names under which a statement's own FROM clause exposes relations; `opaque` when it holds other items. */
interface Scope { byName: Map<string, Rel>; opaque: boolean }

interface FlowEnv { layouts: ReadonlyMap<string, SplitLayout>; protectedColumns: ProtectedColumns }

/** Nesting of subqueries and WITH queries followed before refusing. */
const MAX_DEPTH = 16;

function refuse(l: SplitLayout, column: string, why: string): never {
  throw new SplitUnsupported(`a value computed into ${column} (stored in clear on ${column === l.key ? 'every backend' : backendOfColumn(l, column)}) from ${why} on split table ${l.schema}.${l.table} (dataset ${l.dataset}) is not supported`);
}

const names = (list: unknown): string[] | null => (Array.isArray(list) && list.length > 0 ? list.map((x) => String(body(x, 'String')?.sval)) : null);

/** The WITH queries `withClause` adds to `outer`. */
function withCtes(withClause: { ctes?: unknown[] } | undefined, outer: Ctes): Ctes {
  const ctes = arr(withClause?.ctes);
  if (ctes.length === 0) return outer;
  const out = new Map(outer);
  for (const c of ctes) {
    const cte = nodeBody(c, 'CommonTableExpr');
    if (cte) out.set(String(cte.ctename), { query: cte.ctequery, colnames: names(cte.aliascolnames) });
  }
  return out;
}

/** The relations of a FROM list (through joins) by the name the statement uses for them. */
function scopeOf(from: unknown[], layouts: ReadonlyMap<string, SplitLayout>, ctes: Ctes, into: Scope = { byName: new Map(), opaque: false }): Scope {
  const visit = (n: unknown): void => {
    const rv = nodeBody(n, 'RangeVar');
    if (rv) {
      const alias = rv.alias;
      const name = alias?.aliasname ?? rv.relname ?? '';
      const cte = rv.schemaname === undefined ? ctes.get(rv.relname ?? '') : undefined;
      const sel = cte ? nodeBody(cte.query, 'SelectStmt') : null;
      if (cte && !sel) { into.opaque = true; return; }
      into.byName.set(name, sel ? { kind: 'derived', select: sel, colnames: names(alias?.colnames) ?? cte?.colnames ?? null, ctes } : { kind: 'table', source: relationOf(rv, layouts) });
      return;
    }
    const sub = nodeBody(n, 'RangeSubselect');
    const subSel = sub ? nodeBody(sub.subquery, 'SelectStmt') : null;
    const subAlias = sub?.alias;
    if (subSel && subAlias?.aliasname && !sub?.lateral) { into.byName.set(subAlias.aliasname, { kind: 'derived', select: subSel, colnames: names(subAlias.colnames), ctes }); return; }
    const j = nodeBody(n, 'JoinExpr');
    if (j && !j.alias) { visit(j.larg); visit(j.rarg); return; }
    into.opaque = true;
  };
  for (const f of from) visit(f);
  return into;
}

/** Whether `column` of `s` is protected by the policy (a table of no given schema: any dataset of that name). */
function isProtected(env: FlowEnv, s: Source, column: string): boolean {
  if (s.layout) return env.protectedColumns.get(`${s.layout.schema}.${s.layout.table}`)?.has(column) ?? false;
  for (const [name, cols] of env.protectedColumns) {
    const [schema, table] = name.split('.') as [string, string];
    if (table === s.table && (s.schema === undefined || s.schema === schema) && cols.has(column)) return true;
  }
  return false;
}

/** Where a source column is stored: null for a row key (every backend). */
function storedOn(s: Source, column: string, home: string): string | null {
  if (!s.layout) return home;
  return column === s.layout.key ? null : backendOfColumn(s.layout, column);
}

/** The relation and column a reference names in `scope`, or a refusal. */
function resolve(l: SplitLayout, target: string, scope: Scope, refNames: string[]): { rel: Rel; column: string } {
  const column = refNames[refNames.length - 1] as string;
  if (column === '*') refuse(l, target, 'a whole row (*)');
  if (refNames.length === 2) {
    const rel = scope.byName.get(refNames[0] as string);
    if (rel) return { rel, column };
  }
  if (refNames.length === 1 && !scope.opaque && scope.byName.size === 1) return { rel: [...scope.byName.values()][0] as Rel, column };
  return refuse(l, target, `${refNames.join('.')}, which the proxy cannot tie to one table's column here (qualify it with its table)`);
}

/** The item of a derived relation's SELECT that gives its output `column`. */
function itemOf(l: SplitLayout, target: string, rel: Extract<Rel, { kind: 'derived' }>, column: string): unknown {
  const s = rel.select;
  if (s.op !== 'SETOP_NONE' || arr(s.valuesLists).length > 0) refuse(l, target, `${column} of a set operation or VALUES list`);
  const items = arr(s.targetList).map((t) => nodeBody(t, 'ResTarget') ?? {});
  const at = rel.colnames ? rel.colnames.indexOf(column) : items.findIndex((rt) => (rt.name ?? lastName(rt.val)) === column);
  const item = items[at];
  if (!item) return refuse(l, target, `${column}, which the proxy cannot find in its subquery`);
  return item.val;
}

function lastName(val: unknown): string | undefined {
  const ref = body(val, 'ColumnRef');
  return ref ? colRefNames(ref).at(-1) : undefined;
}

/** Refuses unless every value `value` reads may be stored in clear where `target` is. */
function checkValue(env: FlowEnv, l: SplitLayout, target: string, value: unknown, scope: Scope, depth = 0): void {
  if (depth > MAX_DEPTH) refuse(l, target, 'subqueries nested too deeply');
  const where = target === l.key ? null : backendOfColumn(l, target);
  const visit = (n: unknown): void => {
    if (Array.isArray(n)) { for (const x of n) visit(x); return; }
    if (!isObj(n)) return;
    if (body(n, 'SubLink')) refuse(l, target, 'a subquery');
    const ref = nodeBody(n, 'ColumnRef');
    if (ref) {
      const { rel, column } = resolve(l, target, scope, colRefNames(ref));
      if (rel.kind === 'derived') {
        const inner = withCtes(rel.select.withClause, rel.ctes);
        checkValue(env, l, target, itemOf(l, target, rel, column), scopeOf(arr(rel.select.fromClause), env.layouts, inner), depth + 1);
        return;
      }
      const { source } = rel;
      if (isProtected(env, source, column)) refuse(l, target, `protected column ${source.table}.${column}`);
      const at = storedOn(source, column, l.home);
      if (where !== null && at !== null && at !== where) refuse(l, target, `${source.table}.${column}, stored on ${at}`);
      return;
    }
    for (const v of Object.values(n)) visit(v);
  };
  visit(value);
}

function isProtectedTarget(env: FlowEnv, l: SplitLayout, column: string): boolean {
  return env.protectedColumns.get(`${l.schema}.${l.table}`)?.has(column) ?? false;
}

/** A computed UPDATE of split table `l` (`upd`: the UpdateStmt's body): every SET value into an unprotected column. */
export function checkUpdateFlows(env: FlowEnv, l: SplitLayout, upd: UpdateStmt): void {
  const self: Rel = { kind: 'table', source: { layout: l, schema: l.schema, table: l.table } };
  const ctes = withCtes(upd.withClause, new Map());
  const scope = scopeOf(arr(upd.fromClause), env.layouts, ctes, { byName: new Map([[upd.relation?.alias?.aliasname ?? l.table, self]]), opaque: false });
  for (const t of arr(upd.targetList)) {
    const rt = nodeBody(t, 'ResTarget');
    const name = rt?.name ?? '';
    if (!isProtectedTarget(env, l, name)) checkValue(env, l, name, rt?.val, scope);
  }
}

/** An INSERT … SELECT into split table `l` (`ins`: the InsertStmt's body): each SELECT item going into an unprotected column. */
export function checkInsertSelectFlows(env: FlowEnv, l: SplitLayout, ins: InsertStmt): void {
  const cols = arr(ins.cols).map((c) => nodeBody(c, 'ResTarget')?.name ?? '');
  const plainAt = cols.map((c, i) => (isProtectedTarget(env, l, c) ? -1 : i)).filter((i) => i >= 0);
  if (plainAt.length === 0) return;
  const sel = nodeBody(ins.selectStmt, 'SelectStmt') ?? {};
  const items = arr(sel.targetList);
  const simple = sel.op === 'SETOP_NONE' && arr(sel.valuesLists).length === 0 && items.length === cols.length;
  const scope = scopeOf(arr(sel.fromClause), env.layouts, withCtes(sel.withClause, withCtes(ins.withClause, new Map())));
  for (const i of plainAt) {
    const column = cols[i] as string;
    const item = simple ? nodeBody(items[i], 'ResTarget')?.val : undefined;
    if (!simple) refuse(l, column, 'a SELECT the proxy cannot read item by item (a set operation or a * list)');
    checkValue(env, l, column, item, scope);
  }
}
