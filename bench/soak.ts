// `node bench/soak.ts` (issue 15, goal 5): the RSS of an encrypting proxy (clarus-enc2) over a
// mixed workload — select by key in the simple protocol (every text new, shape cache) and inserts
// with prepared statements (encrypted at Bind), each stream rate-limited — sampled every
// SOAK_SAMPLE_SECONDS; 200 idle connections are held during the last sample. Writes
// bench/results/<date>-soak.json, .md and .png (the curve). SOAK_MINUTES (default 30),
// SOAK_RATE (tps per stream, default 300), SOAK_CLIENTS (per stream, default 4).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPostgres } from '@clarus/testing/pg.ts';
import { encryptedTarget } from './lib/enc-target.ts';
import { ENC_SCENARIOS } from './lib/enc-scenarios.ts';
import { VARIANTS } from './lib/encrypted.ts';
import { openIdle } from './lib/idle.ts';
import { runPgbench } from './lib/pgbench.ts';
import { rssMiB } from './lib/procs.ts';
import { readSettings } from './lib/settings.ts';
import type { ScenarioContext } from './lib/scenarios.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const num = (v: string | undefined, d: number) => (v && Number(v) > 0 ? Number(v) : d);
const minutes = num(process.env.SOAK_MINUTES, 30);
const rate = num(process.env.SOAK_RATE, 300);
const clients = num(process.env.SOAK_CLIENTS, 4);
const every = num(process.env.SOAK_SAMPLE_SECONDS, 15);
const log = (m: string) => process.stdout.write(`soak: ${m}\n`);

const pg = await startPostgres();
const workDir = mkdtempSync(join(tmpdir(), 'clarus-soak-'));
const target = await encryptedTarget(VARIANTS[0] as (typeof VARIANTS)[number]).start(pg, { maxSessions: 250 });
const samples: Array<{ s: number; rssMiB: number }> = [];
try {
  const pid = target.pid as number;
  const done = new Map<string, Promise<unknown>>();
  const ctx: ScenarioContext = { pg, targetName: 'clarus-enc2', target, settings: readSettings({ BENCH_QUICK: '1' }), workDir,
    once: <T>(k: string, f: () => Promise<T>) => { if (!done.has(k)) done.set(k, f()); return done.get(k) as Promise<T> } };
  const select = ENC_SCENARIOS.find((s) => s.name === 'enc-select-simple');
  const insert = ENC_SCENARIOS.find((s) => s.name === 'enc-insert-prepared');
  await select?.prepare?.(ctx);
  await insert?.prepare?.(ctx);
  const t0 = Date.now();
  const sample = () => { samples.push({ s: Math.round((Date.now() - t0) / 1000), rssMiB: Math.round(rssMiB(pid) * 10) / 10 }); };
  sample();
  log(`${minutes} min, ${rate} tps per stream, ${clients} clients per stream; RSS after the setup ${samples[0]?.rssMiB} MiB`);
  const timer = setInterval(sample, every * 1000);
  const seconds = minutes * 60;
  const runs = await Promise.all([select, insert].map((s) => runPgbench(target.endpoint, [...(s?.pgbenchArgs ?? []), '-R', String(rate)], clients, seconds)));
  clearInterval(timer);
  const idle = await openIdle(target.endpoint, 200);
  sample();
  await idle.close();
  const first = samples[1]?.rssMiB ?? 0;
  const last = samples[samples.length - 2]?.rssMiB ?? 0;
  const report = { date: new Date().toISOString(), minutes, rate, clients, loadAverage: loadavg()[0], transactions: runs.map((r) => r.transactions), samples };
  const base = join(root, 'bench/results', `${new Date().toISOString().slice(0, 16).replace(':', '')}Z-soak`);
  mkdirSync(dirname(base), { recursive: true });
  writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  const max = Math.max(...samples.map((x) => x.rssMiB));
  writeFileSync(`${base}.md`, [`# Soak of clarus-enc2, ${minutes} min (issue 15, goal 5)`, '',
    `Select by key (-M simple) and insert (-M prepared), ${rate} tps each, ${clients} clients each; load average at the end ${loadavg()[0]?.toFixed(2)}.`,
    `Transactions: ${runs.map((r) => r.transactions).join(' + ')}. RSS: ${samples[0]?.rssMiB} MiB after the setup (tables created and ${100_000} rows loaded through the proxy), ${first} MiB after ${every} s, ${last} MiB at the end,`,
    `at most ${max} MiB; ${samples[samples.length - 1]?.rssMiB} MiB with 200 idle connections afterwards. Curve: ${base.split('/').pop()}.png.`, ''].join('\n'));
  try {
    const venv = execFileSync(join(root, 'compat/python/ensure-venv.sh'), [join(root, 'bench/requirements.txt')], { stdio: ['ignore', 'pipe', 'inherit'] }).toString().trim();
    execFileSync(join(venv, 'bin/python'), [join(root, 'bench/soak_chart.py'), `${base}.json`, `${base}.png`], { stdio: 'inherit' });
  } catch (e) {
    log(`chart not drawn: ${(e as Error).message.split('\n')[0]}`);
  }
  log(`wrote ${base}.json, .md, .png`);
} finally {
  await target.stop().catch(() => undefined);
  await pg.destroy();
  rmSync(workDir, { recursive: true, force: true });
}
