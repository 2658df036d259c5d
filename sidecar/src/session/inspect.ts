// The decoding path of a session, used when the pipeline is not pass-through: it hands Query and
// Parse to the pipeline, applies rewrites and refusals, and keeps a queue of the answers the
// backend owes (one entry per forwarded message) so that each RowDescription/DataRow/CopyData is
// transformed by the transformer of the statement it belongs to, and locally generated refusals
// reach the client in protocol order. See pipeline.ts for the contract.
import { backendBytes, decodeBackend, isFatalError } from '../protocol/backend.ts';
import type { BackendMessage } from '../protocol/backend.ts';
import { ProtocolError } from '../protocol/codec.ts';
import { errorBytes } from '../protocol/errors.ts';
import { decodeFrontend, encodeFrontend } from '../protocol/frontend.ts';
import type { FrontendMessage } from '../protocol/frontend.ts';
import { BackendTag, FrontendTag, HEADER_BYTES, TxStatusByte } from '../protocol/tags.ts';
import { closedSlot, CopySlot } from './copy-route.ts';
import { formatAt, StatementError } from './pipeline.ts';
import type { BeforeCommit, BeforeCommitHook, CopyHooks, CopyTransformer, FieldDescription, Pipeline, QueryDecision, Refuse, ResidualStage, ResultTransformer, RewriteQuery, RewriteStatement, StageResult, StatementDecision, WireValue } from './pipeline.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';
import { Prepared, rewriteOf } from './prepared.ts';
import type { Portal, Stmt } from './prepared.ts';
import type { Relay } from './relay.ts';
import { applyCopy, copyEnd, transformRow, transformRowDescription } from './transform.ts';
import { WriteExchange } from './write-exchange.ts';
import { binaryParamText } from './binary-params.ts';
import { ComputedPortals } from './computed-portals.ts';
import { CommitFlush } from './commit-flush.ts';

/** The candidate rows of a two-stage statement, collected for its in-proxy stage. */
interface Candidates { stage: ResidualStage; fields: FieldDescription[]; rows: Array<Array<string | null>>; bytes: number }

type Entry =
  | { k: 'sync' | 'fcall' }
  /**
   * Messages that change what a statement or portal name means. `undo` puts the previous meaning
   * back when the backend skips the message after an error; `failed` is what a failure of the
   * message itself leaves (PostgreSQL drops the unnamed statement/portal before Parse/Bind).
   */
  | { k: 'parse' | 'bind' | 'close'; undo: () => void; failed: () => void; refusal?: Buffer }
  /**
   * `formats`: the portal's result formats (Describe of a portal). `into`: a Describe the proxy
   * sent itself before a two-stage Execute: its fields are that Execute's candidate fields.
   */
  | { k: 'describe'; st: RewriteStatement | undefined; formats?: readonly number[]; into?: Extract<Entry, { k: 'execute' }> }
  /** `syncs`: Syncs sent after it while its COPY may start (a running COPY consumes them). */
  /**
   * `held`: a two-stage read whose result the proxy holds for its portal (computed-portals.ts): the
   * rows go out `max` at a time (0: all); `serve` when they are already computed (the backend gets an
   * Execute of its finished portal, to keep the order of answers and the portal's lifetime).
   */
  | { k: 'execute'; st: RewriteStatement | undefined; formats: readonly number[]; slot: CopySlot; syncs: Entry[]; cand?: Candidates; params?: Array<string | null>; write?: WriteExchange;
    held?: { portal: string; max: number; serve: boolean } }
  /** `after`: a COMMIT after the session's own statements (commit-flush.ts); its tag is not shown when they failed. */
  | { k: 'query'; rw: RewriteQuery | undefined; idx: number; slot: CopySlot; refusal?: Buffer; cand?: Candidates; after?: CommitFlush }
  /**
   * A Query or batch the proxy sent on its own (to abort or end a transaction block): its answers are
   * not shown; `ready`: the pipeline hears of its ReadyForQuery status.
   */
  | { k: 'inject'; ready?: true }
  /** The session's own statements before a COMMIT (commit-flush.ts), up to their batch's ReadyForQuery. */
  | { k: 'flush'; x: CommitFlush; then: (x: CommitFlush) => void }
  /** A message of a write that computes, sent by the proxy (write-exchange.ts): its answer is not shown; `last` ends the exchange. */
  | { k: 'own'; x: WriteExchange; last?: boolean };

type Changing = Extract<Entry, { k: 'parse' | 'bind' | 'close' }>;

/** A client message as received: tag and body range in its buffer. */
interface Raw { tag: number; buf: Buffer; start: number; end: number }
type Parse = Extract<FrontendMessage, { type: 'Parse' }>;
type Bind = Extract<FrontendMessage, { type: 'Bind' }>;
type Describe = Extract<FrontendMessage, { type: 'Describe' }>;
type Execute = Extract<FrontendMessage, { type: 'Execute' }>;

const NOOP = (): void => undefined;
/** Backend answers that only close their queue entry: ParseComplete, BindComplete, CloseComplete, NoData, PortalSuspended. */
const ANSWERED: number[] = [BackendTag.ParseComplete, BackendTag.BindComplete, BackendTag.CloseComplete, BackendTag.NoData, BackendTag.PortalSuspended];
/** Messages the backend may send at any time: NoticeResponse, NotificationResponse, ParameterStatus. */
const ASYNC: number[] = [BackendTag.NoticeResponse, BackendTag.NotificationResponse, BackendTag.ParameterStatus];
const isPromise = <V>(v: V | Promise<V>): v is Promise<V> => typeof (v as { then?: unknown } | null | undefined)?.then === 'function';
/**
 * Sent in place of a refused statement: it fails at parse time with a syntax error, whose
 * ErrorResponse the session replaces with the refusal. So the backend treats the refusal exactly
 * as PostgreSQL treats any failed statement (the transaction block or the implicit transaction of an
 * extended batch is aborted; later statements get 25P02; COMMIT rolls back), and no part of the
 * refused statement reaches it.
 */
export const REFUSAL_SQL = 'CLARUS REFUSED STATEMENT';
/** Statement name of the failing Parse sent in place of a refused Bind/Execute/Describe (never created). */
export const REFUSED_NAME = 'clarus_refused';
const COPY_FAIL = encodeFrontend({ type: 'CopyFail', message: 'clarus: COPY data refused by the proxy' }).finish();

/**
 * A Bind's parameter values as text, for the in-proxy stage: a value in binary format is read by
 * its declared type (`types`, the Parse's), as PostgreSQL's receive function would; 'binary' when
 * its type is not declared or not one the proxy reads, 22P03 when the bytes do not fit the type.
 */
function textParams(m: Bind, types: readonly number[]): Array<string | null> | 'binary' | StatementError {
  const out: Array<string | null> = [];
  for (const [i, v] of m.values.entries()) {
    if (v === null) { out.push(null); continue; }
    const b = Buffer.from(v.buffer, v.byteOffset, v.length);
    if (formatAt(m.paramFormats, i) === 0) { out.push(b.toString('utf8')); continue; }
    const t = binaryParamText(types[i] ?? 0, b, i + 1);
    if (t === null || t instanceof StatementError) return t ?? 'binary';
    out.push(t);
  }
  return out;
}

function refusalBytes(r: Refuse | StatementError): Buffer {
  return errorBytes({ code: r.code, message: r.message, ...(r.detail ? { detail: r.detail } : {}), ...('hint' in r && r.hint ? { hint: r.hint } : {}) });
}

/** The error to show in place of the backend's for this entry, if the proxy made it fail. */
function refusalOf(h: Entry | undefined): Buffer | undefined {
  if (!h) return undefined;
  if ('refusal' in h && h.refusal) return h.refusal;
  return h.k === 'query' || h.k === 'execute' ? h.slot.refusal : undefined;
}

export class Inspector {
  private readonly pipeline: Pipeline;
  private readonly relay: Relay;
  private readonly queue: Entry[] = [];
  private readonly prepared: Prepared;
  private readonly statements: Map<string, Stmt>;
  private readonly portals: Map<string, Portal>;
  /** A refusal was answered: drop client messages until Sync (the protocol's error recovery). */
  private discarding = false;
  /** The backend reported an error and skips until the Sync it has not been sent yet. */
  private backendSkipping = false;
  private resultFormats: readonly number[] = [];
  /** The last RowDescription rewritten, by transformer and bytes (a repeated simple query gets the same one). */
  private lastFields: { tr: ResultTransformer; input: Buffer; output: Buffer; formats: readonly number[] } | null = null;
  /** Where the client's COPY data goes: the slot of the last Query/Execute, null = nowhere. */
  private cslot: CopySlot | null = null;
  /** The Execute entry of `cslot` (for Syncs the COPY consumes), null for a Query. */
  private cexec: Extract<Entry, { k: 'execute' }> | null = null;
  private copyOut: CopyTransformer | null = null;
  /** A data error failed the current statement: its remaining answers are not shown. */
  private suppress = false;
  /** At the end of the failed statement's cycle, show an open transaction block as failed ('E'). */
  private abortBlock = false;
  /** Results of two-stage portals the session holds; a new pipeline takes them over with the portals. */
  private readonly computed: ComputedPortals;

  /**
   * `from`: the inspector of the previous pipeline (its statements and portals are kept, to be
   * planned again), or 'unknown' when the previous pipeline was pass-through.
   */
  constructor(pipeline: Pipeline, relay: Relay, from?: Inspector | 'unknown') {
    this.pipeline = pipeline;
    this.relay = relay;
    this.prepared = new Prepared(pipeline, from === 'unknown' ? from : from?.prepared);
    this.statements = this.prepared.statements;
    this.portals = this.prepared.portals;
    this.computed = from instanceof Inspector ? from.computed : new ComputedPortals();
    if (from) pipeline.adopt?.(from === 'unknown' ? from : from.pipeline);
  }

  close(): void { this.pipeline.close?.(); }

  /** Something is in flight that a new pipeline could not take over. */
  busy(): boolean {
    return this.suppress || this.discarding || this.cslot?.wake != null || this.queue.some((e) => e.k === 'inject' || e.k === 'flush') || this.pipeline.busy?.() === true;
  }

  /** True when prepared statements or portals with rewritten decisions exist (a pass-through pipeline cannot run them). */
  remembersRewrites(): boolean { return this.prepared.remembersRewrites() || this.pipeline.remembersRewrites?.() === true; }

  // ---- client → backend ----

  client(tag: number, buf: Buffer, start: number, end: number): Promise<void> | undefined {
    if (this.discarding) {
      if (tag !== FrontendTag.Sync) return undefined;
      this.discarding = false;
    }
    const raw: Raw = { tag, buf, start, end };
    if (tag === FrontendTag.CopyData || tag === FrontendTag.CopyDone || tag === FrontendTag.CopyFail) return this.copyFromClient(raw);
    if (tag === FrontendTag.Flush) { this.forward(raw); return undefined; }
    if (tag !== FrontendTag.Sync) { this.cslot = null; this.cexec = null; }
    const d = decodeFrontend(tag, buf, start, end);
    if (!d.ok) throw d.error;
    return this.message(d.msg, raw);
  }

  private message(m: FrontendMessage, raw: Raw): Promise<void> | undefined {
    switch (m.type) {
      case 'Query':
        // PostgreSQL ignores a Query while it skips to Sync: so does the session (no decision, no answer).
        if (this.backendSkipping) return undefined;
        return this.decided(this.pipeline.query(m.sql), (dec) => this.query(dec, raw));
      case 'Parse': return this.decided(this.pipeline.parse(m.sql, m.paramTypes, m.name), (dec) => this.parse(m, dec, raw));
      case 'Bind': return this.bind(m, raw);
      case 'Describe': return this.describe(m, raw);
      case 'Execute': return this.execute(m, raw);
      case 'Sync': this.sync(raw); return undefined;
      case 'Close':
        if (!this.backendSkipping) {
          if (m.target === 'S') this.forget(this.statements, m.name); else { this.forget(this.portals, m.name); this.computed.forget(m.name); }
        }
        break;
      case 'FunctionCall': this.functionCall(m.oid, raw); return undefined;
      default: throw new ProtocolError(`unexpected ${m.type} message`);
    }
    this.forward(raw);
    return undefined;
  }

  /** FunctionCall: the pipeline may refuse it (a failing statement is sent in its place). */
  private functionCall(oid: number, raw: Raw): void {
    const dec = this.backendSkipping ? undefined : this.pipeline.functionCall?.(oid);
    if (dec?.kind === 'refuse') { this.refuse(dec, 'simple', '', raw.tag); return; }
    this.enqueue({ k: 'fcall' });
    this.forward(raw);
  }

  private decided<D>(d: D | Promise<D>, then: (d: D) => Promise<void> | undefined | void): Promise<void> | undefined {
    if (!isPromise(d)) return then(d) ?? undefined;
    // The framer's current message buffer stays valid: it is only replaced by the next next().
    // What `then` sends goes out now: the relay holds the client until the promise settles, and a
    // write that computes (or a computed DECLARE) settles only once the backend has answered it.
    return d.then((x) => {
      const r = then(x);
      this.relay.flush();
      return r ?? undefined;
    });
  }

  private forward(raw: Raw): void {
    this.relay.track(raw.tag);
    this.relay.toBackend.forward(raw.buf, raw.start - HEADER_BYTES, raw.end);
  }

  private send(m: FrontendMessage, tag: number): void {
    this.relay.track(tag);
    this.relay.toBackend.push(encodeFrontend(m).finish());
  }

  private forget<V>(map: Map<string, V>, name: string): void {
    const undo = this.remember(map, name);
    map.delete(name);
    this.enqueue({ k: 'close', undo, failed: undo });
  }

  /** A function that gives `name` back its current meaning in `map`. */
  private remember<V>(map: Map<string, V>, name: string): () => void {
    const prev = map.get(name);
    return prev === undefined ? () => { map.delete(name); } : () => { map.set(name, prev); };
  }

  private changing<V>(k: 'parse' | 'bind', map: Map<string, V>, name: string, undo: () => void): Changing {
    return { k, undo, failed: name === '' ? () => { map.delete(name); } : undo };
  }

  private enqueue(e: Entry): void {
    if (!this.backendSkipping) this.queue.push(e);
  }

  private query(dec: QueryDecision, raw: Raw): Promise<void> | undefined {
    if (dec.kind === 'refuse') { this.refuse(dec, 'simple', '', raw.tag); return undefined; }
    const rw = dec.kind === 'rewrite' ? dec : undefined;
    const tr = rw?.results?.[0];
    if (rw && tr?.residual?.write) return this.simpleWrite(rw.sql, tr, tr.residual.write);
    if (rw?.before) { this.commitQuery(rw, rw.before, raw); return undefined; }
    // Exactly one statement, a COPY FROM STDIN with hooks: its data is routed without waiting.
    const slot = new CopySlot(rw?.copy?.length === 1 && (rw.results?.length ?? 1) <= 1 ? rw.copy[0]?.in : undefined);
    this.queue.push({ k: 'query', rw, idx: 0, slot });
    this.cslot = slot;
    if (dec.kind === 'pass') this.forward(raw);
    else this.send({ type: 'Query', sql: dec.sql }, raw.tag);
    return undefined;
  }

  /**
   * A simple Query that is a write that computes: sent as an extended batch of the proxy's own
   * (unnamed statement and portal, which a Query replaces anyway), held open until the write-back
   * is sent, then ended with a Sync whose ReadyForQuery answers the client's Query.
   */
  private simpleWrite(sql: string, tr: ResultTransformer, wb: NonNullable<ResidualStage['write']>): Promise<void> {
    const x = new WriteExchange(wb, true);
    const st: RewriteStatement = { kind: 'rewrite', sql, result: tr };
    const e: Extract<Entry, { k: 'execute' }> = { k: 'execute', st, formats: [], slot: new CopySlot(undefined), syncs: [], write: x };
    this.queue.push({ k: 'own', x }, { k: 'own', x }, { k: 'describe', st, into: e }, e);
    this.send({ type: 'Parse', name: '', sql, paramTypes: [] }, FrontendTag.Parse);
    this.send({ type: 'Bind', portal: '', statement: '', paramFormats: [], values: [], resultFormats: [] }, FrontendTag.Bind);
    this.send({ type: 'Describe', target: 'P', name: '' }, FrontendTag.Describe);
    this.send({ type: 'Execute', portal: '', maxRows: 0 }, FrontendTag.Execute);
    this.send({ type: 'Flush' }, FrontendTag.Flush);
    return x.held;
  }

  private parse(m: Parse, dec: StatementDecision, raw: Raw): void {
    // After a backend error the backend ignores everything up to Sync: send nothing (in particular
    // no text that the pipeline wanted rewritten), answer nothing.
    if (this.backendSkipping) return;
    if (dec.kind === 'refuse') { this.refuse(dec, 'extended', m.name, raw.tag); return; }
    this.queue.push(this.changing('parse', this.statements, m.name, this.remember(this.statements, m.name)));
    this.statements.set(m.name, { dec, sql: m.sql, types: m.paramTypes, stale: false });
    if (dec.kind === 'pass') { this.forward(raw); return; }
    this.send({ type: 'Parse', name: m.name, sql: dec.sql, paramTypes: dec.paramTypes ?? m.paramTypes }, raw.tag);
  }

  private bind(m: Bind, raw: Raw): Promise<void> | undefined {
    if (this.backendSkipping) return undefined;
    if (this.sqlLevel(m.statement, raw.tag)) return undefined;
    return this.decided(this.prepared.statement(m.statement), (s) => {
      // The backend may have failed an earlier message while the statement was planned again.
      if (this.backendSkipping) return;
      if (s && 'kind' in s) { this.refuseMessage(s, raw.tag); return; }
      this.bindNow(m, raw, s);
    });
  }

  private bindNow(m: Bind, raw: Raw, s: Stmt | undefined): void {
    const denied = s?.dec.check?.();
    if (denied) { this.refuseMessage(denied, raw.tag); return; }
    const st = rewriteOf(s);
    let values: Array<Uint8Array | null> | undefined;
    if (st?.params) {
      try {
        values = st.params(m.values, m.paramFormats);
      } catch (e) {
        if (!(e instanceof StatementError)) throw e;
        this.refuseMessage(e, raw.tag);
        return;
      }
    }
    const prevPortal = this.remember(this.portals, m.portal);
    this.computed.forget(m.portal);
    const stage = st?.result?.residual;
    const staged = stage !== undefined;
    const params = staged ? textParams(m, s?.types ?? []) : undefined;
    if (params instanceof StatementError) { this.refuseMessage(params, raw.tag); return; }
    this.portals.set(m.portal, { stmt: s, formats: m.resultFormats, stale: false, ...(params ? { params } : {}) });
    this.queue.push(this.changing('bind', this.portals, m.portal, prevPortal));
    // A two-stage statement's candidates are read as text; the client's formats apply to the stage's result.
    if (!values && !staged) { this.forward(raw); return; }
    let sent = values ?? m.values;
    if (stage && stage.blank.length > 0) sent = sent.map((v, i) => (stage.blank.includes(i + 1) ? null : v));
    this.send({ ...m, values: sent, resultFormats: staged ? [] : m.resultFormats }, raw.tag);
  }

  private describe(m: Describe, raw: Raw): Promise<void> | undefined {
    // While the backend skips to Sync it executes none of these: keep our state as its state.
    if (this.backendSkipping) { this.forward(raw); return undefined; }
    if (m.target === 'S' && this.sqlLevel(m.name, raw.tag)) return undefined;
    const known = (m.target === 'S' ? this.prepared.statement(m.name) : this.prepared.portal(m.name)) as Stmt | Portal | Refuse | undefined | Promise<Stmt | Portal | Refuse>;
    return this.decided(known, (k) => {
      if (k && 'kind' in k && !this.backendSkipping) { this.refuseMessage(k, raw.tag); return; }
      const stmt = k && 'dec' in k ? k : (k as Portal | undefined)?.stmt;
      const formats = k && !('dec' in k) ? (k as Portal).formats : undefined;
      // A portal the session does not know may be a SQL cursor whose rows the session transforms.
      const cursor = !k && m.target === 'P' ? this.pipeline.cursorResult?.(m.name) : undefined;
      const st = cursor ? { kind: 'rewrite' as const, sql: '', result: cursor } : rewriteOf(stmt);
      this.enqueue({ k: 'describe', st, ...(formats ? { formats } : {}) });
      this.forward(raw);
    });
  }

  /**
   * A Bind or Describe of a statement SQL-level PREPARE made (the backend's, not what an earlier
   * Parse of that name made): refused, true. It would skip the statement's parameter roles.
   */
  private sqlLevel(name: string, tag: number): boolean {
    if (!this.pipeline.sqlPreparedName?.(name)) return false;
    this.refuseMessage({ kind: 'refuse', code: SQLSTATE.featureNotSupported, message: `clarus: prepared statement "${name}" was made by SQL PREPARE; run it with EXECUTE (a protocol-level Bind or Describe of it is refused while a policy protects data)` }, tag);
    return true;
  }

  private execute(m: Execute, raw: Raw): Promise<void> | undefined {
    if (this.backendSkipping) {
      this.cslot = closedSlot();
      this.forward(raw);
      return undefined;
    }
    return this.decided(this.prepared.portal(m.portal), (p) => {
      if (this.backendSkipping) { this.cslot = closedSlot(); this.forward(raw); return; }
      const denied = p && 'kind' in p ? p : p?.stmt?.dec.check?.();
      if (denied) { this.refuseMessage(denied, raw.tag); return; }
      return this.executeAllowed(p as Portal | undefined, raw, m);
    });
  }

  /** Execute of a portal its checks allow: a prepared COMMIT may need statements first; a two-stage statement needs text parameters. */
  private executeAllowed(p: Portal | undefined, raw: Raw, m: Execute): Promise<void> | undefined {
    const hook = p?.stmt?.dec.beforeCommit;
    if (hook) return this.executeCommit(p, raw, m, hook());
    const staged = rewriteOf(p?.stmt)?.result?.residual !== undefined;
    if (staged && p?.params === 'binary') {
      this.refuseMessage(new StatementError(SQLSTATE.featureNotSupported, 'clarus: a parameter in binary format for a statement computed in the proxy must have its type given in Parse, and be of a common type (bool, integers, floats, text, varchar, char, date, uuid); send it as text'), raw.tag);
      return undefined;
    }
    return this.executeNow(p, raw, m);
  }

  private executeNow(p: Portal | undefined, raw: Raw, m: Execute): Promise<void> | undefined {
    const st = rewriteOf(p?.stmt);
    st?.executing?.();
    const e: Extract<Entry, { k: 'execute' }> = { k: 'execute', st, formats: p?.formats ?? [], slot: new CopySlot(st?.copy?.in), syncs: [] };
    if (Array.isArray(p?.params)) e.params = p.params;
    const stage = st?.result?.residual;
    if (stage) return this.executeStaged(e, stage, m);
    this.queue.push(e);
    this.cslot = e.slot;
    this.cexec = e;
    this.forward(raw);
    return undefined;
  }

  /** Execute of a two-stage statement's portal (its backend stage runs whole, whatever the row limit). */
  private executeStaged(e: Extract<Entry, { k: 'execute' }>, stage: ResidualStage, m: Execute): Promise<void> | undefined {
    const portal = m.portal;
    if (!stage.write) {
      // The whole result is computed once; every Execute (row limit or not) takes its share.
      e.held = { portal, max: m.maxRows, serve: this.computed.has(portal) };
      if (e.held.serve) {
        this.queue.push(e);
        this.send({ type: 'Execute', portal, maxRows: 0 }, FrontendTag.Execute);
        return undefined;
      }
      this.computed.begin(portal);
    }
    // The candidate fields (types) come from a Describe of the portal, sent by the proxy.
    this.queue.push({ k: 'describe', st: e.st, into: e }, e);
    this.send({ type: 'Describe', target: 'P', name: portal }, FrontendTag.Describe);
    this.cslot = e.slot;
    this.cexec = e;
    this.send({ ...m, maxRows: 0 }, FrontendTag.Execute);
    if (!stage.write) return undefined;
    // A write that computes: the rows must come back before the client's Sync may go on.
    e.write = new WriteExchange(stage.write, false);
    this.send({ type: 'Flush' }, FrontendTag.Flush);
    return e.write.held;
  }

  private sync(raw: Raw): void {
    const s = this.cslot;
    const e = this.cexec;
    if (s && e && s.ended === 0 && !s.done && !s.failed) {
      // A Sync inside COPY FROM STDIN is consumed by the COPY (libpq sends one right after Execute):
      // no ReadyForQuery will answer it.
      if (s.started.length > 0) { this.relay.toBackend.forward(raw.buf, raw.start - HEADER_BYTES, raw.end); return; }
      const entry: Entry = { k: 'sync' };
      e.syncs.push(entry);
      this.backendSkipping = false;
      this.queue.push(entry);
      this.forward(raw);
      return;
    }
    this.backendSkipping = false;
    this.queue.push({ k: 'sync' });
    this.forward(raw);
  }

  private refuse(r: Refuse, kind: 'simple' | 'extended', name: string, tag: number): void {
    const refusal = refusalBytes(r);
    if (kind === 'simple') {
      this.queue.push({ k: 'query', rw: undefined, idx: 0, refusal, slot: closedSlot() });
      this.send({ type: 'Query', sql: REFUSAL_SQL }, tag);
      return;
    }
    // The client's Bind/Execute of the refused statement carry its parameters: never send them.
    this.discarding = true;
    this.queue.push({ ...this.changing('parse', this.statements, name, this.remember(this.statements, name)), refusal });
    this.send({ type: 'Parse', name, sql: REFUSAL_SQL, paramTypes: [] }, tag);
  }

  /**
   * Refuses a Bind, Describe or Execute: a Parse of a reserved name that fails takes its place (no
   * statement or portal changes on the backend), the refusal replaces its error, and the client's
   * messages up to Sync are dropped as the backend skips them.
   */
  private refuseMessage(r: Refuse | StatementError, tag: number): void {
    this.discarding = true;
    this.cslot = null;
    this.cexec = null;
    this.queue.push({ k: 'bind', undo: NOOP, failed: NOOP, refusal: refusalBytes(r) });
    this.send({ type: 'Parse', name: REFUSED_NAME, sql: REFUSAL_SQL, paramTypes: [] }, tag);
  }

  /** CopyData/CopyDone/CopyFail from the client (see copy-route.ts). */
  private copyFromClient(raw: Raw): Promise<void> | undefined {
    const s = this.cslot;
    // No COPY can be in progress: the backend would ignore the message; it is never sent.
    if (!s) return undefined;
    const route = s.failed ? 'drop' : s.route();
    if (route === 'wait') return new Promise<void>((resolve) => { s.wake = resolve; }).then(() => this.copyFromClient(raw));
    if (route === 'raw') this.forward(raw);
    else if (route !== 'drop') this.throughHooks(s, route, raw);
    if (raw.tag !== FrontendTag.CopyData) s.clientEnded();
    return undefined;
  }

  private throughHooks(s: CopySlot, hook: CopyTransformer, raw: Raw): void {
    if (s.begun !== s.ended) {
      hook.begin?.();
      s.begun = s.ended;
    }
    try {
      if (raw.tag === FrontendTag.CopyData) {
        for (const out of applyCopy(hook, raw.buf.subarray(raw.start, raw.end))) this.relay.toBackend.push(out);
        return;
      }
      if (raw.tag === FrontendTag.CopyDone) for (const out of copyEnd(hook)) this.relay.toBackend.push(out);
      this.forward(raw);
    } catch (e) {
      if (!(e instanceof StatementError)) throw e;
      // The COPY fails as PostgreSQL would fail it on this data: CopyFail instead of the data (the
      // backend answers with an error, shown to the client as this one); the rest is dropped.
      s.failed = raw.tag === FrontendTag.CopyData;
      s.refusal = refusalBytes(e);
      this.relay.toBackend.push(COPY_FAIL);
    }
  }

  // ---- backend → client ----

  /**
   * One backend message. Returns false when it answered the proxy's own message and is not part
   * of the client's conversation (the relay then does not count it).
   */
  backend(tag: number, buf: Buffer, start: number, end: number): boolean {
    if (this.queue[0]?.k === 'inject') return this.injectAnswer(tag, buf, start, end);
    if (this.queue[0]?.k === 'flush') return this.flushAnswer(tag, buf, start, end);
    if (this.queue[0]?.k === 'own' && !this.suppress) return this.ownAnswer(tag, buf, start, end);
    if (this.suppress) { this.suppressed(tag, buf, start, end); return true; }
    if (!this.backendMessage(tag, buf, start, end)) this.relay.toClient.forward(buf, start - HEADER_BYTES, end);
    return true;
  }

  /** Bookkeeping for one backend message; true when it was sent on already (transformed). */
  private backendMessage(tag: number, buf: Buffer, start: number, end: number): boolean {
    const h = this.handlers[tag];
    return h ? h(buf, start, end, tag) : false;
  }

  private answered = (): boolean => { this.queue.shift(); return false; };

  /** Per backend tag: what to do (see backendMessage). */
  private readonly handlers: Array<((buf: Buffer, start: number, end: number, tag: number) => boolean) | undefined> = (() => {
    const h: Array<((buf: Buffer, start: number, end: number, tag: number) => boolean) | undefined> = new Array(256);
    for (const t of ANSWERED) h[t] = this.answered;
    h[BackendTag.ReadyForQuery] = (b, s, e) => this.batchEnd(b, s, e) || (this.backendReady(b, s), this.ready(), false);
    h[BackendTag.ParameterDescription] = (b, s, e) => this.parameterDescription(b, s, e);
    h[BackendTag.RowDescription] = (b, s, e) => this.rowDescription(b, s, e);
    h[BackendTag.DataRow] = (b, s, e) => this.dataRow(b, s, e);
    h[BackendTag.CommandComplete] = (b, s, e) => this.served() || this.staged() || this.completed(b, s, e) || this.completeHook(b, s, e);
    h[BackendTag.EmptyQueryResponse] = () => this.staged() || (this.commandDone(), false);
    h[BackendTag.ErrorResponse] = (b, s, e) => { this.backendError(b, s, e); return this.error(true); };
    h[BackendTag.ParameterStatus] = (b, s, e) => { this.setting(b, s, e); return false; };
    h[BackendTag.CopyInResponse] = () => { this.copyInStart(); return false; };
    h[BackendTag.CopyOutResponse] = () => { this.copyOutStart(); return false; };
    h[BackendTag.CopyData] = (b, s, e) => this.copyOutData(b, s, e);
    h[BackendTag.CopyDone] = (b, s, e) => this.copyOutDone(b, s, e);
    return h;
  })();

  /**
   * ReadyForQuery 'I' ending a batch without error: the pipeline may still commit work of the
   * batch's implicit transaction (split writes); the ReadyForQuery waits for it, preceded by its
   * error if the commit fails. False when there is nothing to wait for.
   */
  private batchEnd(buf: Buffer, start: number, end: number): boolean {
    if (buf[start] !== TxStatusByte.idle || this.relay.cycleFailed) return false;
    const commit = this.pipeline.batchEnd?.();
    if (!commit) return false;
    const rfq = Buffer.from(buf.subarray(start - HEADER_BYTES, end));
    this.backendReady(buf, start);
    this.ready();
    this.relay.waitBackend(commit.then((err) => {
      if (err) this.relay.toClient.push(refusalBytes(err));
      this.relay.toClient.push(rfq);
    }));
    return true;
  }

  /** Tells the pipeline the backend's transaction status (ReadyForQuery's one payload byte). */
  private backendError(buf: Buffer, start: number, end: number): void {
    if (!this.pipeline.backendError) return;
    const d = decodeBackend(BackendTag.ErrorResponse, buf, start, end);
    if (d.ok && d.msg.type === 'ErrorResponse') this.pipeline.backendError(d.msg.fields.C ?? '', d.msg.fields.M ?? '');
  }

  private backendReady(buf: Buffer, start: number): void {
    const status = String.fromCharCode(buf[start] ?? 0);
    // Outside a transaction block no portal is left on the backend.
    if (status !== 'T') this.computed.clear();
    if (status === 'I' || status === 'T' || status === 'E') this.pipeline.ready?.(status);
  }

  private ready(): void {
    this.copyOut = null;
    const h = this.head();
    if (h?.k === 'query') h.slot.backendDone();
    this.queue.shift();
  }

  private copyOutData(buf: Buffer, start: number, end: number): boolean {
    if (!this.copyOut) return false;
    try {
      for (const o of applyCopy(this.copyOut, buf.subarray(start, end))) this.relay.toClient.push(o);
    } catch (e) {
      if (!(e instanceof StatementError)) throw e;
      this.poison(e);
    }
    return true;
  }

  private copyOutDone(buf: Buffer, start: number, end: number): boolean {
    if (!this.copyOut) return false;
    try {
      for (const o of copyEnd(this.copyOut)) this.relay.toClient.push(o);
    } catch (e) {
      if (!(e instanceof StatementError)) throw e;
      this.poison(e);
      return true;
    }
    this.copyOut = null;
    this.relay.toClient.forward(buf, start - HEADER_BYTES, end);
    return true;
  }

  private head(): Entry | undefined { return this.queue[0]; }

  private transformer(): ResultTransformer | undefined {
    const h = this.head();
    if (!h) return undefined;
    if (h.k === 'query') return h.rw?.results?.[h.idx];
    if (h.k === 'execute' || h.k === 'describe') return h.st?.result;
    return undefined;
  }

  private copyHooks(): CopyHooks | undefined {
    const h = this.head();
    if (h?.k === 'query') return h.rw?.copy?.[h.idx];
    if (h?.k === 'execute') return h.st?.copy;
    return undefined;
  }

  private decode(tag: number, buf: Buffer, start: number, end: number): BackendMessage {
    const d = decodeBackend(tag, buf, start, end);
    if (!d.ok) throw d.error;
    return d.msg;
  }

  private parameterDescription(buf: Buffer, start: number, end: number): boolean {
    const h = this.head();
    const types = h?.k === 'describe' ? h.st?.clientParamTypes : undefined;
    if (!types) return false;
    // 0: a parameter the rewrite left alone whose type the client did not give: the backend's
    // inference for the rewritten statement (same numbering) is its real type (asyncpg needs it).
    const m = types.includes(0) ? this.decode(BackendTag.ParameterDescription, buf, start, end) : undefined;
    const backend = m?.type === 'ParameterDescription' ? m.types : [];
    this.relay.toClient.push(backendBytes({ type: 'ParameterDescription', types: types.map((t, i) => t || (backend[i] ?? 0)) }));
    return true;
  }

  private setting(buf: Buffer, start: number, end: number): void {
    const m = this.decode(BackendTag.ParameterStatus, buf, start, end);
    if (m.type === 'ParameterStatus') this.relay.settings.set(m.name, m.value);
  }

  private rowDescription(buf: Buffer, start: number, end: number): boolean {
    const tr = this.transformer();
    if (tr?.residual) return this.candidateFields(tr, tr.residual, buf, start, end);
    const h = this.head();
    if (h?.k === 'describe') this.queue.shift();
    if (h?.k !== 'query' && !tr) return false;
    const last = this.lastFields;
    if (tr && last?.tr === tr && buf.subarray(start, end).equals(last.input)) {
      if (h?.k === 'query') this.resultFormats = last.formats;
      this.relay.toClient.push(last.output);
      return true;
    }
    const m = this.decode(BackendTag.RowDescription, buf, start, end);
    const formats = m.type === 'RowDescription' ? m.fields.map((f) => f.format) : [];
    if (h?.k === 'query') this.resultFormats = formats;
    if (!tr) return false;
    const output = transformRowDescription(tr, m);
    this.lastFields = { tr, input: Buffer.from(buf.subarray(start, end)), output, formats };
    this.relay.toClient.push(output);
    return true;
  }

  private dataRow(buf: Buffer, start: number, end: number): boolean {
    const tr = this.transformer();
    if (!tr) return false;
    const h = this.head();
    if (tr.residual) return this.candidateRow(tr, buf, start, end);
    const formats = h?.k === 'execute' ? h.formats : this.resultFormats;
    try {
      this.relay.toClient.push(transformRow(tr, this.decode(BackendTag.DataRow, buf, start, end), formats));
    } catch (e) {
      if (!(e instanceof StatementError)) throw e;
      this.poison(e);
    }
    return true;
  }

  // ---- two-stage statements (issue 10): candidates in, the in-proxy stage's result out ----

  /** RowDescription of a two-stage statement's backend stage: the candidate fields. */
  private candidateFields(tr: ResultTransformer, stage: ResidualStage, buf: Buffer, start: number, end: number): boolean {
    const h = this.head();
    const m = this.decode(BackendTag.RowDescription, buf, start, end);
    if (m.type !== 'RowDescription') return false;
    const fields = tr.fields(m.fields);
    if (h?.k === 'query') { h.cand = { stage, fields, rows: [], bytes: 0 }; return true; }
    if (h?.k !== 'describe') return false;
    this.queue.shift();
    if (h.into) { h.into.cand = { stage, fields, rows: [], bytes: 0 }; return true; }
    // A write without RETURNING describes no rows; with one, the fields of its list.
    const ret = stage.write?.returning;
    if (stage.write && !ret) { this.relay.toClient.push(backendBytes({ type: 'NoData' })); return true; }
    const described = ret ? ret.stage.describe(ret.fields, h.formats ?? [], this.relay.settings) : stage.describe(fields, h.formats ?? [], this.relay.settings);
    // A client's Describe: the stage's fields, computed over no rows.
    this.relay.waitBackend(described.then(
      (out) => { this.relay.toClient.push(out ? backendBytes({ type: 'RowDescription', fields: out }) : backendBytes({ type: 'NoData' })); },
      (e: unknown) => this.stageFailed(e)));
    return true;
  }

  private candidateRow(tr: ResultTransformer, buf: Buffer, start: number, end: number): boolean {
    const h = this.head();
    const cand = h?.k === 'query' || h?.k === 'execute' ? h.cand : undefined;
    if (!cand) throw new Error('candidate row without candidate fields');
    try {
      const m = this.decode(BackendTag.DataRow, buf, start, end);
      if (m.type !== 'DataRow') return false;
      const row = tr.row(m.values, []).map((v) => {
        if (v === null) return null;
        cand.bytes += v.length;
        return Buffer.from(v.buffer, v.byteOffset, v.length).toString('utf8');
      });
      cand.rows.push(row);
      const stage = cand.stage;
      if (cand.rows.length > stage.maxRows) throw new StatementError(SQLSTATE.programLimitExceeded, `clarus: the statement computed in the proxy would load more than ${stage.maxRows} candidate rows (residual row limit)`);
      if (cand.bytes > stage.maxBytes) throw new StatementError(SQLSTATE.programLimitExceeded, `clarus: the statement computed in the proxy would load more than ${stage.maxBytes} bytes of candidate values (residual byte limit)`);
    } catch (e) {
      if (!(e instanceof StatementError)) throw e;
      this.poison(e);
      // A write that computes holds the client's Sync (or sends its own at the end): the exchange is
      // over now, or the backend would never be told to send the error of the failing statement.
      if (h?.k === 'execute' && h.write) this.writeEnded(h.write);
    }
    return true;
  }

  /**
   * CommandComplete of a two-stage statement's backend stage: the in-proxy stage runs (later
   * backend messages wait), then its rows and CommandComplete go to the client. False when the
   * statement at the head is not one (or failed already).
   */
  private staged(): boolean {
    const h = this.head();
    if ((h?.k !== 'query' && h?.k !== 'execute') || !h.cand || this.suppress) return false;
    const cand = h.cand;
    h.cand = undefined;
    const simple = h.k === 'query';
    const write = h.k === 'execute' ? h.write : undefined;
    // The values a write stores are text (the write-back's Bind), whatever the client asked for.
    const formats = h.k === 'execute' && !write ? h.formats : [];
    if (write && h.k === 'execute') write.formats = h.formats;
    const params = h.k === 'execute' ? h.params ?? [] : [];
    const held = h.k === 'execute' ? h.held : undefined;
    this.relay.waitBackend(cand.stage.run(cand.fields, cand.rows, formats, this.relay.settings, params).then((out) => {
      if (write) { this.writeBack(write, out.rows, out.fields ?? []); return; }
      // A read's result is held for its portal; a statement with its own tag (a split write) is not.
      if (held && out.tag === undefined) { this.computed.store(held.portal, out.rows); this.serveChunk(held); return; }
      if (held) this.computed.forget(held.portal);
      if (out.copyOut) { this.stageCopyOut(out.copyOut, out.tag ?? 'COPY 0'); return; }
      if (simple && out.fields) this.relay.toClient.push(backendBytes({ type: 'RowDescription', fields: out.fields }));
      for (const values of out.rows) this.relay.toClient.push(backendBytes({ type: 'DataRow', values }));
      this.relay.toClient.push(backendBytes({ type: 'CommandComplete', tag: out.tag ?? `SELECT ${out.rows.length}` }));
      this.commandDone();
    }, (e: unknown) => {
      this.stageFailed(e);
      this.commandDone();
      if (write) this.writeEnded(write);
    }));
    return true;
  }

  /** A COPY … TO STDOUT answered by the stage (split tables): the COPY messages, then the tag. */
  private stageCopyOut(copy: NonNullable<StageResult['copyOut']>, tag: string): void {
    this.relay.toClient.push(backendBytes({ type: 'CopyOutResponse', format: 0, columnFormats: Array.from({ length: copy.columns }, () => 0 as const) }));
    for (const data of copy.data) this.relay.toClient.push(backendBytes({ type: 'CopyData', data }));
    this.relay.toClient.push(backendBytes({ type: 'CopyDone' }));
    this.relay.toClient.push(backendBytes({ type: 'CommandComplete', tag }));
    this.commandDone();
  }

  /**
   * CommandComplete of a statement whose transformer has `done` (split sessions' transaction
   * control, issue 12): the hook runs (later backend messages wait), then the client gets the tag
   * it returns, or the statement fails with its StatementError. False when there is no hook.
   */
  private completed(buf: Buffer, start: number, end: number): boolean {
    const tr = this.transformer();
    if (!tr?.done || this.suppress) return false;
    const m = this.decode(BackendTag.CommandComplete, buf, start, end);
    if (m.type !== 'CommandComplete') return false;
    const hide = this.tagHidden();
    this.relay.waitBackend(tr.done(m.tag).then((tag) => {
      if (!hide) this.relay.toClient.push(backendBytes({ type: 'CommandComplete', tag }));
      this.commandDone();
    }, (e: unknown) => {
      this.stageFailed(e);
      this.commandDone();
    }));
    return true;
  }

  // ---- statements before a COMMIT (commit-flush.ts) ----

  /** Sends the session's own batch before a COMMIT; `then` runs at its ReadyForQuery. */
  private flushFirst(before: BeforeCommit, then: (x: CommitFlush) => void): CommitFlush {
    const x = new CommitFlush(before);
    this.queue.push({ k: 'flush', x, then });
    const refused: FrontendMessage = { type: 'Parse', name: REFUSED_NAME, sql: REFUSAL_SQL, paramTypes: [] };
    for (const m of x.messages(refused)) this.relay.toBackend.push(encodeFrontend(m).finish());
    // Decided after a wait (the client is not read meanwhile): nothing else would send it now.
    this.relay.flush();
    return x;
  }

  /** A simple COMMIT after the own batch: sent at once (after a failure the backend answers it ROLLBACK, which is not shown). */
  private commitQuery(rw: RewriteQuery, before: BeforeCommit, raw: Raw): void {
    const x = this.flushFirst(before, () => undefined);
    const slot = new CopySlot(undefined);
    this.queue.push({ k: 'query', rw, idx: 0, slot, after: x });
    this.cslot = slot;
    this.send({ type: 'Query', sql: rw.sql }, raw.tag);
  }

  /**
   * Execute of a prepared COMMIT: the client is not read until the own batch is answered; then its
   * Execute goes on, or, after a failure, the session ends the block with its own ROLLBACK and
   * drops the client's messages up to Sync (its portal was failed with the block).
   */
  private executeCommit(p: Portal | undefined, raw: Raw, m: Execute, b: ReturnType<BeforeCommitHook>): Promise<void> | undefined {
    // Answers to earlier statements may wait in the backend's buffer: have them sent.
    if (isPromise(b)) this.send({ type: 'Flush' }, FrontendTag.Flush);
    return this.decided(b, (before) => {
      // The backend failed an earlier message meanwhile: it skips this Execute (the block is aborted).
      if (this.backendSkipping) { this.cslot = closedSlot(); this.forward(raw); return undefined; }
      if (!before) return this.executeNow(p, raw, m);
      const x = this.flushFirst(before, () => {
        if (!x.failed) { this.executeNow(p, raw, m); return; }
        this.queue.push({ k: 'inject', ready: true });
        for (const r of CommitFlush.rollback()) this.relay.toBackend.push(encodeFrontend(r).finish());
        this.discarding = true;
        this.cslot = null;
        this.cexec = null;
      });
      return x.held;
    });
  }

  /** An answer to the own batch before a COMMIT: not shown but asynchronous messages, NOTICEs in place of tags, and the first error. */
  private flushAnswer(tag: number, buf: Buffer, start: number, end: number): boolean {
    const h = this.head() as Extract<Entry, { k: 'flush' }>;
    if (ASYNC.includes(tag)) {
      if (tag === BackendTag.ParameterStatus) this.setting(buf, start, end);
      this.relay.toClient.forward(buf, start - HEADER_BYTES, end);
      return true;
    }
    if (tag === BackendTag.CommandComplete) {
      const m = this.decode(tag, buf, start, end);
      if (m.type === 'CommandComplete') for (const o of h.x.completed(m.tag)) this.relay.toClient.push(backendBytes(o));
    } else if (tag === BackendTag.ErrorResponse) {
      this.flushFailed(h.x, buf, start, end);
    } else if (tag === BackendTag.ReadyForQuery) {
      this.backendReady(buf, start);
      this.queue.shift();
      h.then(h.x);
      h.x.end();
    }
    return false;
  }

  /** The own batch failed: the client sees the error (or the refusal) as its COMMIT's. */
  private flushFailed(x: CommitFlush, buf: Buffer, start: number, end: number): void {
    if (x.failed) return;
    x.fail();
    const refusal = x.before.refusal;
    if (refusal) {
      this.relay.toClient.push(refusalBytes(refusal));
      this.relay.refusedInCycle();
      return;
    }
    this.backendError(buf, start, end);
    this.relay.toClient.forward(buf, start - HEADER_BYTES, end);
    this.relay.statementFailed();
  }

  // ---- writes that compute (write-exchange.ts) ----

  /** The stage computed the rows of the write at the head: write them back (the head is done). */
  private writeBack(x: WriteExchange, rows: WireValue[][], fields: readonly FieldDescription[]): void {
    let msgs;
    try {
      msgs = x.messages(rows, fields);
    } catch (e) {
      // A computed value that does not fit its column: the statement fails before anything is written.
      this.stageFailed(e);
      this.commandDone();
      this.writeEnded(x);
      return;
    }
    this.commandDone();
    if (x.nothing(rows)) { this.writeDone(x); return; }
    const answered = msgs.length;
    msgs.forEach((m, i) => {
      this.queue.push({ k: 'own', x, ...(i === answered - 1 ? { last: true } : {}) });
      this.send(m, FrontendTag[m.type as 'Bind']);
    });
    this.send({ type: 'Flush' }, FrontendTag.Flush);
  }

  /** An answer to the proxy's own message of a write: not shown but errors and asynchronous messages. */
  private ownAnswer(tag: number, buf: Buffer, start: number, end: number): boolean {
    const h = this.head() as Extract<Entry, { k: 'own' }>;
    if (ASYNC.includes(tag)) {
      if (tag === BackendTag.ParameterStatus) this.setting(buf, start, end);
      this.relay.toClient.forward(buf, start - HEADER_BYTES, end);
      return true;
    }
    if (tag === BackendTag.ErrorResponse) {
      // The statement fails with the backend's error; the backend skips to Sync.
      this.relay.toClient.forward(buf, start - HEADER_BYTES, end);
      this.skipToSync();
      return true;
    }
    if (tag === BackendTag.DataRow) {
      // A row the write-back RETURNs: kept for the RETURNING list (the entry goes on to its CommandComplete).
      const m = this.decode(tag, buf, start, end);
      if (m.type === 'DataRow') h.x.row(m.values);
      return false;
    }
    if (tag === BackendTag.CommandComplete) {
      const m = this.decode(tag, buf, start, end);
      if (m.type === 'CommandComplete') h.x.completed(m.tag);
    }
    this.queue.shift();
    if (h.last) this.writeDone(h.x);
    return false;
  }

  private writeDone(x: WriteExchange): void {
    const ret = x.wb.returning;
    if (!ret) {
      this.relay.toClient.push(backendBytes({ type: 'CommandComplete', tag: x.tag() }));
      this.writeEnded(x);
      return;
    }
    // RETURNING: the client's list, computed over the rows the write-backs returned (later backend messages wait).
    this.relay.waitBackend(ret.stage.run(ret.fields, x.returned, x.formats, this.relay.settings, []).then((out) => {
      if (x.simple && out.fields) this.relay.toClient.push(backendBytes({ type: 'RowDescription', fields: out.fields }));
      for (const values of out.rows) this.relay.toClient.push(backendBytes({ type: 'DataRow', values }));
      this.relay.toClient.push(backendBytes({ type: 'CommandComplete', tag: x.tag() }));
      this.writeEnded(x);
    }, (e: unknown) => { this.returningFailed(x, e); }));
  }

  /**
   * The RETURNING list failed after the write-backs: the batch is still open on the backend (the
   * client's Sync is held), so a failing statement of the proxy's own rolls the write back (or aborts
   * the block), as PostgreSQL fails the whole statement; the client's messages up to Sync are dropped.
   */
  private returningFailed(x: WriteExchange, e: unknown): void {
    if (!(e instanceof StatementError)) throw e;
    this.relay.toClient.push(refusalBytes(e));
    this.relay.statementFailed();
    this.suppress = true;
    this.queue.push({ k: 'parse', undo: NOOP, failed: NOOP });
    this.send({ type: 'Parse', name: REFUSED_NAME, sql: REFUSAL_SQL, paramTypes: [] }, FrontendTag.Parse);
    this.discarding = true;
    this.cslot = null;
    this.cexec = null;
    this.writeEnded(x);
  }

  /** The exchange is over: a simple Query's batch ends with the proxy's Sync; the client is read again. */
  private writeEnded(x: WriteExchange): void {
    if (!x.end() || !x.simple) return;
    this.discarding = false;
    this.backendSkipping = false;
    this.queue.push({ k: 'sync' });
    this.send({ type: 'Sync' }, FrontendTag.Sync);
    // A simple Query destroys the unnamed statement and portal: the batch the proxy sent in its
    // place must not leave its own behind (a later Bind of '' fails, as PostgreSQL fails it).
    this.statements.delete('');
    this.portals.delete('');
    this.computed.forget('');
    this.queue.push({ k: 'inject' });
    for (const m of [{ type: 'Close', target: 'S', name: '' }, { type: 'Close', target: 'P', name: '' }, { type: 'Sync' }] as const) this.relay.toBackend.push(encodeFrontend(m).finish());
  }

  /** CommandComplete of an Execute of a portal whose result the proxy holds: its next rows instead. */
  private served(): boolean {
    const h = this.head();
    if (h?.k !== 'execute' || !h.held?.serve || this.suppress) return false;
    this.serveChunk(h.held);
    return true;
  }

  private serveChunk(held: { portal: string; max: number }): void {
    const chunk = this.computed.take(held.portal, held.max);
    for (const values of chunk.rows) this.relay.toClient.push(backendBytes({ type: 'DataRow', values }));
    // PostgreSQL's tag counts the rows of this Execute.
    this.relay.toClient.push(backendBytes(chunk.suspended ? { type: 'PortalSuspended' } : { type: 'CommandComplete', tag: `SELECT ${chunk.rows.length}` }));
    this.commandDone();
  }

  /** The in-proxy stage failed on this statement's data (StatementError): the statement fails. */
  private stageFailed(e: unknown): void {
    if (!(e instanceof StatementError)) throw e;
    this.poison(e);
  }

  /**
   * CommandComplete of a statement without `done`: its transformer's `complete` may show other
   * answers in its place (pipeline.ts); the statement is done either way.
   */
  private completeHook(buf: Buffer, start: number, end: number): boolean {
    const hook = this.transformer()?.complete;
    const hide = this.tagHidden();
    this.commandDone();
    if (!hook) return hide;
    const m = this.decode(BackendTag.CommandComplete, buf, start, end);
    if (m.type !== 'CommandComplete') return false;
    const out = hook(m.tag);
    if (!hide) for (const o of out) this.relay.toClient.push(backendBytes(o));
    return true;
  }

  /** The head is a COMMIT whose own statements before it failed: the client already has the error, not the backend's ROLLBACK tag. */
  private tagHidden(): boolean {
    const h = this.head();
    return h?.k === 'query' && h.after?.failed === true;
  }

  private commandDone(): void {
    const h = this.head();
    if (h?.k === 'query') { h.idx++; return; }
    if (h?.k === 'execute') {
      h.slot.backendDone();
      this.queue.shift();
    }
  }

  /**
   * Bookkeeping for an ErrorResponse; `show`: the refusal it answers may replace it. Returns true
   * when the refusal went out instead.
   */
  private error(show: boolean): boolean {
    this.copyOut = null;
    const h = this.head();
    this.statementFailed();
    const refusal = refusalOf(h);
    const replaced = show && refusal !== undefined;
    if (replaced) { this.relay.toClient.push(refusal); this.relay.refusedInCycle(); }
    if (h?.k === 'query') {
      // The rest of the Query is skipped (its transformers hear of it); ReadyForQuery follows.
      this.skippedAfter(h);
      h.idx++;
      h.slot.backendDone();
      return replaced;
    }
    // FunctionCall: ReadyForQuery follows. Extended: the backend skips to Sync.
    if (h?.k !== 'fcall') this.skipToSync();
    return replaced;
  }

  /** The statements of a Query after the one that failed are skipped: their transformers hear of it. */
  private skippedAfter(h: Extract<Entry, { k: 'query' }>): void {
    for (const tr of h.rw?.results?.slice(h.idx + 1) ?? []) tr?.failed?.();
  }

  /** The statement at the head failed at the backend: its transformer hears of it (pipeline.ts `failed`). */
  private statementFailed(): void {
    const h = this.head();
    if (h?.k === 'query' || h?.k === 'execute') this.transformer()?.failed?.();
  }

  private skipToSync(): void {
    const dropped: Entry[] = [];
    while (this.queue.length > 0 && this.queue[0]?.k !== 'sync') dropped.push(this.queue.shift() as Entry);
    if (this.queue.length === 0) this.backendSkipping = true;
    for (const e of dropped) {
      if (e.k !== 'execute') continue;
      e.slot.backendDone();
      if (e.held) this.computed.forget(e.held.portal);
      e.st?.result?.failed?.();
    }
    this.undoParses(dropped);
    // A write that computes failed on the backend: it is over.
    for (const e of dropped) {
      const x = e.k === 'own' ? e.x : e.k === 'execute' ? e.write : undefined;
      if (x) this.writeEnded(x);
    }
  }

  /**
   * Statement and portal names must mean on our side what they mean on the backend, or a Bind
   * could skip a parameter transformer or rows be shown untransformed: undo, newest first, the
   * messages the backend skipped, and apply what the failure of the first one left.
   */
  private undoParses(dropped: Entry[]): void {
    for (let i = dropped.length - 1; i >= 0; i--) {
      const e = dropped[i];
      if (e?.k === 'parse' || e?.k === 'bind' || e?.k === 'close') (i === 0 ? e.failed : e.undo)();
    }
  }

  /** The backend entered COPY FROM STDIN for the statement at the head of the queue. */
  private copyInStart(): void {
    const h = this.head();
    if (h?.k !== 'query' && h?.k !== 'execute') {
      // A COPY for no statement the session knows: fail it, no client data can be meant for it.
      this.relay.toBackend.push(COPY_FAIL);
      return;
    }
    if (h.k === 'execute' && h.syncs.length > 0) {
      for (const s of h.syncs) {
        const i = this.queue.indexOf(s);
        if (i >= 0) { this.queue.splice(i, 1); this.relay.swallowedSync(); }
      }
      h.syncs = [];
    }
    h.slot.backendStarted(this.copyHooks()?.in ?? 'raw');
  }

  private copyOutStart(): void {
    const hook = this.copyHooks()?.out;
    if (!hook) return;
    hook.begin?.();
    this.copyOut = hook;
  }

  /**
   * A data error in the statement being answered (a stored value that is not a ciphertext of its
   * column): the client gets the error after what it already received, the rest of the
   * statement's answers are dropped, and the backend is made to fail as well so that transaction
   * semantics are PostgreSQL's.
   */
  private poison(e: StatementError): void {
    const head = this.head();
    if (head?.k === 'query' || head?.k === 'execute') head.cand = undefined;
    this.relay.toClient.push(refusalBytes(e));
    this.relay.statementFailed();
    this.suppress = true;
    this.copyOut = null;
    const h = this.head();
    if (h?.k === 'execute' && !this.queue.some((x) => x.k === 'sync')) {
      // The batch is still open on the backend: a failing statement makes it roll back the batch's
      // implicit transaction (or abort the block) and skip to the client's Sync, as the failed
      // Execute would have; the client's messages up to that Sync are dropped.
      this.queue.push({ k: 'parse', undo: NOOP, failed: NOOP });
      this.send({ type: 'Parse', name: REFUSED_NAME, sql: REFUSAL_SQL, paramTypes: [] }, FrontendTag.Parse);
      this.discarding = true;
      this.cslot = null;
      this.cexec = null;
      return;
    }
    // The end of the batch or query already reached the backend: a failing statement of the
    // proxy's own after it aborts an open transaction block (shown to the client as 'E').
    this.relay.toBackend.push(encodeFrontend({ type: 'Query', sql: REFUSAL_SQL }).finish());
    this.queue.push({ k: 'inject' });
    this.abortBlock = true;
  }

  /** Answers while a failed statement's cycle ends: bookkeeping only, nothing reaches the client but async messages. */
  private suppressed(tag: number, buf: Buffer, start: number, end: number): void {
    this.whileSuppressed[tag]?.(buf, start, end);
  }

  /** Per backend tag, while suppressing (see suppressed); tags not listed are dropped. */
  private readonly whileSuppressed: Array<((buf: Buffer, start: number, end: number) => void) | undefined> = (() => {
    const h: Array<((buf: Buffer, start: number, end: number) => void) | undefined> = new Array(256);
    const forward = (b: Buffer, s: number, e: number): void => { this.relay.toClient.forward(b, s - HEADER_BYTES, e); };
    for (const t of ASYNC) h[t] = forward;
    h[BackendTag.ErrorResponse] = (b, s, e) => {
      if (isFatalError(b, s, e)) forward(b, s, e);
      this.error(false);
    };
    h[BackendTag.ReadyForQuery] = (b, s, e) => { this.backendReady(b, s); this.endSuppression(b, s, e); };
    for (const t of ANSWERED) h[t] = () => { this.queue.shift(); };
    h[BackendTag.RowDescription] = () => { if (this.head()?.k === 'describe') this.queue.shift(); };
    h[BackendTag.CommandComplete] = h[BackendTag.EmptyQueryResponse] = () => { this.transformer()?.failed?.(); this.commandDone(); };
    h[BackendTag.CopyInResponse] = () => {
      // PostgreSQL would have skipped this COPY: fail it at once, drop the client's data for it.
      this.relay.toBackend.push(COPY_FAIL);
      const head = this.head();
      if (head?.k === 'query' || head?.k === 'execute') head.slot.backendStarted('drop');
    };
    return h;
  })();

  /** The ReadyForQuery that ends the failed statement's cycle: an open block is shown as failed. */
  private endSuppression(buf: Buffer, start: number, end: number): void {
    this.suppress = false;
    this.ready();
    if (this.abortBlock && buf[start] === TxStatusByte.inBlock) this.relay.toClient.push(backendBytes({ type: 'ReadyForQuery', status: 'E' }));
    else this.relay.toClient.forward(buf, start - HEADER_BYTES, end);
    this.abortBlock = false;
  }

  /** An answer to the proxy's own Query (see poison): not shown, not counted; FATAL errors excepted. */
  private injectAnswer(tag: number, buf: Buffer, start: number, end: number): boolean {
    if (tag === BackendTag.ReadyForQuery) {
      const h = this.queue.shift();
      if (h?.k === 'inject' && h.ready) this.backendReady(buf, start);
      return false;
    }
    if (ASYNC.includes(tag) || (tag === BackendTag.ErrorResponse && isFatalError(buf, start, end))) {
      this.relay.toClient.forward(buf, start - HEADER_BYTES, end);
      return true;
    }
    return false;
  }
}
