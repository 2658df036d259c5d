// One client connection, from accept to close: handshake and authentication (handshake.ts), a
// dedicated backend connection (session pooling), then the pure Relay wired to both sockets with
// backpressure both ways, idle timeout, drain and configuration reload at statement boundaries.
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { roleCredentials, sessionRole } from '../access/backend-role.ts';
import { backendStartupParams } from '../access/pinned.ts';
import { backendFor, databaseNames } from '../config/load.ts';
import type { BackendSecrets, ConfigSnapshot } from '../config/load.ts';
import type { Logger } from '@clarus/log/logger.ts';
import type { StatementRecorder } from '../metrics/metrics.ts';
import { backendBytes } from '../protocol/backend.ts';
import { ProtocolError } from '../protocol/codec.ts';
import { SQLSTATE } from '../protocol/errors.ts';
import { encodeFrontend } from '../protocol/frontend.ts';
import { Relay } from '../session/relay.ts';
import type { EndReason, Outcome, RelayPorts, StatementKind, TxStatus } from '../session/relay.ts';
import type { Pipeline, SessionInfo } from '../session/pipeline.ts';
import { BackendError, connectBackend } from './backend.ts';
import type { BackendConnection } from './backend.ts';
import type { ProxyContext } from './context.ts';
import { NATIVE_BUFFER_BYTES, idle, nativeRelay, relayable, startReading, stopReading } from './native-relay.ts';
import type { NativeRelayState } from './native-relay.ts';
import { KINDS } from '../metrics/metrics.ts';
import { acceptStartup, authenticate, authenticateCertificate, fatal, HandshakeError } from './handshake.ts';
import type { Startup } from './handshake.ts';

const HOLD_PIPELINE = 1;
const HOLD_BACKPRESSURE = 2;
/** Why the backend is not read (bits of backendHolds): the client's socket is full; an in-proxy stage runs. */
const BACKEND_CLIENT_FULL = 1;
const BACKEND_STAGE = 2;
const TERMINATE = encodeFrontend({ type: 'Terminate' }).finish();
/**
 * Batches of several parts up to this size leave as one copied buffer: one plain write instead of
 * a corked writev, whose per-part bookkeeping cost more than the copy in profiles of rewritten
 * statements (RowDescription, DataRows, CommandComplete, ReadyForQuery as separate parts).
 */
const COALESCE_BYTES = 16 << 10;

/** Resolves once `sock` can take more: at once unless its buffer is full; at its 'drain' or 'close'. */
function roomIn(sock: Socket): Promise<void> {
  if (!sock.writableNeedDrain || sock.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => { sock.off('drain', done); sock.off('close', done); resolve(); };
    sock.on('drain', done);
    sock.on('close', done);
  });
}

function totalBytes(parts: readonly Buffer[]): number {
  let n = 0;
  for (const p of parts) n += p.length;
  return n;
}

export class ClientSession {
  private readonly ctx: ProxyContext;
  private client: Socket;
  private backend: Socket | null = null;
  private backendName = '';
  private relay: Relay | null = null;
  private snap: ConfigSnapshot;
  private info: SessionInfo | null = null;
  private log: Logger;
  private cancelId = 0;
  private holds = 0;
  private backendHolds = 0;
  private closed = false;
  private drainRequested = false;
  /** The session's id on the native data path while it relays it (io/native-relay.ts), else null. */
  private nativeId: number | null = null;
  private nativeOffered = false;
  /** Whether both sockets are plain TCP the native thread can relay (a TLS session never is: not offered at all). */
  private nativeCapable = false;
  /** The limits the session started with: they hold for its life, whatever a reload brings (docs/proxy.md). */
  private limits: { maxMessageBytes: number; idleTimeoutSeconds: number } = { maxMessageBytes: 0, idleTimeoutSeconds: 0 };
  // Statements in flight, oldest first (parallel arrays: no object per statement).
  private readonly startKinds: StatementKind[] = [];
  private readonly startTimes: number[] = [];
  private readonly rec: StatementRecorder;
  readonly onClose: Array<() => void> = [];

  constructor(ctx: ProxyContext, client: Socket) {
    this.ctx = ctx;
    this.client = client;
    this.snap = ctx.snapshot();
    this.rec = ctx.statementRecorder;
    this.log = ctx.log.child({ remote: `${client.remoteAddress}:${client.remotePort}` });
  }

  /** Runs the session after readClientStartup; resolves when it is set up (or failed cleanly). */
  async start(s: Extract<Startup, { kind: 'startup' }>, authenticated: () => void = () => undefined): Promise<void> {
    this.client = s.socket;
    const user = s.message.params.user ?? '';
    const database = s.message.params.database ?? user;
    this.log = this.log.child({ user, database });
    try {
      acceptStartup(this.ctx, s);
      this.checkCapacity();
      await this.authenticate(s, user);
      // From here the backend connect has its own timeout (and reports 08001 when it expires).
      authenticated();
      const target = this.target(database);
      const grants = this.snap.users.get(user)?.spec.grants ?? [];
      // The role is chosen once, at connect: a reload that changes the user's grants applies to the next session.
      const b = roleCredentials(target, sessionRole(grants, new Date()));
      const conn = await this.openBackend(b, s.message.params);
      this.info = sessionInfo({ user, database, grants }, s.message.params, b, conn);
      await this.pipelineReady(conn, this.info);
      this.begin(conn, b, s.reader.detach());
    } catch (e) {
      this.refuseConnection(e);
    }
  }

  /** The backend serving `database`; a HandshakeError (3D000) naming the served ones when none does. */
  private target(database: string): NonNullable<ReturnType<typeof backendFor>> {
    const target = backendFor(this.snap, database);
    if (target) return target;
    const served = databaseNames(this.snap).map((n) => `"${n}"`).join(', ') || 'no database';
    throw new HandshakeError(SQLSTATE.invalidCatalogName, `database "${database}" does not exist (this proxy serves ${served})`);
  }

  private async authenticate(s: Extract<Startup, { kind: 'startup' }>, user: string): Promise<void> {
    if (this.snap.users.get(user)?.spec.kind === 'externalProxy') {
      if (authenticateCertificate(this.ctx, s.socket, user, s.peer)) return;
      this.ctx.metrics.authFailures.inc();
      this.log.warn('certificate authentication failed');
      throw new HandshakeError(SQLSTATE.invalidAuthorization, `certificate authentication failed for user "${user}"`);
    }
    if (await authenticate(this.ctx, s.socket, s.reader, user)) return;
    this.ctx.metrics.authFailures.inc();
    this.log.warn('authentication failed');
    throw new HandshakeError(SQLSTATE.invalidPassword, `password authentication failed for user "${user}"`);
  }

  private checkCapacity(): void {
    if (this.ctx.draining()) throw new HandshakeError(SQLSTATE.cannotConnectNow, 'the proxy is shutting down');
    if (this.ctx.activeSessions() > this.ctx.share(this.snap.config.limits.maxConnections)) {
      this.ctx.metrics.connectionsRejected.inc({ reason: 'max_connections' });
      throw new HandshakeError(SQLSTATE.tooManyConnections, 'sorry, too many clients already');
    }
  }

  private async openBackend(b: BackendSecrets, params: Record<string, string>): Promise<BackendConnection> {
    const name = b.spec.name;
    const pinned = backendStartupParams(forwardedParams(params), this.snap.config.policy.datasets.length > 0);
    if (!pinned.ok) throw new HandshakeError(SQLSTATE.featureNotSupported, pinned.message);
    this.reserveBackend(b);
    try {
      const forward = pinned.params;
      if (b.upstream && params.database) forward.database = params.database;
      return await connectBackend(b, forward, this.snap.config.limits.connectTimeoutSeconds * 1000);
    } catch (e) {
      this.ctx.metrics.backendErrors.inc({ backend: name, reason: 'connect' });
      throw connectFailure(e, name);
    }
  }

  /** Counts this session against the backend's pool share; a HandshakeError (53300) when it is full. */
  private reserveBackend(b: BackendSecrets): void {
    const name = b.spec.name;
    const n = this.ctx.backendCounts.get(name) ?? 0;
    if (n >= this.ctx.share(b.spec.pool.maxConnections)) {
      this.ctx.metrics.connectionsRejected.inc({ reason: 'backend_pool' });
      throw new HandshakeError(SQLSTATE.tooManyConnections, `too many connections to backend "${name}"`);
    }
    this.ctx.backendCounts.set(name, n + 1);
    this.backendName = name;
    this.ctx.metrics.backendConnections.inc({ backend: name });
  }

  private refuseConnection(e: unknown): void {
    const code = e instanceof HandshakeError || e instanceof ProtocolError ? e.code : SQLSTATE.connectionFailure;
    const message = e instanceof Error ? e.message : String(e);
    if (!(e instanceof HandshakeError && e.code === SQLSTATE.invalidPassword)) this.log.warn('connection refused', { code, error: message });
    if (!this.client.destroyed) this.client.end(fatal(code, message));
    this.close();
  }

  /** What the pipeline factory loads for this session's backend (its grammar) before it is first called. */
  private async pipelineReady(conn: BackendConnection, info: SessionInfo): Promise<void> {
    const loading = this.ctx.pipelineFactory.ready?.(info);
    if (!loading) return;
    // Only the first session of a backend grammar waits here: the backend socket, no longer read
    // by the handshake, is paused (and its errors caught) until the relay takes it.
    const socket = conn.socket;
    const onError = (): void => undefined;
    socket.pause();
    socket.on('error', onError);
    try {
      await loading;
    } catch (e) {
      socket.destroy();
      this.log.error('statement pipeline failed to start', { error: e });
      throw new HandshakeError(SQLSTATE.internalError, 'the proxy cannot serve this session');
    } finally {
      socket.off('error', onError);
    }
    if (socket.destroyed) throw new HandshakeError(SQLSTATE.connectionFailure, 'the backend closed the connection');
    socket.resume();
  }

  private begin(conn: BackendConnection, b: BackendSecrets, rest: Buffer): void {
    if (this.closed || this.client.destroyed) { conn.socket.destroy(); this.close(); return; }
    this.backend = conn.socket;
    this.nativeCapable = relayable(this.client) && relayable(conn.socket);
    const pipeline = this.newPipeline();
    const key = this.ctx.cancelKeys.issue({ backend: b, processId: conn.processId, secretKey: conn.secretKey, also: () => this.relay?.cancelRequested() ?? { self: true, others: [] } });
    this.cancelId = key.processId;
    this.client.write(Buffer.concat([...conn.parameterStatus, backendBytes({ type: 'BackendKeyData', ...key }),
      backendBytes({ type: 'ReadyForQuery', status: 'I' })]));
    const { maxMessageBytes, idleTimeoutSeconds } = this.snap.config.limits;
    this.limits = { maxMessageBytes, idleTimeoutSeconds };
    this.relay = new Relay({ maxMessageBytes, ports: this.ports(), pipeline, settings: conn.parameters });
    this.wire(conn.socket);
    this.log.info('session started', { backend: b.spec.name });
    if (conn.rest.length > 0) this.relay.fromBackend(conn.rest);
    if (rest.length > 0) this.relay.fromClient(rest);
    this.offerNative();
  }

  private newPipeline(): Pipeline {
    try {
      return this.ctx.pipelineFactory(this.info as SessionInfo, this.snap.config);
    } catch (e) {
      this.log.error('statement pipeline failed to start', { error: e });
      throw new HandshakeError(SQLSTATE.internalError, 'the proxy cannot serve this session');
    }
  }

  private wire(backend: Socket): void {
    const relay = this.relay as Relay;
    // Plain sums, added to clarus_bytes_total on scrape (a labelled inc() hashes its labels).
    const rec = this.rec;
    this.client.on('data', (c: Buffer) => { rec.bytesFromClient += c.length; relay.fromClient(c); });
    backend.on('data', (c: Buffer) => { rec.bytesFromBackend += c.length; relay.fromBackend(c); });
    this.client.on('drain', () => this.holdBackend(BACKEND_CLIENT_FULL, false));
    backend.on('drain', () => this.setHold(HOLD_BACKPRESSURE, false));
    this.client.on('close', () => this.close());
    this.client.on('error', (e) => this.log.debug('client socket error', { error: e }));
    backend.on('error', (e) => this.log.warn('backend socket error', { error: e }));
    backend.on('close', () => this.backendLost());
    const idle = this.limits.idleTimeoutSeconds;
    if (idle > 0) {
      this.client.setTimeout(idle * 1000);
      this.client.on('timeout', () => this.idleTimeout());
    }
    if (this.drainRequested) this.drain();
  }

  private ports(): RelayPorts {
    return {
      toClient: (parts) => this.sendClient(parts),
      holdBackend: (h) => this.holdBackend(BACKEND_STAGE, h),
      clientRoom: () => roomIn(this.client),
      toBackend: (parts) => this.sendBackend(parts),
      holdClient: (h) => this.setHold(HOLD_PIPELINE, h),
      end: (reason, err) => this.relayEnded(reason, err),
      statementStart: (kind) => { this.startKinds.push(kind); this.startTimes.push(performance.now()); },
      statementEnd: (outcome) => this.statementEnd(outcome),
      idle: (status) => this.atBoundary(status),
    };
  }

  /** To the client; while its socket is full, the backend is not read. */
  private sendClient(parts: Buffer[]): void { this.write(this.client, parts, () => this.holdBackend(BACKEND_CLIENT_FULL, true)); }

  /** To the backend; while its socket is full, the client is not read. */
  private sendBackend(parts: Buffer[]): void { if (this.backend) this.write(this.backend, parts, () => this.setHold(HOLD_BACKPRESSURE, true)); }

  private write(sock: Socket, parts: Buffer[], full: () => void): void {
    if (sock.destroyed) return;
    let ok = true;
    if (parts.length === 1) ok = sock.write(parts[0] as Buffer);
    else if (totalBytes(parts) <= COALESCE_BYTES) ok = sock.write(Buffer.concat(parts));
    else {
      sock.cork();
      for (const p of parts) ok = sock.write(p);
      sock.uncork();
    }
    if (!ok) full();
  }

  private holdBackend(bit: number, on: boolean): void {
    const before = this.backendHolds;
    this.backendHolds = on ? before | bit : before & ~bit;
    if (before === 0 && this.backendHolds !== 0) this.backend?.pause();
    else if (before !== 0 && this.backendHolds === 0 && !this.closed) this.backend?.resume();
  }

  private setHold(bit: number, on: boolean): void {
    const before = this.holds;
    this.holds = on ? this.holds | bit : this.holds & ~bit;
    if (before === 0 && this.holds !== 0) this.client.pause();
    else if (before !== 0 && this.holds === 0 && !this.closed) this.client.resume();
  }

  private statementEnd(outcome: Outcome): void {
    const kind = this.startKinds.shift();
    const t = this.startTimes.shift();
    if (kind === undefined || t === undefined) return;
    this.rec.statement(kind, outcome, (performance.now() - t) / 1000);
  }

  /**
   * Hands the session to the native data path once the current turn of the event loop is over,
   * if it is a pass-through session between statements (tryNative()). An inspecting session is not
   * offered at all (no turn of the event loop per statement for nothing): its pipeline changes only
   * at a reload's boundary, which offers it again.
   */
  private offerNative(): void {
    if (!this.nativeCapable || this.nativeOffered || this.nativeId !== null || this.closed || !nativeRelay().relay || this.relay?.passesThrough() === false) return;
    this.nativeOffered = true;
    setImmediate(() => { this.nativeOffered = false; this.tryNative(); });
  }

  /** Whether the session can go to the native data path now: a pass-through relay between statements, nothing held, no reload pending. */
  private nativeEligible(): boolean {
    const relay = this.relay;
    return !!relay && !!this.backend && this.nativeId === null && !this.closed && !this.drainRequested && this.holds === 0 && this.backendHolds === 0
      && this.ctx.snapshot().generation === this.snap.generation && relay.canHandOff();
  }

  private tryNative(): void {
    const native = nativeRelay().relay;
    if (!native || !this.nativeEligible()) return;
    const relay = this.relay as Relay, backend = this.backend as Socket;
    // Both sides must be able to stop before either does (no read stopped and restarted for nothing).
    if (!idle(this.client) || !idle(backend) || !stopReading(this.client)) return;
    if (!stopReading(backend)) { startReading(this.client); return; }
    const limits = this.limits;
    let id: number | null = null;
    try {
      id = native.attach(this.client, backend, { maxMessageBytes: limits.maxMessageBytes, bufferBytes: NATIVE_BUFFER_BYTES,
        idleMs: limits.idleTimeoutSeconds * 1000, txStatus: relay.txStatus.charCodeAt(0), stats: this.rec.native.values }, (st) => this.fromNative(st));
    } catch (e) {
      this.log.warn('the native relay did not take the session', { error: e });
    }
    if (id === null) { startReading(this.client); startReading(backend); return; }
    this.nativeId = id;
    // The thread keeps the idle timeout meanwhile (the socket's own timer would see no traffic).
    this.client.setTimeout(0);
  }

  /** Takes the session back from the native data path now (close, terminate); writes what it had not written. */
  private takeBack(): void {
    const id = this.nativeId;
    if (id === null) return;
    this.nativeId = null;
    const st = nativeRelay().relay?.detach(id);
    if (st) this.restore(st);
    // Read again, so the sockets see their ends and close (a relay that ended ignores the rest).
    startReading(this.client);
    if (this.backend) startReading(this.backend);
  }

  /** The native data path handed the session back (relay.c says why): go on in JavaScript from its state. */
  private fromNative(st: NativeRelayState): void {
    this.nativeId = null;
    if (this.closed) return;
    const relay = this.restore(st);
    if (!relay) return;
    if (st.reason === 'boundary') this.atBoundary(relay.txStatus);
    else if (st.reason === 'idle') this.idleTimeout();
    this.takeRest(relay, st);
    if (this.closed) return;
    // The sockets report for themselves what stopped the native relay (an end, an error). The
    // session is offered again only at the JavaScript relay's next boundary (atBoundary): offered
    // at once, a socket whose end the thread saw would go back and forth without JavaScript ever
    // reading that end.
    startReading(this.client);
    if (this.backend) startReading(this.backend);
  }

  /** The bytes the native relay did not handle go to the JavaScript relay, in the order they came. */
  private takeRest(relay: Relay, st: NativeRelayState): void {
    if (!this.closed && st.backendRest.length > 0) relay.fromBackend(st.backendRest);
    if (!this.closed && st.clientRest.length > 0) relay.fromClient(st.clientRest);
  }

  /** The relay and the shell take the native relay's state; its unwritten bytes are written first. */
  private restore(st: NativeRelayState): Relay | null {
    const relay = this.relay;
    if (!relay) return null;
    if (st.toBackend.length > 0) this.sendBackend([st.toBackend]);
    if (st.toClient.length > 0) this.sendClient([st.toClient]);
    relay.resumeFrom({ txStatus: String.fromCharCode(st.txStatus) as TxStatus, outstanding: st.outstanding, batchOpen: st.batchOpen !== 0,
      sawError: st.sawError !== 0, backendFatal: st.backendFatal !== 0, scannerRemaining: st.scannerRemaining, scannerHead: st.scannerHead, clientLeft: st.clientLeft });
    const now = performance.now();
    this.startKinds.length = 0;
    this.startTimes.length = 0;
    st.inflightKinds.forEach((k, i) => {
      this.startKinds.push(KINDS[k] as StatementKind);
      this.startTimes.push(now - (st.inflightSeconds[i] as number) * 1000);
    });
    const idle = this.limits.idleTimeoutSeconds;
    if (idle > 0) this.client.setTimeout(idle * 1000);
    return relay;
  }

  /** The configuration changed: a session on the native data path comes back at its next boundary to apply it. */
  reloaded(): void {
    if (this.nativeId !== null) nativeRelay().relay?.boundary(this.nativeId);
  }

  /** A statement boundary: apply a reloaded configuration, finish a drain. */
  private atBoundary(status: TxStatus): void {
    const current = this.ctx.snapshot();
    if (current.generation !== this.snap.generation && this.relay && this.info) {
      try {
        const next = this.ctx.pipelineFactory(this.info, current.config);
        if (this.relay.setPipeline(next)) this.snap = current;
        else next.close?.();
      } catch (e) {
        // Keep serving with the configuration the session has; the next boundary tries again.
        this.log.error('statement pipeline for the reloaded configuration failed', { error: e });
      }
    }
    if (this.drainRequested && status === 'I') this.terminate(SQLSTATE.adminShutdown, 'terminating connection due to administrator command');
    else this.offerNative();
  }

  private idleTimeout(): void {
    const r = this.relay;
    if (!r || r.outstanding > 0) return;
    this.log.info('idle timeout');
    if (r.txStatus === 'I') this.terminate(SQLSTATE.idleSessionTimeout, 'terminating connection due to idle-session timeout');
    else this.terminate(SQLSTATE.idleInTransactionSessionTimeout, 'terminating connection due to idle-in-transaction timeout');
  }

  /** SIGTERM: close now when idle, else at the end of the current transaction. */
  drain(): void {
    this.drainRequested = true;
    if (this.nativeId !== null) { nativeRelay().relay?.boundary(this.nativeId); return; }
    const r = this.relay;
    if (r && r.outstanding === 0 && r.txStatus === 'I') this.terminate(SQLSTATE.adminShutdown, 'terminating connection due to administrator command');
  }

  /** Sends FATAL to the client and closes both sides. */
  terminate(code: string, message: string): void {
    if (this.closed) return;
    this.takeBack();
    this.relay?.close();
    if (!this.client.destroyed) this.client.end(fatal(code, message));
    this.close();
  }

  private relayEnded(reason: EndReason, err?: Error): void {
    if (reason === 'internal-error') this.log.error('session failed', { error: err });
    else if (reason === 'protocol-error') this.log.warn('protocol violation by the client');
    if (!this.client.destroyed) this.client.end();
    this.close();
  }

  private backendLost(): void {
    if (this.closed) return;
    this.ctx.metrics.backendErrors.inc({ backend: this.backendName, reason: 'lost' });
    this.log.warn('backend connection lost');
    if (this.relay?.backendFatal) { this.close(); return; }
    this.terminate(SQLSTATE.connectionFailure, 'server closed the connection unexpectedly');
  }

  close(): void {
    if (this.closed) return;
    this.takeBack();
    this.closed = true;
    this.relay?.close();
    if (this.backend && !this.backend.destroyed) this.backend.end(TERMINATE);
    if (!this.client.destroyed) this.client.end();
    if (this.backendName) {
      this.ctx.backendCounts.set(this.backendName, Math.max(0, (this.ctx.backendCounts.get(this.backendName) ?? 1) - 1));
      this.ctx.metrics.backendConnections.dec({ backend: this.backendName });
    }
    if (this.cancelId) this.ctx.cancelKeys.release(this.cancelId);
    for (const f of this.onClose) f();
  }

  /** Makes sure nothing outlives a forced shutdown. */
  destroy(): void {
    this.close();
    this.client.destroy();
    this.backend?.destroy();
  }
}

/** The client's startup parameters that are passed on to the backend. */
function forwardedParams(params: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) {
    if (k === 'user' || k === 'database' || k === 'replication' || k.startsWith('_pq_.')) continue;
    out[k] = v;
  }
  return out;
}

/** What the session's pipeline knows of it, once the backend has accepted the connection. */
function sessionInfo(who: Pick<SessionInfo, 'user' | 'database' | 'grants'>, params: Record<string, string | undefined>, b: BackendSecrets, conn: BackendConnection): SessionInfo {
  return { ...who, applicationName: params.application_name ?? '', backend: b.spec.name, backendUser: b.username, backendDatabase: b.spec.database, ...(b.maintenance ? { maintenance: true } : {}),
    serverVersion: conn.parameters.get('server_version') ?? '' };
}

/** The client's error for a failed backend connect: the backend's own SQLSTATE unless it is about authentication (28…). */
function connectFailure(e: unknown, name: string): HandshakeError {
  if (e instanceof BackendError && e.fields?.C && !e.fields.C.startsWith('28')) return new HandshakeError(e.fields.C, e.message);
  return new HandshakeError(SQLSTATE.unableToConnect, `could not connect to the backend "${name}": ${(e as Error).message}`);
}
