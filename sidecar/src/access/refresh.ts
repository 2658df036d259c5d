// Keeps the rewriter's catalog in step with the backend's committed catalog (the only source of
// the column lists and declared types the proxy uses; statement text never is). A load is awaited
// before the next statement that names a protected table when:
//  - a table's columns are not known yet (retried at most every RETRY_MS while one is missing,
//    e.g. not created yet);
//  - a session ended a transaction in which it ran DDL on a protected table (`invalidate`): the
//    load then shows what was committed, and nothing of what was rolled back, refused or skipped;
//  - the last load is older than MAX_AGE_MS (DDL made outside the proxy).
// One load in flight at a time. Nothing in the proxy rests on the column order being current (a
// statement that would, like INSERT without a column list, is refused): a stale catalog costs a
// backend error or an outdated declared type until the next load, never plaintext.
import type { CatalogTable } from '../rewrite/catalog.ts';
import type { Rewriter } from '../rewrite/rewriter.ts';
import type { CatalogLoader } from './catalog-loader.ts';

const RETRY_MS = 5000;
export const MAX_AGE_MS = 30_000;

export class CatalogRefresher {
  private readonly rw: Rewriter;
  private readonly load: CatalogLoader;
  private readonly now: () => Date;
  private inFlight: Promise<void> | null = null;
  private lastAttempt = -Infinity;
  private lastLoad = -Infinity;
  private invalidated = false;
  /** Last load error (kept for diagnostics; a failed load leaves the catalog as it was). */
  lastError: Error | null = null;

  constructor(rw: Rewriter, load: CatalogLoader, now: () => Date) {
    this.rw = rw;
    this.load = load;
    this.now = now;
  }

  /** The committed schema may have changed: load every table again before its next use. */
  invalidate(): void {
    this.invalidated = true;
  }

  /** A promise to await before analyzing `sql`, or null when nothing needs loading. */
  before(sql: string): Promise<void> | null {
    if (!this.rw.mentions(sql) && !this.rw.introspectsSplit(sql)) return null;
    // A load that started before an invalidation may not show the committed change: load again.
    if (this.inFlight) return this.invalidated ? this.inFlight.then(() => this.before(sql) ?? undefined) : this.inFlight;
    const tables = this.due(this.now().getTime());
    if (tables.length === 0) return null;
    this.lastAttempt = this.now().getTime();
    this.invalidated = false;
    this.inFlight = this.load(tables)
      .then((declared) => {
        this.rw.learn(tables, declared);
        this.lastLoad = this.now().getTime();
      }, (e: unknown) => { this.lastError = e as Error; })
      .finally(() => { this.inFlight = null; });
    return this.inFlight;
  }

  private due(now: number): CatalogTable[] {
    if (this.invalidated) return this.rw.catalog.all();
    // A failed or fruitless attempt is not repeated before RETRY_MS.
    if (now - this.lastAttempt < RETRY_MS) return [];
    return now - this.lastLoad >= MAX_AGE_MS ? this.rw.catalog.all() : this.rw.catalog.unloaded();
  }
}
