// Statement analyses by source, for this process: counted by the rewriters the protection setup
// makes (access/setup.ts), read by the metrics registry on scrape
// (clarus_statement_analyses_total{source}): `cache` (same text as an earlier one), `shape` (same
// text but for literal values: the shape cache, issue 15), `full` (parsed and analysed).
export type AnalysisSource = 'cache' | 'shape' | 'full';

const counts: Record<AnalysisSource, number> = { cache: 0, shape: 0, full: 0 };

export function countAnalysis(source: AnalysisSource): void {
  counts[source]++;
}

export function analysisCounts(): Readonly<Record<AnalysisSource, number>> {
  return counts;
}
