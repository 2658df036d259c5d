// Keeps the rewriter's catalog in step with the backend's committed catalog (the only source of
// the column lists and declared types the proxy uses; statement text never is). A load is awaited
// before the next statement that names a protected table when:
//  - a table's columns are not known yet (retried at most every RETRY_MS while one is missing,
//    e.g. not created yet);
//  - a session ended a transaction in which it ran DDL on a protected table (`invalidate`): the
//    load then shows what was committed, and nothing of what was rolled back, refused or skipped;
//  - the last load is older than MAX_AGE_MS (DDL made outside the proxy).
// The views the proxy keeps (rewrite/views.ts) are loaded with every load of the tables, and before
// any statement while they were never loaded or after an invalidation (a statement naming only a
// view does not name a protected table; a replica that did not know a view learns of it from the
// stand-in's STALE_MARKER error, access/pipeline.ts backendError).
// One load in flight at a time. Nothing in the proxy rests on the column order being current (a
// statement that would, like INSERT without a column list, is refused): a stale catalog costs a
// backend error or an outdated declared type until the next load, never plaintext.
import type { CatalogTable } from '../rewrite/catalog.ts';
import type { Rewriter } from '../rewrite/rewriter.ts';
import type { CatalogLoader, ViewLoader } from './catalog-loader.ts';

const RETRY_MS = 5000;
export const MAX_AGE_MS = 30_000;

export class CatalogRefresher {
  private readonly rw: Rewriter;
  private readonly load: CatalogLoader;
  private readonly now: () => Date;
  private readonly views: ViewLoader | undefined;
  private inFlight: Promise<void> | null = null;
  private lastAttempt = -Infinity;
  private lastLoad = -Infinity;
  private invalidated = false;
  /** Last load error (kept for diagnostics; a failed load leaves the catalog as it was). */
  lastError: Error | null = null;

  constructor(rw: Rewriter, load: CatalogLoader, now: () => Date, views?: ViewLoader) {
    this.rw = rw;
    this.load = load;
    this.now = now;
    this.views = views;
  }

  /** The committed schema may have changed: load every table again before its next use. */
  invalidate(): void {
    this.invalidated = true;
  }

  /** A promise to await before analyzing `sql`, or null when nothing needs loading. */
  before(sql: string): Promise<void> | null {
    const viewsUnknown = this.views !== undefined && !this.rw.catalog.viewsLoaded;
    if (!this.invalidated && !viewsUnknown && !this.rw.mentions(sql) && !this.rw.introspectsSplit(sql)) return null;
    // A load that started before an invalidation may not show the committed change: load again.
    if (this.inFlight) return this.invalidated ? this.inFlight.then(() => this.before(sql) ?? undefined) : this.inFlight;
    const now = this.now().getTime();
    const tables = this.due(now);
    const views = this.viewsDue(now, tables.length > 0, viewsUnknown);
    if (tables.length === 0 && !views) return null;
    this.lastAttempt = now;
    this.invalidated = false;
    this.inFlight = this.loadNow(tables, views).finally(() => { this.inFlight = null; });
    return this.inFlight;
  }

  /** The view loader when the views are loaded now: with the tables, or when never loaded (not more often than RETRY_MS). */
  private viewsDue(now: number, withTables: boolean, unknown: boolean): ViewLoader | undefined {
    return withTables || (unknown && now - this.lastAttempt >= RETRY_MS) ? this.views : undefined;
  }

  private loadNow(tables: readonly CatalogTable[], views: ViewLoader | undefined): Promise<void> {
    const declared = tables.length > 0 ? this.load(tables) : Promise.resolve(null);
    return Promise.all([declared, views ? views() : Promise.resolve(null)])
      .then(([d, v]) => {
        if (d) {
          this.rw.learn(tables, d);
          this.lastLoad = this.now().getTime();
        }
        if (v) this.rw.learnViews(v);
      }, (e: unknown) => { this.lastError = e as Error; });
  }

  private due(now: number): readonly CatalogTable[] {
    if (this.invalidated) return this.rw.catalog.all();
    // A failed or fruitless attempt is not repeated before RETRY_MS.
    if (now - this.lastAttempt < RETRY_MS) return [];
    return now - this.lastLoad >= MAX_AGE_MS ? this.rw.catalog.all() : this.rw.catalog.unloaded();
  }
}
