// The two-stage split of one SELECT (issue 10): a backend stage that the rules can rewrite (the
// FROM clause as written, the WHERE conjuncts the rules accept, and the columns the rest needs) and
// a residual stage, run by the proxy's engine over the decrypted candidate rows, that does
// everything else (select-list expressions, the other conjuncts, GROUP BY/HAVING, windows,
// DISTINCT, ORDER BY, LIMIT/OFFSET) with PostgreSQL's own semantics.
//
// Pure AST work: the caller decides which conjuncts the backend may evaluate (`pushable`). Name
// resolution is left to the backend: every column reference of the residual parts is selected as
// written, in the same FROM clause, so it means there exactly what it meant in the original
// statement; the residual query reads it as a column of the candidate relation.
import { arr, body, colRefNames, columnRef, paramNumbers, sval, tagOf, typeNameOf } from '../ast.ts';
import type { Json } from '../ast.ts';
import { figureColname } from './colname.ts';

/** The candidate relation's name in the residual query. */
export const CANDIDATES = 'clarus_candidates';

export interface TwoStage {
  /** The backend stage: `SELECT <refs> FROM <from> WHERE <pushed>` (not yet rewritten). */
  backend: Json;
  /** The residual stage, over CANDIDATES. */
  residual: Json;
  /** The candidate columns, one per backend output, in order. */
  columns: string[];
  /** The client's parameters the residual stage uses: its `$k` is the client's `$params[k-1]`. */
  params: number[];
  /**
   * Those the backend stage does not use otherwise: their values must not reach the backend (the
   * session sends NULL in their place; they may be search terms over encrypted values).
   */
  blank: number[];
  /** Conjuncts pushed to the backend / kept for the residual stage. */
  pushed: number;
  kept: number;
}

/** The names of every column a FROM clause provides, or null when they are not all known. */
export type InputColumns = (from: unknown) => ReadonlySet<string> | null;

/** Why a statement cannot be split (the caller keeps its original refusal). */
export class NotSplittable extends Error {}

export function no(why: string): never {
  throw new NotSplittable(why);
}

/** Functions whose value comes from the engine's own state: they must be evaluated by the backend. */
const STATEFUL = new Set(['now', 'statement_timestamp', 'transaction_timestamp', 'clock_timestamp', 'timeofday', 'random', 'random_normal',
  'setseed', 'current_setting', 'set_config', 'version', 'nextval', 'currval', 'lastval', 'setval', 'current_database', 'current_schema',
  'current_schemas', 'current_user', 'session_user', 'current_role', 'user', 'current_catalog', 'txid_current', 'gen_random_uuid', 'uuid_generate_v4',
  'age', 'to_regclass', 'to_regtype', 'to_regproc', 'col_description', 'obj_description', 'format_type', 'row_security_active']);
const STATEFUL_PREFIX = /^(pg_|has_|inet_|txid_|lo_|xid|current_)/;

/**
 * Nodes the residual parts may not contain: they read the backend, or the engine's own state, or
 * the engine answers them differently from the backend (`differs`: residual/versions.ts).
 */
export function checkResidualNode(tag: string, b: Json, differs: ReadonlySet<string>): void {
  if (tag === 'SQLValueFunction') no('a session value function');
  if (tag === 'A_Star') no('* in what the proxy computes');
  if (tag === 'FuncCall') {
    const names = arr(b.funcname).map((n) => sval(n) ?? '');
    const name = (names[names.length - 1] ?? '').toLowerCase();
    if (names.length > 1 && names[0] !== 'pg_catalog') no(`function ${names.join('.')}`);
    if (STATEFUL.has(name) || STATEFUL_PREFIX.test(name)) no(`function ${name}() reads the server's state`);
    if (differs.has(name)) no(`function ${name}(), whose result the engine does not reproduce`);
  }
  if (tag === 'TypeCast') {
    const last = typeNameOf((body(b.typeName, 'TypeName') ?? b.typeName ?? {}) as Json);
    if (last.startsWith('reg')) no(`a cast to ${last}`);
  }
}

/**
 * Walks the residual parts: replaces each column reference by a column of CANDIDATES (the same
 * reference, met again, gets the same column) and refuses what the residual stage cannot hold.
 * `keep` decides which bare references stay as written (output-column names in ORDER BY).
 */
export class Collector {
  readonly refs: Json[] = [];
  /** Candidate column names, one per ref. */
  readonly names: string[] = [];
  /** Subqueries may be evaluated by the backend stage, per candidate row (not under GROUP BY). */
  subqueries = true;
  /** Client parameter numbers, in the order the residual query numbers them (shared by the arms of a set operation). */
  readonly params: number[];
  private readonly byKey = new Map<string, string>();
  private readonly prefix: string;
  private readonly differs: ReadonlySet<string>;
  /** The input column names of a FROM clause, when all are known (GROUP BY of an output name: see groupBy). */
  inputs?: InputColumns;

  constructor(differs: ReadonlySet<string>, prefix = 'c', params: number[] = []) {
    this.differs = differs;
    this.prefix = prefix;
    this.params = params;
  }

  param(b: Json): Json {
    const n = Number(b.number ?? 0);
    let k = this.params.indexOf(n);
    if (k < 0) k = this.params.push(n) - 1;
    return { ParamRef: { ...b, number: k + 1 } };
  }

  column(ref: Json): Json {
    const names = colRefNames(ref);
    if (names[names.length - 1] === '*') no('* in what the proxy computes');
    return this.candidate(JSON.stringify(names), columnRef(names));
  }

  /** A value the backend stage computes per row (a column reference, a subquery): a candidate column. */
  private candidate(key: string, node: Json): Json {
    let name = this.byKey.get(key);
    if (name === undefined) {
      name = `${this.prefix}${this.refs.length + 1}`;
      this.byKey.set(key, name);
      this.refs.push(node);
      this.names.push(name);
    }
    return columnRef([CANDIDATES, name]);
  }

  /**
   * A subquery in what the proxy computes: evaluated by the backend stage for each candidate row
   * (same FROM clause, so correlated references mean what they meant). Under GROUP BY a subquery
   * may only see grouped values, which a per-row column would not check: refused there.
   */
  subquery(node: Json): Json {
    if (!this.subqueries) no('a subquery in a grouped statement');
    return this.candidate(`sublink:${JSON.stringify(node)}`, node);
  }

  walk(node: unknown): unknown {
    if (Array.isArray(node)) return node.map((n) => this.walk(n));
    if (!node || typeof node !== 'object') return node;
    const t = tagOf(node);
    if (t) {
      const [tag, b] = t;
      if (tag === 'ColumnRef') return this.column(b);
      if (tag === 'ParamRef') return this.param(b);
      if (tag === 'SubLink') return this.subquery(node as Json);
      checkResidualNode(tag, b, this.differs);
    }
    const out: Json = {};
    for (const [k, v] of Object.entries(node as Json)) out[k] = this.walk(v);
    return out;
  }
}

function conjuncts(where: unknown): unknown[] {
  if (!where) return [];
  const b = body(where, 'BoolExpr');
  if (b && b.boolop === 'AND_EXPR') return arr(b.args).flatMap((a) => conjuncts(a));
  return [where];
}

function andOf(items: unknown[]): unknown {
  if (items.length === 0) return undefined;
  if (items.length === 1) return items[0];
  return { BoolExpr: { boolop: 'AND_EXPR', args: items, location: -1 } };
}

/** A bare name (one field) in ORDER BY that PostgreSQL reads as an output column of the SELECT. */
function outputNames(targets: unknown[]): Set<string> {
  const names = new Set<string>();
  for (const t of targets) {
    const rt = body(t, 'ResTarget') as Json;
    const n = rt.name ? String(rt.name) : figureColname(rt.val);
    if (n !== null) names.add(n);
  }
  return names;
}

function bareName(node: unknown): string | null {
  const ref = body(node, 'ColumnRef');
  if (!ref) return null;
  const names = colRefNames(ref);
  return names.length === 1 ? (names[0] as string) : null;
}

function checkShape(s: Json): void {
  if (s.intoClause) no('SELECT INTO');
  if (arr(s.lockingClause).length > 0) no('FOR UPDATE/SHARE');
}

/** Output names for targets without one: the residual query must name its columns as PostgreSQL named the original's. */
function namedTargets(targets: unknown[]): unknown[] {
  return targets.map((t) => {
    const rt = body(t, 'ResTarget') as Json;
    if (rt.name) return t;
    const name = figureColname(rt.val);
    return name === null ? t : { ResTarget: { ...rt, name } };
  });
}

/** What the pushability probe needs of a FROM clause: the WITH queries it may name. */
export interface ProbeFrom { withClause?: unknown; fromClause: unknown }

export function withFrom(withClause: unknown, fromClause: unknown): ProbeFrom {
  return withClause ? { withClause, fromClause } : { fromClause };
}

/** One SELECT block split: its backend part (FROM, pushed conjuncts) and its residual SELECT over CANDIDATES. */
export interface Block { from: unknown; pushed: unknown[]; kept: number; residual: Json }

export function splitBlock(s: Json, c: Collector, pushable: (conjunct: unknown) => boolean): Block {
  checkShape(s);
  if (s.valuesLists) no('VALUES');
  const pushed: unknown[] = [];
  const kept: unknown[] = [];
  for (const w of conjuncts(s.whereClause)) (pushable(w) ? pushed : kept).push(w);
  const targets = arr(s.targetList);
  const outputs = outputNames(targets);
  // WHERE is evaluated per input row, grouped or not: its subqueries become candidate columns.
  const whereKept = andOf(kept);
  const residualWhere = whereKept === undefined ? undefined : c.walk(whereKept);
  c.subqueries = !s.groupClause && !s.havingClause;
  const residual: Json = {
    targetList: c.walk(namedTargets(targets)),
    fromClause: [{ RangeVar: { relname: CANDIDATES, inh: true, relpersistence: 'p', location: -1 } }],
    limitOption: s.limitOption ?? 'LIMIT_OPTION_DEFAULT',
    op: 'SETOP_NONE',
  };
  if (residualWhere !== undefined) residual.whereClause = residualWhere;
  if (s.distinctClause) residual.distinctClause = c.walk(s.distinctClause);
  if (s.groupClause) residual.groupClause = groupBy(c, s, targets);
  if (s.groupDistinct) residual.groupDistinct = s.groupDistinct;
  if (s.havingClause) residual.havingClause = c.walk(s.havingClause);
  if (s.windowClause) residual.windowClause = c.walk(s.windowClause);
  if (s.sortClause) residual.sortClause = arr(s.sortClause).map((sb) => sortItem(c, sb, outputs));
  if (s.limitCount) residual.limitCount = c.walk(s.limitCount);
  if (s.limitOffset) residual.limitOffset = c.walk(s.limitOffset);
  return { from: s.fromClause, pushed, kept: kept.length, residual };
}

/**
 * GROUP BY reads a bare name as an input column first, an output column's name second (the
 * residual query, over the candidate columns, could not tell): a name that is both the output's
 * name and the column it shows is that column; an output name that no input column has (the FROM
 * clause's columns known from the catalog) is the output's expression; anything else is refused.
 */
function groupBy(c: Collector, s: Json, targets: unknown[]): unknown {
  const byName = new Map<string, unknown>();
  for (const t of targets) {
    const rt = body(t, 'ResTarget') as Json;
    const n = rt.name ? String(rt.name) : figureColname(rt.val);
    if (n !== null && !byName.has(n)) byName.set(n, rt.val);
  }
  const items = arr(s.groupClause).map((g) => {
    const n = bareName(g);
    if (n === null || !byName.has(n)) return g;
    const val = byName.get(n);
    const shown = body(val, 'ColumnRef');
    if (shown && colRefNames(shown).at(-1) === n) return g;
    // A WITH query may shadow a table's name: its columns are not known here.
    const inputs = s.withClause ? null : c.inputs?.(s.fromClause);
    if (!inputs || inputs.has(n)) no(`GROUP BY ${n}, which is also an output column's name`);
    return val;
  });
  return c.walk(items);
}

const target = (name: string, val: unknown): Json => ({ ResTarget: { name, val, location: -1 } });
const intConst = (n: number): Json => ({ A_Const: { ival: { ival: n }, location: -1 } });

/** The parameter columns every backend stage ends with (see splitSelect), and which parameters to blank. */
export function withParams(backend: Json, columns: string[], c: Collector, usedByBackend: unknown): { blank: number[] } {
  const used = paramNumbers(usedByBackend);
  for (const n of c.params) {
    (backend.targetList as unknown[]).push(target(`p${n}`, { ParamRef: { number: n, location: -1 } }));
    columns.push(`p${n}`);
  }
  return { blank: c.params.filter((n) => !used.has(n)) };
}

/**
 * Splits SELECT `s` (left unchanged). `pushable(conjunct, from)` says whether the backend stage
 * may evaluate a WHERE conjunct over a FROM clause. Throws NotSplittable when the statement's
 * shape is not one the two stages reproduce exactly.
 */
export function splitSelect(s: Json, pushable: (conjunct: unknown, from: ProbeFrom) => boolean, differs: ReadonlySet<string> = new Set(), inputs?: InputColumns): TwoStage {
  if (s.op && s.op !== 'SETOP_NONE') return splitSetOperation(s, pushable, differs, inputs);
  const c = new Collector(differs);
  if (inputs) c.inputs = inputs;
  const b = splitBlock(s, c, (w) => pushable(w, withFrom(s.withClause, s.fromClause)));
  const backend: Json = { targetList: c.refs.map((ref, i) => target(c.names[i] as string, ref)), limitOption: 'LIMIT_OPTION_DEFAULT', op: 'SETOP_NONE' };
  if (b.from) backend.fromClause = b.from;
  // WITH queries stay with the backend stage, which reads them in its FROM clause (the rules
  // analyse them there: a WITH query that computes on encrypted values is refused).
  if (s.withClause) backend.withClause = s.withClause;
  const wherePushed = andOf(b.pushed);
  if (wherePushed !== undefined) backend.whereClause = wherePushed;
  const columns = [...c.names];
  if (c.refs.length === 0) {
    backend.targetList = [target('c0', intConst(1))];
    columns.push('c0');
  }
  // The backend statement still declares every parameter the client binds (their values go to the
  // residual stage from the Bind message; these columns are not used there).
  const { blank } = withParams(backend, columns, c, [b.from, wherePushed, c.refs]);
  return { backend, residual: b.residual, columns, params: c.params, blank, pushed: b.pushed.length, kept: b.kept };
}

/** The leaf SELECTs of a set operation, left to right, and a rebuild of the tree with new leaves. */
function leaves(s: Json): Json[] {
  if (!s.op || s.op === 'SETOP_NONE') return [s];
  return [...leaves(body(s.larg, 'SelectStmt') ?? (s.larg as Json)), ...leaves(body(s.rarg, 'SelectStmt') ?? (s.rarg as Json))];
}

/** `walk` renumbers the parameters of a nested operation's own LIMIT/OFFSET. */
function rebuild(s: Json, next: () => Json, walk: (n: unknown) => unknown): Json {
  if (!s.op || s.op === 'SETOP_NONE') return next();
  const larg = rebuild(body(s.larg, 'SelectStmt') ?? (s.larg as Json), next, walk);
  const rarg = rebuild(body(s.rarg, 'SelectStmt') ?? (s.rarg as Json), next, walk);
  const out: Json = { ...s, larg, rarg };
  if (s.limitCount) out.limitCount = walk(s.limitCount);
  if (s.limitOffset) out.limitOffset = walk(s.limitOffset);
  return out;
}

/** `SELECT <k> AS arm, <refs> FROM … WHERE <pushed> OFFSET 0`: one arm's rows, in a subquery of its own. */
function armSubquery(arm: number, c: Collector, b: Block): Json {
  const stmt: Json = {
    targetList: [target('arm', intConst(arm)), ...c.refs.map((ref, k) => target(c.names[k] as string, ref))],
    ...(b.from ? { fromClause: b.from } : {}),
    // A fence: the planner keeps `arm` a column of the subquery, so the join below is hashed or merged.
    limitOffset: intConst(0),
    limitOption: 'LIMIT_OPTION_DEFAULT',
    op: 'SETOP_NONE',
  };
  const w = andOf(b.pushed);
  if (w !== undefined) stmt.whereClause = w;
  return { RangeSubselect: { subquery: { SelectStmt: stmt }, alias: { aliasname: `clarus_arm${arm}` } } };
}

const armRef = (k: number): Json => columnRef([`clarus_arm${k}`, 'arm']);
const coalesce = (args: Json[]): Json => (args.length === 1 ? args[0] as Json : { CoalesceExpr: { args, location: -1 } });

/**
 * The backend stage of a set operation: the arms' subqueries FULL JOINed on their (always
 * different) arm numbers, so every row is one arm's, with the other arms' columns NULL, and every
 * column keeps the type its own arm gives it (a UNION ALL of NULL-padded arms would type a column
 * that two arms pad as text).
 */
export function armsJoined(arms: Array<{ c: Collector; b: Block }>): Json {
  let from: Json = armSubquery(1, arms[0]?.c as Collector, arms[0]?.b as Block);
  for (let i = 1; i < arms.length; i++) {
    const before = Array.from({ length: i }, (_, k) => armRef(k + 1));
    const on = { A_Expr: { kind: 'AEXPR_OP', name: [{ String: { sval: '=' } }], lexpr: coalesce(before), rexpr: armRef(i + 1), location: -1 } };
    from = { JoinExpr: { jointype: 'JOIN_FULL', larg: from, rarg: armSubquery(i + 1, arms[i]?.c as Collector, arms[i]?.b as Block), quals: on } };
  }
  const list = [target('arm', coalesce(arms.map((_, k) => armRef(k + 1)))),
    ...arms.flatMap(({ c }, i) => c.names.map((n) => target(n, columnRef([`clarus_arm${i + 1}`, n]))))];
  return { targetList: list, fromClause: [from], limitOption: 'LIMIT_OPTION_DEFAULT', op: 'SETOP_NONE' };
}

/**
 * A set operation (UNION/INTERSECT/EXCEPT, nested, any number of arms): every arm is split on
 * its own; the backend stage reads every arm's rows (armsJoined), each arm filling its own
 * candidate columns and an `arm` number; the residual is the set operation of the arms' residual SELECTs, each reading
 * its arm's rows. ORDER BY/LIMIT of the whole operation read only its output columns.
 */
function splitSetOperation(s: Json, pushable: (conjunct: unknown, from: ProbeFrom) => boolean, differs: ReadonlySet<string>, inputs?: InputColumns): TwoStage {
  checkShape(s);
  const params: number[] = [];
  const all = leaves(s);
  const arms = all.map((leaf, i) => {
    const c = new Collector(differs, `a${i + 1}_`, params);
    if (inputs) c.inputs = inputs;
    return { c, b: splitBlock(leaf, c, (w) => pushable(w, withFrom(s.withClause, leaf.fromClause))) };
  });
  const top = new Collector(differs, 't', params);
  const backend = armsJoined(arms);
  if (s.withClause) backend.withClause = s.withClause;
  let k = 0;
  const residual = rebuild(s, () => armResidual(arms[k]?.b.residual as Json, ++k), (n) => top.walk(n));
  for (const key of ['sortClause', 'limitCount', 'limitOffset', 'limitOption', 'withClause'] as const) delete residual[key];
  if (s.sortClause) residual.sortClause = s.sortClause;
  if (s.limitCount) residual.limitCount = top.walk(s.limitCount);
  if (s.limitOffset) residual.limitOffset = top.walk(s.limitOffset);
  residual.limitOption = s.limitOption ?? 'LIMIT_OPTION_DEFAULT';
  const columns = ['arm', ...arms.flatMap(({ c }) => c.names)];
  const { blank } = withParams(backend, columns, top, [arms.map(({ b }) => [b.from, b.pushed]), arms.map(({ c }) => c.refs)]);
  return { backend, residual, columns, params, blank, pushed: arms.reduce((n, a) => n + a.b.pushed.length, 0), kept: arms.reduce((n, a) => n + a.b.kept, 0) };
}

/** An arm's residual SELECT reads only its own rows of the candidate relation. */
export function armResidual(r: Json, arm: number): Json {
  const mine = { A_Expr: { kind: 'AEXPR_OP', name: [{ String: { sval: '=' } }], lexpr: columnRef([CANDIDATES, 'arm']), rexpr: intConst(arm), location: -1 } };
  return { ...r, whereClause: r.whereClause ? { BoolExpr: { boolop: 'AND_EXPR', args: [mine, r.whereClause], location: -1 } } : mine };
}

/** ORDER BY item: a bare output-column name stays as written (the residual query has the same output names). */
function sortItem(c: Collector, sb: unknown, outputs: Set<string>): unknown {
  const b = body(sb, 'SortBy') as Json;
  const n = bareName(b.node);
  if (n !== null && outputs.has(n)) return sb;
  return { SortBy: { ...b, node: c.walk(b.node) } };
}
