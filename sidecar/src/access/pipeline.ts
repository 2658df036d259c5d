// The protection pipeline: what the session calls per Query/Parse (see session/pipeline.ts).
// Order per statement: rewrite analysis (cached by text) → access decision for the datasets it
// touches → audit line → Pass | Rewrite (with param/result/COPY transformers for the user's
// views) | Refuse. Every decision has its audit line, pass-through included. A prepared statement's
// decision carries a `check` the session runs at each Bind/Execute (grants expire: the clock is
// injected) and a `shape` (what the client may have cached) for re-planning after a reload. The
// grants are the user's in the configuration the pipeline is made for (a reload's new grants
// apply to open sessions from their next statement). Clock and audit sink are injected; nothing
// here touches sockets or files.
import type { RuntimeConfig } from '@clarus/policy/runtime/config.ts';
import type { View } from '@clarus/crds/types.ts';
import type { AccessCheck, CopyHooks, Pass, Pipeline, PipelineFactory, QueryDecision, Refuse, ResultTransformer, RewriteStatement, SessionInfo, StatementDecision } from '../session/pipeline.ts';
import { pass, StatementError } from '../session/pipeline.ts';
import { clientTypeFor, paramTransformer, paramTypeFor } from '../protection/params.ts';
import type { StatementPlan } from '../rewrite/rewriter.ts';
// The rewriter with the keys: it fills the plans' placeholders (protection/fill.ts).
import type { KeyedRewriter as Rewriter } from '../protection/keyed-rewriter.ts';
import { quickFingerprint } from './audit.ts';
import type { AuditEntry } from './audit.ts';
import { cursorStatements, Cursors } from './cursors.ts';
import type { KnownCursor } from './cursors.ts';
import type { BatchReporter } from './copy-hooks.ts';
import { decideStatement } from './grants.ts';
import type { Grants, Subject } from './grants.ts';
import type { CatalogRefresher } from './refresh.ts';
import type { ResidualService } from './residual-stage.ts';
import type { ComputedCursor } from './computed-cursor.ts';
import { fetchedAs, transformers } from './transformers.ts';
import type { TransformEnv, Transformers } from './transformers.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';
import { STALE_MARKER } from '../rewrite/rules/shape-guard.ts';
import { countRefusal } from '../metrics/refusals.ts';
import { sessionRole } from './backend-role.ts';
import { datasetsOf, localStatementTimeoutOf, placeholderSql, planStatement, planWrites, splitTransformer, statementTimeoutOf, txControl, txDecision, txHooks } from '../split/decide.ts';
import type { SplitService } from '../split/decide.ts';
import type { SplitSession } from '../split/session.ts';
import { cursorDecision } from '../split/cursor.ts';
import { HeldInserts } from './held-inserts.ts';
import { setsOwnRole } from './own-role.ts';
import { maintenanceRefusal } from './maintenance.ts';
import { SqlPreparedDecisions } from './sql-prepared-decide.ts';
import { searchPathBind } from './search-path-bind.ts';

export interface ProtectionDeps {
  rewriter: Rewriter;
  now: () => Date;
  audit?: (entry: AuditEntry) => void;
  /** Loads declared column types from the backend before statements on not-yet-known tables. */
  refresher?: CatalogRefresher;
  /** The in-proxy stage of two-stage statements (the rewriter plans them only when this is set). */
  residual?: ResidualService;
  /** Split datasets (issue 12): set when the policy places columns on several backends. */
  split?: SplitService;
  /** Bound of the rows held until COMMIT in one transaction (bytes of their INSERT text; default HELD_MAX_BYTES). */
  heldMaxBytes?: number;
}

/** Default bound of held rows: the flush INSERT must stay within the rewriter's statement limit (1 MiB). */
export const HELD_MAX_BYTES = (1 << 20) - (64 << 10);

type Plan = Extract<ReturnType<Rewriter['analyze']>, { kind: 'plan' }>;

/** The metrics reason of a refusal by the grants (42501: no grant, expired, read-only). */
const ACCESS_DENIED = 'accessDenied';

function refuse(code: string, message: string): Refuse {
  return { kind: 'refuse', code, message };
}

/** The refusal of a statement, with its metrics reason: the grants' first, then the rewriter's. */
function refusalOf(access: ReturnType<typeof decideStatement>, a: ReturnType<Rewriter['analyze']>): { refusal: Refuse; reason: string | undefined } | undefined {
  if (!access.ok) return { refusal: refuse(access.code, access.message), reason: ACCESS_DENIED };
  return a.kind === 'refuse' ? { refusal: refuse(a.code, a.message), reason: a.reason } : undefined;
}

/** The user's grants in `config` (none when the user is no longer there); SessionInfo's without one. */
function grantsIn(config: RuntimeConfig | undefined, info: SessionInfo): Grants {
  if (!config?.users) return info.grants;
  return config.users.find((u) => u.name === info.user)?.grants ?? [];
}

export function protectionPipelineFactory(deps: ProtectionDeps): PipelineFactory {
  return (info: SessionInfo, config: RuntimeConfig): Pipeline => new ProtectionPipeline(deps, info, grantsIn(config, info));
}

/**
 * The functions a FunctionCall message may call while a policy protects data: libpq's client-side
 * large-object interface (it looks these up by name in pg_catalog and calls them by OID; the OIDs
 * of built-in functions are fixed). Any other function could read protected tables around the
 * rewriter (query_to_xml), change pinned settings (set_config) or act for a user whose grants do
 * not allow it: call it with SELECT, where the statement is analysed.
 */
export const LARGE_OBJECT_FUNCTIONS: ReadonlyMap<number, string> = new Map([
  [715, 'lo_create'], [952, 'lo_open'], [953, 'lo_close'], [954, 'loread'], [955, 'lowrite'], [956, 'lo_lseek'],
  [957, 'lo_creat'], [958, 'lo_tell'], [964, 'lo_unlink'], [1004, 'lo_truncate'], [3170, 'lo_lseek64'],
  [3171, 'lo_tell64'], [3172, 'lo_truncate64'],
]);

/** What the access decision of one statement needs again at each Bind/Execute. */
/** A plan of one statement without COPY or write-back: its transformers are stateless (see transformersFor). */
function keepable(a: Plan): boolean {
  const s = a.statements[0];
  return a.statements.length === 1 && s !== undefined && !s.copy && !s.residual?.write;
}

/** The rewritten text of a plan (one statement's text as is). */
function textOf(a: Plan): string {
  return a.statements.length === 1 ? (a.statements[0] as { sql: string }).sql : a.statements.map((s) => s.sql).join(';\n');
}

/** The audit line of a statement the access decision let through, written once its outcome is final (settle). */
type AuditDraft = Pick<AuditEntry, 'datasets' | 'columns'> & { outcome: 'allow' | 'pass' };

interface Decided { views: Map<string, View>; datasets: string[]; write: boolean; decided: boolean; entry: AuditDraft }

class ProtectionPipeline implements Pipeline {
  readonly passthrough = false;
  private readonly deps: ProtectionDeps;
  private readonly info: SessionInfo;
  private readonly grants: Grants;
  /** The user and grants access decisions are for. */
  private readonly who: Subject;
  /** Server-side cursors over protected data this session declared (FETCH shows their rows). */
  private readonly cursors = new Cursors();
  /** Cursors computed in two stages this session declared and holds rows of (dropped with the cursor). */
  private readonly computedCursors = new Set<ComputedCursor>();
  /** A statement decided since the last idle ReadyForQuery may have changed a protected table's schema. */
  private schemaChanged = false;
  /** The session's fragment connections and transactions (split policies only; made on first use). */
  private splitSession: SplitSession | null = null;
  /** Stateless transformers per plan outputs (see transformersFor). */
  private readonly kept = new WeakMap<object, { key: string; t: Transformers; stage: StatementPlan['residual'] }>();
  /** Single-row INSERTs into k-anonymity tables held until COMMIT (held-inserts.ts). */
  private readonly held: HeldInserts;
  /** SQL-level PREPARE / EXECUTE / DEALLOCATE (sql-prepared-decide.ts). */
  private readonly sqlPrepared: SqlPreparedDecisions;

  constructor(deps: ProtectionDeps, info: SessionInfo, grants: Grants) {
    this.deps = deps;
    this.info = info;
    this.grants = grants;
    this.who = { user: info.user, grants };
    this.held = new HeldInserts({
      catalog: () => deps.rewriter.catalog,
      mayWrite: (sql, dataset, again) => this.mayWrite(sql, dataset, again),
      plan: (sql) => this.planQuery(sql),
      maxBytes: deps.heldMaxBytes ?? HELD_MAX_BYTES,
    });
    this.sqlPrepared = new SqlPreparedDecisions({
      rewriter: deps.rewriter,
      access: (sql, a) => this.accessOf(sql, a),
      result: (plan, views) => {
        const t = transformers(this.env(views), plan.statements);
        return 'kind' in t ? t : { ...(t.results[0] ? { result: t.results[0] } : {}), shape: t.shapes[0] ?? '' };
      },
      ordinary: (sql) => this.held.query(sql) ?? this.planQuery(sql),
    });
  }

  /** What this session's transformers are made with, for these views. */
  private env(views: Map<string, View>): TransformEnv {
    return { rw: this.deps.rewriter, views, residual: this.deps.residual, onReport: this.reportBatch, live: this.computedCursors };
  }

  /** The access decision of a statement with its audit line, and its check at later Binds/Executes (SQL-level EXECUTE). */
  private accessOf(sql: string, a: ReturnType<Rewriter['analyze']>): { views: Map<string, View>; check?: AccessCheck } | Refuse {
    const d = this.decide(sql, a);
    if ('kind' in d) return d;
    this.audit(sql, d.entry);
    const check = this.checker(sql, d);
    return { views: d.views, ...(check ? { check } : {}) };
  }

  adopt(previous: Pipeline | 'unknown'): void {
    if (previous === 'unknown') this.sqlPrepared.registry.adopt('unknown');
    else if (previous instanceof ProtectionPipeline) this.sqlPrepared.registry.adopt(previous.sqlPrepared.registry);
  }

  remembersRewrites(): boolean {
    return this.sqlPrepared.registry.remembersRewrites();
  }

  sqlPreparedName(name: string): boolean {
    return this.sqlPrepared.registry.sqlLevel(name);
  }

  /** A held INSERT's access decision and audit line (a write to one dataset). */
  private mayWrite(sql: string, dataset: string, again = false): Refuse | undefined {
    const access = decideStatement(this.who, [dataset], true, this.deps.now());
    const r = access.ok ? undefined : refuse(access.code, access.message);
    if (r || !again) this.audit(sql, { datasets: [dataset], columns: [], outcome: r ? 'refuse' : 'allow', ...(r ? { code: r.code } : {}) });
    return r;
  }

  private audit(sql: string, e: Pick<AuditEntry, 'datasets' | 'columns' | 'outcome' | 'code'> & { reason?: string }): void {
    if (e.outcome === 'refuse' && e.code) countRefusal(e.code, e.reason ?? 'other', this.deps.now().getTime());
    if (!this.deps.audit) return;
    this.deps.audit({
      time: this.deps.now().toISOString(),
      user: this.info.user,
      datasets: e.datasets,
      columns: e.columns,
      // A statement that touches nothing protected is not parsed for its fingerprint (see quickFingerprint).
      fingerprint: e.outcome === 'pass' ? quickFingerprint(sql) : this.deps.rewriter.fingerprint(sql),
      outcome: e.outcome,
      ...(e.code ? { code: e.code } : {}),
    });
  }

  /** Access check and audit; returns the views (and what to check again later), or the refusal to answer. */
  private decide(sql: string, a: ReturnType<Rewriter['analyze']>): Decided | Refuse {
    const busy = this.heldBusy(sql, a);
    if (busy) return busy;
    // A read of nothing protected needs no access decision (it is still audited, as passed); a
    // write needs a read-write user, and a statement whose effect reaches objects it does not
    // name (DROP OWNED…) every dataset.
    if (a.kind === 'pass' && !a.write && !a.everyDataset) {
      return { views: new Map(), datasets: [], write: false, decided: false, entry: { datasets: [], columns: [], outcome: 'pass' } };
    }
    const touched = a.kind === 'pass' ? new Map<string, Set<string>>() : a.datasets;
    const names = a.everyDataset ? this.deps.rewriter.catalog.all().map((t) => t.dataset) : [...touched.keys()];
    const access = decideStatement(this.who, names, a.write, this.deps.now());
    // The audit line's columns: only written when there is an audit log.
    const columns = this.deps.audit ? [...touched].flatMap(([d, cols]) => [...cols].map((c) => `${d}.${c}`)) : [];
    const refused = refusalOf(access, a);
    if (refused) {
      this.audit(sql, { datasets: names, columns, outcome: 'refuse', code: refused.refusal.code, reason: refused.reason });
      return refused.refusal;
    }
    return { views: access.ok ? access.views : new Map(), datasets: names, write: a.write, decided: true, entry: { datasets: names, columns, outcome: 'allow' } };
  }

  /** Rows held until COMMIT: a statement on their dataset would not see them (held-inserts.ts); audited. */
  private heldBusy(sql: string, a: ReturnType<Rewriter['analyze']>): Refuse | undefined {
    const datasets = a.kind === 'pass' ? [] : [...a.datasets.keys()];
    const busy = this.held.touching(datasets);
    if (busy) this.audit(sql, { datasets, columns: [], outcome: 'refuse', code: busy.code });
    return busy;
  }

  /**
   * The audit line of a statement the access decision let through, with its final outcome: a
   * refusal decided after it (an undeclared cursor, COPY in another encoding, the in-proxy stage
   * not enabled, a `*` of unknown width) is audited and counted as the refusal it is.
   */
  private settle<T extends QueryDecision | StatementDecision>(sql: string, d: Decided, r: T): T {
    if (r.kind === 'refuse') this.audit(sql, { ...d.entry, outcome: 'refuse', code: r.code, reason: 'unsupported' });
    else this.audit(sql, d.entry);
    return r;
  }

  /**
   * The check a prepared statement runs at each Bind/Execute: the same access decision with the
   * clock's time now. A grant that expired refuses (42501); a view that changed (one of several
   * grants expired) refuses with 26000, since the client may have cached the result types.
   */
  private checker(sql: string, d: Omit<Decided, 'entry'>): AccessCheck | undefined {
    if (!d.decided) return undefined;
    return () => {
      const access = decideStatement(this.who, d.datasets, d.write, this.deps.now());
      let r: Refuse | undefined;
      let reason = ACCESS_DENIED;
      if (!access.ok) r = refuse(access.code, access.message);
      else {
        reason = 'viewChanged';
        for (const [dataset, view] of d.views) {
          const now = access.views.get(dataset);
          if (now === view) continue;
          r = refuse(SQLSTATE.invalidSqlStatementName, `prepared statement must be prepared again: the view of dataset ${dataset} for user ${this.info.user} changed from ${view} to ${now ?? 'none'}`);
          break;
        }
      }
      if (r) this.audit(sql, { datasets: d.datasets, columns: [], outcome: 'refuse', code: r.code, reason });
      return r;
    };
  }

  /** A k-anonymity batch stored by COPY: its report goes to the audit log. */
  private readonly reportBatch: BatchReporter = (table, report) => {
    this.deps.audit?.({ time: this.deps.now().toISOString(), user: this.info.user, datasets: [table.dataset], columns: [], fingerprint: `anonymize:${table.schema}.${table.table}`,
      outcome: 'allow', anonymization: { table: `${table.schema}.${table.table}`, ...report } });
  };

  functionCall(oid: number): Pass | Refuse {
    const known = LARGE_OBJECT_FUNCTIONS.has(oid);
    const r = known ? undefined : refuse(SQLSTATE.featureNotSupported, `clarus: FunctionCall of function ${oid} is not supported while a policy protects data; call it in a SELECT`);
    if (r) countRefusal(r.code, 'functionCall', this.deps.now().getTime());
    this.deps.audit?.({ time: this.deps.now().toISOString(), user: this.info.user, datasets: [], columns: [], fingerprint: `functioncall:${oid}`,
      outcome: r ? 'refuse' : 'pass', ...(r ? { code: r.code } : {}) });
    return r ?? pass;
  }

  query(sql: string): QueryDecision | Promise<QueryDecision> {
    const wait = this.deps.refresher?.before(sql);
    return wait ? wait.then(() => this.queryNow(sql)) : this.queryNow(sql);
  }

  parse(sql: string, paramTypes: readonly number[], name = ''): StatementDecision | Promise<StatementDecision> {
    // SQL-level and protocol-level statements share one namespace: EXECUTE of this name is refused from now on.
    this.sqlPrepared.registry.protocol(name);
    const wait = this.deps.refresher?.before(sql);
    return wait ? wait.then(() => this.parseNow(sql, paramTypes)) : this.parseNow(sql, paramTypes);
  }

  /**
   * The backend is ready again: once no transaction is open, what a DDL statement of this session
   * did (or did not: refused, rolled back, skipped) is committed, and the catalog is loaded again.
   */
  ready(status: 'I' | 'T' | 'E'): void {
    // A cursor without HOLD ended with its transaction: its held rows go.
    if (status === 'I') for (const c of this.computedCursors) if (!c.hold) c.clear();
    if (status === 'I') this.splitSession?.idle();
    this.held.ready(status);
    if (status !== 'I' || !this.schemaChanged) return;
    this.schemaChanged = false;
    this.deps.refresher?.invalidate();
  }

  batchEnd(): Promise<StatementError | null> | null {
    return this.splitSession?.batchEnd() ?? null;
  }

  busy(): boolean {
    return this.splitSession?.holding === true || this.held.holding();
  }

  close(): void {
    this.splitSession?.close();
  }

  private split(): SplitSession {
    this.splitSession ??= (this.deps.split as SplitService).session(sessionRole(this.grants, this.deps.now()));
    return this.splitSession;
  }

  /** Transaction control in a split session: the hooks that keep fragment transactions in step. */
  private splitTx(sql: string): ReturnType<typeof txDecision> {
    if (!this.deps.split) return null;
    const tx = txControl(sql);
    if (!tx) return null;
    const d = txDecision(this.split(), tx, sql);
    if (d?.kind === 'refuse') this.audit(sql, { datasets: [], columns: [], outcome: 'refuse', code: d.code });
    return d;
  }

  cancelRequested(): ReturnType<SplitSession['cancelRequested']> {
    return this.splitSession?.cancelRequested() ?? { statement: false, others: [] };
  }

  /** A SET of statement_timeout: the fragment connections follow the client's. */
  private noteTimeout(sql: string): void {
    if (!this.deps.split) return;
    const t = statementTimeoutOf(sql);
    if (t !== undefined) this.split().statementTimeout(t);
    const local = localStatementTimeoutOf(sql);
    if (local !== undefined) this.split().localStatementTimeout(local);
  }

  /** FETCH / MOVE / CLOSE of a cursor over a split table (split/cursor.ts), or null. */
  private splitCursor(sql: string): ReturnType<typeof cursorDecision> {
    return this.splitSession ? cursorDecision(this.splitSession.cursors, sql) : null;
  }

  /** A statement on a split table: planned, access-checked and audited; its transformer answers it. */
  private splitStatement(sql: string, touched: ReadonlyMap<string, unknown>): { sql: string; result: ResultTransformer; copy?: CopyHooks; placeholder?: (n: number) => string; paramCount: number; check: AccessCheck } | Refuse {
    const svc = this.deps.split as SplitService;
    const p = planStatement(svc, sql, this.deps.rewriter.catalog);
    if ('kind' in p) {
      this.audit(sql, { datasets: [...touched.keys()], columns: [], outcome: 'refuse', code: p.code });
      return p;
    }
    const write = planWrites(p.plan);
    const datasets = datasetsOf(p.plan, (schema, table) => this.deps.rewriter.catalog.lookup(schema, table));
    const access = decideStatement(this.who, datasets, write, this.deps.now());
    const r = access.ok ? undefined : refuse(access.code, access.message);
    this.audit(sql, { datasets, columns: [], outcome: r ? 'refuse' : 'allow', ...(r ? { code: r.code } : {}) });
    if (!access.ok) return r as Refuse;
    const session = this.split();
    if (write) session.mayWrite = true;
    const inner = this.checker(sql, { views: access.views, datasets, write, decided: true }) as AccessCheck;
    const check: AccessCheck = () => { if (write) session.mayWrite = true; return inner(); };
    try {
      return { ...splitTransformer(svc, session, p.plan, access.views, p.paramCount, p.derived, this.deps.rewriter), paramCount: p.paramCount, check };
    } catch (e) {
      if (!(e instanceof StatementError)) throw e;
      return refuse(e.code, e.message);
    }
  }

  /**
   * The backend says the proxy's schema is out of date (a column or table it named is gone, or a
   * `SELECT *` found other columns than the proxy expanded: rules/shape-guard.ts): DDL went
   * through another replica or straight to the backend. The catalog is loaded again before the
   * next statement.
   */
  backendError(code: string, message: string): void {
    if (code === SQLSTATE.undefinedColumn || code === SQLSTATE.undefinedTable || message.includes(STALE_MARKER)) this.deps.refresher?.invalidate();
  }

  private analyze(sql: string): ReturnType<Rewriter['analyze']> {
    const a = this.deps.rewriter.analyze(sql);
    if (a.schemaChange) this.schemaChanged = true;
    return a;
  }

  /**
   * The transformer of the rows of SQL cursor `name` (declared through this session over protected
   * columns), for a protocol Describe of it as a portal: psycopg's server cursors learn the
   * result types that way before they FETCH.
   */
  cursorResult(name: string): ResultTransformer | undefined {
    return this.cursors.shownAs(name)?.result;
  }

  /** CLOSE of `name` (undefined: CLOSE ALL, DISCARD ALL): the held rows of those cursors go. */
  private dropComputed(name: string | undefined): void {
    for (const c of this.computedCursors) if (name === undefined || c.name === name) c.clear();
  }

  /**
   * FETCHes in a text: the transformer of each protected cursor's rows, or the refusal of a FETCH
   * from a name no DECLARE of this session gave (see access/cursors.ts).
   */
  private fetches(sql: string, results: ReadonlyArray<ResultTransformer | undefined> = [], shapes: readonly string[] = []): Map<number, KnownCursor> | Refuse {
    const statements = cursorStatements(sql);
    for (const c of statements) if (c.kind === 'forget-all' || c.kind === 'close') this.dropComputed(c.kind === 'close' ? c.name : undefined);
    const f = this.cursors.apply(statements, results, shapes);
    if (f.undeclared === undefined) return f.known;
    return refuse(SQLSTATE.featureNotSupported, `clarus: FETCH from ${f.undeclared}, which was not declared with DECLARE … CURSOR in this session (a closed cursor, or a protocol-level portal), is refused while a policy protects data`);
  }

  /**
   * The transformers of a plan for these views. A single statement without COPY or write-back
   * has stateless ones: they are kept per plan result directives (shared by the texts of one cached plan or
   * shape) and views, so a repeated simple query reuses them (and its rewritten RowDescription). A
   * two-stage read keeps its in-proxy stage with them (its typed fast program and the fields it
   * describes), shared by the texts of one shape like the stage's spec (shape-cache.ts).
   */
  private transformersFor(a: Plan, views: Map<string, View>): Transformers | Refuse {
    const s = a.statements[0];
    const make = () => transformers(this.env(views), a.statements);
    if (!s || !keepable(a)) return make();
    let key = '';
    for (const [dataset, view] of views) key += `${dataset},${view};`;
    const kept = this.kept.get(s.results);
    const t = kept?.key === key && kept.stage === s.residual ? kept.t : make();
    if (!('kind' in t)) this.kept.set(s.results, { key, t, stage: s.residual });
    return 'kind' in t ? t : { results: [...t.results], copy: [...t.copy], shapes: [...t.shapes] };
  }

  /** The refusal of a statement in a maintenance session that is not one of its own (access/maintenance.ts). */
  private maintenance(sql: string): Refuse | undefined {
    const why = this.info.maintenance ? maintenanceRefusal(sql) : null;
    return why === null ? undefined : refuse(SQLSTATE.featureNotSupported, why);
  }

  private queryNow(sql: string): QueryDecision | Promise<QueryDecision> {
    if (setsOwnRole(sql, this.info.backendUser)) return pass;
    const m = this.maintenance(sql);
    if (m) return m;
    return this.sqlPrepared.query(sql) ?? this.held.query(sql) ?? this.planQuery(sql);
  }

  /** The ordinary decision of a Query's text (a split session's transaction control included). */
  private planQuery(sql: string): QueryDecision {
    this.noteTimeout(sql);
    return this.splitControl(sql) ?? this.withTxHooks(sql, this.queryDecision(sql));
  }

  /** Transaction control or a cursor statement of a split session, or undefined. */
  private splitControl(sql: string): QueryDecision | undefined {
    const tx = this.splitTx(sql);
    if (tx) return tx.kind === 'refuse' ? tx : { kind: 'rewrite', sql: tx.sql, results: [tx.result] };
    const cur = this.splitCursor(sql);
    if (cur) return 'kind' in cur ? cur : { kind: 'rewrite', sql: cur.sql, results: [cur.result] };
    return undefined;
  }

  /** Transaction control among several statements of a split session: hooks keep fragments in step. */
  private withTxHooks(sql: string, d: QueryDecision): QueryDecision {
    const hooks = this.deps.split && d.kind !== 'refuse' ? txHooks(this.split(), sql) : null;
    if (!hooks) return d;
    if ('kind' in hooks) return hooks;
    const results = d.kind === 'rewrite' ? [...(d.results ?? [])] : [];
    hooks.forEach((h, i) => { if (h?.done) results[i] = results[i] ? { ...(results[i] as ResultTransformer), done: h.done } : h; });
    return d.kind === 'rewrite' ? { ...d, results } : { kind: 'rewrite', sql, results };
  }

  private queryDecision(sql: string): QueryDecision {
    const a = this.analyze(sql);
    if (a.kind === 'refuse' && a.split && this.deps.split) {
      const s = this.splitStatement(sql, a.datasets);
      return 'kind' in s ? s : { kind: 'rewrite', sql: s.sql, results: [s.result], ...(s.copy ? { copy: [s.copy] } : {}) };
    }
    const d = this.decide(sql, a);
    if ('kind' in d) return d;
    return this.settle(sql, d, this.queryDecided(sql, a, d));
  }

  /** A Query's decision once access is decided. */
  private queryDecided(sql: string, a: ReturnType<Rewriter['analyze']>, d: Decided): QueryDecision {
    if (a.kind !== 'plan') {
      const f = this.fetches(sql);
      if ('kind' in f) return f;
      return f.size ? { kind: 'rewrite', sql, results: Array.from({ length: Math.max(...f.keys()) + 1 }, (_, i) => f.get(i)?.result) } : pass;
    }
    const t = this.transformersFor(a, d.views);
    if ('kind' in t) return t;
    const f = this.fetches(sql, fetchedAs(t), t.shapes);
    if ('kind' in f) return f;
    for (const [i, c] of f) t.results[i] = c.result;
    if (!a.statements.some((s) => s.changed) && !t.results.some(Boolean) && !t.copy.some(Boolean)) return pass;
    return { kind: 'rewrite', sql: textOf(a), results: t.results, copy: t.copy };
  }

  private parseNow(sql: string, paramTypes: readonly number[]): StatementDecision {
    const local = this.parseLocal(sql, paramTypes);
    if (local) return local;
    const tx = this.splitTx(sql);
    if (tx) return tx.kind === 'refuse' ? tx : txStatement(tx);
    this.noteTimeout(sql);
    const cur = this.splitCursor(sql);
    if (cur) return 'kind' in cur ? cur : { kind: 'rewrite', sql: cur.sql, result: cur.result, shape: `split-cursor:${sql}` };
    const a = this.analyze(sql);
    if (a.kind === 'refuse' && a.split && this.deps.split) return this.splitParse(sql, paramTypes, a.datasets);
    return this.held.guard(sql, new Set(a.kind === 'pass' ? [] : a.datasets.keys()), this.planParse(sql, paramTypes, a));
  }

  /**
   * A Parse decided before analysis: setting the session's own role, a maintenance session's
   * refusal, SQL-level PREPARE/EXECUTE, a search_path pinned by Bind, a held INSERT.
   */
  private parseLocal(sql: string, paramTypes: readonly number[]): StatementDecision | undefined {
    if (setsOwnRole(sql, this.info.backendUser)) return pass;
    const m = this.maintenance(sql) ?? this.sqlPrepared.parse(sql);
    if (m) return m;
    const pinned = searchPathBind(sql);
    if (pinned) {
      this.audit(sql, { datasets: [], columns: [], outcome: 'pass' });
      return pinned;
    }
    return this.held.parse(sql, paramTypes);
  }

  /** A Parse of a statement on a split table. */
  private splitParse(sql: string, paramTypes: readonly number[], touched: ReadonlyMap<string, unknown>): StatementDecision {
    const s = this.splitStatement(sql, touched);
    if ('kind' in s) return s;
    const count = Math.max(paramTypes.length, s.paramCount);
    return { kind: 'rewrite', sql: s.copy ? s.sql : (s.placeholder ?? placeholderSql)(count), result: s.result, ...(s.copy ? { copy: s.copy } : {}), shape: `split:${sql}`, check: s.check };
  }

  /** The ordinary decision of a Parse. */
  private planParse(sql: string, paramTypes: readonly number[], a: ReturnType<Rewriter['analyze']>): StatementDecision {
    const d = this.decide(sql, a);
    if ('kind' in d) return d;
    return this.settle(sql, d, this.parseDecided(sql, paramTypes, a, d));
  }

  /** A Parse's decision once access is decided. */
  private parseDecided(sql: string, paramTypes: readonly number[], a: ReturnType<Rewriter['analyze']>, d: Decided): StatementDecision {
    const check = this.checker(sql, d);
    const passing: StatementDecision = check ? { kind: 'pass', check } : pass;
    if (a.kind !== 'plan') return this.fetchParse(sql, check, passing);
    // PostgreSQL refuses a Parse of several statements: the text must not reach it either when
    // it touches protected data (a value in it would reach the backend in clear).
    if (a.statements.length > 1) return refuse(SQLSTATE.syntaxError, 'cannot insert multiple commands into a prepared statement');
    const t = transformers(this.env(d.views), a.statements);
    if ('kind' in t) return t;
    const f = this.fetches(sql, fetchedAs(t), t.shapes);
    if ('kind' in f) return f;
    for (const [i, c] of f) [t.results[i], t.shapes[i]] = [c.result, c.shape];
    return this.statementDecision(a, paramTypes, t, check) ?? passing;
  }

  /** A Parse of a text the rewriter passes: a FETCH of a protected cursor gets its rows' transformer. */
  private fetchParse(sql: string, check: AccessCheck | undefined, passing: StatementDecision): StatementDecision {
    const f = this.fetches(sql);
    if ('kind' in f) return f;
    const c = f.get(0);
    return c ? { kind: 'rewrite', sql, shape: c.shape, result: c.result, ...(check ? { check } : {}) } : passing;
  }

  /** The rewritten statement, or null when nothing about it changes (it passes). */
  private statementDecision(a: Plan, paramTypes: readonly number[], t: Transformers, check: AccessCheck | undefined): RewriteStatement | null {
    const s = a.statements[0] as StatementPlan;
    const hasRoles = a.params.size > 0;
    if (!s.changed && !hasRoles && !t.results[0] && !t.copy[0]) return null;
    const decision: RewriteStatement = { kind: 'rewrite', sql: s.sql, shape: t.shapes[0] ?? '' };
    if (check) decision.check = check;
    if (hasRoles) {
      const clientCount = Math.max(paramTypes.length, a.paramCount);
      decision.paramTypes = Array.from({ length: a.paramCount }, (_, i) => paramTypeFor(a.params.get(i + 1), paramTypes[i] ?? 0));
      decision.clientParamTypes = Array.from({ length: clientCount }, (_, i) => clientTypeFor(a.params.get(i + 1)) || (paramTypes[i] ?? 0));
      decision.params = paramTransformer(a.params, a.paramCount, (r) => this.deps.rewriter.cipher(r), clientCount);
    }
    if (t.results[0]) decision.result = t.results[0];
    if (t.copy[0]) decision.copy = t.copy[0];
    return decision;
  }
}

/** A split session's COMMIT, PREPARE TRANSACTION… as a prepared statement. */
function txStatement(tx: Exclude<NonNullable<ReturnType<typeof txDecision>>, Refuse>): StatementDecision {
  // A COMMIT that prepares the client's transaction names it once: it runs once.
  let calls = 0;
  const once: AccessCheck = () => (++calls > 2 ? refuse(SQLSTATE.invalidSqlStatementName, 'clarus: this COMMIT of a transaction over split tables was already executed; send COMMIT again') : undefined);
  return { kind: 'rewrite', sql: tx.sql, result: tx.result, shape: `tx:${tx.sql}`, ...(tx.once ? { check: once } : {}) };
}
