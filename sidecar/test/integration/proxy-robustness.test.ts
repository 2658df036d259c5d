// Failure handling through the real proxy: dying and refusing backends, malformed client input,
// connection limits, idle timeout, SIGTERM drain, configuration reload and the metrics listener.
import { connect } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Writer } from '../../src/protocol/codec.ts';
import { encodeStartup } from '../../src/protocol/startup.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { DEFAULT_USER, RawClient, startProxyInProcess, startProxyProcess, writeProxyConfig } from '@clarus/testing/proxy.ts';
import type { ProxyConfigOptions } from '@clarus/testing/proxy.ts';
import { poll, until } from '@clarus/testing/wait.ts';

let main: PgCluster;
let other: PgCluster;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => { [main, other] = await Promise.all([startPostgres(), startPostgres()]); });
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await main?.destroy();
  await other?.destroy();
});

async function proxyFor(opts: ProxyConfigOptions) {
  const cfg = writeProxyConfig(opts);
  const p = await startProxyInProcess(cfg.dir);
  cleanups.push(() => cfg.destroy(), () => p.close());
  return p;
}

async function client(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

describe('backend failures', () => {
  it('a backend dying mid-transaction gives its client 08006, loses the uncommitted row, and leaves other sessions alone', async () => {
    const p = await proxyFor({ backends: [{ cluster: main, name: 'main' }, { cluster: other, name: 'other' }] });
    // synchronous_commit on: the harness runs with it off, and the table must survive the crash.
    await other.psql('set synchronous_commit = on; create table t_die(id int)');
    const victim = await client(p.url(DEFAULT_USER, 'other'));
    const bystander = await client(p.url(DEFAULT_USER, 'main'));
    await victim.query('begin');
    await victim.query('insert into t_die values (1)');
    const pid = Number((await victim.query('select pg_backend_pid() as pid')).rows[0].pid);
    const running = victim.query('select pg_sleep(20)');
    await new Promise((r) => setTimeout(r, 200));
    process.kill(pid, 'SIGKILL');
    await expect(running).rejects.toMatchObject({ code: '08006' });
    expect((await bystander.query('select 5 as n')).rows).toEqual([{ n: 5 }]);
    await bystander.end();
    // The postmaster restarts after a backend crash; wait until it accepts connections again.
    expect(await poll('the postmaster to accept connections again', () => other.psql('select count(*) from t_die'), { ms: 60_000, stepMs: 200 })).toBe('0\n');
  });

  it('a backend that refuses connections gives 08001', async () => {
    const down = await startPostgres();
    const p = await proxyFor({ backends: [{ cluster: down }] });
    await down.destroy();
    await expect(client(p.url())).rejects.toMatchObject({ code: '08001' });
  });
});

describe('connect timeouts', () => {
  it('gives 08001 when a backend accepts TCP but never answers, and closes silent clients', async () => {
    // A listener that accepts and says nothing: the fault of a hung server, produced for real.
    const { createServer } = await import('node:net');
    const held: import('node:net').Socket[] = [];
    const silent = createServer((s) => { held.push(s); });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const port = (silent.address() as import('node:net').AddressInfo).port;
    cleanups.push(() => { for (const s of held) s.destroy(); silent.close(); });
    const p = await proxyFor({ backends: [{ cluster: { ...main, port } }], limits: { connectTimeoutSeconds: 1 } });
    await expect(client(p.url())).rejects.toMatchObject({ code: '08001' });
    const s = connect(p.port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    await new Promise((r) => s.once('close', r));
    expect(s.destroyed).toBe(true);
  });
});

describe('malformed client input', () => {
  it('answers an unknown message type with 08P01 and closes only that connection', async () => {
    const p = await proxyFor({ backends: [{ cluster: main }] });
    const ok = await client(p.url());
    const raw = await RawClient.open(p.port);
    raw.socket.write(Buffer.from([0x7a, 0, 0, 0, 4]));
    const err = await raw.until('ErrorResponse');
    expect(err.type === 'ErrorResponse' ? err.fields.C : '').toBe('08P01');
    expect(await raw.closedSoon()).toBe(true);
    expect((await ok.query('select 1 as n')).rows).toEqual([{ n: 1 }]);
    await ok.end();
  });

  it('refuses a message larger than limits.maxMessageBytes', async () => {
    const p = await proxyFor({ backends: [{ cluster: main }], limits: { maxMessageBytes: 4096 } });
    const raw = await RawClient.open(p.port);
    raw.socket.write(new Writer().begin(0x51).cstring(`select '${'x'.repeat(10_000)}'`).end().finish());
    const err = await raw.until('ErrorResponse');
    expect(err.type === 'ErrorResponse' ? err.fields.C : '').toBe('54000');
    expect(await raw.closedSoon()).toBe(true);
  });

  it('answers a garbage startup packet with an error and a close', async () => {
    const p = await proxyFor({ backends: [{ cluster: main }] });
    const s = connect(p.port, '127.0.0.1');
    const got: Buffer[] = [];
    s.on('data', (c) => got.push(c));
    s.write(Buffer.from([0, 0, 0, 3, 1, 2, 3, 4]));
    await new Promise((r) => s.once('close', r));
    expect(Buffer.concat(got).toString()).toContain('08P01');
  });
});

describe('limits', () => {
  it('refuses clients beyond limits.maxConnections with 53300', async () => {
    const p = await proxyFor({ backends: [{ cluster: main }], limits: { maxConnections: 2 } });
    const a = await client(p.url());
    const b = await client(p.url());
    await expect(client(p.url())).rejects.toMatchObject({ code: '53300' });
    await a.end();
    await new Promise((r) => setTimeout(r, 100));
    const c = await client(p.url());
    expect((await c.query('select 1 as n')).rows).toEqual([{ n: 1 }]);
    await Promise.all([b.end(), c.end()]);
  });

  it('bounds backend connections by pool.maxConnections', async () => {
    const p = await proxyFor({ backends: [{ cluster: main, maxConnections: 1 }] });
    const a = await client(p.url());
    await expect(client(p.url())).rejects.toMatchObject({ code: '53300' });
    await a.end();
  });

  it('closes idle sessions after limits.idleTimeoutSeconds with 57P05', async () => {
    const p = await proxyFor({ backends: [{ cluster: main }], limits: { idleTimeoutSeconds: 1 } });
    const c = new pg.Client({ connectionString: p.url() });
    // 'on', not 'once': pg emits a second error when the socket closes after the FATAL.
    const err = new Promise<unknown>((r) => c.on('error', r));
    await c.connect();
    expect(await err).toMatchObject({ code: '57P05' });
  });
});

describe('operations (child process)', () => {
  it('serves /metrics, /healthz and /readyz, and drains on SIGTERM letting the open transaction commit', async () => {
    const cfg = writeProxyConfig({ backends: [{ cluster: main }], limits: { drainSeconds: 20 } });
    cleanups.push(() => cfg.destroy());
    const p = await startProxyProcess(cfg.dir);
    cleanups.push(() => p.close());
    const http = (path: string) => fetch(`http://127.0.0.1:${p.metricsPort}${path}`);
    await main.psql('create table t_drain(id int)');
    const inTx = await client(p.url());
    const idle = await client(p.url());
    const idleErr = new Promise<unknown>((r) => idle.once('error', r));
    await inTx.query('begin');
    await inTx.query('insert into t_drain values (1)');
    expect((await http('/healthz')).status).toBe(200);
    expect((await http('/readyz')).status).toBe(200);
    const metrics = await (await http('/metrics')).text();
    expect(metrics).toMatch(/clarus_statements_total\{type="simple",outcome="ok"\} [1-9]/);
    expect(metrics).toMatch(/clarus_connections_active 2/);
    p.child.kill('SIGTERM');
    expect(await idleErr).toMatchObject({ code: '57P01' });
    expect((await http('/readyz')).status).toBe(503);
    await expect(client(p.url())).rejects.toThrow();
    await inTx.query('insert into t_drain values (2)');
    const closed = new Promise((r) => inTx.once('error', r));
    await inTx.query('commit');
    await closed;
    expect(await p.exited).toBe(0);
    expect(await main.psql('select count(*) from t_drain')).toBe('2\n');
  });

  it('reloads a changed configuration (SIGHUP and file watch) without dropping connections', async () => {
    const cfg = writeProxyConfig({ backends: [{ cluster: main }] });
    cleanups.push(() => cfg.destroy());
    const p = await startProxyProcess(cfg.dir);
    cleanups.push(() => p.close());
    const kept = await client(p.url());
    await kept.query('begin');
    const newcomer = { name: 'bob', password: 'bob-pw' };
    await expect(client(p.url(newcomer))).rejects.toMatchObject({ code: '28P01' });
    const next = writeProxyConfig({ backends: [{ cluster: main }], users: [DEFAULT_USER, newcomer] });
    cleanups.push(() => next.destroy());
    const { cpSync } = await import('node:fs');
    cpSync(`${next.dir}/secrets/users`, `${cfg.dir}/secrets/users`, { recursive: true });
    cfg.write({ ...cfg.config, users: next.config.users });
    p.child.kill('SIGHUP');
    await until('the configuration reloaded', () => p.logs.some((l) => l.msg === 'configuration reloaded'));
    const bob = await client(p.url(newcomer));
    expect((await bob.query('select 1 as n')).rows).toEqual([{ n: 1 }]);
    await bob.end();
    expect((await kept.query('select 2 as n')).rows).toEqual([{ n: 2 }]);
    await kept.query('commit');
    // An invalid document is refused and the previous configuration stays in force.
    const { writeFileSync } = await import('node:fs');
    writeFileSync(`${cfg.dir}/config.json`, '{"version": 1}');
    p.child.kill('SIGHUP');
    await until('the reload to fail', () => p.logs.some((l) => String(l.msg).startsWith('configuration reload failed')));
    expect((await kept.query('select 3 as n')).rows).toEqual([{ n: 3 }]);
    const again = await client(p.url(newcomer));
    await again.end();
    await kept.end();
  });
});

describe('configuration watch', () => {
  it('picks up a changed directory without SIGHUP or reload()', async () => {
    const cfg = writeProxyConfig({ backends: [{ cluster: main }] });
    cleanups.push(() => cfg.destroy());
    const p = await startProxyInProcess(cfg.dir);
    cleanups.push(() => p.close());
    const kept = await client(p.url());
    const carol = { name: 'carol', password: 'carol-pw' };
    const next = writeProxyConfig({ backends: [{ cluster: main }], users: [DEFAULT_USER, carol] });
    cleanups.push(() => next.destroy());
    const { cpSync } = await import('node:fs');
    cpSync(`${next.dir}/secrets/users`, `${cfg.dir}/secrets/users`, { recursive: true });
    cfg.write({ ...cfg.config, users: next.config.users });
    const joined = await poll('the watched configuration to let carol in', () => client(p.url(carol)));
    await joined.end();
    expect((await kept.query('select 1 as n')).rows).toEqual([{ n: 1 }]);
    await kept.end();
  });
});

describe('backend terminations', () => {
  it('passes a backend FATAL (pg_terminate_backend) to the client as the only error', async () => {
    const p = await proxyFor({ backends: [{ cluster: main }] });
    const c = new pg.Client({ connectionString: p.url() });
    const errors: unknown[] = [];
    c.on('error', (e) => errors.push(e));
    await c.connect();
    const pid = Number((await c.query('select pg_backend_pid() as pid')).rows[0].pid);
    const ended = new Promise((r) => c.once('end', r));
    await main.psql(`select pg_terminate_backend(${pid})`);
    await ended;
    const codes = errors.map((e) => (e as { code?: string }).code).filter(Boolean);
    expect(codes).toEqual(['57P01']);
  });
});

describe('cancel requests', () => {
  it('ignores a cancel key of another replica and a wrong secret, leaving the query running', async () => {
    const p = await proxyFor({ backends: [{ cluster: main }] });
    const c = await client(p.url());
    const key = c as unknown as { processID: number; secretKey: number };
    const send = (processId: number, secretKey: number) => new Promise<void>((resolve) => {
      const s = connect(p.port, '127.0.0.1', () => s.end(encodeStartup({ type: 'CancelRequest', processId, secretKey })));
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    });
    // Bits 30..21 carry the replica id: flipping one names another replica.
    const running = c.query('select pg_sleep(1.5) as slept');
    const active = "select count(*) from pg_stat_activity where state = 'active' and query = 'select pg_sleep(1.5) as slept'";
    await until('pg_sleep to run', async () => (await main.psql(active)) === '1\n', 20_000, 50);
    await send(key.processID ^ (1 << 21), key.secretKey);
    await send(key.processID, key.secretKey ^ 1);
    expect((await running).rows).toEqual([{ slept: '' }]);
    const metrics = await (await fetch(`http://127.0.0.1:${p.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/clarus_cancel_requests_total\{result="other-replica"\} 1/);
    expect(metrics).toMatch(/clarus_cancel_requests_total\{result="unknown"\} 1/);
    await c.end();
  });
});

describe('random input', () => {
  it('survives random bytes before and after authentication, and keeps serving others', async () => {
    const p = await proxyFor({ backends: [{ cluster: main }], limits: { connectTimeoutSeconds: 2 } });
    const ok = await client(p.url());
    let seed = 42;
    const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed; };
    const junk = () => Buffer.from(Array.from({ length: 1 + (rnd() % 300) }, () => rnd() & 0xff));
    const preAuth = Array.from({ length: 30 }, () => new Promise<void>((resolve) => {
      const s = connect(p.port, '127.0.0.1', () => s.end(junk()));
      s.on('data', () => undefined);
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    }));
    await Promise.all(preAuth);
    for (let i = 0; i < 10; i++) {
      const raw = await RawClient.open(p.port);
      // Junk that starts a message longer than what follows makes the proxy wait for the rest, as
      // PostgreSQL would; the end of input must then close the session cleanly.
      raw.socket.end(junk());
      expect(await raw.closedSoon()).toBe(true);
    }
    expect((await ok.query('select 7 as n')).rows).toEqual([{ n: 7 }]);
    await ok.end();
  });
});
