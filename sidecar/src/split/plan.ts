// The plan of one statement on a split table (issue 12). Pure: AST in, per-fragment statements
// (logical SQL over each backend's fragment, protected afterwards by that fragment's rewriter) out.
//
// * SELECT over the split table alone: the home fragment is read with every WHERE conjunct that
//   names only home columns (the fragment's rewriter decides later which of them it can send),
//   the other fragments are read by row key for the keys the home fragment returned, the rows are
//   joined on the key in the proxy, and the whole statement runs in the proxy's engine over the
//   recomposed relation (exact PostgreSQL semantics for everything else).
// * INSERT … VALUES: each fragment gets the row key and its columns; the home INSERT returns the
//   row keys (a serial key is allowed), the other fragments' rows take them by position.
// * UPDATE / DELETE: every WHERE conjunct names the columns of one fragment; those of other
//   fragments select row keys there first (FOR UPDATE); the home statement, restricted to those
//   keys, returns the keys it changed; the other fragments change the same keys.
// * CREATE TABLE / DROP TABLE: each fragment gets its part (the row key is the primary key of
//   every other fragment).
// Anything else is refused by name (what the proxy does not fully understand, it refuses).
import type { AlterTableCmd } from '@pgsql/types';
import { arr, body, colRefNames, columnRef, isObj, nodeBody, paramNumbers, paramRef } from '../rewrite/ast.ts';
import type { Json } from '../rewrite/ast.ts';
import { deparseStatement } from '../rewrite/parser.ts';
import { backendOfColumn } from './layout.ts';
import type { SplitLayout } from './layout.ts';
import { indexStem } from './index-name.ts';
import type { IndexStem } from './index-name.ts';
import { rowLocal } from '../rewrite/two-stage/row-local.ts';
import { orderQuery, positionalColumns } from './column-order.ts';
import { StatementError } from '../session/pipeline.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';
import type { OrderChange } from './column-order.ts';
import { pinnedKeys } from './pinned.ts';
import type { PinnedKey } from './pinned.ts';

/** In FragmentSql.params: the parameter that takes the selected row keys (a text array). */
export const KEYS_PARAM = 1_000_000;

/** A statement for one fragment: logical SQL and the client parameters its `$k` take (`params[k-1]`). */
export interface FragmentSql { backend: string; sql: string; params: number[] }

/**
 * A table a SELECT reads: a split table (recomposed from its fragments) or another table (read
 * whole from the home backend, protected by the home fragment's rules), under an engine name.
 */
export interface ReadRelation {
  name: string;
  layout: SplitLayout | null;
  table: { schema?: string; table: string };
  /** `SELECT * FROM t AS alias WHERE <its conjuncts>` on the home backend. */
  home: FragmentSql;
  /**
   * The same with only some of the conjuncts (those the home fragment's rules accept):
   * homeWith(indexes); with `keyed`, also restricted to row keys (parameter KEYS_PARAM).
   */
  homeWith(keep: readonly number[], keyed?: boolean): FragmentSql;
  /** How many conjuncts `home` holds. */
  conjuncts: number;
  /** Split tables: per other backend, `SELECT key, cols FROM t WHERE key = ANY($1)`. */
  sides: Array<FragmentSql & { columns: string[] }>;
  /**
   * Split tables: per other backend whose columns alone some top-level conditions read,
   * `SELECT key FROM t WHERE <them>`: the row keys the home scan is restricted to, so a selective
   * condition on any fragment fetches only the matching rows of the others.
   */
  filters: FragmentSql[];
  /** Point columns split by coordinates: recomposed before the engine reads the rows (points.ts). */
  points?: { keepParts: boolean };
  /**
   * The target of an UPDATE/DELETE whose rows the proxy reads first (a computed write, or keys
   * its fragments cannot select): every fragment scan of it takes FOR UPDATE inside the write's
   * transaction, so the rows stay locked from the read to the write-back and a concurrent change
   * is waited for and read (as PostgreSQL locks the rows an UPDATE reads), never overwritten.
   */
  lock?: boolean;
  /**
   * A split table whose column order the statement's result depends on (a `*`, a whole-row
   * reference: readsColumnOrder): the stage reads its recorded order (column-order.ts) and shows
   * its columns in it.
   */
  ordered?: boolean;
  /** Split tables: the row keys a top-level condition pins (pinned.ts), so its other fragments are read at once. */
  keys?: PinnedKey[];
}

export interface SelectPlan {
  kind: 'select';
  layout: SplitLayout;
  relations: ReadRelation[];
  /** The client's statement over the engine's relations (RECOMPOSED names), for the engine. */
  engine: { sql: string };
  /** Highest client parameter number. */
  paramCount: number;
  /**
   * Set when the statement only projects columns of one split table's rows, all of whose
   * conditions the home scan takes (no ordering, grouping, limit…): the recomposed rows are the
   * answer, no engine needed. `null` entries: `*` (every column).
   */
  direct: Array<{ column: string; name: string } | null> | null;
  /**
   * Set when the engine's statement over the one split table is row-local
   * (rewrite/two-stage/row-local.ts: each result row depends on one recomposed row only): the
   * engine may run over each recomposed batch in turn, its rows sent as they come.
   */
  local?: boolean;
}

export interface InsertPlan {
  kind: 'insert';
  layout: SplitLayout;
  /** Home INSERT … RETURNING key [, client RETURNING items]. */
  home: FragmentSql;
  /** Columns the client's RETURNING shows (after the key), or null without RETURNING. */
  returning: boolean;
  /** Per other backend: INSERT of the key and its columns; `$1…$rowCount` are the keys, client parameters follow. */
  sides: Array<FragmentSql & { columns: string[] }>;
  rowCount: number;
  /**
   * ON CONFLICT (row key): 'update' (every row returns its key, inserted or updated, so the other
   * fragments follow by position), 'nothing' (one row: no key back when it was skipped).
   */
  conflict?: 'nothing' | 'update';
  /**
   * An INSERT without a column list: the plan for the table's recorded column order (null: none
   * recorded, refused with 0A000), made by the stage once it has read the order; this plan's own
   * home statement is the query of the order (column-order.ts), its sides are empty.
   */
  positional?: (order: readonly string[] | null) => InsertPlan;
}

export interface ChangePlan {
  kind: 'update' | 'delete';
  layout: SplitLayout;
  /** Per other backend, `SELECT key FROM t WHERE <its conjuncts> FOR UPDATE` (keys the home statement is restricted to). */
  filters: FragmentSql[];
  /**
   * Home UPDATE/DELETE … RETURNING key [, client RETURNING items]. When `filters` is not empty its
   * last parameter is the key list (`$n` with n = params.length + 1).
   */
  home: FragmentSql;
  returning: boolean;
  /** Per other backend: `UPDATE t SET … WHERE key = ANY($1)` or `DELETE … WHERE key = ANY($1)` (params start at 2). */
  sides: FragmentSql[];
  /**
   * When a condition cannot be sent to its fragment (LIKE over an encrypted column…): the row
   * keys are selected by the engine over the recomposed rows (`keys`), and the home statement
   * changes exactly those (`homeByKeys`: its parameter KEYS_PARAM is the key list).
   */
  keys: SelectPlan;
  homeByKeys: FragmentSql;
  /**
   * UPDATE … FROM, DELETE … USING, or a SET computed from columns of other backends: `keys` reads
   * (in the engine, over the recomposed rows and the FROM/USING relations) one row per row to
   * change: its key, then the SET values in `computed.writes` order. DELETE changes the keys as
   * `homeByKeys` and `sides` say; UPDATE writes each row back to each fragment that holds a SET
   * column (`computed.writes`, the home one always: it locks and counts the row and returns it).
   */
  computed?: { writes: ComputedWrite[] };
}

/** `UPDATE t SET c = $2, … WHERE key = ANY($1)` on one backend; `$k` (k ≥ 2) is column k - 1 of the computed row after its key. */
export interface ComputedWrite { backend: string; sql: string; values: number[] }

export interface DdlPlan {
  kind: 'ddl';
  layout: SplitLayout;
  /** One statement per backend, home first. */
  statements: FragmentSql[];
  tag: string;
  /**
   * Names a new index or constraint takes in the table's schema, with the backends where no
   * relation may have them already (the other fragments'): checked before the statements, 42P07.
   */
  unused?: Array<{ backend: string; schema: string; name: string }>;
  /** The changes of the table's recorded column order (column-order.ts), made on the home backend after the statements. */
  order?: OrderChange[];
  /** CREATE INDEX IF NOT EXISTS name: skipped (NOTICE 42P07) when a relation of the table's schema on any of its backends has the name. */
  ifNotExists?: string;
  /**
   * CREATE INDEX without a name: the first candidate of `stem` (index-name.ts) no backend of the
   * table has a relation of, given to `create` (its one statement's parse tree) as its name.
   */
  autoName?: { stem: IndexStem; create: Json };
}

export type SplitPlan = SelectPlan | InsertPlan | ChangePlan | DdlPlan;

/** A statement on a split table the proxy cannot plan: refused with 0A000 and this reason. */
export class SplitUnsupported extends Error {
  override readonly name = 'SplitUnsupported';
}

function unsupported(l: SplitLayout, what: string): never {
  throw new SplitUnsupported(`${what} on split table ${l.schema}.${l.table} (dataset ${l.dataset}) is not supported`);
}

/** Walks every node (objects and arrays). */
function walk(node: unknown, f: (n: Json) => void): void {
  if (Array.isArray(node)) { for (const x of node) walk(x, f); return; }
  if (!isObj(node)) return;
  f(node);
  for (const v of Object.values(node)) walk(v, f);
}

function isTable(l: SplitLayout, rv: Json): boolean {
  const schema = rv.schemaname as string | undefined;
  return rv.relname === l.table && (schema === undefined || schema === l.schema);
}

/** The column a ColumnRef names (its last field), or '*' / null for other shapes. */
function refColumn(ref: Json): string | null {
  const names = colRefNames(ref);
  return names.length === 0 ? null : (names[names.length - 1] as string);
}

/** The backends whose columns a node reads; 'sub' when it holds a subquery, '*' for a star. */
function backendsOf(l: SplitLayout, node: unknown): { backends: Set<string>; sub: boolean; star: boolean } {
  const backends = new Set<string>();
  let sub = false;
  let star = false;
  walk(node, (n) => {
    if (body(n, 'SubLink')) sub = true;
    const c = body(n, 'ColumnRef');
    if (!c) return;
    const col = refColumn(c);
    if (col === '*' || col === null) { star = true; return; }
    backendsOf1(l, col, backends);
  });
  return { backends, sub, star };
}

function backendsOf1(l: SplitLayout, col: string, out: Set<string>): void {
  out.add(backendOfColumn(l, col));
}

/** Top-level AND conjuncts of a WHERE clause. */
function conjuncts(where: unknown): unknown[] {
  if (where === undefined || where === null) return [];
  const b = body(where, 'BoolExpr');
  if (b && b.boolop === 'AND_EXPR') return arr(b.args).flatMap(conjuncts);
  return [where];
}

function and(parts: unknown[]): unknown {
  if (parts.length === 0) return undefined;
  if (parts.length === 1) return parts[0];
  return { BoolExpr: { boolop: 'AND_EXPR', args: parts, location: -1 } };
}

/**
 * A copy of `node` whose ParamRefs are numbered from `first` in order of first use; `params`
 * receives the client's numbers (`$k` of the copy is the client's `params[k - first]`).
 */
function renumber(node: unknown, params: number[], first = 1): unknown {
  const copy = structuredClone(node);
  walk(copy, (n) => {
    const p = body(n, 'ParamRef');
    if (!p) return;
    const client = p.number as number;
    let k = params.indexOf(client);
    if (k < 0) k = params.push(client) - 1;
    p.number = k + first;
  });
  return copy;
}


function relation(l: SplitLayout, alias?: string): Json {
  return { schemaname: l.schema, relname: l.table, inh: true, relpersistence: 'p', ...(alias ? { alias: { aliasname: alias } } : {}), location: -1 };
}

function target(val: unknown, name?: string): Json {
  return { ResTarget: { ...(name ? { name } : {}), val, location: -1 } };
}

function col(name: string): Json {
  return columnRef([name]);
}

function keyAny(l: SplitLayout, param: number): Json {
  return { A_Expr: { kind: 'AEXPR_OP_ANY', name: [{ String: { sval: '=' } }], lexpr: col(l.key), rexpr: paramRef(param), location: -1 } };
}

function select(targets: Json[], from: Json, where: unknown, extra: Json = {}): Json {
  return { SelectStmt: { targetList: targets, fromClause: [{ RangeVar: from }], ...(where ? { whereClause: where } : {}), limitOption: 'LIMIT_OPTION_DEFAULT', op: 'SETOP_NONE', ...extra } };
}

function sql(stmt: Json): string {
  return deparseStatement(stmt);
}

// ---- SELECT ----

/** Every node with a `withClause` (CTE names would read as tables). */
function hasWith(node: unknown): boolean {
  let found = false;
  walk(node, (n) => { if (n.withClause) found = true; });
  return found;
}

/** Outer joins anywhere in the FROM clause (a condition pushed into a scan would change them). */
function hasOuterJoin(node: unknown): boolean {
  let found = false;
  walk(node, (n) => { const j = body(n, 'JoinExpr'); if (j && j.jointype !== 'JOIN_INNER') found = true; });
  return found;
}

/** Whether every column a conjunct reads is `alias.column` (or unqualified, when `alone`). */
function readsOnly(c: unknown, alias: string, alone: boolean): boolean {
  let ok = true;
  let sub = false;
  walk(c, (n) => {
    if (body(n, 'SubLink')) sub = true;
    const r = body(n, 'ColumnRef');
    if (!r) return;
    const names = colRefNames(r);
    if (names.includes('*')) ok = false;
    else if (names.length === 1) ok &&= alone;
    else ok &&= names.length === 2 && names[0] === alias;
  });
  return ok && !sub;
}

/** The split layout a table reference names (schema-qualified or not), or null with its names for another table. */
export function relationOf(rv: { schemaname?: string; relname?: string }, layouts: ReadonlyMap<string, SplitLayout>): { layout: SplitLayout | null; schema?: string; table: string } {
  const schema = rv.schemaname;
  const table = rv.relname ?? '';
  for (const l of layouts.values()) if (l.table === table && (schema === undefined || schema === l.schema)) return { layout: l, schema: l.schema, table };
  return { layout: null, ...(schema ? { schema } : {}), table };
}

/**
 * The names of the WITH queries of a SELECT (the engine computes them; a FROM item of one of these
 * names is not a table). Data-modifying WITH queries, and a WITH query named as a split table, are
 * refused.
 */
function withNames(l: SplitLayout, stmt: Json, layouts: ReadonlyMap<string, SplitLayout>): Set<string> {
  const names = new Set<string>();
  walk(stmt, (n) => {
    const cte = body(n, 'CommonTableExpr');
    if (!cte) return;
    if (!body(cte.ctequery, 'SelectStmt')) unsupported(l, 'a data-modifying WITH query');
    const name = String(cte.ctename);
    if ([...layouts.values()].some((x) => x.table === name)) unsupported(l, `a WITH query named as split table ${name}`);
    names.add(name);
  });
  return names;
}

/**
 * The tables of a SELECT's own FROM clause (through joins), whose columns its WHERE and SELECT list
 * name; `plain` when that FROM clause holds tables and joins only (no subquery, function or VALUES
 * whose outputs an unqualified name could also be).
 */
/** The alias a RangeVar is read under, if it has one. */
function aliasOf(rv: Json): string | undefined {
  return nodeBody({ RangeVar: rv }, 'RangeVar')?.alias?.aliasname;
}

function ownRelations(s: { fromClause?: unknown[] } | null): { vars: Set<Json>; plain: boolean } {
  const vars = new Set<Json>();
  let plain = true;
  const visit = (n: unknown): void => {
    const rv = body(n, 'RangeVar');
    if (rv) { vars.add(rv); return; }
    const j = body(n, 'JoinExpr');
    if (j) { visit(j.larg); visit(j.rarg); return; }
    plain = false;
  };
  for (const f of arr(s?.fromClause)) visit(f);
  return { vars, plain };
}

/** `lockAlias`: the alias (or name) under which the statement reads l's table as an UPDATE/DELETE target (ReadRelation.lock). */
function planSelect(l: SplitLayout, stmt: Json, s: Json, layouts: ReadonlyMap<string, SplitLayout>, lockAlias?: string): SelectPlan {
  if (s.intoClause || arr(s.lockingClause).length > 0) unsupported(l, 'SELECT … INTO / FOR UPDATE');
  const ctes = hasWith(stmt) ? withNames(l, stmt, layouts) : new Set<string>();
  const engineStmt = structuredClone(stmt);
  const vars: Json[] = [];
  walk(engineStmt, (n) => { const rv = body(n, 'RangeVar'); if (rv && !(rv.schemaname === undefined && ctes.has(String(rv.relname)))) vars.push(rv); });
  if (vars.length === 0) unsupported(l, 'this form of SELECT');
  // One scan per table occurrence; WHERE conjuncts of the top level go with the scan they read
  // (none with outer joins, set operations or WITH queries, whose columns may be other values of
  // the same names: the engine evaluates every condition anyway). Only a table of the statement's
  // own FROM clause: the top-level WHERE's names do not reach a table inside a subquery (they name
  // the subquery's outputs, which may be other columns of the same names).
  const own = ownRelations(body(engineStmt, 'SelectStmt'));
  const top = s.op === 'SETOP_NONE' && !hasOuterJoin(s.fromClause) && ctes.size === 0 ? conjuncts(s.whereClause) : [];
  const alone = vars.length === 1 && own.plain;
  const ordered = readsColumnOrder(stmt, vars.map((rv) => aliasOf(rv) ?? String(rv.relname)));
  const relations: ReadRelation[] = vars.map((rv, i) => {
    const r = relationOf(rv, layouts);
    const alias = aliasOf(rv) ?? r.table;
    const name = `clarus_r${i + 1}`;
    const onlyHome = (c: unknown) => !r.layout || [...backendsOf(r.layout, c).backends].every((x) => x === (r.layout as SplitLayout).home);
    const reach = own.vars.has(rv) ? top : [];
    const pushed = reach.filter((c) => readsOnly(c, alias, alone) && onlyHome(c));
    const from = { ...(r.schema ? { schemaname: r.schema } : {}), relname: r.table, inh: true, relpersistence: 'p', alias: { aliasname: alias }, location: -1 };
    const rl = r.layout;
    // Plans are cached by text and their scans asked for at every execution: each made once.
    const made = new Map<string, FragmentSql>();
    const homeWith = (keep: readonly number[], keyed = false): FragmentSql => {
      const id = `${keep.join(',')}${keyed ? '+' : ''}`;
      const known = made.get(id);
      if (known) return known;
      const params: number[] = [];
      const parts = keep.map((k) => renumber(pushed[k], params));
      if (keyed && rl) parts.push(renumber(keyAny(rl, KEYS_PARAM), params));
      const out = { backend: l.home, sql: sql(select([target(columnRef(['*']))], from, and(parts))), params };
      made.set(id, out);
      return out;
    };
    // Conditions that read one other fragment's columns only select its row keys there first.
    const filters: FragmentSql[] = [];
    if (rl) {
      for (const b of rl.sides) {
        const conds = reach.filter((c) => readsOnly(c, alias, alone) && (() => { const x = backendsOf(rl, c); return x.backends.size === 1 && x.backends.has(b); })());
        if (conds.length === 0) continue;
        const params: number[] = [];
        filters.push({ backend: b, params, sql: sql(select([target(col(rl.key))], { ...from, schemaname: rl.schema }, and(conds.map((c) => renumber(c, params))))) });
      }
    }
    const sides = rl ? rl.sides.map((b) => {
      const columns = rl.columns.get(b) ?? [];
      return { backend: b, columns, params: [], sql: sql(select([rl.key, ...columns].map((c) => target(col(c))), relation(rl), keyAny(rl, 1))) };
    }) : [];
    // The engine reads the relation under the name (alias) the statement used.
    delete rv.schemaname;
    rv.relname = name;
    rv.alias = { aliasname: alias };
    const lock = lockAlias !== undefined && rl !== null && rl.schema === l.schema && rl.table === l.table && alias === lockAlias;
    const keys = rl ? pinnedKeys(pushed, (names) => names.at(-1) === rl.key && (names.length === 2 ? names[0] === alias : names.length === 1 && alone)) : undefined;
    return { name, layout: rl, table: { ...(r.schema ? { schema: r.schema } : {}), table: r.table }, home: homeWith(pushed.map((_, k) => k)), homeWith, conjuncts: pushed.length, sides, filters,
      ...(lock ? { lock } : {}), ...(ordered && rl ? { ordered } : {}), ...(keys ? { keys } : {}) };
  });
  const single = relations.length === 1 && s.op === 'SETOP_NONE' && ctes.size === 0 && alone;
  const local = single && relations[0]?.layout !== undefined && rowLocal(unaliased(engineStmt), (relations[0] as ReadRelation).name);
  return { kind: 'select', layout: l, relations, engine: { sql: sql(engineStmt) }, paramCount: Math.max(0, ...paramNumbers(stmt)),
    direct: single ? directProjection(s, (relations[0] as ReadRelation).conjuncts === conjuncts(s.whereClause).length) : null, ...(local ? { local } : {}) };
}

/**
 * Whether a statement's result depends on the column order of the relations it reads: a `*`
 * (`SELECT *`, `t.*`) or a whole-row reference (`SELECT t`,
 * `row_to_json(t)`) of one of `names` (its FROM items' aliases). Then the stage shows a split
 * table's columns in their recorded logical order (ReadRelation.ordered).
 */
export function readsColumnOrder(stmt: unknown, names: readonly string[]): boolean {
  let found = false;
  walk(stmt, (n) => {
    const r = body(n, 'ColumnRef');
    if (!r) return;
    const parts = colRefNames(r);
    if (parts.includes('*') || (parts.length === 1 && names.includes(parts[0] as string))) found = true;
  });
  return found;
}

/** The statement without its relations' aliases (row-local.ts judges a relation named alone; column references do not matter there). */
function unaliased(stmt: Json): Json {
  const out = structuredClone(stmt);
  walk(out, (n) => { const rv = body(n, 'RangeVar'); if (rv) delete rv.alias; });
  return out;
}

/** The plain projection a SELECT is (see SelectPlan.direct), or null. */
function directProjection(s: Json, allPushed: boolean): SelectPlan['direct'] {
  if (!allPushed || s.groupClause || s.havingClause || s.sortClause || s.distinctClause || s.limitCount || s.limitOffset || s.windowClause || s.intoClause) return null;
  const out: NonNullable<SelectPlan['direct']> = [];
  for (const t of arr(s.targetList)) {
    const rt = body(t, 'ResTarget');
    const ref = body(rt?.val, 'ColumnRef');
    if (!rt || !ref) return null;
    const names = colRefNames(ref);
    const column = names[names.length - 1] as string;
    if (column === '*') { if (names.length > 2) return null; out.push(null); continue; }
    if (names.length > 2) return null;
    out.push({ column, name: (rt.name as string | undefined) ?? column });
  }
  return out;
}

// ---- INSERT ----

/** A VALUES item the proxy may place on a fragment: constants, parameters, casts of them, DEFAULT. */
function simpleValue(n: unknown): boolean {
  if (body(n, 'A_Const') || body(n, 'ParamRef') || body(n, 'SetToDefault')) return true;
  const c = body(n, 'TypeCast');
  return c !== null && simpleValue(c.arg);
}

function returningOf(st: Json): unknown[] {
  return arr((st.returningClause as Json | undefined)?.exprs ?? st.returningList);
}

/** RETURNING items: only home columns (the home statement returns them). */
function homeReturning(l: SplitLayout, items: unknown[]): unknown[] {
  for (const r of items) {
    const b = backendsOf(l, body(r, 'ResTarget')?.val);
    if (b.sub || b.star || [...b.backends].some((x) => x !== l.home)) unsupported(l, 'RETURNING of columns stored on other backends (or *)');
  }
  return items;
}

function withReturning(st: Json, items: unknown[]): void {
  delete st.returningList;
  st.returningClause = { exprs: items };
}

/** ON CONFLICT of a split INSERT: on the row key; DO UPDATE SET per backend (the home one returns every key). */
function conflictOf(l: SplitLayout, st: Json, rows: number): { action: 'nothing' | 'update'; sets: Map<string, Json[]> } | null {
  const c = st.onConflictClause as Json | undefined;
  if (!c) return null;
  const infer = c.infer as Json | undefined;
  const target = arr(infer?.indexElems).map((e) => body(e, 'IndexElem')?.name);
  if (target.length !== 1 || target[0] !== l.key || infer?.whereClause || infer?.conname) unsupported(l, `ON CONFLICT on anything but the row key (${l.key})`);
  if (c.whereClause) unsupported(l, 'ON CONFLICT … DO UPDATE … WHERE');
  const action = c.action === 'ONCONFLICT_NOTHING' ? 'nothing' : 'update';
  if (action === 'nothing' && rows !== 1) unsupported(l, 'a multi-row INSERT … ON CONFLICT DO NOTHING');
  const sets = new Map<string, Json[]>();
  for (const t of arr(c.targetList)) {
    const rt = body(t, 'ResTarget') as Json;
    const name = rt.name as string;
    if (name === l.key || arr(rt.indirection).length > 0) unsupported(l, 'ON CONFLICT DO UPDATE of the row key or of a part of a column');
    const where = backendOfColumn(l, name);
    const b = backendsOf(l, rt.val);
    if (b.sub || b.star || [...b.backends].some((x) => x !== where)) unsupported(l, `ON CONFLICT DO UPDATE SET ${name} = an expression over columns stored on another backend`);
    sets.set(where, [...(sets.get(where) ?? []), rt]);
  }
  return { action, sets };
}

function conflictClause(l: SplitLayout, action: 'nothing' | 'update', sets: Json[] | undefined): Json {
  const infer = { indexElems: [{ IndexElem: { name: l.key, ordering: 'SORTBY_DEFAULT', nulls_ordering: 'SORTBY_NULLS_DEFAULT' } }], location: -1 };
  if (action === 'nothing' || !sets?.length) return { action: 'ONCONFLICT_NOTHING', infer, location: -1 };
  return { action: 'ONCONFLICT_UPDATE', infer, targetList: sets.map((rt) => ({ ResTarget: rt })), location: -1 };
}

/**
 * An INSERT … VALUES without a column list: its plan is made when the table's recorded column
 * order is known (InsertPlan.positional, in the write's transaction): the VALUES items go to the
 * first columns of that order, as PostgreSQL places them.
 */
function planPositional(l: SplitLayout, st: Json): InsertPlan {
  if (!st.selectStmt) unsupported(l, 'INSERT … DEFAULT VALUES');
  const values = body(st.selectStmt, 'SelectStmt');
  const rows = arr(values?.valuesLists).map((r) => arr(body(r, 'List')?.items));
  if (!values || rows.length === 0 || values.fromClause || values.targetList) unsupported(l, 'INSERT … SELECT');
  const width = Math.max(...rows.map((r) => r.length));
  homeReturning(l, returningOf(st));
  const positional = (order: readonly string[] | null): InsertPlan => {
    const cols = positionalColumns(l, order, 'INSERT', width);
    try {
      return planInsert(l, { ...st, cols: cols.map((name) => ({ ResTarget: { name, location: -1 } })) });
    } catch (e) {
      // Planned in the stage: a refusal is the statement's error there.
      if (e instanceof SplitUnsupported) throw new StatementError(SQLSTATE.featureNotSupported, `clarus: ${e.message}`);
      throw e;
    }
  };
  // Its own home statement reads the order (what `clarus policy explain` shows).
  const home = { backend: l.home, sql: orderQuery(l), params: [] };
  return { kind: 'insert', layout: l, home, returning: returningOf(st).length > 0, sides: [], rowCount: rows.length, positional };
}

function planInsert(l: SplitLayout, st: Json): InsertPlan {
  if (st.withClause) unsupported(l, 'INSERT … WITH');
  const cols = arr(st.cols).map((c) => body(c, 'ResTarget')?.name as string);
  if (cols.length === 0) return planPositional(l, st);
  const values = body(st.selectStmt, 'SelectStmt');
  const rows = arr(values?.valuesLists).map((r) => arr(body(r, 'List')?.items));
  if (!values || rows.length === 0 || values.fromClause || values.targetList) unsupported(l, 'INSERT … SELECT');
  for (const r of rows) {
    if (r.length !== cols.length) unsupported(l, 'an INSERT whose VALUES rows do not match its column list');
    if (!r.every(simpleValue)) unsupported(l, 'INSERT values other than constants and parameters');
  }
  const at = (b: string) => cols.map((c, i) => ({ c, i })).filter(({ c }) => c !== l.key && backendOfColumn(l, c) === b);
  // Home: the key (when given) and home columns; it returns the keys in VALUES order.
  const homeCols = cols.map((c, i) => ({ c, i })).filter(({ c }) => c === l.key || backendOfColumn(l, c) === l.home);
  const homeParams: number[] = [];
  const homeStmt = structuredClone(st);
  homeStmt.cols = homeCols.map(({ c }) => ({ ResTarget: { name: c, location: -1 } }));
  (body(homeStmt.selectStmt, 'SelectStmt') as Json).valuesLists = rows.map((r) => ({ List: { items: homeCols.map(({ i }) => r[i]) } }));
  if (homeCols.length === 0) unsupported(l, 'an INSERT with no column stored on the home backend');
  const conflict = conflictOf(l, st, rows.length);
  // The home DO UPDATE always changes something, so that it returns the key of every row.
  if (conflict) homeStmt.onConflictClause = conflictClause(l, conflict.action, conflict.sets.get(l.home) ?? [{ name: l.key, val: columnRef(['excluded', l.key]), location: -1 }]);
  const clientReturning = homeReturning(l, returningOf(st));
  withReturning(homeStmt, [target(col(l.key)), ...clientReturning]);
  const home = { backend: l.home, sql: sql(renumber({ InsertStmt: homeStmt }, homeParams) as Json), params: homeParams };
  const alias = ((st.relation as Json).alias as Json | undefined)?.aliasname as string | undefined;
  // Other fragments: `$1…$R` are the row keys (from the home INSERT, by position), the client's
  // parameters follow from `$R+1`.
  const sides: InsertPlan['sides'] = [];
  // Every fragment gets its row, even with none of its columns given (the row key alone: its
  // columns take their defaults there), since a read recomposes a row from all its fragments.
  for (const b of l.sides) {
    const placed = at(b);
    const params: number[] = [];
    const valuesLists = rows.map((r, k) => ({ List: { items: [paramRef(k + 1), ...placed.map(({ i }) => renumber(r[i], params, rows.length + 1))] } }));
    const ins: Json = { relation: relation(l, alias), cols: [l.key, ...placed.map(({ c }) => c)].map((c) => ({ ResTarget: { name: c, location: -1 } })),
      selectStmt: { SelectStmt: { valuesLists, limitOption: 'LIMIT_OPTION_DEFAULT', op: 'SETOP_NONE' } }, override: 'OVERRIDING_NOT_SET' };
    if (conflict) ins.onConflictClause = renumber(conflictClause(l, conflict.action, conflict.sets.get(b)), params, rows.length + 1);
    sides.push({ backend: b, columns: placed.map(({ c }) => c), sql: sql({ InsertStmt: ins }), params });
  }
  return { kind: 'insert', layout: l, home, returning: clientReturning.length > 0, sides, rowCount: rows.length, ...(conflict ? { conflict: conflict.action } : {}) };
}

// ---- UPDATE / DELETE ----

function planChange(l: SplitLayout, kind: 'update' | 'delete', st: Json): ChangePlan {
  const direct = planChangeDirect(l, kind, st);
  const alias = ((st.relation as Json).alias as Json | undefined)?.aliasname as string | undefined;
  const keysStmt = select([target(col(l.key))], relation(l, alias), st.whereClause);
  const keys = planSelect(l, keysStmt, body(keysStmt, 'SelectStmt') as Json, new Map([[`${l.schema}.${l.table}`, l]]), alias ?? l.table);
  const byKeys = structuredClone(st);
  byKeys.whereClause = keyAny(l, KEYS_PARAM);
  const homeByKeys = planChangeDirect(l, kind, byKeys).home;
  return { ...direct, keys, homeByKeys };
}

/** Whether an UPDATE's SET list reads columns of a backend other than its column's (a computed write-back). */
function setSpansBackends(l: SplitLayout, st: Json): boolean {
  return arr(st.targetList).some((t) => {
    const rt = body(t, 'ResTarget') as Json;
    const b = backendsOf(l, rt.val);
    return b.sub || b.star || [...b.backends].some((x) => x !== backendOfColumn(l, rt.name as string));
  });
}

/**
 * UPDATE … FROM, DELETE … USING, an UPDATE whose SET reads other backends' columns: computed by
 * the engine, then written back by row key (ChangePlan.computed).
 */
function planComputed(l: SplitLayout, kind: 'update' | 'delete', st: Json, layouts: ReadonlyMap<string, SplitLayout>): ChangePlan {
  if (st.withClause) unsupported(l, `${kind.toUpperCase()} with WITH`);
  if (st.whereClause && body(st.whereClause, 'CurrentOfExpr')) unsupported(l, 'WHERE CURRENT OF');
  const alias = ((st.relation as Json).alias as Json | undefined)?.aliasname as string | undefined;
  const items = kind === 'update' ? arr(st.fromClause) : arr(st.usingClause);
  const sets = kind === 'update' ? arr(st.targetList).map((t) => body(t, 'ResTarget') as Json) : [];
  for (const rt of sets) {
    if (arr(rt.indirection).length > 0) unsupported(l, 'UPDATE of a subscript or field of a column');
    if (rt.name === l.key) unsupported(l, 'UPDATE of the row key');
  }
  const returning = returningOf(st);
  if (paramNumbers(returning).size > 0) unsupported(l, 'RETURNING with parameters in a computed UPDATE/DELETE');
  const key = columnRef([alias ?? l.table, l.key]);
  const selectStmt: Json = { SelectStmt: { targetList: [target(key, l.key), ...sets.map((rt, i) => target(rt.val, `clarus_v${i + 1}`))],
    fromClause: [{ RangeVar: relation(l, alias) }, ...items], ...(st.whereClause ? { whereClause: st.whereClause } : {}), limitOption: 'LIMIT_OPTION_DEFAULT', op: 'SETOP_NONE' } };
  const keys = planSelect(l, selectStmt, body(selectStmt, 'SelectStmt') as Json, layouts, alias ?? l.table);
  const byKeys = structuredClone(st);
  delete byKeys.fromClause;
  delete byKeys.usingClause;
  byKeys.whereClause = keyAny(l, KEYS_PARAM);
  const perBackend = new Map<string, Array<{ name: string; at: number }>>([[l.home, []]]);
  sets.forEach((rt, i) => { const b = backendOfColumn(l, rt.name as string); perBackend.set(b, [...(perBackend.get(b) ?? []), { name: rt.name as string, at: i + 1 }]); });
  const writes: ComputedWrite[] = [...perBackend].map(([b, cols]) => {
    const list = cols.length > 0 ? cols.map((c, k) => ({ ResTarget: { name: c.name, val: paramRef(k + 2), location: -1 } })) : [target(col(l.key), l.key)];
    const upd: Json = { relation: relation(l, alias), targetList: list, whereClause: keyAny(l, 1) };
    if (b === l.home) withReturning(upd, [target(col(l.key)), ...homeReturning(l, returning)]);
    return { backend: b, sql: sql({ UpdateStmt: upd }), values: cols.map((c) => c.at) };
  });
  if (kind === 'update') {
    const home = { backend: l.home, sql: (writes[0] as ComputedWrite).sql, params: [] };
    return { kind, layout: l, filters: [], home, returning: returning.length > 0, sides: [], keys, homeByKeys: home, computed: { writes } };
  }
  const direct = planChangeDirect(l, kind, byKeys);
  return { ...direct, returning: returning.length > 0, keys, homeByKeys: direct.home, computed: { writes: [] } };
}

function planChangeDirect(l: SplitLayout, kind: 'update' | 'delete', st: Json): Omit<ChangePlan, 'keys' | 'homeByKeys'> {
  if (st.withClause || arr(st.fromClause).length > 0 || arr(st.usingClause).length > 0) unsupported(l, `${kind.toUpperCase()} with WITH, FROM or USING`);
  if (st.whereClause && body(st.whereClause, 'CurrentOfExpr')) unsupported(l, 'WHERE CURRENT OF');
  const alias = ((st.relation as Json).alias as Json | undefined)?.aliasname as string | undefined;
  const byBackend = new Map<string, unknown[]>();
  for (const c of conjuncts(st.whereClause)) {
    const b = backendsOf(l, c);
    if (b.sub) unsupported(l, `a subquery in the WHERE clause of ${kind.toUpperCase()}`);
    if (b.backends.size > 1) unsupported(l, `a WHERE condition that compares columns stored on different backends (${[...b.backends].join(', ')})`);
    const where = [...b.backends][0] ?? l.home;
    byBackend.set(where, [...(byBackend.get(where) ?? []), c]);
  }
  const filters: FragmentSql[] = [];
  for (const b of l.sides) {
    const conds = byBackend.get(b);
    if (!conds) continue;
    const params: number[] = [];
    filters.push({ backend: b, params, sql: sql(select([target(col(l.key))], relation(l, alias), and(conds.map((c) => renumber(c, params))),
      { lockingClause: [{ LockingClause: { strength: 'LCS_FORUPDATE', waitPolicy: 'LockWaitBlock' } }] })) });
  }
  const sets = new Map<string, Json[]>();
  if (kind === 'update') {
    for (const t of arr(st.targetList)) {
      const rt = body(t, 'ResTarget') as Json;
      const name = rt.name as string;
      if (arr(rt.indirection).length > 0) unsupported(l, 'UPDATE of a subscript or field of a column');
      if (name === l.key) unsupported(l, 'UPDATE of the row key');
      const where = backendOfColumn(l, name);
      const b = backendsOf(l, rt.val);
      if (b.sub || b.star || [...b.backends].some((x) => x !== where)) unsupported(l, `SET ${name} = an expression over columns stored on another backend`);
      sets.set(where, [...(sets.get(where) ?? []), rt as Json]);
    }
  }
  const homeParams: number[] = [];
  const homeConds = (byBackend.get(l.home) ?? []).map((c) => renumber(c, homeParams));
  const homeStmt = structuredClone(st);
  if (filters.length > 0) homeConds.push(keyAny(l, 0)); // numbered below, after the client's parameters
  if (homeConds.length > 0) homeStmt.whereClause = and(homeConds);
  else delete homeStmt.whereClause;
  if (kind === 'update') {
    const homeSets = (sets.get(l.home) ?? []).map((rt) => ({ ResTarget: renumber(rt, homeParams) }));
    // A change of other fragments only still locks and counts the home rows.
    homeStmt.targetList = homeSets.length > 0 ? homeSets : [target(col(l.key), l.key)];
  }
  const clientReturning = homeReturning(l, returningOf(st)).map((r) => renumber(r, homeParams));
  withReturning(homeStmt, [target(col(l.key)), ...clientReturning]);
  if (filters.length > 0) walk(homeStmt, (n) => { const p = body(n, 'ParamRef'); if (p && p.number === 0) p.number = homeParams.length + 1; });
  const tag = kind === 'update' ? 'UpdateStmt' : 'DeleteStmt';
  const home = { backend: l.home, sql: sql({ [tag]: homeStmt }), params: homeParams };
  const sides: FragmentSql[] = [];
  for (const b of l.sides) {
    if (kind === 'update') {
      const set = sets.get(b);
      if (!set) continue;
      const params: number[] = [];
      sides.push({ backend: b, params, sql: sql({ UpdateStmt: { relation: relation(l, alias), targetList: set.map((rt) => ({ ResTarget: renumber(rt, params, 2) })), whereClause: keyAny(l, 1) } }) });
    } else {
      sides.push({ backend: b, params: [], sql: sql({ DeleteStmt: { relation: relation(l), whereClause: keyAny(l, 1) } }) });
    }
  }
  return { kind, layout: l, filters, home, returning: clientReturning.length > 0, sides };
}

// ---- DDL ----

const SERIAL: Record<string, string> = { serial: 'int4', serial4: 'int4', bigserial: 'int8', serial8: 'int8', smallserial: 'int2', serial2: 'int2' };

function typeNameText(tn: Json): string {
  return arr(tn.names).map((n) => body(n, 'String')?.sval).filter(Boolean).join('.');
}

function planCreate(l: SplitLayout, st: Json): DdlPlan {
  if (st.inhRelations || st.partspec || st.partbound || st.ofTypename || arr(st.options).length > 0 || (st.relation as Json).relpersistence !== 'p') unsupported(l, 'this form of CREATE TABLE');
  const perBackend = new Map<string, unknown[]>([[l.home, []], ...l.sides.map((b): [string, unknown[]] => [b, []])]);
  let keyDef: Json | null = null;
  let keyIsPrimary = false;
  for (const e of arr(st.tableElts)) {
    const cd = body(e, 'ColumnDef');
    if (cd) {
      const name = cd.colname as string;
      if (name === l.key) { keyDef = cd; keyIsPrimary = arr(cd.constraints).some((c) => body(c, 'Constraint')?.contype === 'CONSTR_PRIMARY'); }
      const b = name === l.key ? l.home : backendOfColumn(l, name);
      for (const c of arr(cd.constraints)) {
        const con = body(c, 'Constraint');
        const refs = backendsOf(l, con?.raw_expr ?? con?.cooked_expr);
        if (con?.contype === 'CONSTR_FOREIGN' && b !== l.home) unsupported(l, `a foreign key on column ${name}, stored on backend ${b}`);
        if (refs.sub || [...refs.backends].some((x) => x !== b)) unsupported(l, `a constraint of column ${name} over columns stored on other backends`);
      }
      perBackend.get(b)?.push(e);
      continue;
    }
    const con = body(e, 'Constraint');
    if (!con) unsupported(l, 'this CREATE TABLE element');
    const keys = [...arr(con.keys), ...arr(con.fk_attrs), ...arr(con.including)].map((k) => body(k, 'String')?.sval as string);
    const exprRefs = backendsOf(l, con.raw_expr);
    const backends = new Set([...keys.map((k) => (k === l.key ? l.home : backendOfColumn(l, k))), ...exprRefs.backends]);
    if (con.contype === 'CONSTR_PRIMARY' && keys.length === 1 && keys[0] === l.key) { keyIsPrimary = true; perBackend.get(l.home)?.push(e); continue; }
    if (keys.includes(l.key) && keys.length > 1) unsupported(l, 'a constraint that combines the row key with other columns');
    if (backends.size > 1 || exprRefs.sub) unsupported(l, `a table constraint over columns stored on different backends (${[...backends].join(', ')})`);
    const b = [...backends][0] ?? l.home;
    if (con.contype === 'CONSTR_FOREIGN' && b !== l.home) unsupported(l, 'a foreign key over columns stored on another backend');
    perBackend.get(b)?.push(e);
  }
  if (!keyDef) unsupported(l, `CREATE TABLE without the row key column ${l.key}`);
  if (!keyIsPrimary) unsupported(l, `CREATE TABLE whose row key ${l.key} is not its PRIMARY KEY`);
  const keyType = structuredClone((keyDef as Json).typeName as Json);
  const plainType = SERIAL[typeNameText(keyType).replace(/^pg_catalog\./, '')];
  if (plainType) keyType.names = [{ String: { sval: 'pg_catalog' } }, { String: { sval: plainType } }];
  const statements: FragmentSql[] = [];
  const unused: NonNullable<DdlPlan['unused']> = [];
  for (const [b, elts] of perBackend) {
    const s = structuredClone(st);
    if (b === l.home) s.tableElts = elts;
    else {
      if (elts.length === 0) continue;
      const key = { ColumnDef: { colname: l.key, typeName: keyType, is_local: true, constraints: [{ Constraint: { contype: 'CONSTR_PRIMARY', location: -1 } }], location: -1 } };
      s.tableElts = [key, ...elts];
    }
    statements.push({ backend: b, params: [], sql: sql({ CreateStmt: s }) });
    if (!st.if_not_exists) unused.push(...elsewhere(l, b, indexNames(elts)));
  }
  const columns = arr(st.tableElts).flatMap((e) => { const cd = body(e, 'ColumnDef'); return cd ? [cd.colname as string] : []; });
  const order: OrderChange[] = [{ kind: 'create', columns, ifNotExists: st.if_not_exists === true }];
  return { kind: 'ddl', layout: l, statements, tag: 'CREATE TABLE', ...(unused.length ? { unused } : {}), ...recorded(l, order) };
}

/** The names of the indexes that named UNIQUE / EXCLUDE constraints of CREATE TABLE elements make. */
function indexNames(elts: readonly unknown[]): string[] {
  const cons = elts.flatMap((e) => [body(e, 'Constraint'), ...arr(body(e, 'ColumnDef')?.constraints).map((c) => body(c, 'Constraint'))]);
  return cons.flatMap((c) => (c && ['CONSTR_UNIQUE', 'CONSTR_EXCLUSION'].includes(c.contype as string) && typeof c.conname === 'string' ? [c.conname] : []));
}

function planDrop(l: SplitLayout, st: Json): DdlPlan {
  if (st.removeType !== 'OBJECT_TABLE' || arr(st.objects).length !== 1) unsupported(l, 'DROP of several objects, or of something other than the table,');
  const statements = [l.home, ...l.sides].map((b) => ({ backend: b, params: [], sql: sql({ DropStmt: { ...st, objects: [{ List: { items: [{ String: { sval: l.schema } }, { String: { sval: l.table } }] } }] } }) }));
  return { kind: 'ddl', layout: l, statements, tag: 'DROP TABLE', ...recorded(l, [{ kind: 'forget' }]) };
}

/** Column-level ALTER TABLE subcommands, routed to the backend of the column they name. */
const COLUMN_CMDS = new Set(['AT_AddColumn', 'AT_DropColumn', 'AT_ColumnDefault', 'AT_DropNotNull', 'AT_SetNotNull', 'AT_AlterColumnType', 'AT_SetStatistics', 'AT_SetStorage']);

function planAlter(l: SplitLayout, st: Json): DdlPlan {
  if (st.objtype !== 'OBJECT_TABLE') unsupported(l, 'ALTER of something other than the table');
  const perBackend = new Map<string, unknown[]>();
  for (const c of arr(st.cmds)) {
    const cmd = body(c, 'AlterTableCmd') as Json;
    const sub = cmd.subtype as string;
    if (!COLUMN_CMDS.has(sub)) unsupported(l, `ALTER TABLE ${sub.replace(/^AT_/, '')}`);
    const def = body(cmd.def, 'ColumnDef');
    const column = (def?.colname ?? cmd.name) as string;
    if (column === l.key) unsupported(l, `ALTER TABLE of the row key ${l.key}`);
    const b = backendOfColumn(l, column);
    const refs = backendsOf(l, cmd.def);
    if (refs.sub || [...refs.backends].some((x) => x !== b)) unsupported(l, `ALTER TABLE of column ${column} with an expression over columns stored on other backends`);
    for (const con of arr(def?.constraints)) if (body(con, 'Constraint')?.contype === 'CONSTR_FOREIGN' && b !== l.home) unsupported(l, `a foreign key on column ${column}, stored on backend ${b}`);
    perBackend.set(b, [...(perBackend.get(b) ?? []), c]);
  }
  const statements = [...perBackend].map(([b, cmds]) => ({ backend: b, params: [], sql: sql({ AlterTableStmt: { ...st, relation: relation(l), cmds } }) }));
  return { kind: 'ddl', layout: l, statements, tag: 'ALTER TABLE', ...recorded(l, arr(st.cmds).flatMap((c) => orderChangeOf(nodeBody(c, 'AlterTableCmd')))) };
}

/** How an ALTER TABLE subcommand changes the recorded column order: ADD COLUMN appends, DROP COLUMN removes. */
function orderChangeOf(cmd: AlterTableCmd | null): OrderChange[] {
  if (cmd?.subtype === 'AT_AddColumn') return [{ kind: 'add', columns: [nodeBody(cmd.def, 'ColumnDef')?.colname ?? ''] }];
  if (cmd?.subtype === 'AT_DropColumn') return [{ kind: 'drop', columns: [cmd.name ?? ''] }];
  return [];
}

/** DdlPlan.order, but for a table with a point split by coordinates (its fragments have hidden parts in the point's place: no order is recorded). */
function recorded(l: SplitLayout, order: OrderChange[]): Pick<DdlPlan, 'order'> {
  return l.points || order.length === 0 ? {} : { order };
}

function planIndex(l: SplitLayout, st: Json): DdlPlan {
  const refs = new Set<string>();
  for (const e of arr(st.indexParams)) {
    const ie = body(e, 'IndexElem') as Json;
    if (typeof ie.name === 'string') refs.add(ie.name === l.key ? l.home : backendOfColumn(l, ie.name));
    for (const b of backendsOf(l, ie.expr).backends) refs.add(b);
  }
  const where = backendsOf(l, st.whereClause);
  for (const b of where.backends) refs.add(b);
  const includes = arr(st.indexIncludingParams).map((e) => body(e, 'IndexElem')?.name as string);
  for (const c of includes) refs.add(c === l.key ? l.home : backendOfColumn(l, c));
  if (refs.size !== 1 || where.sub) unsupported(l, 'an index over columns stored on different backends');
  const b = [...refs][0] as string;
  const name = typeof st.idxname === 'string' ? st.idxname : undefined;
  const create = { IndexStmt: { ...st, relation: relation(l) } };
  const plan = { kind: 'ddl' as const, layout: l, statements: [{ backend: b, params: [], sql: sql(create) }], tag: 'CREATE INDEX' };
  if (name && st.if_not_exists) return { ...plan, ifNotExists: name };
  if (name) return { ...plan, unused: elsewhere(l, b, [name]) };
  const stem = indexStem(l.table, st);
  if (!stem) unsupported(l, 'CREATE INDEX without a name over an expression the proxy cannot name as PostgreSQL would (give the index a name)');
  return { ...plan, autoName: { stem, create } };
}

/** Names `names` on every backend of `l` but `b`: no relation there may have them (an index's name is its schema's). */
export function elsewhere(l: SplitLayout, b: string, names: readonly string[]): Array<{ backend: string; schema: string; name: string }> {
  return [l.home, ...l.sides].filter((x) => x !== b).flatMap((backend) => names.map((name) => ({ backend, schema: l.schema, name })));
}

/** TRUNCATE of the split table: every fragment, in one transaction over the backends. */
function planTruncate(l: SplitLayout, st: Json): DdlPlan {
  if (arr(st.relations).length !== 1) unsupported(l, 'TRUNCATE of several tables');
  const statements = [l.home, ...l.sides].map((b) => ({ backend: b, params: [], sql: sql({ TruncateStmt: { ...st, relations: [{ RangeVar: relation(l) }] } }) }));
  return { kind: 'ddl', layout: l, statements, tag: 'TRUNCATE TABLE' };
}

/** The plan of one parsed statement on the split table of layout `l`. Throws SplitUnsupported. */
export function planSplit(l: SplitLayout, stmt: Json, layouts: ReadonlyMap<string, SplitLayout> = new Map([[`${l.schema}.${l.table}`, l]])): SplitPlan {
  if (l.unusable) throw new SplitUnsupported(`split table ${l.schema}.${l.table} (dataset ${l.dataset}) cannot be served: ${l.unusable}`);
  const sel = body(stmt, 'SelectStmt');
  if (sel) return planSelect(l, stmt, sel, layouts);
  const ins = body(stmt, 'InsertStmt');
  if (ins) { if (!isTable(l, ins.relation as Json)) unsupported(l, 'INSERT … SELECT'); return planInsert(l, ins); }
  const upd = body(stmt, 'UpdateStmt');
  if (upd) {
    if (!isTable(l, upd.relation as Json)) unsupported(l, 'an UPDATE of another table that reads it');
    return arr(upd.fromClause).length > 0 || setSpansBackends(l, upd) ? planComputed(l, 'update', upd, layouts) : planChange(l, 'update', upd);
  }
  const del = body(stmt, 'DeleteStmt');
  if (del) {
    if (!isTable(l, del.relation as Json)) unsupported(l, 'a DELETE of another table that reads it');
    return arr(del.usingClause).length > 0 ? planComputed(l, 'delete', del, layouts) : planChange(l, 'delete', del);
  }
  const cre = body(stmt, 'CreateStmt');
  if (cre && isTable(l, cre.relation as Json)) return planCreate(l, cre);
  const drop = body(stmt, 'DropStmt');
  if (drop) return planDrop(l, drop);
  const alter = body(stmt, 'AlterTableStmt');
  if (alter && isTable(l, alter.relation as Json)) return planAlter(l, alter);
  const truncate = body(stmt, 'TruncateStmt');
  if (truncate) return planTruncate(l, truncate);
  const index = body(stmt, 'IndexStmt');
  if (index && isTable(l, index.relation as Json)) return planIndex(l, index);
  const tag = Object.keys(stmt)[0] ?? 'this statement';
  return unsupported(l, tag.replace(/Stmt$/, '').replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase());
}
