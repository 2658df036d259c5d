// The encrypted-column section of the benchmark report (issue 4): per scenario and client count,
// each target's median throughput with its ratio to the pass-through proxy and to direct
// PostgreSQL; COPY rows show rows/s and seconds. Pure: no I/O.
import type { BenchReport, SummaryRow } from './report.ts';

const isEnc = (scenario: string) => scenario.startsWith('enc-');

/** direct, then the baseline proxy, then the encrypting proxies by name. */
export function encTargetOrder(targets: string[]): string[] {
  const rank = (t: string) => (t === 'direct' ? 0 : t === 'clarus' ? 1 : 2);
  return [...new Set(targets)].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

function ratios(row: SummaryRow): string {
  const parts: string[] = [];
  if (row.ratioToProxy !== null) parts.push(`${row.ratioToProxy.toFixed(2)}x proxy`);
  if (row.ratioToDirect !== null && row.target !== 'direct') parts.push(`${row.ratioToDirect.toFixed(2)}x direct`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

export function encCell(row: SummaryRow | undefined): string {
  if (!row) return 'n/a';
  const main = row.secondsMedian === null
    ? `${row.tpsMedian.toFixed(0)} tps, p99 ${row.p99MedianMs.toFixed(2)} ms`
    : `${row.tpsMedian.toFixed(0)} rows/s, ${row.secondsMedian.toFixed(2)} s`;
  return main + ratios(row);
}

export function encMarkdown(r: BenchReport): string[] {
  const rows = r.summary.filter((s) => isEnc(s.scenario));
  const aborted = r.aborted.filter((a) => isEnc(a.scenario));
  if (rows.length === 0 && aborted.length === 0) return [];
  const targets = encTargetOrder(rows.map((s) => s.target));
  const proxies = targets.filter((t) => t !== 'direct');
  const keys = [...new Set(rows.map((s) => `${s.scenario}\u0000${s.clients}`))];
  const find = (k: string, t: string) => rows.find((s) => `${s.scenario}\u0000${s.clients}` === k && s.target === t);
  const lines = [
    '', '## Encrypted columns', '',
    'The same workload on PostgreSQL directly, through the proxy without encrypted columns (`clarus`, the baseline) and through the',
    'proxy encrypting 2 (`clarus-enc2`) and 5 columns (`clarus-enc5`); tables created through each target. Ratios: throughput over',
    `the baseline proxy (x proxy) and over direct (x direct). COPY: ${String(r.settings.copyRows ?? '?')} rows in text format through psql, rows/s and seconds`,
    '(one COPY per round). CPU is the proxy process\'s user+system time per transaction (COPY: per row).', '',
    `| scenario | clients | ${targets.join(' | ')} | ${proxies.map((t) => `${t} CPU µs`).join(' | ')} |`,
    `| --- | ---: | ${[...targets, ...proxies].map(() => '---:').join(' | ')} |`,
    ...keys.map((k) => {
      const [scenario, clients] = k.split('\u0000');
      const cpu = proxies.map((t) => find(k, t)?.cpuUsPerTxMedian?.toFixed(1) ?? 'n/a');
      return `| ${scenario} | ${clients} | ${targets.map((t) => encCell(find(k, t))).join(' | ')} | ${cpu.join(' | ')} |`;
    }),
  ];
  if (aborted.length) lines.push('', 'Not measured (aborted before the runs):', '', ...aborted.map((a) => `- ${a.target} ${a.scenario}: ${a.error.split('\n')[0]}`));
  return lines;
}
