// Counters of the in-proxy stage of two-stage statements, for this process (one residual engine
// pool per process): read by the metrics registry on scrape (clarus_residual_* in docs/proxy.md).
export interface ResidualStats {
  /** Two-stage statements whose in-proxy stage ran. */
  statements: number;
  /** Stage runs that failed (the statement's error: an expression, a limit, an unsupported type). */
  failed: number;
  /** Candidate rows the backend stage fetched and the engine loaded. */
  candidateRows: number;
  /** Rows the stage returned to clients. */
  resultRows: number;
  /** Candidate rows computed by the fast path (rewrite/two-stage/fast-path.ts) instead of the engine. */
  fastRows: number;
  /** Milliseconds spent waiting for the engine. */
  engineMs: number;
  /** Engine pool starts (the first two-stage statement starts it; a failed engine is started again). */
  engineStarts: number;
  /** Engine pool stops after limits.computeIdleSeconds without a call (its memory given back). */
  engineStops: number;
  /** Engine instances running now (started, not yet closed). */
  enginesRunning: number;
  /** Engine instances started with initdb: no fresh data directory (shipped in build/engine, or kept from the process's first engine) was given or loaded. */
  engineInitdbs: number;
}

export const residualStats: ResidualStats = { statements: 0, failed: 0, candidateRows: 0, resultRows: 0, fastRows: 0, engineMs: 0, engineStarts: 0, engineStops: 0, enginesRunning: 0, engineInitdbs: 0 };
