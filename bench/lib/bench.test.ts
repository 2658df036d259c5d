import { describe, expect, it } from 'vitest';
import { NoTransactions, parseLogLatencies, parseSummary } from './pgbench.ts';
import { checkGoals, markdown, summarize, type BenchReport, type RunRecord } from './report.ts';
import { pickScenarios, SCENARIOS } from './scenarios.ts';
import { assignments, readSettings } from './settings.ts';
import { median, percentile } from './stats.ts';
import { pgbouncerIni } from './targets.ts';
import { runPlan } from './plan.ts';

const PGBENCH_OUT = `pgbench (15.18 (Debian 15.18-0+deb12u1))
transaction type: <builtin: select only>
scaling factor: 1
query mode: prepared
number of clients: 8
number of threads: 2
maximum number of tries: 1
duration: 5 s
number of transactions actually processed: 123456
number of failed transactions: 3 (0.002%)
latency average = 0.324 ms
initial connection time = 12.345 ms
tps = 24691.200000 (without initial connection time)
`;

function run(target: string, clients: number, m: { tps: number; p99Ms: number }, round = 1): RunRecord {
  return { round, scenario: 'select-simple', clients, target, transactions: m.tps, failed: 0, latencyAvgMs: 0, p50Ms: 0, ...m };
}

describe('stats', () => {
  it('takes medians of odd and even counts without reordering the input', () => {
    const xs = [5, 1, 3];
    expect(median(xs)).toBe(3);
    expect(xs).toEqual([5, 1, 3]);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(/empty/);
  });
  it('uses nearest-rank percentiles', () => {
    const xs = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile([7], 99)).toBe(7);
  });
});

describe('pgbench output', () => {
  it('reads tps, processed and failed transactions from the summary', () => {
    expect(parseSummary(PGBENCH_OUT)).toEqual({ tps: 24691.2, transactions: 123456, failed: 3 });
    expect(() => parseSummary('connection to server failed')).toThrow(/cannot read pgbench output/);
    expect(() => parseSummary('number of transactions actually processed: 0\n')).toThrow(NoTransactions);
  });
  it('reads latencies from the per-transaction log and skips failed ones', () => {
    const log = '0 1 310 0 1700000000 123\n0 2 290 0 1700000000 456\n1 1 failed 0 1700000000 789\n\n';
    expect(parseLogLatencies(log)).toEqual([310, 290]);
  });
  it('takes the schedule lag (7th field, pgbench -R) off each latency', () => {
    expect(parseLogLatencies('0 1 510 0 1700000000 123 200\n0 2 300 0 1700000000 456 0\n')).toEqual([310, 300]);
  });
});

describe('settings', () => {
  it('defaults to the full matrix and shrinks it in quick mode', () => {
    const full = readSettings({});
    expect(full).toMatchObject({ quick: false, rounds: 3, seconds: 5, clients: [1, 8, 32], copyRows: 1_000_000,
      targets: ['direct', 'pgbouncer', 'clarus', 'clarus-w2', 'clarus-enc2', 'clarus-enc5', 'clarus-enc3'] });
    expect(readSettings({ BENCH_QUICK: '1' })).toMatchObject({ quick: true, rounds: 2, seconds: 2, copyRows: 100_000 });
    expect(readSettings({ BENCH_QUICK: '1', BENCH_COPY_ROWS: '5000' })).toMatchObject({ copyRows: 5000 });
    expect(readSettings({ BENCH_CLIENTS: '4, 16', BENCH_TARGETS: 'direct' })).toMatchObject({ clients: [4, 16], targets: ['direct'] });
  });
  it('rejects a malformed number with the variable name', () => {
    expect(() => readSettings({ BENCH_ROUNDS: 'two' })).toThrow(/BENCH_ROUNDS/);
    expect(() => readSettings({ BENCH_CLIENTS: '8,0' })).toThrow(/BENCH_CLIENTS/);
  });
  it('picks scenarios by name and names the unknown ones', () => {
    expect(pickScenarios([])).toBe(SCENARIOS);
    expect(pickScenarios(['tpcb-like']).map((s) => s.name)).toEqual(['tpcb-like']);
    expect(() => pickScenarios(['nope'])).toThrow(/unknown scenario\(s\) nope/);
  });
});

describe('report', () => {
  const runs = [
    run('direct', 8, { tps: 1000, p99Ms: 1.0 }), run('direct', 8, { tps: 1200, p99Ms: 1.2 }, 2), run('direct', 8, { tps: 1100, p99Ms: 1.1 }, 3),
    { ...run('clarus', 8, { tps: 900, p99Ms: 1.2 }), cpuUsPerTx: 20 }, { ...run('clarus', 8, { tps: 990, p99Ms: 1.3 }, 2), cpuUsPerTx: 23 },
    run('clarus', 8, { tps: 950, p99Ms: 1.25 }, 3),
    run('pgbouncer', 8, { tps: 800, p99Ms: 1.5 }), run('pgbouncer', 8, { tps: 850, p99Ms: 1.6 }, 2),
  ];
  it('takes medians per scenario, clients and target, with ratios and p99 added over direct', () => {
    const s = summarize(runs);
    const clarus = s.find((r) => r.target === 'clarus');
    expect(clarus).toMatchObject({ runs: 3, tpsMedian: 950, p99MedianMs: 1.25, ratioToDirect: 0.864, p99AddedMs: 0.15, cpuUsPerTxMedian: 21.5 });
    expect(s.find((r) => r.target === 'direct')).toMatchObject({ ratioToDirect: 1, p99AddedMs: 0, cpuUsPerTxMedian: null });
    expect(s.find((r) => r.target === 'pgbouncer')).toMatchObject({ tpsMedian: 825, runs: 2 });
  });
  it('checks the goals against the medians and says n/a for what was not measured', () => {
    const goals = checkGoals(summarize(runs), [{ target: 'clarus', idleConnections: 200, baselineMiB: 60, withIdleMiB: 151 }]);
    expect(goals.map((g) => g.met)).toEqual([true, true, true, false]);
    expect(checkGoals(summarize(runs.filter((r) => r.target !== 'clarus')), []).map((g) => g.met)).toEqual([null, null, null, null]);
  });
  it('renders a markdown table with one row per scenario and client count', () => {
    const report: BenchReport = { date: 'd', quick: true, settings: { rounds: 3, seconds: 5 }, environment: { cpus: 2 },
      unavailable: {}, runs, errors: [], aborted: [], summary: summarize(runs), rss: [] };
    const md = markdown(report, ['direct', 'pgbouncer', 'clarus']);
    expect(md).toContain('| select-simple | 8 | 1100 | 825 (0.75x) | 950 (0.86x) | 1.100 | 1.550 (+0.450) | 1.250 (+0.150) | n/a | 21.5 |');
    expect(md).toContain('(BENCH_QUICK)');
  });
});

describe('pgbouncer config', () => {
  it('uses session pooling, SCRAM with an auth_file, and a pool as large as the sessions', () => {
    const ini = pgbouncerIni('/tmp/x', 6432, 5433, 42);
    expect(ini).toContain('postgres = host=127.0.0.1 port=5433 dbname=postgres');
    expect(ini).toMatch(/pool_mode = session\n/);
    expect(ini).toContain('auth_type = scram-sha-256');
    expect(ini).toContain('auth_file = /tmp/x/userlist.txt');
    expect(ini).toContain('default_pool_size = 42');
    expect(ini).toMatch(/server_tls_sslmode = disable\n/);
  });

  it('reaches PostgreSQL over verified TLS when given the server CA', () => {
    const ini = pgbouncerIni('/tmp/x', 6432, 5433, 42, '/tmp/x/ca.crt');
    expect(ini).toMatch(/server_tls_sslmode = verify-full\nserver_tls_ca_file = \/tmp\/x\/ca.crt\n/);
    expect(ini).not.toContain('server_tls_sslmode = disable');
  });
});

describe('run plan', () => {
  it('runs every scenario, client count and target each round, rotating which target goes first', () => {
    const steps = runPlan(2, ['a', 'b'], [1, 8], ['direct', 'pgbouncer', 'clarus']);
    expect(steps).toHaveLength(2 * 2 * 2 * 3);
    const firsts = steps.filter((_, i) => i % 3 === 0).map((s) => s.target);
    expect(new Set(firsts)).toEqual(new Set(['direct', 'pgbouncer', 'clarus']));
    for (const t of ['direct', 'pgbouncer', 'clarus']) expect(steps.filter((s) => s.target === t)).toHaveLength(8);
    expect(steps.slice(0, 3).map((s) => [s.round, s.scenario, s.clients])).toEqual([[1, 'a', 1], [1, 'a', 1], [1, 'a', 1]]);
  });
});

describe('A/B environment assignments', () => {
  it('splits NAME=value pairs on the given separator and keeps = inside values', () => {
    expect(assignments('CLARUS_NODE_FLAGS=--single-threaded-gc  X=a=b', /\s+/)).toEqual({ CLARUS_NODE_FLAGS: '--single-threaded-gc', X: 'a=b' });
    expect(assignments('A=1,B=x y', ',')).toEqual({ A: '1', B: 'x y' });
    expect(assignments(undefined, ',')).toEqual({});
  });
});
