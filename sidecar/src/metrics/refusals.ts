// Refused statements by SQLSTATE, for this process: counted where the pipeline decides (and audits)
// a refusal, read by the metrics registry on scrape (clarus_refusals_total{code}).
const counts = new Map<string, number>();

export function countRefusal(code: string): void {
  counts.set(code, (counts.get(code) ?? 0) + 1);
}

export function refusalCounts(): ReadonlyMap<string, number> {
  return counts;
}
