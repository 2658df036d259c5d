// Refused statements by SQLSTATE and reason, for this process: counted where the pipeline decides
// (and audits) a refusal, read by the metrics registry on scrape (clarus_refusals_total{code,reason}
// since the start, clarus_refusals_recent{code,reason} over the last RECENT_MINUTES). The reason is
// the name of the refusal's entry in rewrite/refusals.ts, or one of the pipeline's own reasons
// (accessDenied, viewChanged, functionCall): a closed list, so the label's cardinality is bounded.
// The clock is the caller's: this module keeps no timer.

export const RECENT_MINUTES = 15;
const MINUTE_MS = 60_000;

interface Series { code: string; reason: string; total: number; minutes: Map<number, number> }

const series = new Map<string, Series>();

export function countRefusal(code: string, reason: string, nowMs: number): void {
  const key = `${code}\u0000${reason}`;
  const s = series.get(key) ?? { code, reason, total: 0, minutes: new Map() };
  series.set(key, s);
  s.total += 1;
  const minute = Math.floor(nowMs / MINUTE_MS);
  s.minutes.set(minute, (s.minutes.get(minute) ?? 0) + 1);
  for (const m of s.minutes.keys()) if (m <= minute - RECENT_MINUTES) s.minutes.delete(m);
}

export interface RefusalCount { code: string; reason: string; total: number; recent: number }

/** Every series: its total since the start and its count over the last RECENT_MINUTES at `nowMs`. */
export function refusalCounts(nowMs: number): RefusalCount[] {
  const minute = Math.floor(nowMs / MINUTE_MS);
  return [...series.values()].map((s) => ({
    code: s.code, reason: s.reason, total: s.total,
    recent: [...s.minutes].reduce((n, [m, c]) => (m > minute - RECENT_MINUTES ? n + c : n), 0),
  }));
}
