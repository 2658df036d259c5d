// The session after authentication: relays messages between one client and its backend
// connection. Pure: it consumes byte chunks and emits byte lists through RelayPorts; the socket
// shell (io/session.ts) owns sockets, timers and metrics.
//
// Client messages are framed (Framer, bounded by maxMessageBytes) and checked at tag level. With a
// pass-through pipeline they then leave unchanged (one slice per input chunk), and the backend's
// stream is only scanned for boundaries (BackendScanner) and forwarded chunk by chunk; otherwise
// the Inspector decodes what the pipeline needs (Query, Parse, Bind, results) and tracks the
// backend's answers.
import { isFatalError } from '../protocol/backend.ts';
import { ProtocolError } from '../protocol/codec.ts';
import { errorBytes } from '../protocol/errors.ts';
import type { ErrorSpec } from '../protocol/errors.ts';
import { Framer, NEXT_ERROR, NEXT_NONE } from '../protocol/framer.ts';
import { isFrontendTag } from '../protocol/frontend.ts';
import { BackendTag, FrontendTag, HEADER_BYTES } from '../protocol/tags.ts';
import { Inspector } from './inspect.ts';
import { Out } from './out.ts';
import { BackendScanner } from './scan.ts';
import type { OtherCancelTarget, Pipeline } from './pipeline.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';

export type TxStatus = 'I' | 'T' | 'E';
export type StatementKind = 'simple' | 'extended' | 'function';
export type Outcome = 'ok' | 'error' | 'refused';
export type EndReason = 'client-terminate' | 'protocol-error' | 'internal-error';

export interface RelayPorts {
  toClient(parts: Buffer[]): void;
  toBackend(parts: Buffer[]): void;
  /** Stop (true) or restart (false) reading the client while a pipeline decision is pending. */
  holdClient(hold: boolean): void;
  /**
   * Stop (true) or restart (false) reading the backend while an inspector step is pending (a
   * streaming in-proxy stage): its rows wait in the backend's socket, not in the proxy's memory.
   */
  holdBackend?(hold: boolean): void;
  /**
   * Resolves once the client's socket can take more (at once unless its buffer is full, or when it
   * closes): a stage sending its result in parts computes the next one only then.
   */
  clientRoom?(): Promise<void>;
  /** The relay is done: flush what was sent and close both sides. */
  end(reason: EndReason, error?: Error): void;
  statementStart(kind: StatementKind): void;
  /** The oldest started statement has its ReadyForQuery. */
  statementEnd(outcome: Outcome): void;
  /**
   * A statement boundary (drain, reload, idle timer): ReadyForQuery with nothing outstanding, and
   * again when the client starts its next statement after one (a reload in between applies to it).
   */
  idle(status: TxStatus): void;
}

/** Client messages that start a statement (or an extended batch) when nothing is outstanding. */
const STARTS = new Set<number>([FrontendTag.Query, FrontendTag.Parse, FrontendTag.Bind, FrontendTag.Describe,
  FrontendTag.Execute, FrontendTag.Close, FrontendTag.FunctionCall]);
/** Client messages that neither start nor end an extended batch. */
export const IN_BATCH: ReadonlySet<number> = new Set<number>([FrontendTag.Flush, FrontendTag.CopyData, FrontendTag.CopyDone, FrontendTag.CopyFail]);
/** Backend messages may be large rows; only split ones are copied, so a generous bound is fine. */
const MAX_BACKEND_MESSAGE = 1 << 30;

export interface RelayOptions {
  maxMessageBytes: number;
  pipeline: Pipeline;
  ports: RelayPorts;
  /** The backend's ParameterStatus values at startup (TimeZone, DateStyle…); kept current from later ones. */
  settings?: ReadonlyMap<string, string>;
}

export class Relay {
  txStatus: TxStatus = 'I';
  /** The backend sent a FATAL error (it is about to close the connection). */
  backendFatal = false;
  /** Statements (Query, FunctionCall, Sync) forwarded and not yet answered by ReadyForQuery. */
  outstanding = 0;
  readonly toClient = new Out();
  readonly toBackend = new Out();
  private readonly ports: RelayPorts;
  private readonly clientFramer: Framer;
  private readonly backendFramer = new Framer(MAX_BACKEND_MESSAGE);
  private readonly scanner = new BackendScanner();
  private inspector: Inspector | null;
  private current: Pipeline;
  private pending: Buffer[] = [];
  private held = false;
  private ended = false;
  private batchOpen = false;
  private sawError = false;
  private sawRefusal = false;
  private atIdle = false;
  /** Bytes still to come of a client message the native data path had started forwarding (resumeFrom). */
  private clientLeft = 0;
  /** Syncs a COPY consumed (see swallowedSync): the next ReadyForQuery answers them too. */
  private swallowed = 0;
  /** An asynchronous step of the inspector (the in-proxy stage): backend messages wait for it. */
  private backendWait: Promise<void> | null = null;
  /** Backend chunks received while a step waited, in order. */
  private readonly backendPending: Buffer[] = [];
  /** The session's settings as the backend reported them (ParameterStatus). */
  readonly settings: Map<string, string>;

  constructor(opts: RelayOptions) {
    this.ports = opts.ports;
    this.clientFramer = new Framer(opts.maxMessageBytes);
    this.settings = new Map(opts.settings ?? []);
    this.current = opts.pipeline;
    this.inspector = opts.pipeline.passthrough ? null : new Inspector(opts.pipeline, this);
  }

  /**
   * Swaps the pipeline at a statement boundary (config reload). False when the backend stream is
   * in the middle of a message (an asynchronous one split across chunks): try at the next boundary.
   */
  /** The pipeline deciding the session's statements now. */
  get pipeline(): Pipeline { return this.current; }

  setPipeline(p: Pipeline): boolean {
    if (this.held || this.backendWait || this.backendPending.length > 0 || !this.scanner.atBoundary() || this.backendFramer.buffered() > 0) return false;
    const old = this.inspector;
    if (old?.busy()) return false;
    old?.close();
    // Statements prepared so far are planned again by the new pipeline before their next use (see
    // pipeline.ts); a pass-through pipeline only takes over when none of them was rewritten.
    this.current = p;
    if (p.passthrough && !old?.remembersRewrites()) this.inspector = null;
    else this.inspector = new Inspector(p, this, old ?? 'unknown');
    return true;
  }

  close(): void { this.ended = true; this.inspector?.close(); }

  /** Whether statements pass through uninspected (the pipeline protects nothing); changes only with setPipeline. */
  passesThrough(): boolean { return this.inspector === null; }

  /**
   * Whether the session may go to the native data path now (io/native-relay.ts): a pass-through
   * relay between statements, holding no byte of either side and waiting for nothing.
   */
  canHandOff(): boolean {
    return !this.ended && this.inspector === null && !this.held && this.pending.length === 0 && this.clientFramer.buffered() === 0
      && this.scanner.atBoundary() && this.backendFramer.buffered() === 0 && this.backendWait === null && this.backendPending.length === 0
      && this.outstanding === 0 && !this.batchOpen && this.swallowed === 0 && this.clientLeft === 0;
  }

  /** Takes the state the native data path leaves (see relay.c); the bytes it did not handle follow through fromClient/fromBackend. */
  resumeFrom(s: { txStatus: TxStatus; outstanding: number; batchOpen: boolean; sawError: boolean; backendFatal: boolean; scannerRemaining: number; scannerHead: Buffer; clientLeft: number }): void {
    this.clientLeft = s.clientLeft;
    this.txStatus = s.txStatus;
    this.outstanding = s.outstanding;
    this.batchOpen = s.batchOpen;
    this.sawError = s.sawError;
    this.backendFatal ||= s.backendFatal;
    this.atIdle = false;
    this.scanner.restore(s.scannerRemaining, s.scannerHead);
  }

  fromClient(chunk: Buffer): void {
    if (this.ended) return;
    if (this.held) { this.pending.push(chunk); return; }
    if (this.clientLeft > 0) {
      // The rest of a message the native data path checked and began to forward: it follows as is.
      const n = Math.min(this.clientLeft, chunk.length);
      this.toBackend.forward(chunk, 0, n);
      this.clientLeft -= n;
      if (n === chunk.length) { this.flush(); return; }
      chunk = chunk.subarray(n);
    }
    this.clientFramer.push(chunk);
    this.drainClient();
  }

  private drainClient(): void {
    for (;;) {
      const r = this.clientFramer.next();
      if (r === NEXT_NONE) {
        const more = this.pending.shift();
        if (!more) break;
        this.clientFramer.push(more);
        continue;
      }
      if (r === NEXT_ERROR) { this.fail('protocol-error', { code: this.clientFramer.error?.code ?? SQLSTATE.protocolViolation, message: this.clientFramer.error?.message ?? 'invalid message' }); return; }
      if (this.boundaryBefore(this.clientFramer.tag)) return;
      const wait = this.clientMessage();
      if (this.ended) return;
      if (wait) { this.hold(wait); return; }
    }
    this.flush();
  }

  /**
   * A message that starts a new statement after a boundary: a configuration reloaded meanwhile
   * applies to it (the shell may also end the session there). True when the session ended.
   */
  private boundaryBefore(tag: number): boolean {
    if (this.outstanding > 0 || this.batchOpen || !STARTS.has(tag)) return false;
    this.ports.idle(this.txStatus);
    return this.ended;
  }

  private hold(wait: Promise<void>): void {
    this.flush();
    this.held = true;
    this.ports.holdClient(true);
    wait.then(() => {
      this.held = false;
      if (this.ended) return;
      this.ports.holdClient(false);
      this.drainClient();
    }, (e: unknown) => this.clientFailure(e));
  }

  private clientMessage(): Promise<void> | undefined {
    const f = this.clientFramer;
    const tag = f.tag;
    if (!isFrontendTag(tag) || tag === FrontendTag.AuthResponse) {
      this.fail('protocol-error', { code: SQLSTATE.protocolViolation, message: `invalid frontend message type ${tag}` });
      return undefined;
    }
    if (tag === FrontendTag.Terminate) { this.flush(); this.ended = true; this.ports.end('client-terminate'); return undefined; }
    if (this.inspector) {
      try {
        return this.inspector.client(tag, f.buf, f.start, f.end);
      } catch (e) { this.clientFailure(e); return undefined; }
    }
    this.track(tag);
    this.toBackend.forward(f.buf, f.start - HEADER_BYTES, f.end);
    return undefined;
  }

  /** Statement accounting for a client message that is forwarded to the backend. */
  track(tag: number): void {
    if (tag === FrontendTag.Query) this.start('simple');
    else if (tag === FrontendTag.FunctionCall) this.start('function');
    else if (tag === FrontendTag.Sync) {
      if (!this.batchOpen) this.ports.statementStart('extended');
      this.batchOpen = false;
      this.outstanding++;
    } else if (!this.batchOpen && !IN_BATCH.has(tag)) {
      this.batchOpen = true;
      this.ports.statementStart('extended');
    }
  }

  /** Something in this statement cycle (up to the next ReadyForQuery) failed or was refused. */
  get cycleFailed(): boolean { return this.sawError || this.sawRefusal; }

  /** The inspector answered this statement cycle's error with a refusal: count it as refused. */
  refusedInCycle(): void { this.sawRefusal = true; }

  /** The inspector failed this statement cycle on its own (a data error): count it as an error. */
  statementFailed(): void { this.sawError = true; }

  /**
   * A Sync that was forwarded (and counted) was consumed by a COPY FROM STDIN that started after
   * it: no ReadyForQuery of its own will come, the next one answers it as well.
   */
  swallowedSync(): void { this.swallowed++; }

  private start(kind: StatementKind): void {
    this.outstanding++;
    this.ports.statementStart(kind);
  }

  fromBackend(chunk: Buffer): void {
    if (this.ended) return;
    if (this.inspector) this.inspectBackend(chunk);
    else {
      // Pass-through: the chunk leaves whole; the scanner only watches the boundaries.
      const err = this.scanner.scan(chunk, this.observe);
      if (err) { this.fail('internal-error', { code: SQLSTATE.connectionFailure, message: 'invalid message from the backend server' }); return; }
      this.toClient.forward(chunk, 0, chunk.length);
    }
    if (this.ended) return;
    this.flush();
    // After the flush: the boundary handler may close the session, and the answers come first
    // (a step still running, e.g. a batch's commit, reaches the boundary when it is done).
    if (this.atIdle && !this.backendWait) { this.atIdle = false; this.ports.idle(this.txStatus); }
  }

  private inspectBackend(chunk: Buffer | null): void {
    const f = this.backendFramer;
    const inspector = this.inspector as Inspector;
    if (chunk) {
      // The framer takes a new chunk only once the previous one is used up: while a step waits
      // (or chunks wait behind it), chunks queue here.
      if (this.backendWait || this.backendPending.length > 0) this.backendPending.push(chunk);
      else f.push(chunk);
    }
    if (this.backendWait) return;
    for (;;) {
      const r = f.next();
      if (r === NEXT_NONE) {
        const more = this.backendPending.shift();
        if (!more) break;
        f.push(more);
        continue;
      }
      if (r === NEXT_ERROR) { this.fail('internal-error', { code: SQLSTATE.connectionFailure, message: 'invalid message from the backend server' }); return; }
      let counted: boolean;
      try { counted = inspector.backend(f.tag, f.buf, f.start, f.end); } catch (e) { this.internal(e); return; }
      if (counted) this.observeBackend(f.tag, f.buf, f.start, f.end);
      // The rest stays in the framer until the inspector's step is done.
      if (this.backendWait) return;
    }
  }

  /**
   * The inspector needs an asynchronous step (the in-proxy stage of a two-stage statement) before
   * the next backend message: later backend messages wait in the framer, then go on in order.
   * `step` must only reject for internal errors (the session then fails with XX000).
   */
  waitBackend(step: Promise<void>): void {
    this.ports.holdBackend?.(true);
    const wait = step.then(() => {
      if (this.backendWait !== wait) return;
      this.backendWait = null;
      this.ports.holdBackend?.(false);
      if (this.ended) return;
      this.inspectBackend(null);
      if (this.ended) return;
      this.flush();
      if (this.atIdle) { this.atIdle = false; this.ports.idle(this.txStatus); }
    }, (e: unknown) => { this.backendWait = null; this.ports.holdBackend?.(false); this.internal(e); });
    this.backendWait = wait;
  }

  private readonly observe = (tag: number, buf: Buffer, start: number, end: number): void => this.observeBackend(tag, buf, start, end);

  private observeBackend(tag: number, buf: Buffer, start: number, end: number): void {
    if (tag === BackendTag.ErrorResponse) {
      this.sawError = true;
      // A FATAL from the backend precedes its close: the client already has the reason.
      if (isFatalError(buf, start, end)) this.backendFatal = true;
      return;
    }
    if (tag !== BackendTag.ReadyForQuery || end <= start) return;
    this.txStatus = String.fromCharCode(buf[start] as number) as TxStatus;
    const outcome: Outcome = this.sawRefusal ? 'refused' : this.sawError ? 'error' : 'ok';
    this.ports.statementEnd(outcome);
    this.sawError = false;
    this.sawRefusal = false;
    if (this.outstanding > 0) this.outstanding--;
    for (; this.swallowed > 0; this.swallowed--) {
      if (this.outstanding === 0) continue;
      this.outstanding--;
      this.ports.statementEnd(outcome);
    }
    if (this.outstanding === 0) this.atIdle = true;
  }

  /** The session is over (the client or the backend is gone). */
  get closed(): boolean { return this.ended; }

  /**
   * A client's CancelRequest for this session: a stage pouring its result in parts stops at its
   * next part (57014), a split statement the pipeline runs records it. Returns the pipeline's other
   * connections running that statement's requests now (split fragments), which get the cancel too,
   * and whether the session's backend does (`self`): not when a pour or a split statement took it
   * (the backend has answered its part; the cancel could only reach a later statement there).
   */
  cancelRequested(): { self: boolean; others: readonly OtherCancelTarget[] } {
    const poured = this.inspector?.cancelRequested() ?? false;
    const split = this.current.cancelRequested?.() ?? { statement: false, others: [] };
    return { self: !poured && !split.statement, others: split.others };
  }

  /** Sends what is queued, then resolves once the client can take more (see RelayPorts.clientRoom). */
  async sent(): Promise<void> {
    this.flush();
    await this.ports.clientRoom?.();
  }

  flush(): void {
    const b = this.toBackend.take();
    if (b) this.ports.toBackend(b);
    const c = this.toClient.take();
    if (c) this.ports.toClient(c);
  }

  /** Sends a FATAL error to the client and ends the session. */
  fail(reason: EndReason, e: ErrorSpec, cause?: Error): void {
    if (this.ended) return;
    this.toClient.push(errorBytes({ ...e, severity: 'FATAL' }));
    this.flush();
    this.ended = true;
    this.ports.end(reason, cause);
  }

  /** A client message the session could not take: the client's fault (08P01) or the proxy's (XX000). */
  private clientFailure(e: unknown): void {
    if (e instanceof ProtocolError) this.fail('protocol-error', { code: e.code, message: e.message });
    else this.internal(e);
  }

  private internal(e: unknown): void {
    const err = e instanceof Error ? e : new Error(String(e));
    this.fail('internal-error', { code: SQLSTATE.internalError, message: 'internal error in the proxy' }, err);
  }
}
