// `node bench/relay-ab.ts` (issue 15, goal 1): the pass-through proxy with the native data path
// (io/native-relay.ts) against the same proxy with CLARUS_NATIVE_RELAY=0 and PgBouncer, in the same
// minutes: pgbench select-only at RELAY_AB_CLIENTS (8) clients, RELAY_AB_MODES (default simple,prepared) for
// RELAY_AB_SECONDS (5) each, targets rotating each round, RELAY_AB_ROUNDS (3) rounds. Prints tps and
// CPU µs per transaction of every run and their medians, and writes bench/results/<minute>-relay-ab.md.
// RELAY_AB_BACKEND_TLS=1: PgBouncer and both proxies reach PostgreSQL over TLS (verify-full), as in
// a cloud deployment; a session whose backend connection is TLS stays on the JavaScript relay.
// RELAY_AB_EXTRA="name:VAR=value,VAR=value" adds a fourth target: the proxy with that environment
// (e.g. stgc:CLARUS_NODE_FLAGS=--single-threaded-gc).
import { writeFileSync } from 'node:fs';
import pg from 'pg';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPostgres } from '@clarus/testing/pg.ts';
import { initPgbench, runPgbench } from './lib/pgbench.ts';
import { cpuSeconds } from './lib/procs.ts';
import { assignments } from './lib/settings.ts';
import { median } from './lib/stats.ts';
import { plainEndpoint, TARGETS, type RunningTarget } from './lib/targets.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const env = process.env;
const seconds = Number(env.RELAY_AB_SECONDS ?? 5);
const rounds = Number(env.RELAY_AB_ROUNDS ?? 3);
const clients = Number(env.RELAY_AB_CLIENTS ?? 8);
const backendTls = env.RELAY_AB_BACKEND_TLS === '1';
const modes = (env.RELAY_AB_MODES ?? 'simple,prepared').split(',');
const minute = new Date().toISOString().slice(0, 16).replace(':', '') + 'Z';
const target = (name: string) => TARGETS.find((t) => t.name === name) as (typeof TARGETS)[number];

/** One pgbench run: tps and the target's CPU µs per transaction. */
async function measure(t: RunningTarget, mode: string): Promise<{ tps: number; cpu: number }> {
  const before = t.pid ? cpuSeconds(t.pid) : 0;
  const res = await runPgbench(t.endpoint, ['-S', '-M', mode], clients, seconds);
  return { tps: res.tps, cpu: t.pid ? ((cpuSeconds(t.pid) - before) * 1e6) / res.transactions : 0 };
}

/** Whether the target's connection to PostgreSQL is TLS (asked through it: a pass-through target runs the query on that connection). */
async function backendSsl(t: RunningTarget): Promise<boolean> {
  const e = t.endpoint;
  const c = new pg.Client({ host: e.host, port: e.port, user: e.user, password: e.password, database: e.database });
  await c.connect();
  try {
    return (await c.query<{ ssl: boolean }>('select ssl from pg_stat_ssl where pid = pg_backend_pid()')).rows[0]?.ssl === true;
  } finally { await c.end(); }
}

const cluster = await startPostgres();
const running: Array<[string, RunningTarget]> = [];
try {
  const direct = plainEndpoint(cluster.host, cluster.port);
  await initPgbench(direct, direct.password, 1);
  running.push(['pgbouncer', await target('pgbouncer').start(cluster, { maxSessions: 20, backendTls })]);
  running.push(['native', await target('clarus').start(cluster, { maxSessions: 20, backendTls })]);
  running.push(['javascript', await target('clarus').start(cluster, { maxSessions: 20, backendTls, env: { CLARUS_NATIVE_RELAY: '0' } })]);
  if (env.RELAY_AB_EXTRA) {
    const [name, vars = ''] = env.RELAY_AB_EXTRA.split(/:(.*)/s);
    running.push([name ?? 'extra', await target('clarus').start(cluster, { maxSessions: 20, backendTls, env: assignments(vars, ',') })]);
  }
  for (const [name, t] of running) {
    if (await backendSsl(t) !== backendTls) throw new Error(`${name}: its connection to PostgreSQL is ${backendTls ? 'not ' : ''}TLS`);
  }
  const rows: string[] = [];
  const results = new Map<string, { tps: number[]; cpu: number[] }>();
  // Every (round, mode, target) in order; the targets' order rotates each round.
  const plan = Array.from({ length: rounds }, (_, r) => modes.flatMap((mode) => running.map((_t, i) => ({ r, mode, at: (i + r) % running.length })))).flat();
  for (const { r, mode, at } of plan) {
    const [name, t] = running[at] as [string, RunningTarget];
    const { tps, cpu } = await measure(t, mode);
    const key = `${mode} ${name}`;
    const m = results.get(key) ?? { tps: [], cpu: [] };
    m.tps.push(tps); m.cpu.push(cpu);
    results.set(key, m);
    rows.push(`| ${r + 1} | ${mode} | ${name} | ${tps.toFixed(0)} | ${cpu.toFixed(1)} |`);
    process.stdout.write(`${rows[rows.length - 1]}\n`);
  }
  const med = [...results].map(([k, m]) => `| ${k} | ${median(m.tps).toFixed(0)} | ${median(m.cpu).toFixed(1)} |`);
  const md = [`# Pass-through relay A/B ${minute}`, '', `load average at end ${loadavg()[0]?.toFixed(2)}; ${rounds} rounds of ${seconds} s, ${clients} clients, pgbench -S${backendTls ? ', backends over TLS (verify-full)' : ''}${env.RELAY_AB_EXTRA ? `; extra target ${env.RELAY_AB_EXTRA}` : ''}`, '',
    '| round | mode | target | tps | CPU µs/tx |', '| ---: | --- | --- | ---: | ---: |', ...rows, '', '| mode target | median tps | median CPU µs/tx |', '| --- | ---: | ---: |', ...med, ''].join('\n');
  writeFileSync(join(root, 'bench/results', `${minute}-relay-ab.md`), md);
  process.stdout.write(med.join('\n') + '\n');
} finally {
  for (const [, t] of running) await t.stop();
  await cluster.destroy();
}
