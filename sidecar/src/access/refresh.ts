// Keeps the rewriter's catalog in step with the backend: before the first statement that names a
// protected table whose declared columns are unknown, the loader is awaited (one load in flight
// at a time, retried at most every RETRY_MS while a table is still missing, e.g. not created yet).
import type { Rewriter } from '../rewrite/rewriter.ts';
import type { CatalogLoader } from './catalog-loader.ts';

const RETRY_MS = 5000;

export class CatalogRefresher {
  private readonly rw: Rewriter;
  private readonly load: CatalogLoader;
  private readonly now: () => Date;
  private inFlight: Promise<void> | null = null;
  private lastAttempt = -Infinity;
  /** Last load error (kept for diagnostics; a failed load leaves the catalog as it was). */
  lastError: Error | null = null;

  constructor(rw: Rewriter, load: CatalogLoader, now: () => Date) {
    this.rw = rw;
    this.load = load;
    this.now = now;
  }

  /** A promise to await before analyzing `sql`, or null when nothing needs loading. */
  before(sql: string): Promise<void> | null {
    if (this.inFlight) return this.rw.mentions(sql) ? this.inFlight : null;
    if (!this.rw.mentions(sql)) return null;
    const missing = this.rw.catalog.unloaded();
    if (missing.length === 0 || this.now().getTime() - this.lastAttempt < RETRY_MS) return null;
    this.lastAttempt = this.now().getTime();
    this.inFlight = this.load(missing)
      .then((declared) => this.rw.learn(declared), (e: unknown) => { this.lastError = e as Error; })
      .finally(() => { this.inFlight = null; });
    return this.inFlight;
  }
}
