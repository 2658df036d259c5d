// One proxy on several cores (issue 15, goal 3): `clarus proxy --workers 2` against real
// PostgreSQL. Sessions are spread over both workers; a CancelRequest that reaches the worker not
// holding the session still cancels it (through the primary); a wrong key cancels nothing; the
// primary's /metrics sums both workers (statements, sessions) and shows non-additive gauges once;
// SIGHUP reloads every worker; SIGTERM drains and stops every worker process.
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workerOf } from '../../src/io/cancel.ts';
import { encodeStartup } from '../../src/protocol/startup.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { startProxyProcess, writeProxyConfig } from '@clarus/testing/proxy.ts';
import type { ProxyProcess } from '@clarus/testing/proxy.ts';
import { until } from '@clarus/testing/wait.ts';

let cluster: PgCluster;
let proxy: ProxyProcess;
let cfg: ReturnType<typeof writeProxyConfig>;
const clients: pg.Client[] = [];

type Keyed = pg.Client & { processID: number; secretKey: number };

function sendCancel(processId: number, secretKey: number): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(proxy.port, '127.0.0.1', () => s.end(encodeStartup({ type: 'CancelRequest', processId, secretKey })));
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
}

async function metrics(): Promise<string> {
  return (await fetch(`http://127.0.0.1:${proxy.metricsPort}/metrics`)).text();
}

function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/** Starts pg_sleep on the session and waits until the backend runs it; `running` settles with 'finished' or the SQLSTATE. */
async function sleeping(c: pg.Client, seconds: number): Promise<{ running: Promise<unknown> }> {
  const running = c.query(`select pg_sleep(${seconds})`).then(() => 'finished', (e: { code?: string }) => e.code);
  const active = `select count(*) from pg_stat_activity where state = 'active' and query = 'select pg_sleep(${seconds})'`;
  await until(`pg_sleep(${seconds}) to run`, async () => (await cluster.psql(active)) === '1\n', 20_000, 50);
  return { running };
}

beforeAll(async () => {
  cluster = await startPostgres();
  cfg = writeProxyConfig({ backends: [{ cluster }] });
  // The memory settings are the launcher's defaults (an undefined value is not passed on).
  proxy = await startProxyProcess(cfg.dir, ['--workers', '2'],
    { CLARUS_LOG_LEVEL: 'info', MALLOC_ARENA_MAX: undefined, MALLOC_MMAP_THRESHOLD_: undefined, CLARUS_MAX_SEMI_SPACE_MIB: undefined });
  for (let i = 0; i < 20; i++) {
    const c = new pg.Client({ connectionString: proxy.url() });
    c.on('error', () => undefined);
    await c.connect();
    clients.push(c);
  }
}, 120_000);

afterAll(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
  await proxy?.close();
  cfg?.destroy();
  await cluster?.destroy();
});

describe('clarus proxy --workers 2', () => {
  it('starts two workers and spreads the sessions over both', async () => {
    expect(proxy.logs.find((l) => l.msg === 'listening')).toMatchObject({ workers: 2 });
    expect(proxy.logs.filter((l) => l.msg === 'worker listening').map((l) => l.worker).sort()).toEqual([0, 1]);
    // The executable's processes find the native AES module (build/native, from build/js or the sources).
    const aes = proxy.logs.filter((l) => l.msg === 'listening' || l.msg === 'worker listening').map((l) => l.aes);
    expect(aes).toHaveLength(3);
    for (const a of aes) expect(a).toMatch(process.arch === 'x64' ? /^AES-NI/ : /^node:crypto/);
    // Each worker relays its pass-through sessions on the native data path (the primary relays none).
    const relays = proxy.logs.filter((l) => l.msg === 'worker listening').map((l) => l.relay);
    expect(relays).toHaveLength(2);
    for (const r of relays) expect(r).toMatch(process.platform === 'linux' ? /^native/ : /^javascript/);
    const owners = new Set(clients.map((c) => workerOf((c as Keyed).processID, 2)));
    expect(owners).toEqual(new Set([0, 1]));
    // Each session has its own backend connection.
    const pids = await Promise.all(clients.map(async (c) => (await c.query('select pg_backend_pid() as p')).rows[0].p as number));
    expect(new Set(pids).size).toBe(20);
  });

  it("every process runs with the launcher's memory settings (issue 15, goal 5: cli/bin/clarus)", () => {
    const pid = proxy.child.pid as number;
    const workers = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    expect(workers).toHaveLength(2);
    for (const p of [pid, ...workers]) {
      const env = readFileSync(`/proc/${p}/environ`, 'utf8').split('\0');
      expect(env).toEqual(expect.arrayContaining(['MALLOC_ARENA_MAX=2', 'MALLOC_MMAP_THRESHOLD_=32768']));
      expect(readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')).toContain('--max-semi-space-size=8');
    }
  });

  it("the primary's /metrics is the sum of both workers'", async () => {
    const before = await metrics();
    expect(value(before, 'clarus_workers')).toBe(2);
    expect(value(before, 'clarus_connections_active')).toBe(20);
    expect(value(before, 'clarus_config_generation')).toBe(1);
    const ok = 'clarus_statements_total{type="simple",outcome="ok"}';
    await Promise.all(clients.map(async (c) => { await c.query('select 1'); await c.query('select 2'); }));
    const after = await metrics();
    expect(value(after, ok) - value(before, ok)).toBe(40);
  });

  it('a CancelRequest that reaches the other worker cancels the session (57014)', async () => {
    const c = new pg.Client({ connectionString: proxy.url() }) as Keyed;
    c.on('error', () => undefined);
    await c.connect();
    clients.push(c);
    // Cancel connections are handed round-robin to the workers: a few in a row reach both.
    for (let i = 0; i < 4; i++) {
      const { running } = await sleeping(c, 20);
      await sendCancel(c.processID, c.secretKey);
      expect(await running).toBe('57014');
    }
    const m = await metrics();
    expect(value(m, 'clarus_cancel_requests_total{result="other-worker"}')).toBeGreaterThanOrEqual(1);
    expect(value(m, 'clarus_cancel_requests_total{result="worker-found"}')).toBeGreaterThanOrEqual(1);
    expect(value(m, 'clarus_cancel_requests_total{result="found"}')).toBeGreaterThanOrEqual(1);
    expect((await c.query('select 1 as n')).rows).toEqual([{ n: 1 }]);
  });

  it('a wrong secret key cancels nothing on either worker', async () => {
    const c = new pg.Client({ connectionString: proxy.url() }) as Keyed;
    c.on('error', () => undefined);
    await c.connect();
    clients.push(c);
    const { running } = await sleeping(c, 1.5);
    for (let i = 0; i < 2; i++) await sendCancel(c.processID, c.secretKey ^ 1);
    expect(await running).toBe('finished');
    const m = await metrics();
    expect(value(m, 'clarus_cancel_requests_total{result="unknown"}') + value(m, 'clarus_cancel_requests_total{result="worker-unknown"}')).toBe(2);
  });

  it('SIGHUP reloads every worker; the generation is shown once, not summed', async () => {
    const reloaded = () => proxy.logs.filter((l) => l.msg === 'configuration reloaded');
    const n = reloaded().length;
    proxy.child.kill('SIGHUP');
    await until('both workers to reload', () => reloaded().length >= n + 2, 20_000, 50);
    expect(reloaded().slice(n).map((l) => l.worker).sort()).toEqual([0, 1]);
    expect(value(await metrics(), 'clarus_config_generation')).toBe(2);
  });

  it('SIGTERM drains both workers and stops every process', async () => {
    const workerPids = proxy.logs.filter((l) => l.msg === 'worker listening').map((l) => l.pid as number);
    expect(workerPids).toHaveLength(2);
    const closed = clients.map((c) => new Promise<void>((r) => c.once('end', () => r())));
    proxy.child.kill('SIGTERM');
    expect(await proxy.exited).toBe(0);
    await Promise.all(closed);
    for (const pid of workerPids) expect(() => process.kill(pid, 0)).toThrow();
    expect(proxy.logs.filter((l) => l.msg === 'draining').map((l) => l.worker).sort()).toEqual([0, 1]);
  });
});
