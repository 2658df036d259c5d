// Client authentication (SCRAM against verifiers), backend authentication methods, TLS on both
// sides and startup negotiation, through the real proxy against a real PostgreSQL 15.
import { connect } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeStartup } from '../../src/protocol/startup.ts';
import { makeTestPki, testPki } from '@clarus/testing/certs.ts';
import { AUTH_USERS, startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { startProxyInProcess, writeProxyConfig } from '@clarus/testing/proxy.ts';
import type { HarnessBackend, ProxyConfigOptions } from '@clarus/testing/proxy.ts';

let cluster: PgCluster;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => { cluster = await startPostgres(); });
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await cluster?.destroy();
});

async function proxyFor(opts: ProxyConfigOptions) {
  const cfg = writeProxyConfig(opts);
  const p = await startProxyInProcess(cfg.dir);
  cleanups.push(() => cfg.destroy(), () => p.close());
  return p;
}

async function query(url: string, sql: string, ssl?: pg.ClientConfig['ssl']): Promise<Record<string, unknown>[]> {
  const c = new pg.Client({ connectionString: url, ...(ssl !== undefined ? { ssl } : {}) });
  await c.connect();
  try { return (await c.query(sql)).rows; } finally { await c.end(); }
}

/** Raw bytes the proxy answers to `bytes`, until it closes or `ms` pass. */
function rawExchange(port: number, bytes: Buffer, ms = 1000): Promise<Buffer> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    const done = () => { s.destroy(); resolve(Buffer.concat(got)); };
    s.on('data', (c) => got.push(c));
    s.on('close', done);
    s.on('error', done);
    s.on('connect', () => s.write(bytes));
    setTimeout(done, ms);
  });
}

describe('client authentication', () => {
  it('accepts the right password, and answers a wrong password and an unknown user identically with 28P01', async () => {
    const p = await proxyFor({ backends: [{ cluster }], users: [{ name: 'alice', password: 'right' }] });
    expect(await query(p.url({ name: 'alice', password: 'right' }), 'select 1 as one')).toEqual([{ one: 1 }]);
    const wrong = await query(p.url({ name: 'alice', password: 'wrong' }), 'select 1').catch((e: unknown) => e);
    const unknown = await query(p.url({ name: 'mallory', password: 'x' }), 'select 1').catch((e: unknown) => e);
    expect(wrong).toMatchObject({ code: '28P01', message: 'password authentication failed for user "alice"' });
    expect(unknown).toMatchObject({ code: '28P01', message: 'password authentication failed for user "mallory"' });
  });

  it('connects to the backend as the proxy identity, not as the client user', async () => {
    const p = await proxyFor({ backends: [{ cluster, user: AUTH_USERS.scram.user, password: AUTH_USERS.scram.password }] });
    expect(await query(p.url(), 'select current_user as u')).toEqual([{ u: AUTH_USERS.scram.user }]);
  });
});

describe('backend authentication methods', () => {
  it.each(Object.entries(AUTH_USERS))('authenticates to the backend with %s', async (_m, u) => {
    const p = await proxyFor({ backends: [{ cluster, user: u.user, password: u.password }] });
    expect(await query(p.url(), 'select current_user as u')).toEqual([{ u: u.user }]);
  });

  it('reports a backend that refuses the proxy credentials as 08001 to the client', async () => {
    const p = await proxyFor({ backends: [{ cluster, user: AUTH_USERS.scram.user, password: 'not-the-password' }] });
    await expect(query(p.url(), 'select 1')).rejects.toMatchObject({ code: '08001' });
  });
});

describe('TLS', () => {
  const ssl = () => ({ ca: testPki().ca.certPem, rejectUnauthorized: true });

  it('serves TLS to clients and refuses plaintext when not allowed', async () => {
    const p = await proxyFor({ backends: [{ cluster }], tls: { allowPlaintext: false } });
    const c = new pg.Client({ connectionString: p.url(), ssl: ssl() });
    await c.connect();
    try {
      expect((c as unknown as { connection: { stream: { encrypted?: boolean } } }).connection.stream.encrypted).toBe(true);
      expect((await c.query('select 2 as two')).rows).toEqual([{ two: 2 }]);
    } finally { await c.end(); }
    await expect(query(p.url(), 'select 1', false)).rejects.toMatchObject({ code: '28000' });
  });

  it('allows plaintext next to TLS when configured', async () => {
    const p = await proxyFor({ backends: [{ cluster }], tls: { allowPlaintext: true } });
    expect(await query(p.url(), 'select 3 as n', false)).toEqual([{ n: 3 }]);
    expect(await query(p.url(), 'select 4 as n', ssl())).toEqual([{ n: 4 }]);
  });

  it.each(['require', 'verify-ca', 'verify-full'] as const)('connects to the backend with tls.mode %s', async (mode) => {
    const p = await proxyFor({ backends: [{ cluster, tls: mode }] });
    expect(await query(p.url(), 'select ssl from pg_stat_ssl where pid = pg_backend_pid()')).toEqual([{ ssl: true }]);
  });

  it('refuses a backend whose certificate does not chain to the configured CA (verify-full)', async () => {
    const backend: HarnessBackend = { cluster: { ...cluster, caPem: makeTestPki().ca.certPem }, tls: 'verify-full' };
    const p = await proxyFor({ backends: [backend] });
    await expect(query(p.url(), 'select 1')).rejects.toMatchObject({ code: '08001' });
  });
});

describe('client certificates (externalProxy users)', () => {
  it('authenticates a partner proxy by its certificate subject; refuses no certificate and the wrong subject', async () => {
    const p = await proxyFor({ backends: [{ cluster }], tls: { allowPlaintext: false, clientCa: true },
      externalProxies: [{ name: 'partner', certificateSubject: 'CN=partner-proxy' }] });
    const pki = testPki();
    const good = pki.client('partner-proxy');
    const url = `postgres://partner@127.0.0.1:${p.port}/postgres`;
    expect(await query(url, 'select current_user as u', { ca: pki.ca.certPem, cert: good.certPem, key: good.keyPem })).toEqual([{ u: 'postgres' }]);
    await expect(query(url, 'select 1', { ca: pki.ca.certPem })).rejects.toMatchObject({ code: '28000' });
    const other = pki.client('someone-else');
    await expect(query(url, 'select 1', { ca: pki.ca.certPem, cert: other.certPem, key: other.keyPem })).rejects.toMatchObject({ code: '28000' });
    const foreign = makeTestPki().client('partner-proxy');
    await expect(query(url, 'select 1', { ca: pki.ca.certPem, cert: foreign.certPem, key: foreign.keyPem })).rejects.toMatchObject({ code: '28000' });
    // Password users keep working next to certificate users.
    expect(await query(p.url(), 'select 1 as n', { ca: pki.ca.certPem })).toEqual([{ n: 1 }]);
  });
});

describe('startup negotiation', () => {
  it('answers protocol 3.2 with NegotiateProtocolVersion and continues with 3.0', async () => {
    const p = await proxyFor({ backends: [{ cluster }] });
    const got = await rawExchange(p.port, encodeStartup({ type: 'StartupMessage', major: 3, minor: 2, params: { user: 'app', '_pq_.test': '1' } }), 500);
    expect(String.fromCharCode(got[0] as number)).toBe('v');
    const len = got.readInt32BE(1);
    expect(got.readInt32BE(5)).toBe(0);
    expect(got.subarray(13, len + 1).toString()).toContain('_pq_.test');
    expect(String.fromCharCode(got[len + 1] as number)).toBe('R');
  });

  it('refuses protocol 2.0 with 0A000 and declines GSSENCRequest', async () => {
    const p = await proxyFor({ backends: [{ cluster }] });
    const old = await rawExchange(p.port, encodeStartup({ type: 'StartupMessage', major: 2, minor: 0, params: { user: 'app' } }));
    expect(String.fromCharCode(old[0] as number)).toBe('E');
    expect(old.toString()).toContain('0A000');
    const gss = await rawExchange(p.port, encodeStartup({ type: 'GSSENCRequest' }), 300);
    expect(gss.toString()).toBe('N');
  });
});
