// `make bench`: pgbench scenarios × client counts × targets (PostgreSQL directly, PgBouncer, the
// Clarus proxy) in one run, targets alternating within each round, several rounds; then the RSS
// of the pooler/proxy holding idle connections. Writes bench/results/<date>.json, .md and .png.
// Settings: see lib/settings.ts (BENCH_QUICK=1 for a ~2 minute run).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RuntimeConfig } from '../crds/src/runtime/config.ts';
import { startPostgres, type PgCluster } from '../sidecar/test/harness/pg.ts';
import { openIdle } from './lib/idle.ts';
import { initPgbench, NoTransactions, runPgbench } from './lib/pgbench.ts';
import { cpuSeconds, rssMiB } from './lib/procs.ts';
import { round as roundTo } from './lib/stats.ts';
import { markdown, summarize, type BenchReport, type RssRecord } from './lib/report.ts';
import { runPlan } from './lib/plan.ts';
import { pickScenarios, type Scenario } from './lib/scenarios.ts';
import { readSettings, type BenchSettings } from './lib/settings.ts';
import { TARGETS, plainEndpoint, type RunningTarget } from './lib/targets.ts';

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
  for (const t of TARGETS.filter((x) => s.targets.includes(x.name))) {
    try {
      if (s.cpuProfile && t.name === 'clarus') mkdirSync(profileDir, { recursive: true });
      const nodeOptions = s.cpuProfile ? `--cpu-prof --cpu-prof-dir=${profileDir}` : undefined;
      const configureProxy = (c: RuntimeConfig) => { for (const sc of scenarios) sc.configureProxy?.(c); };
      running.set(t.name, await t.start(pg, { maxSessions, nodeOptions, configureProxy }));
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
async function warmUp(s: BenchSettings, running: Map<string, RunningTarget>): Promise<void> {
  for (const [name, t] of running) {
    await runPgbench(t.endpoint, ['-S', '-M', 'simple'], Math.max(...s.clients), 2)
      .catch((e: unknown) => log(`warm-up of ${name} failed: ${(e as Error).message.split('\n')[0]}`));
  }
}

async function measureRounds(s: BenchSettings, scenarios: Scenario[], running: Map<string, RunningTarget>, report: BenchReport): Promise<void> {
  for (const step of runPlan(s.rounds, scenarios, s.clients, [...running.keys()])) {
    const { round, scenario: sc, clients, target } = step;
    const t = running.get(target) as RunningTarget;
    if (step.scenario.targets && !step.scenario.targets.includes(target)) continue;
    const what = `round ${round}/${s.rounds} ${sc.name} c=${clients} ${target}`;
    try {
      // A window spent entirely on connecting (a loaded machine, short quick-mode runs) is retried once.
      const once = async () => {
        const cpu0 = t.pid === undefined ? 0 : cpuSeconds(t.pid);
        const res = await runPgbench(t.endpoint, sc.pgbenchArgs, clients, s.seconds);
        return t.pid === undefined ? res : { ...res, cpuUsPerTx: roundTo((cpuSeconds(t.pid) - cpu0) * 1e6 / res.transactions, 1) };
      };
      const r = await once().catch((e: unknown) => { if (e instanceof NoTransactions) return once(); throw e; });
      report.runs.push({ round, scenario: sc.name, clients, target, ...r });
      const cpu = 'cpuUsPerTx' in r ? `, ${r.cpuUsPerTx} µs CPU/tx` : '';
      log(`${what}: ${r.tps.toFixed(0)} tps, p99 ${r.p99Ms.toFixed(3)} ms${cpu}`);
    } catch (e) {
      report.errors.push({ scenario: sc.name, clients, target, round, error: (e as Error).message });
      log(`${what}: FAILED ${(e as Error).message.split('\n')[0]}`);
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
      const baselineMiB = rssMiB(t.pid);
      const idle = await openIdle(t.endpoint, s.idleConnections);
      await sleep(1000);
      const withIdleMiB = rssMiB(t.pid);
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
  const report: BenchReport = { date, quick: s.quick, settings: { ...s }, environment: versions(), unavailable: {}, runs: [], errors: [], summary: [], rss: [] };
  log(`${s.rounds} rounds × ${scenarios.length} scenarios × clients ${s.clients.join('/')} × ${s.targets.join('/')}, ${s.seconds} s each`);
  const pg = await startPostgres();
  let running = new Map<string, RunningTarget>();
  try {
    await initPgbench(plainEndpoint(pg.host, pg.port), plainEndpoint(pg.host, pg.port).password, s.scale);
    for (const sc of scenarios) await sc.setup?.(pg);
    running = await startTargets(pg, s, scenarios, report);
    await warmUp(s, running);
    await measureRounds(s, scenarios, running, report);
    report.environment['load average at end'] = loadavg()[0]?.toFixed(2) ?? '?';
    report.rss = await measureRssAndStop(s, running);
  } finally {
    for (const t of running.values()) await t.stop().catch(() => undefined);
    await pg.destroy();
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
