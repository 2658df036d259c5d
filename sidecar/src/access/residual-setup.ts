// I/O shell of the in-proxy stage: reads the backend database's locale (text order and case
// mapping must be the backend's, docs/residual-engine.md), starts the engine pool in the
// background, and gives the pipeline a ResidualService whose calls wait for it; after idleSeconds
// without a call the pool is closed (its worker threads exit and give their WebAssembly memory
// back) and the next call starts it again. A backend whose
// locale the engine does not reproduce gets every two-stage statement refused (0A000, naming the
// locale), never answered in another order.
import type { BackendSecrets } from '../config/load.ts';
import { backendLocaleSql, localeSupport } from '../residual/collation.ts';
import type { BackendLocale, LocaleSupport } from '../residual/collation.ts';
import { ResidualPool } from '../residual/engine.ts';
import type { EngineOptions } from '../residual/engine.ts';
import { ResidualLimitError, ResidualQueryError, ResidualUnsupportedError } from '../residual/errors.ts';
import type { ResidualCall, ResidualResult } from '../residual/types.ts';
import { residualStats } from '../residual/stats.ts';
import { simpleQuery } from './catalog-loader.ts';
import { trimHeap } from '../io/native-relay.ts';
import type { ResidualService } from './residual-stage.ts';

export interface ResidualOptions {
  /** Candidate rows per statement (default 100,000). */
  maxRows?: number;
  /** Bytes of candidate values per statement (default 32 MiB). */
  maxBytes?: number;
  /** Engine instances (each a worker thread and ~300 MiB; default 1). */
  engines?: number;
  /** Seconds without a call after which the engines are stopped (default 600; 0: never). */
  idleSeconds?: number;
  /**
   * How the engines are started (default: ResidualPool.start). A test seam, nothing configures it:
   * residual-failure.test wraps real engines so that a call fails as it does when the engine's worker
   * thread dies, a fault that cannot be produced from outside the process.
   */
  startPool?: (engines: number, opts: EngineOptions) => Promise<EnginePool>;
}

/** What a service runs calls on: a ResidualPool. */
export type EnginePool = Pick<ResidualPool, 'run' | 'close'>;

/** Longest idle stop (ClarusProxy limits.computeIdleSeconds' maximum: 7 days; a timer holds at most 24.8). */
export const MAX_IDLE_SECONDS = 604_800;

export const RESIDUAL_DEFAULTS = { maxRows: 100_000, maxBytes: 32 << 20, engines: 1, idleSeconds: 600 } as const;

async function readLocale(b: BackendSecrets, timeoutMs: number): Promise<BackendLocale> {
  // One connection: the query's column names follow the major the server reports at startup.
  let major = 15;
  const [row] = await simpleQuery(b, (server) => {
    major = Number.parseInt(server.get('server_version') ?? '15', 10) || 15;
    return backendLocaleSql(major);
  }, timeoutMs);
  const [provider, collate, ctype, locale, encoding] = row ?? [];
  return { provider: (provider ?? 'c') as BackendLocale['provider'], collate: collate ?? '', ctype: ctype ?? '', locale: locale || null, encoding: encoding ?? '', serverMajor: major };
}

/** The backend's text semantics when the engine reproduces them; ResidualUnsupportedError otherwise. */
async function checkLocale(b: BackendSecrets | undefined, timeoutMs: number): Promise<LocaleSupport> {
  if (!b) throw new ResidualUnsupportedError('no backend to read the locale from');
  const support = localeSupport(await readLocale(b, timeoutMs));
  if (!support.ordering || !support.caseMapping) throw new ResidualUnsupportedError(`the backend's text semantics are not reproduced (${support.reason})`);
  return support;
}

/** A failed start: the backend's locale is final; anything else (backend unreachable) is tried again (`retry`). */
function startFailure(e: unknown, retry: () => void): never {
  if (e instanceof ResidualUnsupportedError) throw e;
  retry();
  throw new ResidualUnsupportedError(`the in-proxy stage could not start: ${(e as Error).message}`);
}

export function startResidualService(o: ResidualOptions, b: BackendSecrets | undefined, timeoutMs: number): ResidualService {
  let locale: Promise<LocaleSupport> | null = null;
  let localeKnown = false;
  // Read once, before anything is computed in the proxy, with or without the engine.
  const semantics = (): Promise<LocaleSupport> => {
    locale ??= checkLocale(b, timeoutMs).then((s) => { localeKnown = true; return s; }, (e: unknown) => startFailure(e, () => { locale = null; }));
    return locale;
  };
  let pool: Promise<EnginePool> | null = null;
  const engines = o.engines ?? RESIDUAL_DEFAULTS.engines;
  const startPool = o.startPool ?? ((n: number, opts: EngineOptions) => ResidualPool.start(n, opts));
  const ready = (): Promise<EnginePool> => {
    // A failed start (backend unreachable) is tried again by the next statement.
    if (!pool) residualStats.engineStarts++;
    pool ??= semantics().then((s) => startPool(engines, { locale: s.engine }))
      .then((started) => { residualStats.enginesRunning += engines; return started; })
      .catch((e: unknown) => startFailure(e, () => { pool = null; }));
    return pool;
  };
  /** Closes a started pool once (its worker threads exit); the gauge follows once they have. */
  const closed = new WeakSet<EnginePool>();
  const close = (started: EnginePool): Promise<void> => {
    if (closed.has(started)) return Promise.resolve();
    closed.add(started);
    return started.close().finally(() => { residualStats.enginesRunning -= engines; });
  };
  // The idle stop: armed when the last call in flight ends, disarmed by the next call.
  let inFlight = 0;
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  const stopIfIdle = (p: Promise<EnginePool>): void => {
    if (inFlight > 0 || pool !== p) return;
    pool = null;
    residualStats.engineStops++;
    // Once its threads have exited, the C heap's free pages go back too (≈ 15–30 MiB more).
    void p.then(close).then(() => { trimHeap(); }, () => undefined);
  };
  const armIdleStop = (seconds: number): void => {
    clearTimeout(idleTimer);
    const p = pool;
    if (!p || !(seconds > 0)) return;
    idleTimer = setTimeout(() => stopIfIdle(p), Math.min(seconds, MAX_IDLE_SECONDS) * 1000);
    idleTimer.unref();
  };
  return {
    maxRows: o.maxRows ?? RESIDUAL_DEFAULTS.maxRows,
    maxBytes: o.maxBytes ?? RESIDUAL_DEFAULTS.maxBytes,
    stats: residualStats,
    textSemantics: async () => { await semantics(); },
    textSemanticsKnown: () => localeKnown,
    async run(call: ResidualCall, idleSeconds?: number): Promise<ResidualResult> {
      inFlight++;
      clearTimeout(idleTimer);
      try {
        const current = ready();
        const p = await current;
        try {
          return await p.run(call);
        } catch (e) {
          if (e instanceof ResidualLimitError || e instanceof ResidualQueryError || e instanceof ResidualUnsupportedError) throw e;
          // The engine itself failed (its worker died): start a new one for the next statement
          // (unless a call that failed before this one already did).
          if (pool === current) pool = null;
          void close(p).catch(() => undefined);
          throw new ResidualUnsupportedError(`the in-proxy stage failed and is restarted: ${(e as Error).message}`);
        }
      } finally {
        inFlight--;
        if (inFlight === 0) armIdleStop(idleSeconds ?? o.idleSeconds ?? RESIDUAL_DEFAULTS.idleSeconds);
      }
    },
  };
}
