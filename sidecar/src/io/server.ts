// One proxy instance: the client listener, the metrics listener, the shared session context,
// CancelRequest routing, configuration reload and SIGTERM-style draining.
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { createSecureContext } from 'node:tls';
import type { SecureContext } from 'node:tls';
import type { Server as HttpServer } from 'node:http';
import { loadConfig } from '../config/load.ts';
import type { ConfigSnapshot } from '../config/load.ts';
import { watchConfigDir } from '../config/watch.ts';
import type { Logger } from '@clarus/log/logger.ts';
import { createMetrics } from '../metrics/metrics.ts';
import type { ProxyMetrics } from '../metrics/metrics.ts';
import type { PipelineFactory, SessionInfo } from '../session/pipeline.ts';
import { CancelKeys } from './cancel.ts';
import type { WorkerSlot } from './cancel.ts';
import { forwardCancel } from './cancel-forward.ts';
import { MAC_HEADER, NonceCache, PEER_CANCEL_PATH, sendToPeers, verifyCancel } from './peer-cancel.ts';
import type { PeerCancelRequest, PeerConfig } from './peer-cancel.ts';
import type { CancelTarget, ProxyContext } from './context.ts';
import { fatal, readClientStartup } from './handshake.ts';
import type { Startup } from './handshake.ts';
import { metricsServer } from './http.ts';
import { ClientSession } from './session.ts';
import type { KeySource } from './key-source.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';
import { relayImplementation } from './native-relay.ts';
import { AES_IMPLEMENTATION } from '../protection/encryption/native-aes.ts';

export interface Address { host: string; port: number }

/** Retry interval of a reload whose new keys Vault could not be asked for. */
const RELOAD_RETRY_MS = 5000;

export interface ProxyOptions {
  configDir: string;
  listen?: Address;
  metricsListen?: Address;
  pipeline: PipelineFactory;
  log: Logger;
  replicaId: number;
  watch?: boolean;
  /** Other replicas of this proxy, for cancel requests that reach the wrong one (peer-cancel.ts). */
  peers?: PeerConfig;
  /** Source of the master keys (unwraps them through Vault with provider vaultTransit); also in readiness and metrics. */
  keys?: KeySource;
  /**
   * This process is worker `index` of `count` of one proxy (workers.ts): no metrics listener of its
   * own, cancel keys of its residue class, a share of the connection limits, and cancels it cannot
   * serve handed to the primary.
   */
  worker?: WorkerSlot & { forward(request: PeerCancelRequest): void };
}

/** Worker `index`'s part of a limit of `n` over `count` workers (the parts sum to n; a part may be 0). */
export function shareOf(n: number, slot: WorkerSlot): number {
  return Math.floor(n / slot.count) + (slot.index < n % slot.count ? 1 : 0);
}

function tlsContext(s: ConfigSnapshot): SecureContext | null {
  if (!s.tls) return null;
  return createSecureContext({ cert: s.tls.cert, key: s.tls.key, ...(s.tls.ca ? { ca: s.tls.ca } : {}) });
}

function listenOn(server: Server | HttpServer, a: Address): Promise<Address> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(a.port, a.host, () => {
      server.off('error', reject);
      const info = server.address() as AddressInfo;
      resolve({ host: info.address, port: info.port });
    });
  });
}

/** Makes (and closes) one pipeline for the configuration; throws what the factory throws. */
function probePipeline(factory: PipelineFactory, s: ConfigSnapshot): void {
  const info: SessionInfo = { user: '', database: '', applicationName: 'clarus-reload-check', grants: [], backend: s.config.policy.defaultBackend };
  factory(info, s.config).close?.();
}

export class Proxy {
  address: Address = { host: '', port: 0 };
  metricsAddress: Address = { host: '', port: 0 };
  private snap: ConfigSnapshot;
  private tls: SecureContext | null;
  private readonly opts: ProxyOptions;
  private readonly metrics: ProxyMetrics = createMetrics();
  private readonly sessions = new Set<ClientSession>();
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;
  private readonly http: HttpServer;
  private readonly ctx: ProxyContext;
  private draining = false;
  private readonly nonces = new NonceCache();
  private stopWatch: () => void = () => undefined;
  private retry: NodeJS.Timeout | undefined;

  constructor(opts: ProxyOptions) {
    this.opts = opts;
    this.snap = loadConfig(opts.configDir);
    this.tls = tlsContext(this.snap);
    this.showConfig();
    this.ctx = {
      snapshot: () => this.snap, clientTls: () => this.tls, metrics: this.metrics, log: opts.log,
      statementRecorder: this.metrics.recorder,
      cancelKeys: new CancelKeys<CancelTarget>(opts.replicaId, opts.worker), pipelineFactory: opts.pipeline,
      backendCounts: new Map(), activeSessions: () => this.sessions.size, draining: () => this.draining,
      share: opts.worker ? ((n) => shareOf(n, opts.worker as WorkerSlot)) : (n) => n,
    };
    this.server = createServer({ noDelay: true }, (s) => this.accept(s));
    opts.keys?.register(this.metrics.registry);
    // Not ready while the master keys may not be used (not yet unwrapped, refused, or the KMS
    // unreachable past its bound): sessions on protected data would fail.
    this.http = metricsServer(this.metrics.registry, () => this.ready(),
      opts.peers && !opts.worker ? { [PEER_CANCEL_PATH]: (body, headers) => this.peerCancel(body, headers[MAC_HEADER]) } : {});
  }

  async start(): Promise<void> {
    const c = this.snap.config;
    await this.opts.keys?.prepare(this.opts.configDir, c);
    this.opts.keys?.commit(this.opts.configDir, c);
    this.address = await listenOn(this.server, this.opts.listen ?? c.listen);
    // A worker's metrics and health are served by the primary (workers.ts).
    if (!this.opts.worker) this.metricsAddress = await listenOn(this.http, this.opts.metricsListen ?? c.metricsListen);
    if (this.opts.watch !== false) this.stopWatch = watchConfigDir(this.opts.configDir, () => void this.reloadWithKeys());
    this.opts.log.info(this.opts.worker ? 'worker listening' : 'listening', { ...(this.opts.worker ? { worker: this.opts.worker.index } : {}), address: this.address, metricsAddress: this.metricsAddress, replica: this.ctx.cancelKeys.replica,
      generation: this.snap.generation, aes: AES_IMPLEMENTATION, relay: relayImplementation() });
  }

  /** Ready for sessions: not draining, listening, and the master keys usable (the /readyz answer). */
  ready(): boolean {
    return !this.draining && this.server.listening && (this.opts.keys?.unusable() ?? undefined) === undefined;
  }

  get registry(): ProxyMetrics['registry'] { return this.metrics.registry; }

  /** Cancels one of this process's sessions for the primary (a key another worker or a peer received): 202, or 404. */
  async cancelLocal(request: PeerCancelRequest, source: 'worker' | 'peer'): Promise<number> {
    const r = this.ctx.cancelKeys.lookup(request.processId, request.secretKey);
    this.metrics.cancelRequests.inc({ result: `${source}-${r.kind}` });
    if (r.kind !== 'found') return 404;
    await forwardCancel(r.target, this.snap.config.limits.connectTimeoutSeconds * 1000)
      .catch((e: unknown) => this.opts.log.warn('cancel forwarding failed', { error: e }));
    return 202;
  }

  /**
   * Loads the configuration again; on error keeps the current one. Open sessions are kept. The new
   * configuration must also yield a statement pipeline (a broken keyring makes the factory throw):
   * otherwise every new session and every switch at a statement boundary would fail.
   */
  reload(): boolean {
    return this.swap(() => loadConfig(this.opts.configDir, this.snap.generation + 1));
  }

  /** reload() after the key source has unwrapped the keys the new configuration names (watcher, SIGHUP). */
  async reloadWithKeys(): Promise<boolean> {
    clearTimeout(this.retry);
    let next: ConfigSnapshot;
    try {
      next = loadConfig(this.opts.configDir, this.snap.generation + 1);
    } catch (e) {
      return this.swap(() => { throw e; });
    }
    const reached = (await this.opts.keys?.prepare(this.opts.configDir, next.config)) ?? true;
    const ok = this.swap(() => next);
    // The new keys could not be unwrapped because Vault was unreachable: nothing else would trigger
    // another reload, so try again (until one succeeds or Vault answers; a later change also retries).
    if (!ok && !reached && !this.draining) {
      clearTimeout(this.retry);
      this.retry = setTimeout(() => void this.reloadWithKeys(), RELOAD_RETRY_MS);
      this.retry.unref();
    }
    return ok;
  }

  /** The generation and the rendered hash of the configuration in force, for the metrics. */
  private showConfig(): void {
    this.metrics.configGeneration.set(this.snap.generation);
    this.metrics.configInfo.reset();
    this.metrics.configInfo.set({ hash: this.snap.config.hash ?? 'none' }, 1);
  }

  private swap(load: () => ConfigSnapshot): boolean {
    try {
      const next = load();
      probePipeline(this.opts.pipeline, next);
      this.tls = tlsContext(next);
      this.snap = next;
      this.opts.keys?.commit(this.opts.configDir, next.config);
      this.metrics.configReloads.inc({ result: 'ok' });
      this.showConfig();
      this.opts.log.info('configuration reloaded', { generation: next.generation });
      for (const s of this.sessions) s.reloaded();
      return true;
    } catch (e) {
      this.metrics.configReloads.inc({ result: 'error' });
      this.opts.log.error('configuration reload failed; keeping the previous one', { error: e });
      return false;
    }
  }

  private accept(socket: Socket): void {
    this.metrics.connectionsTotal.inc();
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    const ms = this.snap.config.limits.connectTimeoutSeconds * 1000;
    const timer = ms > 0 ? setTimeout(() => socket.destroy(), ms) : undefined;
    readClientStartup(this.ctx, socket).then((s) => this.dispatch(s, timer), (e: unknown) => {
      clearTimeout(timer);
      const closed = (e as Error).message === 'connection closed';
      if (closed) this.opts.log.debug('connection closed before startup');
      else this.opts.log.warn('invalid startup', { error: e });
      if (!socket.destroyed) socket.end(fatal((e as { code?: string }).code ?? SQLSTATE.protocolViolation, (e as Error).message));
    });
  }

  private dispatch(s: Startup, timer: NodeJS.Timeout | undefined): void {
    if (s.kind === 'cancel') { clearTimeout(timer); this.cancel(s); return; }
    const session = new ClientSession(this.ctx, s.socket);
    this.sessions.add(session);
    this.metrics.connectionsActive.inc();
    session.onClose.push(() => { this.sessions.delete(session); this.metrics.connectionsActive.dec(); });
    void session.start(s, () => clearTimeout(timer)).finally(() => clearTimeout(timer));
  }

  private cancel(s: Extract<Startup, { kind: 'cancel' }>): void {
    s.socket.end();
    const r = this.ctx.cancelKeys.lookup(s.request.processId, s.request.secretKey);
    this.metrics.cancelRequests.inc({ result: r.kind });
    const timeoutMs = this.snap.config.limits.connectTimeoutSeconds * 1000;
    if (this.opts.worker && (r.kind === 'other-worker' || r.kind === 'other-replica')) {
      this.opts.worker.forward(s.request);
      return;
    }
    if (r.kind === 'other-replica' && this.opts.peers) {
      void sendToPeers(this.opts.peers, s.request, Date.now(), timeoutMs)
        .then((n) => this.opts.log.info('cancel request passed to peers', { replica: r.replica, cancelled: n }));
      return;
    }
    if (r.kind !== 'found') {
      this.opts.log.info('cancel request ignored', { reason: r.kind, ...(r.kind === 'other-replica' ? { replica: r.replica } : {}) });
      return;
    }
    forwardCancel(r.target, timeoutMs)
      .catch((e: unknown) => this.opts.log.warn('cancel forwarding failed', { error: e }));
  }

  /** A cancel request a peer replica passed on: 202 cancelled, 404 not ours, 401 not signed right. */
  private async peerCancel(body: string, signature: string | string[] | undefined): Promise<number> {
    const peers = this.opts.peers as PeerConfig;
    const v = verifyCancel(peers.secret, { body, mac: typeof signature === 'string' ? signature : undefined }, Date.now(), this.nonces);
    if (!v.ok) {
      this.metrics.cancelRequests.inc({ result: 'peer-refused' });
      this.opts.log.warn('peer cancel refused', { reason: v.reason });
      return 401;
    }
    const r = this.ctx.cancelKeys.lookup(v.request.processId, v.request.secretKey);
    this.metrics.cancelRequests.inc({ result: `peer-${r.kind}` });
    if (r.kind !== 'found') return 404;
    await forwardCancel(r.target, this.snap.config.limits.connectTimeoutSeconds * 1000)
      .catch((e: unknown) => this.opts.log.warn('cancel forwarding failed', { error: e }));
    return 202;
  }

  /** Readiness off, stop accepting, let transactions finish within drainSeconds, then close. */
  async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    this.opts.log.info('draining', { sessions: this.sessions.size, drainSeconds: this.snap.config.limits.drainSeconds });
    this.server.close();
    for (const s of this.sessions) s.drain();
    const deadline = Date.now() + this.snap.config.limits.drainSeconds * 1000;
    while (this.sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const s of this.sessions) s.terminate(SQLSTATE.adminShutdown, 'terminating connection due to administrator command');
    await this.close();
  }

  async close(): Promise<void> {
    this.draining = true;
    this.stopWatch();
    clearTimeout(this.retry);
    this.opts.keys?.close();
    for (const s of [...this.sessions]) s.destroy();
    for (const s of this.sockets) s.destroy();
    await Promise.all([
      new Promise((r) => { if (this.server.listening) this.server.close(r); else r(undefined); }),
      new Promise((r) => { this.http.closeAllConnections(); this.http.close(r); }),
    ]);
  }
}
