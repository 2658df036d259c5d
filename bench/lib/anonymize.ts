// The anonymization benchmark of issue 13: the CLARUS eHealth set (34,025 records) microaggregated
// in memory for k = 3, 5, 10, without and with t = 0.3 and 0.1 on the diagnosis: time per run and
// information loss, next to what CLARUS 1.0's Java module reached on the same data.
import { readFileSync } from 'node:fs';
import { microaggregate } from '@clarus/sidecar/protection/anonymization/microaggregate.ts';
import type { BatchColumn, BatchReport } from '@clarus/sidecar/protection/anonymization/microaggregate.ts';
import { clarusFile } from '@clarus/testing/clarus-data.ts';

export const EHEALTH = clarusFile('data_clarus2.txt');

/** The eHealth columns as CLARUS's properties.xml classifies them. */
export const EHEALTH_COLUMNS: BatchColumn[] = [
  { name: 'ep_id', role: 'other', kind: 'category' }, { name: 'ep_age', role: 'qi', kind: 'integer' },
  { name: 'ep_range', role: 'qi', kind: 'integer' }, { name: 'dis_id', role: 'other', kind: 'category' },
  { name: 'dis_adm', role: 'qi', kind: 'date' }, { name: 'dis_dis', role: 'qi', kind: 'date' },
  { name: 'dis_days', role: 'qi', kind: 'integer' }, { name: 'ep_pat', role: 'other', kind: 'category' },
  { name: 'pat_gen', role: 'qi', kind: 'category' }, { name: 'pat_zip', role: 'qi', kind: 'category' },
  { name: 'dia_id', role: 'confidential', kind: 'category' },
];

export interface AnonymizeResult { k: number; t: number | null; medianMs: number; runsMs: number[]; report: BatchReport }

export function anonymizeBench(path = EHEALTH, runs = 3): AnonymizeResult[] {
  const rows = readFileSync(path, 'utf8').split('\n').slice(1).filter(Boolean).map((l) => l.split(','));
  const out: AnonymizeResult[] = [];
  for (const k of [3, 5, 10]) {
    for (const t of [undefined, 0.3, 0.1]) {
      const runsMs: number[] = [];
      let report: BatchReport | undefined;
      for (let i = 0; i < runs; i++) {
        const start = performance.now();
        const r = microaggregate({ k, t, columns: EHEALTH_COLUMNS }, rows);
        runsMs.push(performance.now() - start);
        if (!r.ok) throw new Error(`batch refused: ${JSON.stringify(r.failure)}`);
        report = r.report;
      }
      const sorted = [...runsMs].sort((a, b) => a - b);
      out.push({ k, t: t ?? null, medianMs: sorted[Math.floor(sorted.length / 2)] as number, runsMs, report: report as BatchReport });
    }
  }
  return out;
}

export function anonymizeTable(results: AnonymizeResult[]): string {
  const f = (x: number | null, d = 3): string => (x === null ? '–' : x.toFixed(d));
  const lines = ['| k | t | median ms | classes | achieved k | achieved t | SSE/SST raw | SSE/SST std | categories changed | merges for t |', '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |'];
  for (const r of results) {
    lines.push(`| ${r.k} | ${r.t ?? '–'} | ${Math.round(r.medianMs)} | ${r.report.classes} | ${r.report.k} | ${f(r.report.t)} | ${f(r.report.sseSstRaw)} | ${f(r.report.sseSst)} | ${f(r.report.categoriesChanged)} | ${r.report.merges} |`);
  }
  return lines.join('\n');
}
