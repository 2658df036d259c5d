// One proxy on several cores (issue 15, goal 3; docs/all-cores.md): `clarus proxy --workers N`
// forks N worker processes with node:cluster. Each worker is a whole proxy (sessions, pipelines,
// caches) on the shared client port; the primary accepts and hands connections round-robin to the
// workers (cluster's default scheduling on Linux: a hop per connection, none per message), owns the
// metrics/health port, and routes what crosses workers:
//  - cancel keys: worker i of n issues process ids ≡ i (mod n) (cancel.ts), so a CancelRequest that
//    reaches another worker is handed to the primary, which passes it to the owning worker; a key
//    of another replica goes to the peers from here (peer-cancel.ts), and the peers' /peer/cancel
//    is served here and passed to the owning worker;
//  - metrics: on scrape each worker sends its registry as JSON and the primary sums them
//    (prom-client's aggregate; gauges that are not additive say so with their `aggregator`);
//  - signals: SIGTERM/SIGINT turn readiness off and reach every worker, which drains as a single
//    process does; the primary exits when all have. SIGHUP reaches every worker (reload, audit reopen).
// A worker that dies unexpectedly is forked again with the same index.
import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import type { Logger } from '@clarus/log/logger.ts';
import { replicaOf, workerOf } from './cancel.ts';
import type { WorkerSlot } from './cancel.ts';
import { metricsServer } from './http.ts';
import { MAC_HEADER, NonceCache, PEER_CANCEL_PATH, sendToPeers, verifyCancel } from './peer-cancel.ts';
import type { PeerCancelRequest, PeerConfig } from './peer-cancel.ts';
import type { Address } from './server.ts';
import { AES_IMPLEMENTATION } from '../protection/encryption/native-aes.ts';

/** A registry's metrics as JSON (what a worker sends its primary on scrape). */
export type MetricJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

export const WORKER_INDEX_ENV = 'CLARUS_WORKER_INDEX';
export const WORKER_COUNT_ENV = 'CLARUS_WORKER_COUNT';
/** How long the primary waits for a worker's answer (metrics, readiness, a routed cancel). */
const ANSWER_MS = 5000;
/** A worker that dies within this long of its start is not forked again (a crash loop). */
const MIN_LIFE_MS = 10_000;

/** Messages from the primary to a worker; each is answered with a `reply` of the same id. */
export type ToWorker =
  | { clarus: 'cancel'; id: number; request: PeerCancelRequest; source: 'worker' | 'peer' }
  | { clarus: 'metrics'; id: number }
  | { clarus: 'ready'; id: number };

/** Messages from a worker to the primary. */
export type FromWorker =
  | { clarus: 'reply'; id: number; value: unknown }
  | { clarus: 'route-cancel'; request: PeerCancelRequest }
  | { clarus: 'listening'; address: Address };

/** What a worker's proxy answers to the primary. */
export interface WorkerServer {
  /** Cancels one of this worker's sessions: 202 when cancelled, 404 when the key is not one of them. */
  cancelLocal(request: PeerCancelRequest, source: 'worker' | 'peer'): Promise<number>;
  metricsJson(): Promise<MetricJson>;
  ready(): boolean;
}

/** This process's slot when it is a worker of `clarus proxy --workers N`, else undefined. */
export function workerSlot(env: NodeJS.ProcessEnv): WorkerSlot | undefined {
  if (!cluster.isWorker) return undefined;
  const index = Number(env[WORKER_INDEX_ENV]);
  const count = Number(env[WORKER_COUNT_ENV]);
  if (!Number.isInteger(index) || !Number.isInteger(count) || index < 0 || index >= count) return undefined;
  return { index, count };
}

/** The worker side of the link: hands cancels to the primary and answers its questions. */
export function workerLink(): { forward(request: PeerCancelRequest): void; listening(address: Address): void; serve(server: WorkerServer): void } {
  const send = (m: FromWorker): void => { if (process.connected) process.send?.(m); };
  return {
    forward: (request) => send({ clarus: 'route-cancel', request }),
    listening: (address) => send({ clarus: 'listening', address }),
    serve(server) {
      process.on('message', (m: ToWorker) => {
        if (typeof m !== 'object' || m === null || !('clarus' in m)) return;
        const answer = (value: unknown): void => send({ clarus: 'reply', id: m.id, value });
        if (m.clarus === 'ready') answer(server.ready());
        else if (m.clarus === 'metrics') void server.metricsJson().then(answer, () => answer(null));
        else if (m.clarus === 'cancel') void server.cancelLocal(m.request, m.source).then(answer, () => answer(404));
      });
    },
  };
}

export interface PrimaryOptions {
  workers: number;
  metricsListen: Address;
  replicaId: number;
  peers?: PeerConfig;
  /** Timeout of a cancel passed to the peers (the configuration's connectTimeoutSeconds). */
  cancelTimeoutMs: number;
  log: Logger;
}

/** Per-primary metrics, summed with the workers' on scrape (same names, same labels). */
function primaryMetrics(): { registry: Registry; cancels: Counter; workersUp: Gauge; restarts: Counter } {
  const registry = new Registry();
  const registers = [registry];
  return {
    registry,
    cancels: new Counter({ name: 'clarus_cancel_requests_total', help: 'CancelRequests by result', labelNames: ['result'], registers }),
    workersUp: new Gauge({ name: 'clarus_workers', help: 'Worker processes of this proxy that are up', registers }),
    restarts: new Counter({ name: 'clarus_worker_restarts_total', help: 'Worker processes forked again after an unexpected exit', registers }),
  };
}

/**
 * Runs the primary of a multi-process proxy until every worker has exited after SIGTERM/SIGINT
 * (0), or a worker fails at start (1). Logs `listening` once every worker listens.
 */
export async function runPrimary(o: PrimaryOptions): Promise<number> {
  return new Primary(o).run();
}

class Primary {
  private readonly o: PrimaryOptions;
  private readonly m = primaryMetrics();
  private readonly slots = new Map<number, Worker>();
  private readonly started = new Map<number, number>();
  private readonly pending = new Map<number, (value: unknown) => void>();
  private readonly nonces = new NonceCache();
  private nextId = 1;
  private stopping = false;
  private http: HttpServer | undefined;
  private address: Address | undefined;
  private finish: (code: number) => void = () => undefined;

  constructor(o: PrimaryOptions) { this.o = o; }

  async run(): Promise<number> {
    const done = new Promise<number>((resolve) => { this.finish = resolve; });
    cluster.on('message', (w, m: FromWorker) => this.onMessage(w, m));
    cluster.on('exit', (w, code, signal) => this.onExit(w, code, signal));
    const listening: Array<Promise<Address>> = [];
    for (let i = 0; i < this.o.workers; i++) listening.push(this.fork(i));
    this.signals();
    let address: Address;
    try {
      address = (await Promise.race([Promise.all(listening), done.then((c) => { throw new Error(`a worker exited with ${c} before listening`); })]))[0] as Address;
    } catch (e) {
      this.o.log.error('cannot start', { error: e });
      this.stopAll('SIGKILL');
      return 1;
    }
    this.address = address;
    this.http = metricsServer({ contentType: Registry.PROMETHEUS_CONTENT_TYPE, metrics: () => this.metrics() }, () => !this.stopping && this.allReady(),
      this.o.peers ? { [PEER_CANCEL_PATH]: (body, headers) => this.peerCancel(body, headers[MAC_HEADER]) } : {});
    const metricsAddress = await listen(this.http, this.o.metricsListen);
    this.o.log.info('listening', { address, metricsAddress, replica: this.o.replicaId, workers: this.o.workers, aes: AES_IMPLEMENTATION });
    const code = await done;
    await new Promise((r) => this.http?.close(r));
    return code;
  }

  private fork(index: number): Promise<Address> {
    const w = cluster.fork({ [WORKER_INDEX_ENV]: String(index), [WORKER_COUNT_ENV]: String(this.o.workers) });
    this.slots.set(index, w);
    this.started.set(index, Date.now());
    this.m.workersUp.set(this.slots.size);
    return new Promise((resolve) => {
      const on = (m: FromWorker): void => { if (m?.clarus === 'listening') { w.off('message', on); resolve(m.address); } };
      w.on('message', on);
    });
  }

  private indexOf(w: Worker): number | undefined {
    for (const [i, x] of this.slots) if (x === w) return i;
    return undefined;
  }

  private onExit(w: Worker, code: number | null, signal: string | null): void {
    const index = this.indexOf(w);
    if (index === undefined) return;
    this.slots.delete(index);
    this.m.workersUp.set(this.slots.size);
    if (this.stopping) {
      if (this.slots.size === 0) this.finish(0);
      return;
    }
    const lived = Date.now() - (this.started.get(index) ?? 0);
    if (this.address === undefined || lived < MIN_LIFE_MS) {
      this.o.log.error('worker exited; stopping the proxy', { worker: index, code, signal });
      this.stopping = true;
      this.stopAll('SIGTERM');
      this.finish(1);
      return;
    }
    this.o.log.warn('worker exited; forking it again', { worker: index, code, signal });
    this.m.restarts.inc();
    void this.fork(index);
  }

  private signals(): void {
    const stop = (sig: NodeJS.Signals): void => {
      this.o.log.info('signal', { signal: sig });
      this.stopping = true;
      this.stopAll('SIGTERM');
      if (this.slots.size === 0) this.finish(0);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => { for (const w of this.slots.values()) w.process.kill('SIGHUP'); });
  }

  private stopAll(signal: NodeJS.Signals): void {
    for (const w of this.slots.values()) if (w.process.exitCode === null) w.process.kill(signal);
  }

  private onMessage(w: Worker, m: FromWorker): void {
    if (typeof m !== 'object' || m === null || !('clarus' in m)) return;
    if (m.clarus === 'reply') { this.pending.get(m.id)?.(m.value); this.pending.delete(m.id); return; }
    if (m.clarus === 'route-cancel') void this.routeCancel(m.request, this.indexOf(w));
  }

  /** Asks one worker; undefined when it does not answer in time. */
  private ask(w: Worker, q: DistributiveOmit<ToWorker, 'id'>): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.pending.delete(id); resolve(undefined); }, ANSWER_MS);
      this.pending.set(id, (v) => { clearTimeout(timer); resolve(v); });
      if (!w.isConnected()) { this.pending.delete(id); clearTimeout(timer); resolve(undefined); return; }
      w.send({ ...q, id } as ToWorker);
    });
  }

  private readyCache = { at: 0, ok: false };

  /** All workers up and ready (asked at most every 500 ms; /readyz is synchronous). */
  private allReady(): boolean {
    const now = Date.now();
    if (now - this.readyCache.at > 500) {
      this.readyCache.at = now;
      const ws = [...this.slots.values()];
      void Promise.all(ws.map((w) => this.ask(w, { clarus: 'ready' }))).then((answers) => {
        this.readyCache.ok = ws.length === this.o.workers && answers.every((a) => a === true);
      });
    }
    return this.readyCache.ok;
  }

  private async metrics(): Promise<string> {
    const answers = await Promise.all([...this.slots.values()].map((w) => this.ask(w, { clarus: 'metrics' })));
    const all = answers.filter((a): a is MetricJson => Array.isArray(a));
    all.push(await this.m.registry.getMetricsAsJSON());
    return AggregatorRegistry.aggregate(all).metrics();
  }

  /** A CancelRequest a worker could not serve: to the owning worker, or to the peers. */
  private async routeCancel(request: PeerCancelRequest, from: number | undefined): Promise<void> {
    if (replicaOf(request.processId) !== this.o.replicaId) {
      if (!this.o.peers) return;
      const n = await sendToPeers(this.o.peers, request, Date.now(), this.o.cancelTimeoutMs);
      this.o.log.info('cancel request passed to peers', { replica: replicaOf(request.processId), cancelled: n });
      return;
    }
    const owner = this.slots.get(workerOf(request.processId, this.o.workers));
    if (!owner || workerOf(request.processId, this.o.workers) === from) return;
    await this.ask(owner, { clarus: 'cancel', request, source: 'worker' });
  }

  /** A cancel request a peer replica passed on: 202 cancelled, 404 not ours, 401 not signed right. */
  private async peerCancel(body: string, signature: string | string[] | undefined): Promise<number> {
    const peers = this.o.peers as PeerConfig;
    const v = verifyCancel(peers.secret, { body, mac: typeof signature === 'string' ? signature : undefined }, Date.now(), this.nonces);
    if (!v.ok) {
      this.m.cancels.inc({ result: 'peer-refused' });
      this.o.log.warn('peer cancel refused', { reason: v.reason });
      return 401;
    }
    if (replicaOf(v.request.processId) !== this.o.replicaId) { this.m.cancels.inc({ result: 'peer-other-replica' }); return 404; }
    const owner = this.slots.get(workerOf(v.request.processId, this.o.workers));
    const status = owner ? await this.ask(owner, { clarus: 'cancel', request: v.request, source: 'peer' }) : undefined;
    return typeof status === 'number' ? status : 404;
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function listen(server: HttpServer, a: Address): Promise<Address> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(a.port, a.host, () => {
      server.off('error', reject);
      const info = server.address() as AddressInfo;
      resolve({ host: info.address, port: info.port });
    });
  });
}
