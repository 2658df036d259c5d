// Wires the caches to one work queue per kind. Level-triggered: an event only names the key to look at;
// the reconciler reads the current state from the caches. Dependencies fan out: a change to a
// SecurityPolicy, CloudBackend, AccessGrant or Secret enqueues every ClarusProxy that uses it.
import type { ClarusProxy } from '@clarus/crds';
import type { KubeClient } from '../kube/client.ts';
import { makeCache, objectKey } from '../kube/informer.ts';
import type { Cache, EventType } from '../kube/informer.ts';
import { Resources } from '../kube/resources.ts';
import type { Logger } from '../log.ts';
import type { OperatorMetrics } from '../metrics.ts';
import { MANAGED_BY } from '../specs/names.ts';
import type { BuildOptions, KubeObject } from '../specs/types.ts';
import { reconcileGrant } from './accessgrant/reconcile.ts';
import { reconcileProxy } from './clarusproxy/reconcile.ts';
import { reconcileBackend } from './cloudbackend/reconcile.ts';
import type { Caches, Context, RenderFn } from './context.ts';
import { lookupFrom, splitKey } from './context.ts';
import type { HandlerResult } from './queue.ts';
import { WorkQueue } from './queue.ts';
import type { DependencyKind } from './refs.ts';
import { backendSecrets } from '@clarus/policy/inputs.ts';
import { dependsOn } from './refs.ts';
import { reconcilePolicy } from './securitypolicy/reconcile.ts';

export interface ManagerOptions {
  client: KubeClient;
  build: BuildOptions;
  render: RenderFn;
  log: Logger;
  metrics: OperatorMetrics;
  resyncMs: number;
  concurrency: number;
  reachabilityTimeoutMs: number;
  /** Namespaces to watch; empty: all. */
  namespaces: string[];
}

type Kind = 'ClarusProxy' | 'SecurityPolicy' | 'CloudBackend' | 'AccessGrant';
type Reconcile = (ctx: Context, namespace: string, name: string) => Promise<HandlerResult | void>;

const RECONCILERS: Record<Kind, Reconcile> = {
  ClarusProxy: reconcileProxy,
  SecurityPolicy: reconcilePolicy,
  CloudBackend: reconcileBackend,
  AccessGrant: reconcileGrant,
};

export class Manager {
  readonly caches: Caches;
  readonly queues: Record<Kind, WorkQueue>;
  readonly #opts: ManagerOptions;
  readonly #ctx: Context;
  #resync: NodeJS.Timeout | undefined;
  #started = false;

  constructor(opts: ManagerOptions) {
    this.#opts = opts;
    const inf = <T extends KubeObject>(r: (typeof Resources)[keyof typeof Resources], labelSelector?: string): Cache<T> =>
      makeCache<T>(opts.client, r, opts.log, { namespaces: opts.namespaces, labelSelector });
    this.caches = {
      proxies: inf(Resources.ClarusProxy),
      policies: inf(Resources.SecurityPolicy),
      backends: inf(Resources.CloudBackend),
      grants: inf(Resources.AccessGrant),
      secrets: inf(Resources.Secret),
      // Only the Deployments this operator made: its status feeds the proxy's.
      deployments: inf(Resources.Deployment, `app.kubernetes.io/managed-by=${MANAGED_BY}`),
    };
    this.#ctx = {
      client: opts.client, caches: this.caches, options: opts.build, render: opts.render,
      log: opts.log, now: () => new Date(), reachabilityTimeoutMs: opts.reachabilityTimeoutMs,
    };
    this.queues = {
      ClarusProxy: this.#queue('ClarusProxy'),
      SecurityPolicy: this.#queue('SecurityPolicy'),
      CloudBackend: this.#queue('CloudBackend'),
      AccessGrant: this.#queue('AccessGrant'),
    };
  }

  #queue(kind: Kind): WorkQueue {
    const { metrics, log } = this.#opts;
    const handler = async (key: string): Promise<HandlerResult | void> => {
      const { namespace, name } = splitKey(key);
      const end = metrics.duration.startTimer({ kind });
      try {
        return await RECONCILERS[kind](this.#ctx, namespace, name);
      } finally {
        end();
        metrics.queueDepth.set({ kind }, this.queues[kind].depth());
      }
    };
    return new WorkQueue(handler, {
      concurrency: this.#opts.concurrency,
      baseDelayMs: 500,
      maxDelayMs: 60_000,
      onDone: (key, outcome, error) => {
        metrics.reconciles.inc({ kind, outcome });
        if (outcome === 'error') {
          metrics.errors.inc({ kind });
          log.warn('reconcile failed, retrying with backoff', { kind, key, error });
        } else {
          log.debug('reconciled', { kind, key });
        }
      },
    });
  }

  /** Starts the caches (safe before leadership: read-only). */
  startCaches(): Promise<void> {
    for (const informer of Object.values(this.caches)) informer.start();
    return Promise.all(Object.values(this.caches).map((i) => i.waitForSync())).then(() => undefined);
  }

  cachesSynced(): boolean {
    return Object.values(this.caches).every((i) => i.synced());
  }

  /** Starts reconciling (called once this replica leads). */
  async startControllers(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    await this.startCaches();
    this.#watchEvents();
    this.resyncAll();
    this.#resync = setInterval(() => this.resyncAll(), this.#opts.resyncMs);
    this.#resync.unref();
    this.#opts.log.info('controllers started');
  }

  stop(): void {
    if (this.#resync) clearInterval(this.#resync);
    for (const q of Object.values(this.queues)) q.stop();
    for (const i of Object.values(this.caches)) i.stop();
  }

  resyncAll(): void {
    const add = (kind: Kind, objs: KubeObject[]): void => objs.forEach((o) => this.#enqueue(kind, o));
    add('SecurityPolicy', this.caches.policies.list());
    add('CloudBackend', this.caches.backends.list());
    add('AccessGrant', this.caches.grants.list());
    add('ClarusProxy', this.caches.proxies.list());
  }

  #enqueue(kind: Kind, obj: KubeObject): void {
    this.queues[kind].add(objectKey(obj));
    this.#opts.metrics.queueDepth.set({ kind }, this.queues[kind].depth());
  }

  #enqueueProxiesUsing(kind: DependencyKind, obj: KubeObject): void {
    const lookup = lookupFrom(this.caches);
    for (const proxy of this.caches.proxies.list(obj.metadata.namespace)) {
      if (dependsOn(proxy as ClarusProxy, lookup, kind, obj.metadata.name)) this.#enqueue('ClarusProxy', proxy);
    }
  }

  #watchEvents(): void {
    const c = this.caches;
    c.proxies.on((_t, p) => {
      this.#enqueue('ClarusProxy', p);
      this.#grantsOf(p).forEach((g) => this.#enqueue('AccessGrant', g)); // grants report a missing proxy
    });
    c.policies.on((_t, p) => {
      this.#enqueue('SecurityPolicy', p);
      this.#enqueueProxiesUsing('SecurityPolicy', p);
    });
    c.backends.on((_t, b) => {
      this.#enqueue('CloudBackend', b);
      this.#enqueueProxiesUsing('CloudBackend', b);
      this.#policiesUsingBackend(b).forEach((p) => this.#enqueue('SecurityPolicy', p));
    });
    c.grants.on((_t, g) => {
      this.#enqueue('AccessGrant', g);
      const proxy = c.proxies.get(g.metadata.namespace ?? '', g.spec.proxyRef.name);
      if (proxy) this.#enqueue('ClarusProxy', proxy);
    });
    c.secrets.on((_t, s) => this.#onSecret(s));
    c.deployments.on((t: EventType, d) => this.#onOwned(t, d));
  }

  #grantsOf(proxy: KubeObject): KubeObject[] {
    return this.caches.grants.list(proxy.metadata.namespace).filter((g) => g.spec.proxyRef.name === proxy.metadata.name);
  }

  #policiesUsingBackend(b: KubeObject): KubeObject[] {
    return this.caches.policies.list(b.metadata.namespace).filter((p) => p.spec.backends.includes(b.metadata.name));
  }

  #onSecret(secret: KubeObject): void {
    const ns = secret.metadata.namespace;
    const name = secret.metadata.name;
    this.#enqueueProxiesUsing('Secret', secret);
    this.caches.policies.list(ns).filter((p) => p.spec.keyring.secretName === name).forEach((p) => this.#enqueue('SecurityPolicy', p));
    this.caches.backends.list(ns).filter((b) => backendSecrets(b).some((r) => r.name === name))
      .forEach((b) => this.#enqueue('CloudBackend', b));
    this.caches.grants.list(ns).filter((g) => g.spec.subject.passwordSecretRef?.name === name).forEach((g) => this.#enqueue('AccessGrant', g));
  }

  /** A Deployment's status changed: re-derive the owning proxy's status (replicas, Available). */
  #onOwned(_type: EventType, obj: KubeObject): void {
    const owner = obj.metadata.ownerReferences?.find((r) => r.controller && r.kind === 'ClarusProxy');
    if (!owner) return;
    const proxy = this.caches.proxies.get(obj.metadata.namespace ?? '', owner.name);
    if (proxy) this.#enqueue('ClarusProxy', proxy);
  }
}
