// `node bench/enc-ab.ts` (issue 15, goal 2): the encrypting proxy before and after a change, in the
// same minutes. AB_BASE (a commit, default HEAD) is exported into a temporary tree (its own
// workspace links, this checkout's other node_modules) whose proxy is A; this checkout's is B; the
// pass-through proxy of this checkout is the baseline of goal 2's ratio. Each of AB_SCENARIOS
// (default enc-select-simple) runs at 8 clients for AB_SECONDS (5) on the three proxies, in an order
// that rotates each round, for AB_ROUNDS (3) rounds. Writes bench/results/<minute>-enc-ab.md: tps and
// the proxy's CPU µs per transaction of every run, medians, and A's and B's tps over the pass-through's.
// AB_B_ENV="NAME=value …" adds environment to B alone (e.g. CLARUS_MAX_SEMI_SPACE_MIB=8 with
// AB_BASE=HEAD: a setting against the same code). AB_PROFILE=1 runs B under `node --cpu-prof` and writes the monotonic-clock windows of B's runs
// (µs) to bench/results/profiles/<minute>-windows.json, so a profile can be read for them alone
// (bench/profile-top.ts). The report ends with each proxy's RSS after the runs and 20 s later.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPostgres } from '@clarus/testing/pg.ts';
import { encryptedTarget } from './lib/enc-target.ts';
import { ENC_SCENARIOS } from './lib/enc-scenarios.ts';
import { VARIANTS } from './lib/encrypted.ts';
import { runPgbench } from './lib/pgbench.ts';
import { cpuSeconds, rssMiB } from './lib/procs.ts';
import { assignments, readSettings } from './lib/settings.ts';
import type { Scenario, ScenarioContext } from './lib/scenarios.ts';
import { TARGETS, type RunningTarget } from './lib/targets.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const results = join(root, 'bench/results');
const env = process.env;
const seconds = Number(env.AB_SECONDS ?? 5);
const rounds = Number(env.AB_ROUNDS ?? 3);
const clients = 8;
const base = env.AB_BASE ?? 'HEAD';
const profile = env.AB_PROFILE === '1';
const minute = new Date().toISOString().slice(0, 16).replace(':', '') + 'Z';

/** The tree of commit `rev`, runnable: the workspace packages linked to its own folders. */
function exportTree(rev: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'clarus-ab-base-'));
  execFileSync('sh', ['-c', `git -C "${root}" archive "${rev}" | tar -x -C "${dir}"`]);
  mkdirSync(join(dir, 'node_modules/@clarus'), { recursive: true });
  for (const name of readdirSync(join(root, 'node_modules'))) {
    if (name !== '@clarus') symlinkSync(join(root, 'node_modules', name), join(dir, 'node_modules', name));
  }
  for (const name of readdirSync(join(root, 'node_modules/@clarus'))) symlinkSync(`../../${name}`, join(dir, 'node_modules/@clarus', name));
  symlinkSync(join(root, '.tools'), join(dir, '.tools'));
  // Its own native modules (build/native is not in the archive): A measured without them would not be A.
  try {
    execFileSync('bash', [join(dir, 'scripts/build-native.sh')], { stdio: 'ignore' });
  } catch {
    process.stdout.write(`A (${rev}): its native modules did not build; A runs without them\n`);
  }
  return dir;
}

interface Proxy { name: string; t: RunningTarget }
interface Run { scenario: string; proxy: string; round: number; tps: number; cpuUs: number; sysUs: number }

/** System CPU seconds of a process so far (/proc/<pid>/stat field 15). */
function sysSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[12]) / 100;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const r1 = (x: number): number => Math.round(x * 10) / 10;

async function startProxies(pg: Awaited<ReturnType<typeof startPostgres>>, baseTree: string): Promise<Proxy[]> {
  const enc2 = VARIANTS[0] as (typeof VARIANTS)[number];
  const prof = join(results, 'profiles');
  if (profile) mkdirSync(prof, { recursive: true });
  const plain = TARGETS.find((t) => t.name === 'clarus');
  if (!plain) throw new Error('no clarus target');
  const out: Proxy[] = [{ name: 'clarus', t: await plain.start(pg, { maxSessions: 20 }) }];
  out.push({ name: 'A', t: await encryptedTarget({ ...enc2, target: 'clarus-enc2-A', database: 'bench_enc2_a' }).start(pg, { maxSessions: 20, bin: join(baseTree, 'cli/bin/clarus') }) });
  const nodeOptions = profile ? `--cpu-prof --cpu-prof-dir=${prof} --cpu-prof-name=${minute}-B.cpuprofile` : undefined;
  const bEnv = assignments(env.AB_B_ENV, /\s+/);
  out.push({ name: 'B', t: await encryptedTarget({ ...enc2, target: 'clarus-enc2-B', database: 'bench_enc2_b' }).start(pg, { maxSessions: 20, nodeOptions, env: bEnv }) });
  return out;
}

async function prepareAll(pg: Awaited<ReturnType<typeof startPostgres>>, proxies: Proxy[], scenarios: Scenario[], work: string): Promise<void> {
  for (const { name, t } of proxies) {
    const done = new Map<string, Promise<unknown>>();
    const ctx: ScenarioContext = { pg, targetName: name, target: t, settings: readSettings({ BENCH_QUICK: '1' }), workDir: work,
      once: <T>(k: string, f: () => Promise<T>) => { if (!done.has(k)) done.set(k, f()); return done.get(k) as Promise<T>; } };
    for (const s of scenarios) await s.prepare?.(ctx);
    // Warm-up: the first statements compile the parsers and fill the caches.
    for (const s of scenarios) await runPgbench(t.endpoint, s.pgbenchArgs ?? [], clients, 2);
  }
}

function report(runs: Run[], scenarios: Scenario[], load: string, rss: string): string {
  const lines = [`# Encrypting proxy A/B (bench/enc-ab.ts), ${minute}`, '',
    `A: ${base}${env.AB_B_ENV ? ` (B with ${env.AB_B_ENV})` : ''} (${execFileSync('git', ['-C', root, 'rev-parse', '--short', base]).toString().trim()}), B: this checkout (${execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD']).toString().trim()}${execFileSync('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no']).toString().trim() ? ' + changes' : ''}); clarus: the pass-through proxy. ${clients} clients, ${rounds} rounds of ${seconds} s; load average ${load}.`, '',
    '| scenario | proxy | tps per round | CPU µs/tx per round | of which system | median tps | median CPU µs/tx | tps / clarus (median) |', '| --- | --- | --- | --- | --- | ---: | ---: | ---: |'];
  for (const s of scenarios) {
    const plainTps = median(runs.filter((r) => r.scenario === s.name && r.proxy === 'clarus').map((r) => r.tps));
    for (const p of ['clarus', 'A', 'B']) {
      const mine = runs.filter((r) => r.scenario === s.name && r.proxy === p);
      const tps = median(mine.map((r) => r.tps));
      lines.push(`| ${s.name} | ${p} | ${mine.map((r) => Math.round(r.tps)).join(' ')} | ${mine.map((r) => r.cpuUs).join(' ')} | ${mine.map((r) => r.sysUs).join(' ')} | ${Math.round(tps)} | ${median(mine.map((r) => r.cpuUs))} | ${(tps / plainTps).toFixed(2)}× |`);
    }
  }
  lines.push('', `RSS after the runs: ${rss}.`);
  return `${lines.join('\n')}\n`;
}

/** One pgbench run on one proxy: its tps and the proxy's CPU per transaction (B's window kept for a profile). */
async function measure({ name, t }: Proxy, s: Scenario, round: number, windows: Array<[number, number]>): Promise<Run> {
  const pid = t.pid as number;
  const c0 = cpuSeconds(pid);
  const s0 = sysSeconds(pid);
  const w0 = Number(process.hrtime.bigint() / 1000n);
  const res = await runPgbench(t.endpoint, s.pgbenchArgs ?? [], clients, seconds);
  if (name === 'B') windows.push([w0, Number(process.hrtime.bigint() / 1000n)]);
  const perTx = (seconds: number): number => r1((seconds / Math.max(1, res.transactions)) * 1e6);
  return { scenario: s.name, proxy: name, round, tps: res.tps, cpuUs: perTx(cpuSeconds(pid) - c0), sysUs: perTx(sysSeconds(pid) - s0) };
}

const scenarios = (env.AB_SCENARIOS ?? 'enc-select-simple').split(',').map((n) => ENC_SCENARIOS.find((s) => s.name === n) ?? (() => { throw new Error(`no scenario ${n}`); })());
const baseTree = exportTree(base);
const pg = await startPostgres();
const work = mkdtempSync(join(tmpdir(), 'clarus-ab-'));
const proxies: Proxy[] = [];
try {
  proxies.push(...await startProxies(pg, baseTree));
  await prepareAll(pg, proxies, scenarios, work);
  process.stdout.write(`ready: ${proxies.map(({ name, t }) => `${name}=${t.pid}`).join(' ')}\n`);
  const load0 = loadavg()[0]?.toFixed(1) ?? '?';
  const runs: Run[] = [];
  const windows: Array<[number, number]> = [];
  const steps = Array.from({ length: rounds }, (_, r) => scenarios.flatMap((s) => proxies.map((_, i) => ({ round: r + 1, s, p: proxies[(i + r + 1) % proxies.length] as Proxy })))).flat();
  for (const { round, s, p } of steps) {
    const run = await measure(p, s, round, windows);
    runs.push(run);
    process.stdout.write(`${JSON.stringify(run)}\n`);
  }
  // Resident memory after the runs, and again after 20 s without statements (what V8 gives back).
  const rssNow = (): string => proxies.map(({ name, t }) => `${name} ${rssMiB(t.pid as number).toFixed(0)}`).join(', ');
  const after = rssNow();
  await new Promise((r) => setTimeout(r, 20_000));
  const md = report(runs, scenarios, `${load0} → ${loadavg()[0]?.toFixed(1) ?? '?'}`, `${after} MiB; 20 s later ${rssNow()} MiB`);
  writeFileSync(join(results, `${minute}-enc-ab.md`), md);
  if (profile) writeFileSync(join(results, 'profiles', `${minute}-windows.json`), JSON.stringify(windows));
  process.stdout.write(`\n${md}`);
} finally {
  for (const { t } of proxies) await t.stop().catch(() => undefined);
  await pg.destroy();
  rmSync(work, { recursive: true, force: true });
  rmSync(baseTree, { recursive: true, force: true });
}
