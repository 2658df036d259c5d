// `node bench/malloc-ab.ts` (issue 15, goal 5): the CPU cost of an environment setting of the
// encrypting proxy, A/B in the same minutes: two clarus-enc2 proxies on one PostgreSQL, A with
// the environment as given, B with AB_ENV (e.g. MALLOC_MMAP_THRESHOLD_=32768) added; pgbench
// select by key (-M simple and -M prepared) and prepared inserts, 8 clients, AB_SECONDS (10) each,
// alternating A and B for AB_ROUNDS (3) rounds; prints the proxy CPU µs per transaction and the
// RSS of each afterwards (and with 200 idle sessions).
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres } from '@clarus/testing/pg.ts';
import { encryptedTarget } from './lib/enc-target.ts';
import { ENC_SCENARIOS } from './lib/enc-scenarios.ts';
import { VARIANTS } from './lib/encrypted.ts';
import { openIdle } from './lib/idle.ts';
import { runPgbench } from './lib/pgbench.ts';
import { cpuSeconds, rssMiB } from './lib/procs.ts';
import { readSettings } from './lib/settings.ts';
import type { ScenarioContext } from './lib/scenarios.ts';
import type { RunningTarget } from './lib/targets.ts';

const extra = Object.fromEntries((process.env.AB_ENV ?? '').split(/\s+/).filter(Boolean).map((kv) => kv.split('=') as [string, string]));
const seconds = Number(process.env.AB_SECONDS ?? 10);
const rounds = Number(process.env.AB_ROUNDS ?? 3);
const pg = await startPostgres();
const work = mkdtempSync(join(tmpdir(), 'clarus-ab-'));
const base = VARIANTS[0] as (typeof VARIANTS)[number];
const targets: Array<{ name: string; t: RunningTarget }> = [];
try {
  for (const [name, env] of [['A', {}], ['B', extra]] as const) {
    const saved = { ...process.env };
    Object.assign(process.env, env);
    const t = await encryptedTarget({ ...base, target: `clarus-enc2-${name}`, database: `bench_enc2_${name.toLowerCase()}` }).start(pg, { maxSessions: 220 });
    process.env = saved;
    targets.push({ name, t });
  }
  const scen = ['enc-select-simple', 'enc-select-prepared', 'enc-insert-prepared'].map((n) => ENC_SCENARIOS.find((s) => s.name === n)).filter((s) => s !== undefined);
  for (const { name, t } of targets) {
    const done = new Map<string, Promise<unknown>>();
    const ctx: ScenarioContext = { pg, targetName: `clarus-enc2-${name}`, target: t, settings: readSettings({ BENCH_QUICK: '1' }), workDir: work,
      once: <T>(k: string, f: () => Promise<T>) => { if (!done.has(k)) done.set(k, f()); return done.get(k) as Promise<T> } };
    for (const s of scen) await s.prepare?.(ctx);
  }
  const cpu: Record<string, number[]> = {};
  const measure = async (scenario: string, args: string[], name: string, t: RunningTarget) => {
    const pid = t.pid as number;
    const c0 = cpuSeconds(pid);
    const res = await runPgbench(t.endpoint, args, 8, seconds);
    const us = ((cpuSeconds(pid) - c0) / Math.max(1, res.transactions)) * 1e6;
    (cpu[`${scenario} ${name}`] ??= []).push(Math.round(us * 10) / 10);
  };
  // Alternating the order each round (A B, then B A).
  const runs = Array.from({ length: rounds }, (_, r) => scen.flatMap((s) => (r % 2 ? [...targets].reverse() : targets).map((x) => ({ s, ...x })))).flat();
  for (const { s, name, t } of runs) await measure(s.name, s.pgbenchArgs ?? [], name, t);
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  process.stdout.write(`AB_ENV=${process.env.AB_ENV ?? ''}; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
  for (const [k, v] of Object.entries(cpu)) process.stdout.write(`${k}: CPU µs/tx ${v.join(' ')} (median ${med(v)})\n`);
  for (const { name, t } of targets) {
    const before = rssMiB(t.pid as number);
    const idle = await openIdle(t.endpoint, 200);
    await new Promise((res) => setTimeout(res, 1000));
    process.stdout.write(`${name}: RSS ${before.toFixed(1)} MiB after the runs, ${rssMiB(t.pid as number).toFixed(1)} MiB with 200 idle sessions\n`);
    await idle.close();
  }
} finally {
  for (const { t } of targets) await t.stop().catch(() => undefined);
  await pg.destroy();
  rmSync(work, { recursive: true, force: true });
}
