// The state of a session's Inspector (inspect.ts) and what every part of it uses: the queue of
// answers the backend owes (one entry per forwarded message), the statement and portal names as
// the backend knows them, the refusals sent in place of statements. The parts build on it in
// layers: inspect-client.ts (client → backend), inspect-backend.ts (backend → client),
// inspect-stage.ts (the in-proxy stage, the session's own statements before a COMMIT, writes
// that compute).
import { decodeBackend } from '../protocol/backend.ts';
import type { BackendMessage } from '../protocol/backend.ts';
import { errorBytes } from '../protocol/errors.ts';
import { encodeFrontend } from '../protocol/frontend.ts';
import type { FrontendMessage } from '../protocol/frontend.ts';
import { BackendTag, HEADER_BYTES } from '../protocol/tags.ts';
import { closedSlot, CopySlot } from './copy-route.ts';
import { formatAt, StatementError } from './pipeline.ts';
import type { CopyHooks, CopyTransformer, FieldDescription, Pipeline, Refuse, ResidualStage, ResultTransformer, RewriteQuery, RewriteStatement } from './pipeline.ts';
import { Prepared } from './prepared.ts';
import type { Portal, Stmt } from './prepared.ts';
import type { Relay } from './relay.ts';
import { WriteExchange } from './write-exchange.ts';
import { binaryParamText } from './binary-params.ts';
import { ComputedPortals } from './computed-portals.ts';
import { CommitFlush } from './commit-flush.ts';
/**
 * The candidate rows of a two-stage statement, collected for its in-proxy stage. `sent`: result
 * rows already sent by a streaming stage (undefined: none of its chunks ran yet).
 */
export interface Candidates { stage: ResidualStage; fields: FieldDescription[]; rows: Array<Array<string | null>>; bytes: number; sent?: number }

export type Entry =
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
   * `portal`: the client's Describe of that portal; `also`: the two-stage Execute of that portal
   * that came right after it, whose candidate fields its answer gives as well (no Describe of the
   * proxy's own).
   */
  | { k: 'describe'; st: RewriteStatement | undefined; formats?: readonly number[]; into?: Extract<Entry, { k: 'execute' }>; portal?: string;
    also?: Extract<Entry, { k: 'execute' }> }
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

export type Changing = Extract<Entry, { k: 'parse' | 'bind' | 'close' }>;

/** A client message as received: tag and body range in its buffer. */
export interface Raw { tag: number; buf: Buffer; start: number; end: number }
export type Parse = Extract<FrontendMessage, { type: 'Parse' }>;
export type Bind = Extract<FrontendMessage, { type: 'Bind' }>;
export type Describe = Extract<FrontendMessage, { type: 'Describe' }>;
export type Execute = Extract<FrontendMessage, { type: 'Execute' }>;

export const NOOP = (): void => undefined;
/** Backend answers that only close their queue entry: ParseComplete, BindComplete, CloseComplete, NoData, PortalSuspended. */
export const ANSWERED: number[] = [BackendTag.ParseComplete, BackendTag.BindComplete, BackendTag.CloseComplete, BackendTag.NoData, BackendTag.PortalSuspended];
/** Messages the backend may send at any time: NoticeResponse, NotificationResponse, ParameterStatus. */
export const ASYNC: number[] = [BackendTag.NoticeResponse, BackendTag.NotificationResponse, BackendTag.ParameterStatus];
export const isPromise = <V>(v: V | Promise<V>): v is Promise<V> => typeof (v as { then?: unknown } | null | undefined)?.then === 'function';
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
export const COPY_FAIL = encodeFrontend({ type: 'CopyFail', message: 'clarus: COPY data refused by the proxy' }).finish();

/**
 * A Bind's parameter values as text, for the in-proxy stage: a value in binary format is read by
 * its declared type (`types`, the Parse's), as PostgreSQL's receive function would; 'binary' when
 * its type is not declared or not one the proxy reads, 22P03 when the bytes do not fit the type.
 */
export function textParams(m: Bind, types: readonly number[]): Array<string | null> | 'binary' | StatementError {
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

export function refusalBytes(r: Refuse | StatementError): Buffer {
  return errorBytes({ code: r.code, message: r.message, ...(r.detail ? { detail: r.detail } : {}), ...('hint' in r && r.hint ? { hint: r.hint } : {}) });
}

/** The error to show in place of the backend's for this entry, if the proxy made it fail. */
export function refusalOf(h: Entry | undefined): Buffer | undefined {
  if (!h) return undefined;
  if ('refusal' in h && h.refusal) return h.refusal;
  return h.k === 'query' || h.k === 'execute' ? h.slot.refusal : undefined;
}

export abstract class InspectorState {
  protected readonly pipeline: Pipeline;

  protected readonly relay: Relay;

  protected readonly queue: Entry[] = [];

  protected readonly prepared: Prepared;

  protected readonly statements: Map<string, Stmt>;

  protected readonly portals: Map<string, Portal>;

  /** A refusal was answered: drop client messages until Sync (the protocol's error recovery). */
  protected discarding = false;

  /** The backend reported an error and skips until the Sync it has not been sent yet. */
  protected backendSkipping = false;

  protected resultFormats: readonly number[] = [];

  /** The last RowDescription rewritten, by transformer and bytes (a repeated simple query gets the same one). */
  protected lastFields: { tr: ResultTransformer; input: Buffer; output: Buffer; formats: readonly number[] } | null = null;

  /** Where the client's COPY data goes: the slot of the last Query/Execute, null = nowhere. */
  protected cslot: CopySlot | null = null;

  /** The Execute entry of `cslot` (for Syncs the COPY consumes), null for a Query. */
  protected cexec: Extract<Entry, { k: 'execute' }> | null = null;

  protected copyOut: CopyTransformer | null = null;

  /** A data error failed the current statement: its remaining answers are not shown. */
  protected suppress = false;

  /** At the end of the failed statement's cycle, show an open transaction block as failed ('E'). */
  protected abortBlock = false;

  /** Results of two-stage portals the session holds; a new pipeline takes them over with the portals. */
  protected readonly computed: ComputedPortals;

  /**
   * `from`: the inspector of the previous pipeline (its statements and portals are kept, to be
   * planned again), or 'unknown' when the previous pipeline was pass-through.
   */
  constructor(pipeline: Pipeline, relay: Relay, from?: InspectorState | 'unknown') {
    this.pipeline = pipeline;
    this.relay = relay;
    this.prepared = new Prepared(pipeline, from === 'unknown' ? from : from?.prepared);
    this.statements = this.prepared.statements;
    this.portals = this.prepared.portals;
    this.computed = from instanceof InspectorState ? from.computed : new ComputedPortals();
    if (from) pipeline.adopt?.(from === 'unknown' ? from : from.pipeline);
  }

  close(): void { this.pipeline.close?.(); }

  /** Something is in flight that a new pipeline could not take over. */
  busy(): boolean {
    return this.suppress || this.discarding || this.cslot?.wake != null || this.queue.some((e) => e.k === 'inject' || e.k === 'flush') || this.pipeline.busy?.() === true;
  }

  /** True when prepared statements or portals with rewritten decisions exist (a pass-through pipeline cannot run them). */
  remembersRewrites(): boolean { return this.prepared.remembersRewrites() || this.pipeline.remembersRewrites?.() === true; }

  protected decided<D>(d: D | Promise<D>, then: (d: D) => Promise<void> | undefined | void): Promise<void> | undefined {
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

  protected forward(raw: Raw): void {
    this.relay.track(raw.tag);
    this.relay.toBackend.forward(raw.buf, raw.start - HEADER_BYTES, raw.end);
  }

  protected send(m: FrontendMessage, tag: number): void {
    this.relay.track(tag);
    this.relay.toBackend.push(encodeFrontend(m).finish());
  }

  protected forget<V>(map: Map<string, V>, name: string): void {
    const undo = this.remember(map, name);
    map.delete(name);
    this.enqueue({ k: 'close', undo, failed: undo });
  }

  /** A function that gives `name` back its current meaning in `map`. */
  protected remember<V>(map: Map<string, V>, name: string): () => void {
    const prev = map.get(name);
    return prev === undefined ? () => { map.delete(name); } : () => { map.set(name, prev); };
  }

  protected changing<V>(k: 'parse' | 'bind', map: Map<string, V>, name: string, undo: () => void): Changing {
    return { k, undo, failed: name === '' ? () => { map.delete(name); } : undo };
  }

  protected enqueue(e: Entry): void {
    if (!this.backendSkipping) this.queue.push(e);
  }

  protected refuse(r: Refuse, kind: 'simple' | 'extended', name: string, tag: number): void {
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
  protected refuseMessage(r: Refuse | StatementError, tag: number): void {
    this.discarding = true;
    this.cslot = null;
    this.cexec = null;
    this.queue.push({ k: 'bind', undo: NOOP, failed: NOOP, refusal: refusalBytes(r) });
    this.send({ type: 'Parse', name: REFUSED_NAME, sql: REFUSAL_SQL, paramTypes: [] }, tag);
  }

  protected head(): Entry | undefined { return this.queue[0]; }

  protected transformer(): ResultTransformer | undefined {
    const h = this.head();
    if (!h) return undefined;
    if (h.k === 'query') return h.rw?.results?.[h.idx];
    if (h.k === 'execute' || h.k === 'describe') return h.st?.result;
    return undefined;
  }

  protected copyHooks(): CopyHooks | undefined {
    const h = this.head();
    if (h?.k === 'query') return h.rw?.copy?.[h.idx];
    if (h?.k === 'execute') return h.st?.copy;
    return undefined;
  }

  protected decode(tag: number, buf: Buffer, start: number, end: number): BackendMessage {
    const d = decodeBackend(tag, buf, start, end);
    if (!d.ok) throw d.error;
    return d.msg;
  }

  protected setting(buf: Buffer, start: number, end: number): void {
    const m = this.decode(BackendTag.ParameterStatus, buf, start, end);
    if (m.type === 'ParameterStatus') this.relay.settings.set(m.name, m.value);
  }
}
