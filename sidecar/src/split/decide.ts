// The pipeline's decisions for split sessions (issue 12): statements on split tables become a
// placeholder answered by the split stage; the client's transaction control gets hooks that keep
// the fragment transactions in step (see session.ts).
import type { View } from '@clarus/crds/types.ts';
import type { ResidualService } from '../access/residual-stage.ts';
import { body, isObj, nodeBody, paramNumbers } from '../rewrite/ast.ts';
import type { Json } from '../rewrite/ast.ts';
import { parseStatements } from '../rewrite/parser.ts';
import type { ParsedStatement } from '../rewrite/parser.ts';
import type { CopyHooks, Refuse, ResidualStage, ResultTransformer } from '../session/pipeline.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';
import { copyInTransformer, copyOutStage, planCopy } from './copy.ts';
import type { CopyPlan } from './copy.ts';
import { declareTransformer, planDeclare } from './cursor.ts';
import { insertSelectStage, isInsertSelect, planInsertSelect } from './insert-select.ts';
import type { InsertSelectPlan } from './insert-select.ts';
import type { DeclarePlan } from './cursor.ts';
import type { Fragment } from './fragment.ts';
import type { SplitLayout } from './layout.ts';
import { planSplit, SplitUnsupported } from './plan.ts';
import { planIndexDdl } from './index-ddl.ts';
import type { Catalog } from '../rewrite/catalog.ts';
import type { SplitPlan } from './plan.ts';
import { CLIENT_PARTICIPANT } from './session.ts';
import { quoteLiteral } from '../residual/plan.ts';
import type { SplitSession } from './session.ts';
import { placeholderSql, selectStage, splitStage } from './stage.ts';
import { clientScans, scansSql } from './client-reads.ts';
import type { KeyedRewriter } from '../protection/keyed-rewriter.ts';
import { derivedValues, rewritePoints } from './points.ts';
import type { Derived } from './points.ts';
import { checkInsertSelectFlows, checkUpdateFlows } from './flows.ts';
import type { ProtectedColumns } from './flows.ts';

/** What a protecting pipeline needs to serve split datasets (one per policy and backend grammar). */
export interface SplitService {
  layouts: Map<string, SplitLayout>;
  /** The policy's protected columns (values computed into unprotected split columns: flows.ts). */
  protectedColumns: ProtectedColumns;
  /** Fragment rewriters per backend (home included). */
  fragments: Map<string, Fragment>;
  residual?: ResidualService;
  /** Make a session's fragment connections (its role's credentials). */
  session(role: 'readWrite' | 'read'): SplitSession;
  /** The schema of split tables changed: reload the fragment catalogs. */
  schemaChanged(): void;
}

function refuse(code: string, message: string): Refuse {
  return { kind: 'refuse', code, message };
}

const IDENTITY = { fields: (f: readonly import('../session/pipeline.ts').FieldDescription[]) => [...f], row: <V>(v: V) => v };

/** The split layout of the (first) split table a statement names, by the table names it holds. */
export function layoutOf(layouts: ReadonlyMap<string, SplitLayout>, stmt: unknown): SplitLayout | undefined {
  let found: SplitLayout | undefined;
  const visit = (n: unknown): void => {
    if (found) return;
    if (Array.isArray(n)) { n.forEach(visit); return; }
    if (!isObj(n)) return;
    const rv = body(n, 'RangeVar') ?? (typeof n.relname === 'string' ? n : null);
    if (rv) {
      const schema = rv.schemaname as string | undefined;
      for (const l of layouts.values()) if (l.table === rv.relname && (schema === undefined || schema === l.schema)) found = l;
    }
    const list = body(n, 'List');
    if (list) {
      const names = (list.items as unknown[] | undefined ?? []).map((i) => body(i, 'String')?.sval);
      for (const l of layouts.values()) {
        if ((names.length === 1 && names[0] === l.table) || (names.length === 2 && names[0] === l.schema && names[1] === l.table)) found = l;
      }
    }
    for (const v of Object.values(n)) visit(v);
  };
  visit(stmt);
  return found;
}

/** A plan of a statement on a split table: the statement kinds of plan.ts, and COPY (copy.ts). */
export type AnyPlan = SplitPlan | CopyPlan | DeclarePlan | InsertSelectPlan;

/** `derived`: parameters the proxy appends to the client's (the parts of point values, points.ts). */
type Planned = { plan: AnyPlan; paramCount: number; derived?: Derived[] } | Refuse;

/** Plans by statement text (plans are immutable); bounded, oldest dropped first. */
const PLAN_CACHE_ENTRIES = 1000;
const plans = new WeakMap<SplitService, Map<string, Planned>>();

/** The plan of a single statement on a split table, or the refusal (cached per text). */
export function planStatement(svc: SplitService, sql: string, catalog?: Catalog): Planned {
  // An index statement's plan depends on where the catalog places the index: never cached.
  const idx = catalog && /index/i.test(sql) ? indexPlan(svc, sql, catalog) : null;
  if (idx) return idx;
  let cache = plans.get(svc);
  if (!cache) plans.set(svc, (cache = new Map()));
  const hit = cache.get(sql);
  if (hit) return hit;
  const p = planUncached(svc, sql);
  if (cache.size >= PLAN_CACHE_ENTRIES) cache.delete(cache.keys().next().value as string);
  cache.set(sql, p);
  return p;
}

/** DROP INDEX / ALTER INDEX of an index on another fragment (index-ddl.ts), or null. */
function indexPlan(svc: SplitService, sql: string, catalog: Catalog): Planned | null {
  let parsed: ParsedStatement[];
  try { parsed = parseStatements(sql); } catch { return null; }
  const stmt = parsed.length === 1 ? (parsed[0] as ParsedStatement).stmt : null;
  if (!stmt) return null;
  try {
    const plan = planIndexDdl(catalog, svc.layouts, stmt);
    return plan ? { plan, paramCount: 0 } : null;
  } catch (e) {
    if (e instanceof SplitUnsupported) return refuse(SQLSTATE.featureNotSupported, `clarus: ${e.message}`);
    throw e;
  }
}

/** Values the proxy computes into unprotected columns of `l` (a computed UPDATE, an INSERT … SELECT): flows.ts. */
function checkFlows(svc: SplitService, l: SplitLayout, stmt: unknown): void {
  const env = { layouts: svc.layouts, protectedColumns: svc.protectedColumns };
  const ins = body(stmt, 'InsertStmt');
  if (ins && isInsertSelect(l, ins)) checkInsertSelectFlows(env, l, ins);
  const upd = nodeBody(stmt, 'UpdateStmt');
  const rv = upd?.relation;
  if (upd && rv && rv.relname === l.table && (rv.schemaname === undefined || rv.schemaname === l.schema)) checkUpdateFlows(env, l, upd);
}

function planUncached(svc: SplitService, sql: string): Planned {
  let parsed: ParsedStatement[];
  try { parsed = parseStatements(sql); } catch (e) { return refuse(SQLSTATE.syntaxError, (e as Error).message); }
  if (parsed.length !== 1) return refuse(SQLSTATE.featureNotSupported, 'clarus: a statement on a split table must be sent on its own (not with other statements in one Query)');
  const stmt = (parsed[0] as ParsedStatement).stmt;
  const l = layoutOf(svc.layouts, stmt);
  if (!l) return refuse(SQLSTATE.featureNotSupported, 'clarus: this statement names a split table in a form the proxy cannot plan');
  try {
    const paramCount = Math.max(0, ...paramNumbers(stmt));
    const copy = body(stmt, 'CopyStmt');
    if (copy) {
      const plan = planCopy(l, copy, svc.layouts);
      return { plan, paramCount, ...(plan.kind === 'copyOut' && plan.derived.length > 0 ? { derived: plan.derived } : {}) };
    }
    const declare = body(stmt, 'DeclareCursorStmt');
    if (declare) return { plan: planDeclare(l, declare, svc.layouts, paramCount), paramCount };
    const ins = body(stmt, 'InsertStmt');
    checkFlows(svc, l, stmt);
    if (ins && isInsertSelect(l, ins)) {
      const plan = planInsertSelect(l, ins, svc.layouts, paramCount);
      return { plan, paramCount, ...(plan.derived.length > 0 ? { derived: plan.derived } : {}) };
    }
    const points = rewritePoints(svc.layouts.values(), stmt, paramCount, l);
    if (!points) return { plan: planSplit(l, stmt, svc.layouts), paramCount };
    const plan = withPoints(planSplit(l, points.stmt, svc.layouts), points.keepParts);
    return { plan, paramCount, derived: points.derived };
  } catch (e) {
    if (e instanceof SplitUnsupported) return refuse(SQLSTATE.featureNotSupported, `clarus: ${e.message}`);
    throw e;
  }
}


/**
 * The datasets a plan touches: its split table's, and for a SELECT every table it reads that the
 * policy protects (`lookup`: the proxy's catalog).
 */
export function datasetsOf(plan: AnyPlan, lookup: (schema: string | undefined, table: string) => { dataset: string } | undefined): string[] {
  if (plan.kind === 'copyOut' || plan.kind === 'declare') return datasetsOf(plan.select, lookup);
  if (plan.kind === 'insertSelect') return [...new Set([plan.layout.dataset, ...datasetsOf(plan.select, lookup)])];
  const out = new Set([plan.layout.dataset]);
  // A computed UPDATE/DELETE reads the relations of its FROM / USING and SET expressions.
  const read = plan.kind === 'select' ? plan.relations : (plan.kind === 'update' || plan.kind === 'delete') && plan.computed ? plan.keys.relations : [];
  for (const r of read) { const d = r.layout?.dataset ?? lookup(r.table.schema, r.table.table)?.dataset; if (d) out.add(d); }
  return [...out];
}

/** Marks the relations of a plan whose point columns the stage recomposes (points.ts). */
function withPoints(plan: SplitPlan, keepParts: boolean): SplitPlan {
  const relations = plan.kind === 'select' ? plan.relations : plan.kind === 'update' || plan.kind === 'delete' ? plan.keys.relations : [];
  for (const r of relations) if (r.layout?.points) r.points = { keepParts };
  return plan;
}

/** Whether a plan writes (a read: SELECT, COPY … TO). */
export function planWrites(plan: AnyPlan): boolean {
  return plan.kind !== 'select' && plan.kind !== 'copyOut' && plan.kind !== 'declare';
}

/**
 * What answers a planned split statement: the text the client's backend gets in its place (a
 * placeholder SELECT, or the COPY FROM placeholder), the result transformer (a stage on the
 * placeholder, or COPY FROM's `done`) and COPY FROM's hook. `derived`: the parameters the stage
 * appends to the client's values (points.ts).
 */
export function splitTransformer(svc: SplitService, session: SplitSession, plan: AnyPlan, views: Map<string, View>, paramCount: number, derived: readonly Derived[] = [], rw?: KeyedRewriter): { sql: string; result: ResultTransformer; copy?: CopyHooks; placeholder?: (n: number) => string } {
  const d = { session, fragments: svc.fragments, views, ...(svc.residual ? { residual: svc.residual } : {}), schemaChanged: () => svc.schemaChanged() };
  if (plan.kind === 'copyIn') return { sql: plan.placeholder, ...copyInTransformer(d, plan) };
  if (plan.kind === 'declare') return declareTransformer(d, session.cursors, plan);
  // The unsplit tables a SELECT joins are read on the client's connection (client-reads.ts).
  const read = plan.kind === 'select' ? plan : plan.kind === 'copyOut' || plan.kind === 'insertSelect' ? plan.select : null;
  const scans = read && rw && svc.residual ? clientScans(rw, read, views) : null;
  const placeholder = scans ? (n: number) => scansSql(scans, n) : placeholderSql;
  const stage = plan.kind === 'copyOut' ? copyOutStage(d, plan, scans) : plan.kind === 'insertSelect' ? insertSelectStage(d, plan, scans) : plan.kind === 'select' ? selectStage(d, plan, scans) : splitStage(d, plan);
  // No client parameter value ever reaches the client's backend through the placeholder.
  const residual = asStatement(session, withValues(stage, derived.length === 0 ? null : (values) => [...Array.from({ length: paramCount }, (_, i) => values[i] ?? null), ...derivedValues(derived, values)]));
  return { sql: placeholder(paramCount), placeholder, result: { ...IDENTITY, residual: { ...residual, blank: Array.from({ length: paramCount }, (_, i) => i + 1) } } };
}

/**
 * The stage with the entry points that run the statement (`run`, `pour`, `stream.next`) run as
 * the session's split statement (SplitSession.statement): a client's cancel meanwhile is recorded
 * on it and fails its next fragment step with 57014, even when no fragment request is running at
 * that instant.
 */
export function asStatement(session: SplitSession, stage: ResidualStage): ResidualStage {
  const { run, pour, stream } = stage;
  return {
    ...stage,
    run: (...a) => session.statement(() => run(...a)),
    ...(pour ? { pour: (...a) => session.statement(() => pour(...a)) } : {}),
    ...(stream ? { stream: { ...stream, next: (...a) => session.statement(() => stream.next(...a)) } } : {}),
  };
}

/**
 * The stage with every entry point that takes the client's values (`run`, `pour`, `stream.next`)
 * given them through `complete` (the client's values, then the derived parameters of point values,
 * points.ts): one place, so no path reaches the fragments or the engine with the client's values
 * alone (a streamed read once did: its derived SRID was NULL and ST_Distance to a point of another
 * SRID gave NULL instead of failing). `now` (computed without values) is dropped when `complete`
 * is set. A `complete` that throws (a value that is not a point) rejects the statement.
 */
export function withValues(stage: ResidualStage, complete: ((values: ReadonlyArray<string | null>) => Array<string | null>) | null): ResidualStage {
  const describe = stage.describe.bind(stage);
  const run = stage.run.bind(stage);
  if (!complete) return { ...stage, describe, run };
  const { now: _now, ...rest } = stage;
  const pour = stage.pour;
  const stream = stage.stream;
  const poured: ResidualStage['pour'] = pour ? async (c, rows, formats, settings, values, send) => pour(c, rows, formats, settings, complete(values), send) : undefined;
  return {
    ...rest, describe,
    // async: a value that is not a point rejects the statement, it does not throw out of the session.
    run: async (c, rows, formats, settings, values) => run(c, rows, formats, settings, complete(values)),
    ...(poured ? { pour: poured } : {}),
    ...(stream ? { stream: { ...stream, next: async (c, rows, formats, settings, values) => stream.next(c, rows, formats, settings, complete(values)) } } : {}),
  };
}

export { placeholderSql };

// ---- the client's statement_timeout ----

/**
 * The statement_timeout a text sets for the session (`SET [SESSION] statement_timeout …`, `RESET`,
 * `RESET ALL`; '0' for the default), or undefined when it sets none. Fragment connections follow
 * it (SplitSession.statementTimeout); `SET LOCAL`: localStatementTimeoutOf.
 */
export function statementTimeoutOf(sql: string): string | undefined {
  return timeoutSet(sql, false);
}

/**
 * The statement_timeout a text sets for the current transaction (`SET LOCAL statement_timeout …`;
 * '0' for `TO DEFAULT`), or undefined when it sets none (SplitSession.localStatementTimeout).
 */
export function localStatementTimeoutOf(sql: string): string | undefined {
  return timeoutSet(sql, true);
}

function timeoutSet(sql: string, local: boolean): string | undefined {
  if (!/statement_timeout|reset/i.test(sql)) return undefined;
  let parsed: ParsedStatement[];
  try { parsed = parseStatements(sql); } catch { return undefined; }
  let out: string | undefined;
  for (const p of parsed) {
    const v = body(p.stmt, 'VariableSetStmt');
    if (!v || Boolean(v.is_local) !== local) continue;
    if (v.kind === 'VAR_RESET_ALL') { out = '0'; continue; }
    if (v.name !== 'statement_timeout') continue;
    if (v.kind !== 'VAR_SET_VALUE') { out = '0'; continue; }
    const c = body((v.args as unknown[] | undefined)?.[0], 'A_Const');
    const sv = (c?.sval as Json | undefined)?.sval;
    const text = typeof sv === 'string' ? sv : (c?.ival as Json | undefined)?.ival;
    out = text === undefined ? '0' : String(text);
  }
  return out;
}

// ---- transaction control ----

type TxKind = 'begin' | 'commit' | 'commitPlain' | 'rollback' | 'savepoint' | 'release' | 'rollbackTo' | 'prepared' | 'chain';

const TX_WORD = /\b(begin|start|commit|end|rollback|abort|savepoint|release|prepare)\b/i;

/** The transaction-control statement a text is (one statement), or null. */
export function txControl(sql: string): { kind: TxKind; name: string; stmt: Json } | null {
  if (!TX_WORD.test(sql)) return null;
  let parsed: ParsedStatement[];
  try { parsed = parseStatements(sql); } catch { return null; }
  if (parsed.length !== 1) return null;
  return txKind((parsed[0] as ParsedStatement).stmt);
}

/**
 * The hooks of the transaction-control statements inside a text of several statements (a simple
 * Query): one entry per statement, or null when the text holds none. COMMIT is not turned into
 * PREPARE TRANSACTION there: fragments commit right after the client's COMMIT (docs/splitting.md).
 */
export function txHooks(session: SplitSession, sql: string): Array<ResultTransformer | undefined> | Refuse | null {
  if (!TX_WORD.test(sql)) return null;
  let parsed: ParsedStatement[];
  try { parsed = parseStatements(sql); } catch { return null; }
  if (parsed.length < 2) return null;
  const kinds = parsed.map((p) => txKind(p.stmt));
  if (kinds.every((k) => k === null)) return null;
  const out: Array<ResultTransformer | undefined> = [];
  for (const [i, k] of kinds.entries()) {
    if (!k) { out.push(undefined); continue; }
    const d = txDecision(session, k.kind === 'commit' ? { ...k, kind: 'commitPlain' } : k, (parsed[i] as ParsedStatement).text);
    if (d?.kind === 'refuse') return d;
    out.push(d?.result);
  }
  return out;
}

function txKind(stmt: Json): { kind: TxKind; name: string; stmt: Json } | null {
  const t = body(stmt, 'TransactionStmt');
  if (!t) return null;
  const name = String(t.savepoint_name ?? '');
  if (t.chain) return { kind: 'chain', name, stmt };
  switch (t.kind) {
    case 'TRANS_STMT_BEGIN': case 'TRANS_STMT_START': return { kind: 'begin', name, stmt };
    case 'TRANS_STMT_COMMIT': return { kind: 'commit', name, stmt };
    case 'TRANS_STMT_ROLLBACK': return { kind: 'rollback', name, stmt };
    case 'TRANS_STMT_SAVEPOINT': return { kind: 'savepoint', name, stmt };
    case 'TRANS_STMT_RELEASE': return { kind: 'release', name, stmt };
    case 'TRANS_STMT_ROLLBACK_TO': return { kind: 'rollbackTo', name, stmt };
    default: return { kind: 'prepared', name, stmt };
  }
}

/**
 * The client's transaction-control statement in a split session: the text to send (COMMIT after
 * split writes becomes PREPARE TRANSACTION of the client's transaction) and the hook that keeps
 * the fragments in step, or a refusal.
 */
export function txDecision(session: SplitSession, tx: NonNullable<ReturnType<typeof txControl>>, sql: string): { kind: 'tx'; sql: string; result: ResultTransformer; once: boolean } | Refuse | null {
  const hook = (done: (tag: string) => Promise<string>): ResultTransformer => ({ ...IDENTITY, done });
  switch (tx.kind) {
    case 'begin': return { kind: 'tx', sql, result: hook(async (tag) => { await session.settle(); session.began(sql); return tag; }), once: false };
    case 'commit': {
      if (!session.mayWrite) return { kind: 'tx', sql, result: hook((tag) => session.committedPlain(tag)), once: false };
      const gid = session.clientGid();
      return { kind: 'tx', sql: `PREPARE TRANSACTION ${quoteLiteral(`${gid}:${CLIENT_PARTICIPANT}`)}`, result: hook((tag) => session.committed(gid, tag)), once: true };
    }
    case 'commitPlain': return { kind: 'tx', sql, result: hook((tag) => session.committedPlain(tag)), once: false };
    case 'rollback': return { kind: 'tx', sql, result: hook((tag) => session.rolledBack(tag)), once: false };
    case 'savepoint': case 'release': case 'rollbackTo': {
      const kind = tx.kind;
      return { kind: 'tx', sql, result: hook((tag) => session.savepoint(kind, tx.name, tag)), once: false };
    }
    case 'chain': return refuse(SQLSTATE.featureNotSupported, 'clarus: COMMIT/ROLLBACK AND CHAIN is not supported while the policy splits tables across backends');
    case 'prepared': return session.mayWrite || session.inBlock
      ? refuse(SQLSTATE.featureNotSupported, 'clarus: two-phase commit statements of the client are not supported in a transaction over split tables')
      : null;
  }
}
