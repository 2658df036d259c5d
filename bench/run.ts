// `make bench`: pgbench scenarios × client counts × targets (PostgreSQL directly, PgBouncer, the
// Clarus proxy) in one run, targets alternating within each round, several rounds; then the RSS
// of the pooler/proxy holding idle connections. Writes bench/results/<date>.json, .md and .png.
// Also the encrypted-column scenarios of issue 4 (lib/enc-scenarios.ts: two more proxies that encrypt
// 2 and 5 columns, tables created through each target). Settings: see lib/settings.ts (BENCH_QUICK=1).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RuntimeConfig } from '@clarus/policy/runtime/config.ts';
import { startPostgres, type PgCluster } from '@clarus/testing/pg.ts';
import { openIdle } from './lib/idle.ts';
import { initPgbench, NoTransactions, runPgbench } from './lib/pgbench.ts';
import { cpuSeconds, rssMiB } from './lib/procs.ts';
import { round as roundTo } from './lib/stats.ts';
import { markdown, summarize, type BenchReport, type RssRecord } from './lib/report.ts';
import { runPlan } from './lib/plan.ts';
import { pickScenarios, scenarioTargets, type MeasuredRun, type Scenario, type ScenarioContext } from './lib/scenarios.ts';
import { readSettings, type BenchSettings } from './lib/settings.ts';
import { TARGETS, plainEndpoint, type RunningTarget, type Target } from './lib/targets.ts';
import { encryptedTarget } from './lib/enc-target.ts';
import { COPY3_VARIANT, VARIANTS } from './lib/encrypted.ts';

const ALL_TARGETS: Target[] = [...TARGETS, ...[...VARIANTS, COPY3_VARIANT].map(encryptedTarget)];

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const resultsDir = join(root, 'bench/results');
const log = (msg: string) => process.stdout.write(`bench: ${msg}\n`);

function stamp(d: Date): string {
  return d.toISOString().slice(0, 16).replace(':', '') + 'Z';
}

function versions(): Record<string, string | number> {
  const v = (cmd: string, args: string[]) => { try { return execFileSync(cmd, args).toString().split('\n')[0]?.trim() ?? '?'; } catch { return 'not found'; } };
  return { cpus: cpus().length, 'load average at start': loadavg()[0]?.toFixed(2) ?? '?', node: process.version,
    pgbench: v('pgbench', ['--version']), pgbouncer: v('pgbouncer', ['--version']) };
}

async function startTargets(pg: PgCluster, s: BenchSettings, scenarios: Scenario[], report: BenchReport): Promise<Map<string, RunningTarget>> {
  const running = new Map<string, RunningTarget>();
  const maxSessions = Math.max(...s.clients, s.idleConnections);
  const profileDir = join(resultsDir, 'profiles');
  // A target only starts when a selected scenario runs against it.
  const wanted = ALL_TARGETS.filter((x) => s.targets.includes(x.name) && scenarios.some((sc) => scenarioTargets(sc).includes(x.name)));
  for (const t of wanted) {
    try {
      if (s.cpuProfile && t.name === 'clarus') mkdirSync(profileDir, { recursive: true });
      const nodeOptions = s.cpuProfile ? `--cpu-prof --cpu-prof-dir=${profileDir}` : undefined;
      const configureProxy = (c: RuntimeConfig) => { for (const sc of scenarios) sc.configureProxy?.(c); };
      const r = await t.start(pg, { maxSessions, nodeOptions, configureProxy });
      // RSS at rest: started, no session yet (issue 15, goal 5).
      if (r.pid !== undefined) { await sleep(500); (report.rssAtStart ??= {})[t.name] = roundTo(rssMiB(r.pid, r.tree), 1); }
      running.set(t.name, r);
      log(`target ${t.name} up (${t.description})`);
    } catch (e) {
      report.unavailable[t.name] = `${t.name === 'clarus' ? 'proxy not available' : 'not available'}: ${(e as Error).message.split('\n')[0]}`;
      log(`target ${t.name}: ${report.unavailable[t.name]}`);
    }
  }
  return running;
}

/**
 * One unrecorded run per target at the largest client count first: PgBouncer opens its server
 * connections lazily, and a short timed run must not be spent waiting for them.
 */
async function warmUp(s: BenchSettings, scenarios: Scenario[], running: Map<string, RunningTarget>, aborted: Aborted): Promise<void> {
  for (const [name, t] of running) {
    const sc = scenarios.find((x) => x.pgbenchArgs && scenarioTargets(x).includes(name) && !aborted.has(abortKey(x.name, name)));
    if (!sc?.pgbenchArgs) continue;
    await runPgbench(t.endpoint, sc.pgbenchArgs, Math.max(...(sc.clients ?? s.clients)), 2)
      .catch((e: unknown) => log(`warm-up of ${name} failed: ${(e as Error).message.split('\n')[0]}`));
  }
}

/** Scenario × target pairs whose preparation failed (e.g. plaintext found on the backend). */
type Aborted = Map<string, string>;
const abortKey = (scenario: string, target: string) => `${scenario}\u0000${target}`;

function contextFor(pg: PgCluster, s: BenchSettings, workDir: string): (name: string, t: RunningTarget) => ScenarioContext {
  const done = new Map<string, Promise<unknown>>();
  const once = <T>(key: string, fn: () => Promise<T>): Promise<T> => {
    if (!done.has(key)) done.set(key, fn());
    return done.get(key) as Promise<T>;
  };
  return (targetName, target) => ({ pg, targetName, target, settings: s, workDir, once });
}

/** One scenario's preparation on one target: undefined when it went well, else why not. */
async function prepareOne(sc: Scenario, target: string, aborted: Aborted, ctx: () => ScenarioContext): Promise<string | undefined> {
  // A scenario that reads what another one writes is aborted with it.
  const before = sc.requires ? aborted.get(abortKey(sc.requires, target)) : undefined;
  if (before !== undefined) return `needs ${sc.requires ?? ''}, which was aborted: ${before}`;
  try {
    await sc.prepare?.(ctx());
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * Each scenario's one-time preparation through each of its targets, proxies first (so tables
 * shared with direct PostgreSQL are created through the proxy). A failure aborts that pair only.
 */
async function prepare(scenarios: Scenario[], running: Map<string, RunningTarget>, ctxFor: ReturnType<typeof contextFor>, report: BenchReport): Promise<Aborted> {
  const aborted: Aborted = new Map();
  const order = [...running.keys()].sort((a, b) => Number(a === 'direct') - Number(b === 'direct'));
  for (const sc of scenarios) {
    if (!sc.prepare && !sc.requires) continue;
    for (const name of order.filter((n) => scenarioTargets(sc).includes(n))) {
      const error = await prepareOne(sc, name, aborted, () => ctxFor(name, running.get(name) as RunningTarget));
      if (error === undefined) { log(`prepared ${sc.name} on ${name}`); continue; }
      aborted.set(abortKey(sc.name, name), error);
      report.aborted.push({ scenario: sc.name, target: name, error });
      log(`${sc.name} on ${name}: ABORTED ${error}`);
    }
  }
  return aborted;
}

interface Measurement {
  s: BenchSettings;
  scenarios: Scenario[];
  running: Map<string, RunningTarget>;
  report: BenchReport;
  ctxFor: ReturnType<typeof contextFor>;
  aborted: Aborted;
}

async function measureRounds({ s, scenarios, running, report, ctxFor, aborted }: Measurement): Promise<void> {
  const plan = runPlan(s.rounds, scenarios, (sc) => sc.clients ?? s.clients, (sc) => scenarioTargets(sc).filter((t) => running.has(t)))
    .filter((step) => step.round <= (step.scenario.rounds ?? s.rounds));
  for (const step of plan) {
    const { round, scenario: sc, clients, target } = step;
    const t = running.get(target) as RunningTarget;
    if (aborted.has(abortKey(sc.name, target))) continue;
    const what = `round ${round}/${s.rounds} ${sc.name} c=${clients} ${target}`;
    try {
      // A window spent entirely on connecting (a loaded machine, short quick-mode runs) is retried once.
      const once = async () => {
        const cpu0 = t.pid === undefined ? 0 : cpuSeconds(t.pid, t.tree);
        const res: MeasuredRun = sc.run ? await sc.run(ctxFor(target, t)) : await runPgbench(t.endpoint, sc.pgbenchArgs ?? [], clients, s.seconds);
        return t.pid === undefined ? res : { ...res, cpuUsPerTx: roundTo((cpuSeconds(t.pid, t.tree) - cpu0) * 1e6 / res.transactions, 1) };
      };
      const r = await once().catch((e: unknown) => { if (e instanceof NoTransactions) return once(); throw e; });
      report.runs.push({ round, scenario: sc.name, clients, target, ...r });
      const cpu = 'cpuUsPerTx' in r ? `, ${r.cpuUsPerTx} µs CPU/${r.seconds === undefined ? 'tx' : 'row'}` : '';
      const rate = r.seconds === undefined ? `${r.tps.toFixed(0)} tps, p99 ${r.p99Ms.toFixed(3)} ms` : `${r.transactions} rows in ${r.seconds.toFixed(2)} s, ${r.tps.toFixed(0)} rows/s`;
      log(`${what}: ${rate}${cpu}`);
    } catch (e) {
      report.errors.push({ scenario: sc.name, clients, target, round, error: (e as Error).message });
      log(`${what}: FAILED ${(e as Error).message.split('\n').filter((l) => l.trim() !== '').slice(0, 1).concat((e as Error).message.split('\n').filter((l) => /error|FATAL/i.test(l)).slice(0, 2)).join(' | ')}`);
    }
  }
}

/**
 * RSS of each pooler/proxy process before and while holding idle sessions. Each target is stopped
 * right after its measurement: PgBouncer keeps its server connections pooled, and PostgreSQL's
 * max_connections must leave room for the next target's sessions.
 */
async function measureRssAndStop(s: BenchSettings, running: Map<string, RunningTarget>): Promise<RssRecord[]> {
  const out: RssRecord[] = [];
  for (const [target, t] of running) {
    running.delete(target);
    try {
      if (t.pid === undefined) continue;
      const baselineMiB = rssMiB(t.pid, t.tree);
      const idle = await openIdle(t.endpoint, s.idleConnections);
      await sleep(1000);
      const withIdleMiB = rssMiB(t.pid, t.tree);
      await idle.close();
      out.push({ target, idleConnections: s.idleConnections, baselineMiB, withIdleMiB });
      log(`${target} RSS ${baselineMiB.toFixed(1)} MiB -> ${withIdleMiB.toFixed(1)} MiB with ${s.idleConnections} idle connections`);
    } catch (e) {
      log(`${target} RSS with idle connections: FAILED ${(e as Error).message}`);
    } finally {
      await t.stop().catch(() => undefined);
    }
  }
  return out;
}

function chart(jsonFile: string, pngFile: string): void {
  try {
    const venv = execFileSync(join(root, 'compat/python/ensure-venv.sh'), [join(root, 'bench/requirements.txt')], { stdio: ['ignore', 'pipe', 'inherit'] }).toString().trim();
    execFileSync(join(venv, 'bin/python'), [join(root, 'bench/chart.py'), jsonFile, pngFile], { stdio: 'inherit' });
  } catch (e) {
    log(`chart not drawn: ${(e as Error).message.split('\n')[0]}`);
  }
}

async function main(): Promise<number> {
  const s = readSettings(process.env);
  const scenarios = pickScenarios(s.scenarios);
  const date = stamp(new Date());
  const report: BenchReport = { date, quick: s.quick, settings: { ...s }, environment: versions(), unavailable: {}, runs: [], errors: [], aborted: [], summary: [], rss: [], rssAtStart: {} };
  log(`up to ${s.rounds} rounds of ${scenarios.map((sc) => sc.name).join(', ')} on ${s.targets.join('/')} (clients ${s.clients.join('/')} unless a scenario sets its own), ${s.seconds} s each`);
  const pg = await startPostgres();
  const workDir = mkdtempSync(join(tmpdir(), 'clarus-bench-'));
  let running = new Map<string, RunningTarget>();
  try {
    // pgbench's own tables serve the scenarios that run on the base targets (the builtin workloads).
    if (scenarios.some((sc) => !sc.targets || sc.pgbenchTables)) await initPgbench(plainEndpoint(pg.host, pg.port), plainEndpoint(pg.host, pg.port).password, s.scale);
    for (const sc of scenarios) await sc.setup?.(pg);
    running = await startTargets(pg, s, scenarios, report);
    const ctxFor = contextFor(pg, s, workDir);
    const aborted = await prepare(scenarios, running, ctxFor, report);
    await warmUp(s, scenarios, running, aborted);
    await measureRounds({ s, scenarios, running, report, ctxFor, aborted });
    report.environment['load average at end'] = loadavg()[0]?.toFixed(2) ?? '?';
    report.rss = await measureRssAndStop(s, running);
  } finally {
    for (const t of running.values()) await t.stop().catch(() => undefined);
    await pg.destroy();
    rmSync(workDir, { recursive: true, force: true });
  }
  report.summary = summarize(report.runs);
  mkdirSync(resultsDir, { recursive: true });
  const base = join(resultsDir, date);
  writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  const md = markdown(report, s.targets);
  writeFileSync(`${base}.md`, md);
  chart(`${base}.json`, `${base}.png`);
  process.stdout.write(`\n${md}\nbench: wrote ${base}.json, .md, .png\n`);
  return 0;
}

main().then((code) => process.exit(code), (e: unknown) => {
  console.error('bench: failed:', e);
  process.exit(1);
});
