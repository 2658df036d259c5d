// List + watch with a local cache. A watch that ends (server timeout, disconnect) resumes from the last
// resourceVersion seen; a 410 Gone (history compacted) or a failed resume falls back to a fresh list,
// and objects that disappeared meanwhile are reported as deleted.
import type { Logger } from '../log.ts';
import type { KubeObject } from '../specs/types.ts';
import type { KubeClient, WatchEvent } from './client.ts';
import type { ResourceType } from './resources.ts';

export type EventType = 'added' | 'modified' | 'deleted';
export type Listener<T> = (type: EventType, obj: T) => void;

export const objectKey = (obj: { metadata: { namespace?: string; name: string } }): string =>
  `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;

export class Informer<T extends KubeObject = KubeObject> {
  readonly resource: ResourceType;
  readonly #client: KubeClient;
  readonly #log: Logger;
  readonly #cache = new Map<string, T>();
  readonly #listeners: Array<Listener<T>> = [];
  #resourceVersion = '';
  #synced = false;
  #syncWaiters: Array<() => void> = [];
  #abort = new AbortController();

  constructor(client: KubeClient, resource: ResourceType, log: Logger) {
    this.#client = client;
    this.resource = resource;
    this.#log = log.child({ informer: resource.plural });
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
    const { items, resourceVersion } = await this.#client.list<T>(this.resource);
    const seen = new Set<string>();
    for (const item of items) {
      const obj = { ...item, apiVersion: item.apiVersion ?? '', kind: item.kind ?? this.resource.kind } as T;
      obj.apiVersion ||= this.resource.group ? `${this.resource.group}/${this.resource.version}` : this.resource.version;
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
    await this.#client.watch<T>(this.resource, this.#resourceVersion, (event) => {
      gone = this.#handle(event) || gone;
    }, this.#abort.signal);
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
