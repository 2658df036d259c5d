// The performance goals of issue 15, checked against one run (targets to report, not tests): each
// goal with what this run measured and whether it is met, "not measured" when the run did not
// include its scenarios. Pure: no I/O.
import type { BenchReport, RunRecord, SummaryRow } from './report.ts';

export interface Goal { goal: string; measured: string; met: boolean | null }

/** Encrypted values in a row of the enc-copy3-* scenarios (clarus-enc3: name, ssn, notes). */
export const COPY3_COLUMNS = 3;
const VALUES_PER_CORE = 250_000;
const RSS_GOAL_MIB = 150;

const find = (r: BenchReport, scenario: string, target: string, clients = 8): SummaryRow | undefined =>
  r.summary.find((s) => s.scenario === scenario && s.target === target && s.clients === clients);

function passThrough(r: BenchReport): Goal[] {
  const modes = ['select-simple', 'select-extended', 'select-prepared', 'tpcb-like'];
  const pairs = modes.map((m) => ({ m, c: find(r, m, 'clarus'), b: find(r, m, 'pgbouncer') })).filter((x) => x.c && x.b);
  const cpu = pairs.map(({ m, c, b }) => `${m} ${c?.cpuUsPerTxMedian ?? '?'} vs ${b?.cpuUsPerTxMedian ?? '?'} µs`);
  const tps = pairs.map(({ m, c, b }) => `${m} ${c?.tpsMedian.toFixed(0)} vs ${b?.tpsMedian.toFixed(0)}`);
  const has = pairs.length > 0;
  return [
    { goal: '1. pass-through CPU/tx <= PgBouncer (8 clients)', measured: has ? cpu.join('; ') : 'not measured',
      met: has ? pairs.every(({ c, b }) => (c?.cpuUsPerTxMedian ?? Infinity) <= (b?.cpuUsPerTxMedian ?? 0)) : null },
    { goal: '1. pass-through tps >= PgBouncer (8 clients)', measured: has ? tps.join('; ') : 'not measured',
      met: has ? pairs.every(({ c, b }) => (c?.tpsMedian ?? 0) >= (b?.tpsMedian ?? Infinity)) : null },
  ];
}

/** Goal 3: the proxy with 2 worker processes against 1 (reported; "met" when 2 workers give more throughput). */
function workers(r: BenchReport): Goal[] {
  const modes = ['select-simple', 'select-extended', 'select-prepared', 'tpcb-like'];
  const pairs = modes.map((m) => ({ m, one: find(r, m, 'clarus'), two: find(r, m, 'clarus-w2') })).filter((x) => x.one && x.two);
  if (pairs.length === 0) return [];
  const measured = pairs.map(({ m, one, two }) => `${m} ${((two?.tpsMedian ?? 0) / (one?.tpsMedian ?? 1)).toFixed(2)}x tps, ${two?.cpuUsPerTxMedian ?? '?'} vs ${one?.cpuUsPerTxMedian ?? '?'} µs CPU/tx`);
  return [{ goal: '3. 2 worker processes vs 1, pass-through (8 clients)', measured: measured.join('; '),
    met: pairs.every(({ one, two }) => (two?.tpsMedian ?? 0) > (one?.tpsMedian ?? Infinity)) }];
}

function encrypted(r: BenchReport): Goal[] {
  const goals: Array<[string, string, number]> = [['enc-select-simple', 'select by key, simple', 0.75], ['enc-select-prepared', 'select by key, prepared', 0.8],
    ['enc-insert-prepared', 'insert, prepared', 0.7]];
  return goals.map(([scenario, what, min]) => {
    const row = find(r, scenario, 'clarus-enc2');
    const ratio = row?.ratioToProxy ?? null;
    return { goal: `2. ${what}, 2 encrypted columns >= ${min}x proxy (8 clients)`, measured: ratio === null ? 'not measured' : `${ratio.toFixed(2)}x (${row?.cpuUsPerTxMedian ?? '?'} µs CPU/tx)`,
      met: ratio === null ? null : ratio >= min };
  });
}

function copyRun(r: BenchReport, scenario: string): RunRecord | undefined {
  return r.runs.find((x) => x.scenario === scenario && x.target === 'clarus-enc3');
}

function copy(r: BenchReport): Goal[] {
  return (['in', 'out'] as const).map((dir) => {
    const run = copyRun(r, `enc-copy3-${dir}`);
    const perCore = run?.cpuUsPerTx ? (COPY3_COLUMNS * 1e6) / run.cpuUsPerTx : null;
    const measured = run ? `${run.transactions} rows in ${run.seconds?.toFixed(1)} s, ${Math.round(run.tps * COPY3_COLUMNS)} values/s, ${perCore === null ? '?' : Math.round(perCore)} values per CPU-second, RSS max ${run.rssMaxMiB?.toFixed(0) ?? '?'} MiB` : 'not measured';
    return { goal: `4. COPY ${dir}, 3 encrypted columns >= ${VALUES_PER_CORE} values/s per core`, measured, met: perCore === null ? null : perCore >= VALUES_PER_CORE };
  });
}

/** Scenarios whose statements start the in-proxy engine (PGlite: +250-300 MiB, kept), which goal 5 leaves out. */
const ENGINE_SCENARIO = /^enc-order-limit-/;

function memory(r: BenchReport): Goal[] {
  // A target that ran an engine scenario holds the engine with its idle sessions: shown, not counted.
  const engine = new Set(r.runs.filter((x) => ENGINE_SCENARIO.test(x.scenario)).map((x) => x.target));
  const idle = r.rss.filter((m) => m.target.startsWith('clarus-enc'));
  const encrypting = idle.filter((m) => !engine.has(m.target));
  const atStart = Object.entries(r.rssAtStart ?? {}).filter(([t]) => t.startsWith('clarus-enc'));
  return [
    { goal: `5. encrypting proxy RSS at rest <= ${RSS_GOAL_MIB} MiB`, measured: atStart.map(([t, v]) => `${t} ${v.toFixed(0)} MiB`).join('; ') || 'not measured',
      met: atStart.length ? atStart.every(([, v]) => v <= RSS_GOAL_MIB) : null },
    { goal: `5. encrypting proxy RSS with 200 idle connections <= ${RSS_GOAL_MIB} MiB`, measured: idle.map((m) => `${m.target} ${m.withIdleMiB.toFixed(0)} MiB${engine.has(m.target) ? ' (in-proxy engine started by enc-order-limit-*: not counted)' : ''}`).join('; ') || 'not measured',
      met: encrypting.length ? encrypting.every((m) => m.withIdleMiB <= RSS_GOAL_MIB && m.idleConnections >= 200) : null },
  ];
}

/** Goal 6: p99 added over direct <= 0.3 ms, from the rate-limited latency-* scenarios (8 clients). */
function latency(r: BenchReport): Goal[] {
  const rows = ['latency-simple', 'latency-prepared'].flatMap((m) => {
    const c = find(r, m, 'clarus');
    return c ? [{ m, c, b: find(r, m, 'pgbouncer') }] : [];
  });
  if (rows.length === 0) return [];
  const ms = (x: number | null | undefined) => `${(x ?? 0) >= 0 ? '+' : ''}${(x ?? 0).toFixed(3)}`;
  const measured = rows.map(({ m, c, b }) => `${m} p50 ${ms(c.p50AddedMs)} / p99 ${ms(c.p99AddedMs)} ms (PgBouncer ${b ? `${ms(b.p50AddedMs)} / ${ms(b.p99AddedMs)}` : 'not measured'})`);
  return [{ goal: '6. p99 added over direct <= 0.3 ms, select-only pass-through, 8 clients at a fixed rate', measured: measured.join('; '),
    met: rows.every(({ c }) => (c.p99AddedMs ?? Infinity) <= 0.3) }];
}

export function checkIssue15(r: BenchReport): Goal[] {
  return [...passThrough(r), ...workers(r), ...encrypted(r), ...copy(r), ...memory(r), ...latency(r)];
}

export function goalsMarkdown(r: BenchReport): string[] {
  const goals = checkIssue15(r).filter((g) => g.met !== null);
  if (goals.length === 0) return [];
  return ['', '## Performance goals (issue 15; targets, not tests)', '', '| goal | measured | met |', '| --- | --- | --- |',
    ...goals.map((g) => `| ${g.goal} | ${g.measured} | ${g.met ? 'yes' : 'no'} |`)];
}
