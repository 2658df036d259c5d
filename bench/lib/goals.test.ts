import { describe, expect, it } from 'vitest';
import { checkIssue15, goalsMarkdown } from './goals.ts';
import { markdown, summarize, type BenchReport, type RunRecord } from './report.ts';

function run(scenario: string, target: string, tps: number, cpuUsPerTx: number, extra: Partial<RunRecord> = {}): RunRecord {
  return { round: 1, scenario, clients: extra.clients ?? 8, target, transactions: tps, failed: 0, latencyAvgMs: 0, p50Ms: 0, p99Ms: 1, tps, cpuUsPerTx, ...extra };
}

function report(runs: RunRecord[], extra: Partial<BenchReport> = {}): BenchReport {
  return { date: 'd', quick: true, settings: {}, environment: {}, unavailable: {}, runs, errors: [], aborted: [], summary: summarize(runs), rss: [], ...extra };
}

describe('issue 15 goals', () => {
  it('compares the pass-through proxy with PgBouncer and the encrypting proxy with the pass-through one', () => {
    const r = report([
      run('select-simple', 'clarus', 100, 30), run('select-simple', 'pgbouncer', 110, 20),
      run('enc-select-simple', 'clarus', 100, 30), run('enc-select-simple', 'clarus-enc2', 80, 40),
      run('enc-select-prepared', 'clarus', 100, 30), run('enc-select-prepared', 'clarus-enc2', 70, 40),
    ]);
    const g = checkIssue15(r);
    expect(g.map((x) => x.met)).toEqual([false, false, true, false, null, null, null, null, null]);
    expect(g[2]?.measured).toBe('0.80x (40 µs CPU/tx)');
  });

  it('turns the 3-column COPY into encrypted values per CPU-second and reports RSS', () => {
    const r = report([run('enc-copy3-in', 'clarus-enc3', 50_000, 10, { clients: 1, transactions: 1_000_000, seconds: 20, rssMaxMiB: 180 }),
      run('enc-copy3-out', 'clarus-enc3', 60_000, 15, { clients: 1, transactions: 1_000_000, seconds: 16.7, rssMaxMiB: 170 })],
    { rssAtStart: { 'clarus-enc3': 120 }, rss: [{ target: 'clarus-enc3', idleConnections: 200, baselineMiB: 130, withIdleMiB: 160 }] });
    const g = checkIssue15(r).filter((x) => x.met !== null);
    expect(g.map((x) => [x.goal.slice(0, 10), x.met])).toEqual([['4. COPY in', true], ['4. COPY ou', false], ['5. encrypt', true], ['5. encrypt', false]]);
    expect(g[0]?.measured).toContain('300000 values per CPU-second, RSS max 180 MiB');
    expect(goalsMarkdown(r).join('\n')).toContain('| 4. COPY out, 3 encrypted columns >= 250000 values/s per core |');
    expect(markdown(r, ['clarus-enc3'])).toContain('| clarus-enc3 | 200 | 120.0 | 130.0 | 160.0 |');
  });

  it('leaves a target whose statements started the in-proxy engine out of the idle-connections RSS goal, and says so', () => {
    const rss = [{ target: 'clarus-enc2', idleConnections: 200, baselineMiB: 360, withIdleMiB: 369 }, { target: 'clarus-enc3', idleConnections: 200, baselineMiB: 118, withIdleMiB: 117 }];
    const withEngine = report([run('enc-order-limit-10k', 'clarus-enc2', 10, 90_000, { clients: 1 })], { rss });
    const g = checkIssue15(withEngine).find((x) => x.goal.includes('200 idle'));
    expect(g?.met).toBe(true);
    expect(g?.measured).toBe('clarus-enc2 369 MiB (in-proxy engine started by enc-order-limit-*: not counted); clarus-enc3 117 MiB');
    expect(checkIssue15(report([], { rss })).find((x) => x.goal.includes('200 idle'))?.met).toBe(false);
  });

  it('reads goal 6 from the rate-limited latency scenarios: p50 and p99 added over direct', () => {
    const lat = (scenario: string, target: string, p50Ms: number, p99Ms: number) => run(scenario, target, 800, 0, { p50Ms, p99Ms });
    const r = report([lat('latency-simple', 'direct', 0.2, 0.5), lat('latency-simple', 'clarus', 0.3, 0.7), lat('latency-simple', 'pgbouncer', 0.25, 0.6),
      lat('latency-prepared', 'direct', 0.2, 0.5), lat('latency-prepared', 'clarus', 0.3, 0.9)]);
    const g = checkIssue15(r).filter((x) => x.goal.startsWith('6.'));
    expect(g).toHaveLength(1);
    expect(g[0]?.met).toBe(false);
    expect(g[0]?.measured).toBe('latency-simple p50 +0.100 / p99 +0.200 ms (PgBouncer +0.050 / +0.100); latency-prepared p50 +0.100 / p99 +0.400 ms (PgBouncer not measured)');
    expect(checkIssue15(report(r.runs.filter((x) => x.scenario === 'latency-simple'))).find((x) => x.goal.startsWith('6.'))?.met).toBe(true);
  });

  it('has no section when nothing of it was measured', () => {
    expect(goalsMarkdown(report([run('select-simple', 'direct', 100, 0)]))).toEqual([]);
  });
});
