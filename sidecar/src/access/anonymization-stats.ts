// Counters of the k-anonymity batches this process stored or refused (COPY FROM, multi-row INSERT,
// rows held until COMMIT), read by the
// metrics registry on scrape (clarus_anonymization_* in docs/proxy.md), like residual/stats.ts.
import type { BatchReport } from '../protection/anonymization/microaggregate.ts';

export interface AnonymizationStats {
  /** Batches anonymized and sent on. */
  batches: number;
  /** Batches refused (fewer than k records, NULL or unreadable quasi-identifiers). */
  refused: number;
  records: number;
  classes: number;
  /** The report of the last batch (-1 before the first; t and SSE/SST -1 when not computed). */
  last: { k: number; t: number; sseSst: number; classes: number; records: number };
}

export const anonymizationStats: AnonymizationStats = { batches: 0, refused: 0, records: 0, classes: 0, last: { k: -1, t: -1, sseSst: -1, classes: -1, records: -1 } };

export function countBatch(r: BatchReport): void {
  anonymizationStats.batches++;
  anonymizationStats.records += r.records;
  anonymizationStats.classes += r.classes;
  anonymizationStats.last = { k: r.k, t: r.t ?? -1, sseSst: r.sseSstRaw ?? -1, classes: r.classes, records: r.records };
}
