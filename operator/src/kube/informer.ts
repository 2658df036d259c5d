// List + watch with a local cache. A watch that ends (server timeout, disconnect) resumes from the last
// resourceVersion seen; a 410 Gone (history compacted) or a failed resume falls back to a fresh list,
// and objects that disappeared meanwhile are reported as deleted.
import type { Logger } from '../log.ts';
import type { KubeObject } from '../specs/types.ts';
import type { KubeClient, WatchEvent } from './client.ts';

/** The two calls an informer makes. */
export type ListWatch = Pick<KubeClient, 'list' | 'watch'>;
import { apiVersionOf } from './resources.ts';
import type { ResourceType } from './resources.ts';

export type EventType = 'added' | 'modified' | 'deleted';
export type Listener<T> = (type: EventType, obj: T) => void;

export const objectKey = (obj: { metadata: { namespace?: string; name: string } }): string =>
  `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;

/** Read side of a cache, shared by one informer and a set of per-namespace informers. */
export interface Cache<T extends KubeObject = KubeObject> {
  on(listener: Listener<T>): void;
  get(namespace: string, name: string): T | undefined;
  list(namespace?: string): T[];
  synced(): boolean;
  waitForSync(): Promise<void>;
  start(): void;
  stop(): void;
}

export interface Scope { namespace?: string; labelSelector?: string }

export class Informer<T extends KubeObject = KubeObject> implements Cache<T> {
  readonly resource: ResourceType;
  readonly #namespace: string | undefined;
  readonly #labelSelector: string | undefined;
  readonly #client: ListWatch;
  readonly #log: Logger;
  readonly #cache = new Map<string, T>();
  readonly #listeners: Array<Listener<T>> = [];
  #resourceVersion = '';
  #synced = false;
  #syncWaiters: Array<() => void> = [];
  #abort = new AbortController();

  /** `scope.namespace` undefined: all namespaces; `scope.labelSelector` narrows what is cached. */
  constructor(client: ListWatch, resource: ResourceType, log: Logger, scope: Scope = {}) {
    const { namespace, labelSelector } = scope;
    this.#client = client;
    this.resource = resource;
    this.#namespace = namespace;
    this.#labelSelector = labelSelector;
    this.#log = log.child({ informer: resource.plural, ...(namespace ? { namespace } : {}) });
  }

  on(listener: Listener<T>): void {
    this.#listeners.push(listener);
  }

  get(namespace: string, name: string): T | undefined {
    return this.#cache.get(`${namespace}/${name}`);
  }

  list(namespace?: string): T[] {
    const all = [...this.#cache.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata.namespace === namespace);
  }

  synced(): boolean {
    return this.#synced;
  }

  waitForSync(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve) => this.#syncWaiters.push(resolve));
  }

  start(): void {
    void this.#loop();
  }

  stop(): void {
    this.#abort.abort();
  }

  async #loop(): Promise<void> {
    let failures = 0;
    let needList = true;
    while (!this.#abort.signal.aborted) {
      try {
        if (needList) await this.#relist();
        needList = false;
        const gone = await this.#watchOnce();
        needList = gone;
        failures = 0;
      } catch (error) {
        failures += 1;
        needList = true;
        this.#log.warn('watch failed, will relist', { error, failures });
        await sleep(Math.min(30_000, 500 * 2 ** Math.min(failures, 6)), this.#abort.signal);
      }
    }
  }

  async #relist(): Promise<void> {
    const { items, resourceVersion } = await this.#client.list<T>(this.resource, this.#namespace, this.#labelSelector);
    const seen = new Set<string>();
    for (const item of items) {
      // List items carry no apiVersion/kind; watch events do. Fill them so both look alike.
      const obj = { ...item, apiVersion: apiVersionOf(this.resource), kind: this.resource.kind };
      seen.add(objectKey(obj));
      this.#store(obj);
    }
    for (const [key, obj] of [...this.#cache]) {
      if (!seen.has(key)) {
        this.#cache.delete(key);
        this.#emit('deleted', obj);
      }
    }
    this.#resourceVersion = resourceVersion;
    if (!this.#synced) {
      this.#synced = true;
      for (const w of this.#syncWaiters.splice(0)) w();
    }
  }

  /** Returns true when the watch ended with 410 Gone (a relist is needed). */
  async #watchOnce(): Promise<boolean> {
    let gone = false;
    const opts = { resourceVersion: this.#resourceVersion, namespace: this.#namespace, labelSelector: this.#labelSelector, signal: this.#abort.signal };
    await this.#client.watch<T>(this.resource, opts, (event) => {
      gone = this.#handle(event) || gone;
    });
    return gone;
  }

  #handle(event: WatchEvent<T>): boolean {
    if (event.type === 'ERROR') {
      const status = event.object as unknown as { code?: number; message?: string };
      this.#log.info('watch error event', { code: status.code, message: status.message });
      return true;
    }
    const rv = event.object.metadata?.resourceVersion;
    if (rv) this.#resourceVersion = rv;
    if (event.type === 'BOOKMARK') return false;
    if (event.type === 'DELETED') {
      this.#cache.delete(objectKey(event.object));
      this.#emit('deleted', event.object);
    } else {
      this.#store(event.object);
    }
    return false;
  }

  #store(obj: T): void {
    const key = objectKey(obj);
    const previous = this.#cache.get(key);
    if (previous && previous.metadata.resourceVersion === obj.metadata.resourceVersion) return;
    this.#cache.set(key, obj);
    this.#emit(previous ? 'modified' : 'added', obj);
  }

  #emit(type: EventType, obj: T): void {
    for (const l of this.#listeners) {
      try {
        l(type, obj);
      } catch (error) {
        this.#log.error('listener failed', { error });
      }
    }
  }
}

/** One informer per watched namespace behind the Cache interface (--watch-namespace). */
export class InformerSet<T extends KubeObject = KubeObject> implements Cache<T> {
  readonly #members: Map<string, Informer<T>>;

  constructor(client: ListWatch, resource: ResourceType, log: Logger, scope: { namespaces: string[]; labelSelector?: string }) {
    const { namespaces, labelSelector } = scope;
    this.#members = new Map(namespaces.map((ns) => [ns, new Informer<T>(client, resource, log, { namespace: ns, labelSelector })]));
  }

  on(listener: Listener<T>): void {
    for (const m of this.#members.values()) m.on(listener);
  }

  get(namespace: string, name: string): T | undefined {
    return this.#members.get(namespace)?.get(namespace, name);
  }

  list(namespace?: string): T[] {
    if (namespace !== undefined) return this.#members.get(namespace)?.list(namespace) ?? [];
    return [...this.#members.values()].flatMap((m) => m.list());
  }

  synced(): boolean {
    return [...this.#members.values()].every((m) => m.synced());
  }

  async waitForSync(): Promise<void> {
    await Promise.all([...this.#members.values()].map((m) => m.waitForSync()));
  }

  start(): void {
    for (const m of this.#members.values()) m.start();
  }

  stop(): void {
    for (const m of this.#members.values()) m.stop();
  }
}

export function makeCache<T extends KubeObject>(client: ListWatch, resource: ResourceType, log: Logger,
  scope: { namespaces: string[]; labelSelector?: string }): Cache<T> {
  return scope.namespaces.length === 0
    ? new Informer<T>(client, resource, log, { labelSelector: scope.labelSelector })
    : new InformerSet<T>(client, resource, log, scope);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
