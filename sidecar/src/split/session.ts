// The split-table side of one client session (issue 12): the connections the proxy holds to each
// backend for fragments, and their transactions kept in step with the client's.
//
// Transactions
// ------------
// * Outside a transaction block, the split writes of the client's implicit transaction (an
//   extended batch up to Sync, or one Query) are one transaction over the fragments they touch,
//   committed when the backend answers the batch's end (`batchEnd`, before the client gets its
//   ReadyForQuery): one backend commits plainly; several commit with two-phase commit (below).
// * Inside a block (the client's BEGIN … COMMIT), each fragment connection opens its transaction
//   at its first use (with the client's BEGIN options and the savepoints open at that moment), and
//   SAVEPOINT / RELEASE / ROLLBACK TO are repeated on it. The client's COMMIT is sent to its own
//   backend connection as PREPARE TRANSACTION (see `commitStatement`): the client's transaction
//   is one more participant. ROLLBACK rolls every fragment back.
// * Two-phase commit (presumed abort): every participant is prepared under the global id
//   `clarus:<replica>:<token>:<participant>`; the decision is one row in `clarus_split.decisions`
//   on the home backend (primary key = `clarus:<replica>:<token>`), inserted in its own
//   transaction once every participant is prepared; then every participant is committed. Recovery
//   (recovery.ts) commits what has a 'commit' row and rolls back what has none, after inserting an
//   'abort' row first: the primary key lets exactly one of the two decisions exist.
// Every hook runs when the backend answers the client's statement (the session's backend order),
// so the fragment work happens in the order of the client's statements.
import { randomBytes } from 'node:crypto';
import type { BackendSecrets } from '../config/load.ts';
import { StatementError } from '../session/pipeline.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';
import { FragmentConnection, FragmentError } from './conn.ts';
import { SplitCursors } from './cursor.ts';
import { fragmentFailure } from './fragment.ts';
import { quoteLiteral } from '../residual/plan.ts';
import { COLUMNS_DDL } from './column-order.ts';

/** Fragment connections a client's cancel is forwarded to (session/pipeline.ts Pipeline.cancelRequested). */
type CancelTargets = Array<{ backend: BackendSecrets; processId: number; secretKey: number; delivered: (p: Promise<void>) => void }>;

export const DECISIONS = 'clarus_split.decisions';
/** The key in FragmentConnection.applied of the SET LOCAL statement_timeout of the current block. */
const LOCAL_TIMEOUT = 'local statement_timeout';
/** The client settings fragment connections follow (see useSettings). */
const SETTINGS = ['TimeZone', 'DateStyle', 'IntervalStyle'] as const;
export const GID_PREFIX = 'clarus:';
/** The participant name of the client's own backend connection in a global transaction id. */
export const CLIENT_PARTICIPANT = '@client';

/** SQL that makes the decision table and the column-order table (column-order.ts) (home backend, proxy start). */
// One Query, so one transaction: the advisory lock (held to its end) serializes replicas and worker
// processes creating the table at once (concurrent CREATE … IF NOT EXISTS can fail on the catalog's
// unique index).
export const DECISIONS_DDL = `SELECT pg_advisory_xact_lock(hashtext('clarus_split.decisions'));
CREATE SCHEMA IF NOT EXISTS clarus_split;
CREATE TABLE IF NOT EXISTS ${DECISIONS} (gid text PRIMARY KEY, outcome text NOT NULL CHECK (outcome IN ('commit', 'abort')), decided_at timestamptz NOT NULL DEFAULT now());
${COLUMNS_DDL}`;

function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

export interface SplitSessionDeps {
  /** This session's credentials for a backend (its role), undefined when the proxy has none. */
  secrets(backend: string): BackendSecrets | undefined;
  home: string;
  connectTimeoutMs: number;
  /** Names this proxy process in global transaction ids. */
  replica: string;
  warn?(message: string, fields?: Record<string, unknown>): void;
  /** Resolves once the decision table exists (start-up checks). */
  ready?(): Promise<unknown>;
}

export class SplitSession {
  private readonly deps: SplitSessionDeps;
  private readonly conns = new Map<string, FragmentConnection>();
  private readonly opening = new Map<string, Promise<FragmentConnection>>();
  /** Fragment connections with an open transaction that belongs to the client's block. */
  private readonly inTx = new Set<string>();
  /** The client is in a transaction block (BEGIN seen in backend order, not yet ended). */
  private explicit = false;
  private beginSql = 'BEGIN';
  private savepoints: string[] = [];
  /** Client order: a split statement was decided or executed since the last idle point. */
  mayWrite = false;
  /** Work that must finish before the next fragment operation (cleanup after ReadyForQuery 'I'). */
  private pending: Promise<void> = Promise.resolve();
  /** The client's settings that change how values are read and printed (ParameterStatus). */
  private readonly wanted = new Map<string, string>();
  /** SQL cursors over split tables declared in the client's block (cursor.ts). */
  readonly cursors = new SplitCursors();
  /** Run when the client's block ends (a schema change made in it is committed or rolled back then). */
  private atBlockEnd: Array<() => void> = [];
  /** The client's SET LOCAL statement_timeout in the current transaction. */
  private local: string | undefined;
  /** Fragment connections of the client's block that were lost: the block fails on them. */
  private readonly lost = new Map<string, FragmentConnection>();
  /** Fragment transactions of split writes outside a block: the client's implicit transaction (see write). */
  private readonly implicit = new Map<string, FragmentConnection>();
  /** Run when the implicit transaction ends (committed or rolled back). */
  private atImplicitEnd: Array<() => void> = [];
  /** The split statement running now (`statement`), and whether a client's cancel came for it. */
  private running: { cancelled: boolean } | null = null;

  constructor(deps: SplitSessionDeps) {
    this.deps = deps;
  }

  get inBlock(): boolean { return this.explicit; }

  /** Fragment transactions are open (a block, or split writes of the current batch). */
  get holding(): boolean { return this.explicit || this.implicit.size > 0; }

  /** Awaited by every operation: earlier cleanup first. */
  settle(): Promise<void> { return this.pending; }

  /**
   * The client's TimeZone, DateStyle and IntervalStyle: fragment connections read and print
   * values as the client's own backend connection does (a timestamp without zone, a DMY date).
   */
  useSettings(settings: ReadonlyMap<string, string>): void {
    for (const k of SETTINGS) { const v = settings.get(k); if (v !== undefined) this.wanted.set(k, v); }
  }

  private async apply(c: FragmentConnection): Promise<void> {
    const diff = [...this.wanted].filter(([k, v]) => c.applied.get(k) !== v);
    if (diff.length === 0) return;
    try { await c.query(diff.map(([k, v]) => `SET ${k} TO ${quoteLiteral(v)}`).join('; ')); } catch (e) { throw fragmentFailure(e); }
    for (const [k, v] of diff) c.applied.set(k, v);
  }

  /** The client's statement_timeout (decide.ts statementTimeoutOf): fragment statements follow it. */
  statementTimeout(value: string): void {
    this.wanted.set('statement_timeout', value);
  }

  /**
   * The client's `SET LOCAL statement_timeout` (decide.ts localStatementTimeoutOf): fragment
   * statements follow it until the transaction ends (endBlock, idle), then the session's again.
   */
  localStatementTimeout(value: string): void {
    this.local = value;
  }

  /** Resolves once the start-up checks made the proxy's tables on the home backend (the decisions, the column orders). */
  async tablesReady(): Promise<void> {
    await this.deps.ready?.();
  }

  /** The session's connection to `backend` (opened on first use), with the client's settings. */
  async conn(backend: string): Promise<FragmentConnection> {
    const c = await this.open(backend);
    await this.apply(c);
    return c;
  }

  private async open(backend: string): Promise<FragmentConnection> {
    const c = this.conns.get(backend);
    if (c?.alive) return c;
    // A connection lost in the client's block lost its writes: the block cannot commit (see enter).
    if (c) { this.conns.delete(backend); if (this.inTx.delete(backend)) this.lost.set(backend, c); }
    let p = this.opening.get(backend);
    if (!p) {
      const b = this.deps.secrets(backend);
      if (!b) throw new StatementError(SQLSTATE.unableToConnect, `clarus: this proxy has no connection settings for backend "${backend}", which stores split columns`);
      p = FragmentConnection.open(b, this.deps.connectTimeoutMs);
      this.opening.set(backend, p);
    }
    try {
      const opened = await p;
      this.conns.set(backend, opened);
      return opened;
    } catch (e) {
      throw new StatementError(SQLSTATE.unableToConnect, `clarus: cannot reach backend "${backend}", which stores columns of split tables: ${(e as Error).message}`);
    } finally {
      this.opening.delete(backend);
    }
  }

  /**
   * Starts opening the connections to `backends` this session has not opened yet, all at once: a
   * statement over several fragments does not wait for one connection (TLS, authentication)
   * after another. Failures surface when the statement uses the backend.
   */
  warm(backends: Iterable<string>): void {
    for (const b of backends) if (!this.conns.get(b)?.alive && !this.opening.has(b) && this.deps.secrets(b)) void this.open(b).catch(() => undefined);
  }

  /** The connection to `backend`, inside the client's block when there is one. */
  async enter(backend: string): Promise<FragmentConnection> {
    this.checkCancel();
    if (this.explicit && (this.lost.has(backend) || (this.inTx.has(backend) && !this.conns.get(backend)?.alive))) {
      throw new StatementError(SQLSTATE.connectionFailure, `clarus: the connection to backend "${backend}" was lost in the transaction`);
    }
    const c = await this.conn(backend);
    if (!this.explicit) return c;
    if (!this.inTx.has(backend)) {
      try {
        await c.query([this.beginSql, ...this.savepoints.map((s) => `SAVEPOINT ${quoteIdent(s)}`)].join('; '));
      } catch (e) { throw fragmentFailure(e); }
      this.inTx.add(backend);
    }
    await this.applyLocal(c);
    return c;
  }

  /** The client's SET LOCAL statement_timeout, as SET LOCAL inside the fragment's transaction (it ends with it). */
  private async applyLocal(c: FragmentConnection): Promise<void> {
    if (this.local === undefined || c.applied.get(LOCAL_TIMEOUT) === this.local) return;
    try { await c.query(`SET LOCAL statement_timeout TO ${quoteLiteral(this.local)}`); } catch (e) { throw fragmentFailure(e); }
    c.applied.set(LOCAL_TIMEOUT, this.local);
  }

  /**
   * Runs `work` as one transaction over the fragments it enters: in the client's block, as part
   * of it; otherwise as part of the implicit transaction of the client's batch (an extended batch
   * up to Sync, or one Query), which `batchEnd` commits when the backend answers its end. A
   * failure rolls the whole implicit transaction back, as PostgreSQL aborts it.
   */
  async write<R>(work: (enter: (backend: string) => Promise<FragmentConnection>) => Promise<R>): Promise<R> {
    await this.settle();
    if (this.explicit) return work((b) => this.enter(b));
    try {
      return await work((b) => this.enterImplicit(b));
    } catch (e) {
      const used = [...this.implicit.values()];
      this.endImplicit();
      await this.rollbackAll(used);
      throw e;
    }
  }

  private async enterImplicit(backend: string): Promise<FragmentConnection> {
    this.checkCancel();
    const known = this.implicit.get(backend);
    // A connection lost mid-transaction lost its writes: never start over on a new one.
    if (known) return known.alive ? known : Promise.reject(new StatementError(SQLSTATE.connectionFailure, `clarus: the connection to backend "${backend}" was lost in the transaction`));
    const c = await this.conn(backend);
    try { await c.query('BEGIN'); } catch (e) { throw fragmentFailure(e); }
    this.implicit.set(backend, c);
    return c;
  }

  private endImplicit(): void {
    this.implicit.clear();
    const hooks = this.atImplicitEnd;
    this.atImplicitEnd = [];
    for (const f of hooks) f();
  }

  /**
   * The client's batch ended with the backend idle and no error in it: commits the fragment
   * transactions its split writes opened (two-phase commit over several backends). Null when there
   * are none; else resolves to the error the batch fails with, or null once committed. Takes the
   * transactions at once, so that `idle()` right after does not roll them back.
   */
  batchEnd(): Promise<StatementError | null> | null {
    if (this.implicit.size === 0) return null;
    const used = new Map(this.implicit);
    this.endImplicit();
    const run = async (): Promise<StatementError | null> => {
      await this.settle();
      try { await this.commit(used, null); return null; } catch (e) {
        if (e instanceof StatementError) return e;
        throw e;
      }
    };
    const p = run();
    this.pending = p.then(() => undefined, () => undefined);
    return p;
  }

  /** A read: in the client's block, inside it (it sees the block's writes). */
  async read(backend: string): Promise<FragmentConnection> {
    await this.settle();
    this.checkCancel();
    return this.explicit ? this.enter(backend) : this.conn(backend);
  }

  private async rollbackAll(conns: FragmentConnection[]): Promise<void> {
    await Promise.all(conns.map(async (c) => {
      c.applied.clear();
      if (!c.alive || c.status === 'I') return;
      try { await c.query('ROLLBACK'); } catch { c.destroy(); }
    }));
  }

  /**
   * Commits the fragment transactions in `used` (and the client's prepared transaction `client`,
   * a gid, when the client's COMMIT was sent as PREPARE TRANSACTION). One participant: plain
   * COMMIT. Several: two-phase commit with the decision row on the home backend.
   */
  private async commit(used: Map<string, FragmentConnection>, client: string | null): Promise<void> {
    if (used.size === 0 && client === null) return;
    if (used.size === 1 && client === null) {
      const [c] = [...used.values()] as [FragmentConnection];
      try { await c.query('COMMIT'); } catch (e) { throw fragmentFailure(e); }
      return;
    }
    const base = client ?? this.newGid();
    const prepared: Array<{ conn: FragmentConnection | null; gid: string; backend: string }> = client ? [{ conn: null, gid: `${client}:${CLIENT_PARTICIPANT}`, backend: this.deps.home }] : [];
    try {
      // Every participant prepares at once (one round trip, not one per backend); a failure of
      // any one rolls back those that did prepare.
      const outcomes = await Promise.allSettled([...used].map(async ([b, c]) => {
        const gid = `${base}:${b}`;
        await c.query(`PREPARE TRANSACTION ${quoteLiteral(gid)}`);
        prepared.push({ conn: c, gid, backend: b });
      }));
      const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
      if (failed) throw failed.reason;
      await this.deps.ready?.();
      const home = await this.conn(this.deps.home);
      try {
        // Durable before any participant commits, whatever the backend's synchronous_commit: a
        // decision lost in a crash would have recovery roll back what others committed.
        await home.query(`SET LOCAL synchronous_commit TO on; INSERT INTO ${DECISIONS} (gid, outcome) VALUES (${quoteLiteral(base)}, 'commit')`);
      } catch (e) {
        // Recovery decided first (it found the participants prepared for too long): abort.
        if (e instanceof FragmentError && e.fields.C === SQLSTATE.uniqueViolation) throw new StatementError(SQLSTATE.transactionRollback, 'clarus: the transaction over split tables was rolled back by recovery before it could commit');
        throw e;
      }
    } catch (e) {
      await this.abortPrepared(prepared, used);
      if (e instanceof StatementError) throw e;
      const f = fragmentFailure(e);
      throw new StatementError(SQLSTATE.transactionRollback, `clarus: the transaction over split tables was rolled back: ${f.message}`, f.detail);
    }
    // Decided: commit every participant; one that cannot be reached now is committed by recovery.
    await Promise.all(prepared.map(async (p) => {
      try {
        const c = p.backend === this.deps.home && p.conn === null ? await this.conn(this.deps.home) : await this.conn(p.backend);
        await c.query(`COMMIT PREPARED ${quoteLiteral(p.gid)}`);
      } catch (e) {
        this.deps.warn?.('a prepared transaction is left for recovery to commit', { gid: p.gid, error: (e as Error).message });
      }
    }));
  }

  private async abortPrepared(prepared: Array<{ conn: FragmentConnection | null; gid: string; backend: string }>, used: Map<string, FragmentConnection>): Promise<void> {
    const done = new Set(prepared.map((p) => p.conn));
    await this.rollbackAll([...used.values()].filter((c) => !done.has(c)));
    await Promise.all(prepared.map(async (p) => {
      try {
        const c = await this.conn(p.backend);
        await c.query(`ROLLBACK PREPARED ${quoteLiteral(p.gid)}`);
      } catch (e) {
        this.deps.warn?.('a prepared transaction is left for recovery to roll back', { gid: p.gid, error: (e as Error).message });
      }
    }));
  }

  private newGid(): string {
    return `${GID_PREFIX}${this.deps.replica}:${randomBytes(8).toString('hex')}`;
  }

  // ---- the client's transaction control, in backend order (transformers' `done` hooks) ----

  /** BEGIN / START TRANSACTION answered: fragments join from their first use. */
  began(sql: string): void {
    this.explicit = true;
    this.beginSql = sql;
    this.savepoints = [];
    // BEGIN inside an extended batch turns its implicit transaction into the block (PostgreSQL).
    for (const b of this.implicit.keys()) this.inTx.add(b);
    this.atBlockEnd.push(...this.atImplicitEnd);
    this.atImplicitEnd = [];
    this.implicit.clear();
  }

  /** The gid the client's COMMIT prepares its own transaction under (see commitStatement). */
  clientGid(): string {
    return this.newGid();
  }

  /**
   * The client's COMMIT, sent as `PREPARE TRANSACTION '<gid>:@client'`, was answered with `tag`.
   * Returns the tag the client sees.
   */
  async committed(gid: string, tag: string): Promise<string> {
    await this.settle();
    const used = this.blockConns();
    this.endBlock();
    if (tag !== 'PREPARE TRANSACTION') {
      // The client's transaction had failed: PostgreSQL rolled it back (tag ROLLBACK).
      await this.rollbackAll([...used.values()]);
      return tag;
    }
    await this.commit(used, gid);
    return 'COMMIT';
  }

  /** A COMMIT the proxy did not turn into PREPARE TRANSACTION: commit what the fragments hold. */
  async committedPlain(tag: string): Promise<string> {
    await this.settle();
    const used = this.blockConns();
    this.endBlock();
    if (tag !== 'COMMIT') { await this.rollbackAll([...used.values()]); return tag; }
    if (used.size > 0) this.deps.warn?.('fragment transactions committed after the client\'s COMMIT (not atomic with it)');
    await this.commit(used, null);
    return tag;
  }

  async rolledBack(tag: string): Promise<string> {
    await this.settle();
    const used = [...this.blockConns().values()];
    this.endBlock();
    await this.rollbackAll(used);
    return tag;
  }

  async savepoint(kind: 'savepoint' | 'release' | 'rollbackTo', name: string, tag: string): Promise<string> {
    await this.settle();
    const sql = kind === 'savepoint' ? `SAVEPOINT ${quoteIdent(name)}` : kind === 'release' ? `RELEASE SAVEPOINT ${quoteIdent(name)}` : `ROLLBACK TO SAVEPOINT ${quoteIdent(name)}`;
    for (const b of this.inTx) {
      const c = this.conns.get(b);
      if (!c) continue;
      if (kind === 'rollbackTo') c.applied.clear();
      try { await c.query(sql); } catch (e) { throw fragmentFailure(e); }
    }
    const at = this.savepoints.lastIndexOf(name);
    if (kind === 'savepoint') this.savepoints.push(name);
    else if (kind === 'release' && at >= 0) this.savepoints = this.savepoints.slice(0, at);
    else if (kind === 'rollbackTo' && at >= 0) this.savepoints = this.savepoints.slice(0, at + 1);
    return tag;
  }

  /**
   * Runs `f` once the client's block ends, or now outside a block. A catalog load while the block
   * holds a DDL's lock would wait for the block (pg_get_expr locks the table): it waits for the end.
   */
  afterBlock(f: () => void): void {
    if (this.explicit) this.atBlockEnd.push(f);
    else if (this.implicit.size > 0) this.atImplicitEnd.push(f);
    else f();
  }

  /** The block's fragment connections, those lost included (a commit fails on them). */
  private blockConns(): Map<string, FragmentConnection> {
    return new Map([...[...this.inTx].map((b): [string, FragmentConnection] => [b, this.conns.get(b) as FragmentConnection]), ...this.lost]);
  }

  private endBlock(): void {
    this.lost.clear();
    for (const c of this.conns.values()) c.applied.delete(LOCAL_TIMEOUT);
    const hooks = this.atBlockEnd;
    this.atBlockEnd = [];
    for (const f of hooks) f();
    this.cursors.clear();
    this.local = undefined;
    this.explicit = false;
    this.inTx.clear();
    this.savepoints = [];
  }

  /**
   * The client's backend is idle outside any transaction (ReadyForQuery 'I'): a fragment
   * transaction still open lost its block (the block ended without a hook: an error, a FATAL):
   * roll it back before the next operation.
   */
  idle(): void {
    this.mayWrite = false;
    this.local = undefined;
    if (!this.explicit && this.inTx.size === 0 && this.implicit.size === 0 && this.lost.size === 0) return;
    // An implicit transaction still open here belongs to a batch that failed (batchEnd takes it otherwise).
    const used = [...this.blockConns().values(), ...this.implicit.values()];
    this.endImplicit();
    this.endBlock();
    this.pending = this.pending.then(() => this.rollbackAll(used));
  }

  /**
   * Runs one split statement's work (its stage): a client's cancel meanwhile is recorded on it
   * (cancelRequested) and fails its next fragment step (read, enter) or its end with 57014.
   */
  async statement<R>(work: () => Promise<R>): Promise<R> {
    const s = { cancelled: false };
    this.running = s;
    try {
      const out = await work();
      this.checkCancel();
      return out;
    } finally {
      if (this.running === s) this.running = null;
    }
  }

  /** 57014 when a client's cancel came for the running statement (between its fragment steps). */
  private checkCancel(): void {
    if (this.running?.cancelled) throw new StatementError(SQLSTATE.queryCanceled, 'canceling statement due to user request');
  }

  /**
   * A client's CancelRequest: recorded on the split statement running now, if any (`statement`),
   * and forwarded to the fragment connections running its requests at this instant (`others`;
   * each holds its next request until the backend took the cancel, FragmentConnection.cancelSent).
   * With no split statement running nothing is recorded or forwarded.
   */
  cancelRequested(): { statement: boolean; others: CancelTargets } {
    if (!this.running) return { statement: false, others: [] };
    this.running.cancelled = true;
    const busy = [...this.conns.values()].filter((c) => c.alive && c.busy);
    return { statement: true, others: busy.map((c) => ({ backend: c.secrets, ...c.cancelKey, delivered: (p: Promise<void>) => c.cancelSent(p) })) };
  }

  close(): void {
    for (const c of this.conns.values()) c.close();
    this.conns.clear();
  }
}
