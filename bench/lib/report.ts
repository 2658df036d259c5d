// Turns the raw runs of one `make bench` into medians, ratios to direct PostgreSQL, the issue's
// target checks and a markdown report. Pure: no I/O.
import { encMarkdown } from './enc-report.ts';
import { goalsMarkdown } from './goals.ts';
import type { PgbenchResult } from './pgbench.ts';
import { median, round } from './stats.ts';

/** One measured run: pgbench's summary plus where and when it ran. */
export interface RunRecord extends PgbenchResult {
  round: number;
  scenario: string;
  clients: number;
  target: string;
  /** CPU time the pooler/proxy process used per transaction (COPY: per row) during the run, in µs (absent for direct). */
  cpuUsPerTx?: number;
  /** A one-shot run's wall-clock seconds (COPY: tps is rows/s, transactions are rows). */
  seconds?: number;
  /** Largest RSS of the pooler/proxy process sampled during the run, MiB (COPY scenarios). */
  rssMaxMiB?: number;
}

export interface SummaryRow {
  scenario: string;
  clients: number;
  target: string;
  runs: number;
  tpsMedian: number;
  p50MedianMs: number;
  p99MedianMs: number;
  /** p50 median minus direct's p50 median, in ms. */
  p50AddedMs: number | null;
  /** tps median / direct's tps median for the same scenario and clients. */
  ratioToDirect: number | null;
  /** p99 median minus direct's p99 median, in ms. */
  p99AddedMs: number | null;
  /** Median CPU µs per transaction spent in the pooler/proxy process. */
  cpuUsPerTxMedian: number | null;
  /** tps median / the pass-through proxy's (`clarus`) for the same scenario and clients; only for the encrypting proxies (`clarus-*`). */
  ratioToProxy: number | null;
  /** Median wall-clock seconds of one-shot runs (COPY), else null. */
  secondsMedian: number | null;
}

export interface RssRecord { target: string; idleConnections: number; baselineMiB: number; withIdleMiB: number }

export interface BenchReport {
  date: string;
  quick: boolean;
  settings: Record<string, unknown>;
  environment: Record<string, string | number>;
  unavailable: Record<string, string>;
  runs: RunRecord[];
  errors: Array<{ scenario: string; clients: number; target: string; round: number; error: string }>;
  /** Scenario × target pairs not measured because their preparation or stored-data check failed. */
  aborted: Array<{ scenario: string; target: string; error: string }>;
  summary: SummaryRow[];
  rss: RssRecord[];
  /** RSS of each pooler/proxy process right after it started, before any session (MiB). */
  rssAtStart?: Record<string, number>;
}

function cpuMedian(g: RunRecord[]): number | null {
  const xs = g.flatMap((r) => (r.cpuUsPerTx === undefined ? [] : [r.cpuUsPerTx]));
  return xs.length ? round(median(xs), 1) : null;
}

/** The proxy without encrypted columns: the baseline the encrypting proxies (`clarus-*`) are compared with. */
export const PROXY_BASELINE = 'clarus';
/** Scenarios of the encrypted-column benchmark; reported in their own section (enc-report.ts). */
export const isEncScenario = (scenario: string) => scenario.startsWith('enc-');

export function summarize(runs: RunRecord[]): SummaryRow[] {
  const groups = new Map<string, RunRecord[]>();
  for (const r of runs) {
    const k = `${r.scenario}\u0000${r.clients}\u0000${r.target}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const rows: SummaryRow[] = [...groups.values()].map((g) => {
    const first = g[0] as RunRecord;
    return {
      scenario: first.scenario, clients: first.clients, target: first.target, runs: g.length,
      tpsMedian: round(median(g.map((r) => r.tps)), 1), p99MedianMs: round(median(g.map((r) => r.p99Ms)), 3),
      p50MedianMs: round(median(g.map((r) => r.p50Ms)), 3), p50AddedMs: null,
      ratioToDirect: null, p99AddedMs: null, cpuUsPerTxMedian: cpuMedian(g), ratioToProxy: null,
      secondsMedian: g.every((r) => r.seconds !== undefined) ? round(median(g.map((r) => r.seconds as number)), 3) : null,
    };
  });
  for (const row of rows) {
    const p = rows.find((r) => r.target === PROXY_BASELINE && r.scenario === row.scenario && r.clients === row.clients);
    if (p && p.tpsMedian > 0 && row.target.startsWith(`${PROXY_BASELINE}-`)) row.ratioToProxy = round(row.tpsMedian / p.tpsMedian, 3);
    const d = rows.find((r) => r.target === 'direct' && r.scenario === row.scenario && r.clients === row.clients);
    if (!d || d.tpsMedian === 0) continue;
    row.ratioToDirect = round(row.tpsMedian / d.tpsMedian, 3);
    row.p99AddedMs = round(row.p99MedianMs - d.p99MedianMs, 3);
    row.p50AddedMs = round(row.p50MedianMs - d.p50MedianMs, 3);
  }
  return rows;
}

export interface TargetCheck { goal: string; measured: string; met: boolean | null }

/** The issue's goals for the proxy (targets to report, not test assertions). */
export function checkGoals(summary: SummaryRow[], rss: RssRecord[]): TargetCheck[] {
  const at8 = summary.filter((r) => r.target === 'clarus' && r.clients === 8 && !isEncScenario(r.scenario));
  const bouncer = (s: SummaryRow) => summary.find((r) => r.target === 'pgbouncer' && r.scenario === s.scenario && r.clients === s.clients);
  const fmt = (rows: SummaryRow[], f: (r: SummaryRow) => string) => rows.map((r) => `${r.scenario} ${f(r)}`).join('; ') || 'not measured';
  const has = at8.length > 0;
  const proxyRss = rss.find((r) => r.target === 'clarus');
  return [
    { goal: 'throughput at 8 clients >= 0.85x direct', measured: fmt(at8, (r) => `${r.ratioToDirect}x`),
      met: has ? at8.every((r) => (r.ratioToDirect ?? 0) >= 0.85) : null },
    { goal: 'ahead of PgBouncer at 8 clients', measured: fmt(at8, (r) => `${r.tpsMedian} vs ${bouncer(r)?.tpsMedian ?? '?'} tps`),
      met: has && at8.every((r) => bouncer(r)) ? at8.every((r) => r.tpsMedian > (bouncer(r)?.tpsMedian ?? Infinity)) : null },
    { goal: 'p99 latency added <= 0.3 ms at 8 clients', measured: fmt(at8, (r) => `${(r.p99AddedMs ?? 0) >= 0 ? '+' : ''}${r.p99AddedMs?.toFixed(3)} ms`),
      met: has ? at8.every((r) => (r.p99AddedMs ?? Infinity) <= 0.3) : null },
    { goal: 'RSS <= 150 MB with 200 idle connections', measured: proxyRss ? `${proxyRss.withIdleMiB.toFixed(1)} MiB with ${proxyRss.idleConnections}` : 'not measured',
      met: proxyRss ? proxyRss.withIdleMiB <= 150 && proxyRss.idleConnections >= 200 : null },
  ];
}

function cell(row: SummaryRow | undefined, ratio: boolean): string {
  if (!row) return 'n/a';
  return ratio && row.ratioToDirect !== null ? `${row.tpsMedian.toFixed(0)} (${row.ratioToDirect.toFixed(2)}x)` : row.tpsMedian.toFixed(0);
}

function latCell(row: SummaryRow | undefined): string {
  if (!row) return 'n/a';
  const added = row.p99AddedMs === null || row.target === 'direct' ? '' : ` (${row.p99AddedMs >= 0 ? '+' : ''}${row.p99AddedMs.toFixed(3)})`;
  return `${row.p99MedianMs.toFixed(3)}${added}`;
}

export function markdown(r: BenchReport, allTargets: string[]): string {
  const base = r.summary.filter((s) => !isEncScenario(s.scenario));
  const targets = allTargets.filter((t) => base.some((s) => s.target === t));
  const keys = [...new Set(base.map((s) => `${s.scenario}\u0000${s.clients}`))];
  const middle = targets.filter((t) => t !== 'direct');
  const find = (k: string, t: string) => r.summary.find((s) => `${s.scenario}\u0000${s.clients}` === k && s.target === t);
  const lines = [
    `# Clarus benchmark ${r.date}${r.quick ? ' (BENCH_QUICK)' : ''}`, '',
    `Machine: ${Object.entries(r.environment).map(([k, v]) => `${k} ${v}`).join(', ')}.`,
  ];
  if (keys.length) {
    lines.push('',
      `pgbench against ${targets.join(', ')}, alternating targets within each round. Medians of ${String(r.settings.rounds)} rounds of ${String(r.settings.seconds)} s;`,
      'ratios are to direct PostgreSQL; p99 from the per-transaction log (pgbench -l), in ms, with the latency added over direct in parentheses;',
      'CPU µs/tx is the user+system CPU time of the pooler/proxy process per transaction (from /proc), which machine load distorts far less than throughput.', '',
      `| scenario | clients | ${targets.map((t) => `${t} tps`).join(' | ')} | ${targets.map((t) => `${t} p99 ms`).join(' | ')} | ${middle.map((t) => `${t} CPU µs/tx`).join(' | ')} |`,
      `| --- | ---: | ${[...targets, ...targets, ...middle].map(() => '---:').join(' | ')} |`,
      ...keys.map((k) => {
        const [scenario, clients] = k.split('\u0000');
        const cpu = middle.map((t) => find(k, t)?.cpuUsPerTxMedian?.toFixed(1) ?? 'n/a');
        return `| ${scenario} | ${clients} | ${targets.map((t) => cell(find(k, t), t !== 'direct')).join(' | ')} | ${targets.map((t) => latCell(find(k, t))).join(' | ')} | ${cpu.join(' | ')} |`;
      }),
      '', '## Goals for the proxy (targets, not tests)', '', '| goal | measured | met |', '| --- | --- | --- |',
      ...checkGoals(r.summary, r.rss).map((c) => `| ${c.goal} | ${c.measured} | ${c.met === null ? 'n/a' : c.met ? 'yes' : 'no'} |`));
  }
  lines.push(...encMarkdown(r));
  if (r.rss.length) {
    const atStart = (t: string) => r.rssAtStart?.[t]?.toFixed(1) ?? 'n/a';
    lines.push('', '## Memory with idle connections', '',
      'RSS at start: the process started, no session yet; before: after the runs, no session; with them: holding the idle sessions.', '',
      '| target | idle connections | RSS at start MiB | RSS before MiB | RSS with them MiB |', '| --- | ---: | ---: | ---: | ---: |',
      ...r.rss.map((m) => `| ${m.target} | ${m.idleConnections} | ${atStart(m.target)} | ${m.baselineMiB.toFixed(1)} | ${m.withIdleMiB.toFixed(1)} |`));
  }
  lines.push(...goalsMarkdown(r));
  if (Object.keys(r.unavailable).length) lines.push('', '## Not measured', '', ...Object.entries(r.unavailable).map(([t, why]) => `- ${t}: ${why}`));
  if (r.errors.length) lines.push('', '## Failed runs', '', ...r.errors.map((e) => `- ${e.target} ${e.scenario} c=${e.clients} round ${e.round}: ${e.error.split('\n')[0]}`));
  return `${lines.join('\n')}\n`;
}
