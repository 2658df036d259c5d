// Per-object work queue (after client-go's workqueue): a key is queued at most once, never processed
// by two workers at the same time (an add during processing re-queues it after), at most
// `concurrency` keys run at once, and failures are retried with exponential backoff.

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export type Outcome = 'success' | 'error';
export interface HandlerResult { requeueAfterMs?: number }
export type Handler = (key: string) => Promise<HandlerResult | void>;

export interface QueueOptions {
  concurrency: number;
  baseDelayMs: number;
  maxDelayMs: number;
  timers?: Timers;
  onDone?: (key: string, outcome: Outcome, error?: unknown) => void;
}

export function backoffDelay(failures: number, baseMs: number, maxMs: number): number {
  if (failures <= 0) return 0;
  return Math.min(maxMs, baseMs * 2 ** Math.min(failures - 1, 30));
}

export class WorkQueue {
  readonly #handler: Handler;
  readonly #opts: QueueOptions;
  readonly #timers: Timers;
  readonly #order: string[] = [];
  readonly #queued = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #delayed = new Map<string, unknown>();
  #stopped = false;
  #idleWaiters: Array<() => void> = [];

  constructor(handler: Handler, opts: QueueOptions) {
    this.#handler = handler;
    this.#opts = opts;
    this.#timers = opts.timers ?? realTimers;
  }

  /** Number of keys waiting (queued, not yet processing). */
  depth(): number {
    return this.#order.length;
  }

  add(key: string): void {
    if (this.#stopped) return;
    if (this.#processing.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    this.#order.push(key);
    this.#pump();
  }

  /** Adds the key after `ms`; an earlier pending delayed add of the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.#stopped) return;
    if (ms <= 0) return this.add(key);
    if (this.#delayed.has(key)) return;
    const handle = this.#timers.setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, ms);
    this.#delayed.set(key, handle);
  }

  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  stop(): void {
    this.#stopped = true;
    for (const handle of this.#delayed.values()) this.#timers.clearTimeout(handle);
    this.#delayed.clear();
    this.#order.length = 0;
    this.#queued.clear();
  }

  /** Resolves when nothing is queued or processing (delayed retries do not count). For tests. */
  idle(): Promise<void> {
    if (this.#order.length === 0 && this.#processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #pump(): void {
    while (!this.#stopped && this.#processing.size < this.#opts.concurrency && this.#order.length > 0) {
      const key = this.#order.shift() as string;
      this.#queued.delete(key);
      this.#processing.add(key);
      void this.#run(key);
    }
    if (this.#order.length === 0 && this.#processing.size === 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  async #run(key: string): Promise<void> {
    let retryAfter: number | undefined;
    try {
      const result = await this.#handler(key);
      this.#failures.delete(key);
      retryAfter = result?.requeueAfterMs;
      this.#opts.onDone?.(key, 'success');
    } catch (error) {
      const n = this.failures(key) + 1;
      this.#failures.set(key, n);
      retryAfter = backoffDelay(n, this.#opts.baseDelayMs, this.#opts.maxDelayMs);
      this.#opts.onDone?.(key, 'error', error);
    }
    this.#processing.delete(key);
    if (this.#dirty.delete(key)) this.add(key);
    else if (retryAfter !== undefined) this.addAfter(key, retryAfter);
    this.#pump();
  }
}
