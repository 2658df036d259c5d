// Writes that compute on protected values (issue 10): `UPDATE t SET enc = f(…)`, `SET name = ssn`,
// `INSERT INTO t (…) SELECT f(…) FROM …`. Each becomes a two-stage SELECT whose residual outputs are
// the values to write, and a write-back statement the session runs once per computed row, through
// the rules like any write (so every value is encrypted for its column, blind index included):
//
//   UPDATE: backend stage  SELECT t.tableoid, t.ctid, <refs> FROM t WHERE <pushed> FOR UPDATE OF t
//           residual       SELECT k1, k2, CAST(<expr> AS <column type>) … FROM clarus_candidates WHERE <kept>
//           write-back     UPDATE t SET col = $3, … WHERE t.tableoid = $1 AND t.ctid = $2
//   INSERT: backend stage  the SELECT's own backend stage (no lock: PostgreSQL takes none either)
//           write-back     INSERT INTO t (cols) VALUES ($1, …)
//
// The row key is (tableoid, ctid): every heap table has it, and the rows stay locked from the read to
// the write, in the client's transaction (the session sends no Sync in between), so it names the
// version that was read. A relation without one (a view) fails the backend stage.
//
// A target column that is not encrypted gets no value computed in the proxy: in an UPDATE its SET
// item stays in the write-back as written (the backend evaluates it on the locked row, as the rules
// allow it); in an INSERT its value must be a plain column, constant or parameter the rules accept
// over the same FROM clause, in a SELECT that neither groups nor aggregates.
import { arr, body, isObj, paramNumbers, tagOf } from '../ast.ts';
import type { Json } from '../ast.ts';
import type { CatalogTable } from '../catalog.ts';
import { deparseStatement, parseTree } from '../parser.ts';
import { SUPPORTED_TYPES } from '../../residual/types.ts';
import { figureColname } from './colname.ts';
import { computedReturning } from './returning.ts';
import type { ReturningSpec } from './returning.ts';
import { NotSplittable } from './split.ts';
import type { ProbeFrom } from './split.ts';

/** How the session writes the computed rows back (see ResidualSpec.write). */
export interface WriteSpec {
  /** `DECLARE CURSOR`: not a write; the computed rows are held for the cursor (computedCursor). */
  command: 'UPDATE' | 'INSERT' | 'DELETE' | 'DECLARE CURSOR';
  /** The write-back statement before the rules: its `$k` is the k-th residual output of a row. */
  sql: string;
  /** Leading outputs that are the row key (oid, tid), not values. */
  keys: number;
  /**
   * The SQL type of each `$k` of `sql` (write-batch.ts batches the rows as arrays of them); empty when
   * one is not known (the rows are then written back one by one).
   */
  types: string[];
  /** The cursor a `DECLARE CURSOR` declares. */
  cursor?: { name: string; hold: boolean };
  /** RETURNING: `sql` writes back with a RETURNING of these columns, the engine computes the client's list (returning.ts). */
  returning?: ReturningSpec;
  /**
   * The rows go back in one batch, whatever its size: `INSERT … ON CONFLICT DO UPDATE`, where
   * PostgreSQL fails two rows of one statement that update the same row (21000); split into
   * batches, the second would update it again.
   */
  oneBatch?: true;
}

export interface ComputedWrite {
  /** The SELECT to split in two stages (its outputs: keys, then the values to write). */
  select: Json;
  /** Edits the backend stage before the rules see it (the row lock). */
  lock?: (backend: Json) => void;
  write: WriteSpec;
}

export interface WriteDeps {
  lookup: (schema: string | undefined, table: string) => CatalogTable | undefined;
  /** The rules accept `UPDATE <relation> SET <item>` (a plain column's value the backend may compute). */
  plainSet: (relation: Json, item: Json) => boolean;
  /** The rules accept `SELECT <val> FROM <from>` and its output carries no protected value. */
  plainValue: (from: ProbeFrom, val: unknown) => boolean;
  /** Functions the engine answers differently from this backend (residual/versions.ts). */
  differs?: ReadonlySet<string>;
}

function no(why: string): never {
  throw new NotSplittable(why);
}

const target = (name: string, val: unknown): Json => ({ ResTarget: { name, val, location: -1 } });
const ref = (names: string[]): Json => ({ ColumnRef: { fields: names.map((n) => ({ String: { sval: n } })), location: -1 } });
const param = (n: number): Json => ({ ParamRef: { number: n, location: -1 } });

/** `CAST(val AS <type>)` for a column's declared type (explicit cast: see docs/limitations.md). */
function castTo(val: unknown, typeOid: number): Json {
  const name = SUPPORTED_TYPES.get(typeOid) ?? no(`a column of type ${typeOid}, which the proxy does not compute`);
  const parsed = parseTree(`SELECT CAST(NULL AS ${name})`).statements[0]?.stmt;
  const cast = body(body(arr(body(parsed, 'SelectStmt')?.targetList)[0], 'ResTarget')?.val, 'TypeCast') as Json;
  return { TypeCast: { ...cast, arg: val } };
}

/** The SQL name of a column type the proxy computes (SUPPORTED_TYPES). */
function typeName(typeOid: number): string {
  return SUPPORTED_TYPES.get(typeOid) ?? no(`a column of type ${typeOid}, which the proxy does not compute`);
}

function tableOf(deps: WriteDeps, relation: Json): CatalogTable {
  const t = deps.lookup(relation.schemaname ? String(relation.schemaname) : undefined, String(relation.relname));
  return t ?? no('a write into a table the policy does not describe');
}

function hasTag(node: unknown, tags: ReadonlySet<string>): boolean {
  if (Array.isArray(node)) return node.some((n) => hasTag(n, tags));
  if (!node || typeof node !== 'object') return false;
  const t = tagOf(node);
  if (t && tags.has(t[0])) return true;
  return Object.values(node as Json).some((v) => hasTag(v, tags));
}

const NOT_A_VALUE = new Set(['SetToDefault', 'MultiAssignRef', 'CurrentOfExpr']);

/**
 * The WITH clause of a write, when every query in it is a SELECT (a read-only WITH query feeding the
 * write): it goes with the SELECT the write computes from (its backend stage, where the rules
 * protect it, or the engine). A data-modifying WITH query (`WITH d AS (DELETE … RETURNING …)`) is
 * not split: the original refusal stands.
 */
function readOnlyWith(w: unknown): Json | undefined {
  if (!w) return undefined;
  const clause = body(w, 'WithClause') ?? (isObj(w) ? w : undefined);
  if (!clause) return undefined;
  for (const cte of arr(clause.ctes)) {
    const q = body(cte, 'CommonTableExpr')?.ctequery;
    if (!body(q, 'SelectStmt')) no('a data-modifying WITH query');
  }
  return clause;
}

/** Whether every column `val` reads is the target's (`alias.c` or a bare name of one of its columns). */
function readsTargetOnly(val: unknown, table: CatalogTable, alias: string): boolean {
  if (Array.isArray(val)) return val.every((v) => readsTargetOnly(v, table, alias));
  if (!val || typeof val !== 'object') return true;
  const cr = body(val, 'ColumnRef');
  if (cr) {
    const names = arr(cr.fields).map((f) => body(f, 'String')?.sval);
    const last = names[names.length - 1];
    return typeof last === 'string' && table.byName.has(last) && (names.length === 1 || (names.length === 2 && names[0] === alias));
  }
  return Object.values(val as Json).every((v) => readsTargetOnly(v, table, alias));
}

/** `[WITH <SELECTs>] UPDATE t SET … [FROM …] WHERE … [RETURNING …]` as a computed write. */
function computedUpdate(u: Json, deps: WriteDeps): ComputedWrite {
  if (arr(u.returningList).length > 0) no('UPDATE … RETURNING list');
  const withClause = readOnlyWith(u.withClause);
  const relation = body(u.relation, 'RangeVar') ?? (u.relation as Json);
  const table = tableOf(deps, relation);
  const alias = String((body(relation.alias, 'Alias') ?? (relation.alias as Json | undefined))?.aliasname ?? relation.relname);
  if (hasTag(u.whereClause, NOT_A_VALUE)) no('WHERE CURRENT OF');
  const computed: Json[] = [];
  const types = ['oid', 'tid'];
  const sets: Json[] = [];
  const kept: Json[] = [];
  for (const item of arr(u.targetList)) {
    const rt = body(item, 'ResTarget') as Json;
    if (arr(rt.indirection).length > 0 || hasTag(rt.val, NOT_A_VALUE)) no('SET of a subscript, a field, DEFAULT or a row');
    const c = table.byName.get(String(rt.name)) ?? no(`column ${String(rt.name)}`);
    if (c.protection.kind !== 'encrypt') {
      // The backend evaluates it on the locked row, with the same parameters: not renumbered.
      // The write-back by row key has no FROM: the value may read only the target's row.
      if (paramNumbers(rt.val).size > 0 || !readsTargetOnly(rt.val, table, alias) || !deps.plainSet(relation, item as Json)) no(`a value of ${c.name} the backend cannot compute`);
      kept.push(item as Json);
      continue;
    }
    const k = computed.length + 1;
    computed.push(target(`v${k}`, castTo(rt.val, c.typeOid)));
    types.push(typeName(c.typeOid));
    sets.push(target(c.name, param(k + 2)));
  }
  // With nothing computed, it is the WHERE clause the proxy evaluates.
  const { select, lock, key } = keyed({ relation, alias, from: arr(u.fromClause), withClause }, computed, u.whereClause);
  const ret = computedReturning(u.returningClause, table, alias, deps.differs ?? new Set());
  const writeBack = { UpdateStmt: { relation, targetList: [...sets, ...kept], whereClause: key, ...(ret ? { returningClause: ret.list } : {}) } };
  return { select, lock, write: { command: 'UPDATE', sql: deparseStatement(writeBack), keys: 2, types, ...(ret ? { returning: ret.spec } : {}) } };
}

/** The target of a write by row: its relation, the name it goes by, the other FROM / USING items and the write's read-only WITH. */
interface Target { relation: Json; alias: string; from: unknown[]; withClause?: Json | undefined }

/**
 * The keyed read of a write by row: `SELECT tableoid, ctid, <computed> FROM t [, <from>] WHERE …`
 * locked FOR UPDATE OF t, and the write-back's key condition. With other FROM items, a target row
 * that joins several rows is read several times: its key is written back once (the first batch row
 * updates it; PostgreSQL too updates it once, with one of the joined rows).
 */
function keyed(t: Target, computed: Json[], where: unknown): { select: Json; lock: (backend: Json) => void; key: Json } {
  const { relation, alias } = t;
  const select: Json = {
    targetList: [target('k1', ref([alias, 'tableoid'])), target('k2', ref([alias, 'ctid'])), ...computed],
    fromClause: [{ RangeVar: relation }, ...structuredClone(t.from)],
    limitOption: 'LIMIT_OPTION_DEFAULT',
    op: 'SETOP_NONE',
  };
  if (where) select.whereClause = where;
  if (t.withClause) select.withClause = t.withClause;
  const key = { BoolExpr: { boolop: 'AND_EXPR', args: [eq([alias, 'tableoid'], 1), eq([alias, 'ctid'], 2)], location: -1 } };
  const lock = (backend: Json): void => {
    backend.lockingClause = [{ LockingClause: { lockedRels: [{ RangeVar: { relname: alias, inh: true, relpersistence: 'p', location: -1 } }], strength: 'LCS_FORUPDATE', waitPolicy: 'LockWaitBlock' } }];
  };
  return { select, lock, key };
}

/** `[WITH <SELECTs>] DELETE FROM t [USING …] WHERE <what the rules refused> [RETURNING …]`: the rows the proxy selects, deleted by row key. */
function computedDelete(d: Json, deps: WriteDeps): ComputedWrite {
  if (arr(d.returningList).length > 0) no('DELETE … RETURNING list');
  const withClause = readOnlyWith(d.withClause);
  if (!d.whereClause || hasTag(d.whereClause, NOT_A_VALUE)) no('DELETE without WHERE, or WHERE CURRENT OF');
  const relation = body(d.relation, 'RangeVar') ?? (d.relation as Json);
  const table = tableOf(deps, relation);
  const alias = String((body(relation.alias, 'Alias') ?? (relation.alias as Json | undefined))?.aliasname ?? relation.relname);
  const { select, lock, key } = keyed({ relation, alias, from: arr(d.usingClause), withClause }, [], d.whereClause);
  const ret = computedReturning(d.returningClause, table, alias, deps.differs ?? new Set());
  const sql = deparseStatement({ DeleteStmt: { relation, whereClause: key, ...(ret ? { returningClause: ret.list } : {}) } });
  return { select, lock, write: { command: 'DELETE', sql, keys: 2, types: ['oid', 'tid'], ...(ret ? { returning: ret.spec } : {}) } };
}

function eq(names: string[], n: number): Json {
  return { A_Expr: { kind: 'AEXPR_OP', name: [{ String: { sval: '=' } }], lexpr: ref(names), rexpr: param(n), location: -1 } };
}

const AGGREGATING = new Set(['FuncCall', 'SubLink']);
const SUBQUERY = new Set(['SubLink']);

/**
 * `[WITH <SELECTs>] INSERT INTO t (cols) SELECT … [ON CONFLICT …] [RETURNING …]` as a computed write. The
 * ON CONFLICT clause stays with the write-back as written (the rules protect it there; a parameter in
 * it would be renumbered, refused).
 */
function computedInsert(ins: Json, deps: WriteDeps): ComputedWrite {
  if (arr(ins.returningList).length > 0 || (ins.override && ins.override !== 'OVERRIDING_NOT_SET')) no('INSERT … OVERRIDING');
  if (paramNumbers(ins.onConflictClause).size > 0) no('a parameter in ON CONFLICT');
  const relation = body(ins.relation, 'RangeVar') ?? (ins.relation as Json);
  const table = tableOf(deps, relation);
  const cols = arr(ins.cols).map((c) => String((body(c, 'ResTarget') as Json).name));
  if (cols.length === 0) no('INSERT without a column list');
  const s = insertSelect(ins);
  const targets = arr(s.targetList);
  if (targets.length !== cols.length) no('INSERT whose SELECT has another number of columns');
  const grouped = Boolean(s.groupClause || s.havingClause || s.distinctClause || s.windowClause);
  const from: ProbeFrom = s.withClause ? { withClause: s.withClause, fromClause: s.fromClause } : { fromClause: s.fromClause };
  s.targetList = targets.map((t, i) => {
    const rt = body(t, 'ResTarget') as Json;
    const c = table.byName.get(cols[i] as string) ?? no(`column ${cols[i] as string}`);
    const name = rt.name ? String(rt.name) : (figureColname(rt.val) ?? `v${i + 1}`);
    if (c.protection.kind !== 'encrypt') {
      // A plain column must not receive a value computed from protected ones.
      if (grouped || hasTag(rt.val, AGGREGATING) || !deps.plainValue(from, rt.val)) no(`a value of ${c.name} computed from protected values`);
      return target(name, rt.val);
    }
    return target(name, castTo(rt.val, c.typeOid));
  });
  const alias = String((body(relation.alias, 'Alias') ?? (relation.alias as Json | undefined))?.aliasname ?? relation.relname);
  const ret = computedReturning(ins.returningClause, table, alias, deps.differs ?? new Set());
  const values = { SelectStmt: { valuesLists: [{ List: { items: cols.map((_, i) => param(i + 1)) } }], limitOption: 'LIMIT_OPTION_DEFAULT', op: 'SETOP_NONE' } };
  const conflict = ins.onConflictClause ? { onConflictClause: ins.onConflictClause } : {};
  const writeBack = { InsertStmt: { relation, cols: ins.cols, selectStmt: values, ...conflict, override: 'OVERRIDING_NOT_SET', ...(ret ? { returningClause: ret.list } : {}) } };
  const known = cols.map((n) => SUPPORTED_TYPES.get(table.byName.get(n)?.typeOid ?? 0));
  // An array column's values cannot be one level of a batch array (unnest would flatten them).
  const types = known.every((x): x is string => x !== undefined && !x.endsWith('[]')) ? known : [];
  const clauseOf = body(ins.onConflictClause, 'OnConflictClause') ?? (isObj(ins.onConflictClause) ? ins.onConflictClause : undefined);
  const once = clauseOf?.action === 'ONCONFLICT_UPDATE' ? { oneBatch: true as const } : {};
  return { select: s, write: { command: 'INSERT', sql: deparseStatement(writeBack), keys: 0, types, ...(ret ? { returning: ret.spec } : {}), ...once } };
}

/** A copy of the SELECT an INSERT computes from, with the INSERT's read-only WITH made its own. */
function insertSelect(ins: Json): Json {
  const withClause = readOnlyWith(ins.withClause);
  // ON CONFLICT goes with the write-back, which has no WITH: it may not read one.
  if (withClause && hasTag(ins.onConflictClause, SUBQUERY)) no('a subquery in ON CONFLICT with WITH');
  const s = structuredClone(body(ins.selectStmt, 'SelectStmt') ?? no('INSERT without a SELECT'));
  if ((s.op && s.op !== 'SETOP_NONE') || s.valuesLists) no('INSERT … set operation or VALUES');
  // The INSERT's WITH is visible in its SELECT: it becomes the SELECT's own (both: not split).
  if (withClause && s.withClause) no('WITH on both the INSERT and its SELECT');
  if (withClause) s.withClause = withClause;
  return s;
}

/** DeclareCursorStmt options (PostgreSQL's CURSOR_OPT_BINARY, CURSOR_OPT_HOLD). */
const CURSOR_OPT_BINARY = 0x1;
const CURSOR_OPT_HOLD = 0x20;

/**
 * `DECLARE c [NO SCROLL | SCROLL] CURSOR [WITH HOLD] FOR <a SELECT that computes>`: the SELECT is
 * computed in two stages once, at DECLARE; the proxy holds its rows and the backend gets a cursor of
 * the same name and options over their numbers (`SELECT clarus_row FROM generate_series(1, $1)`),
 * so FETCH / MOVE / CLOSE, scrolling, WITH HOLD and the cursor's life in the transaction are
 * PostgreSQL's; a FETCH's row numbers are replaced by the held rows (access/computed-cursor.ts).
 * The backend learns how many rows the result has.
 */
function computedCursor(d: Json): ComputedWrite {
  if ((Number(d.options ?? 0) & CURSOR_OPT_BINARY) !== 0) no('a BINARY cursor');
  const select = structuredClone(body(d.query, 'SelectStmt') ?? no('a cursor over another statement'));
  const rows = body(parseTree('SELECT clarus_row FROM generate_series(1, CAST($1 AS int4)) AS clarus_row').statements[0]?.stmt, 'SelectStmt');
  const sql = deparseStatement({ DeclareCursorStmt: { ...d, query: { SelectStmt: rows } } });
  const cursor = { name: String(d.portalname ?? ''), hold: (Number(d.options ?? 0) & CURSOR_OPT_HOLD) !== 0 };
  return { select, write: { command: 'DECLARE CURSOR', sql, keys: 0, types: [], cursor } };
}

/** The computed write of an UPDATE or INSERT the rules refused, or NotSplittable. */
export function computedWrite(stmt: Json, deps: WriteDeps): ComputedWrite {
  const dc = body(stmt, 'DeclareCursorStmt');
  if (dc) return computedCursor(dc);
  const u = body(stmt, 'UpdateStmt');
  if (u) return computedUpdate(u, deps);
  const ins = body(stmt, 'InsertStmt');
  if (ins) return computedInsert(ins, deps);
  const del = body(stmt, 'DeleteStmt');
  if (del) return computedDelete(del, deps);
  return no('not a write');
}
