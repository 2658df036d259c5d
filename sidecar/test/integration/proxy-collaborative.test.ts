// Collaborative mode end to end: a client logs in to organisation A's proxy with SCRAM; A forwards
// every session to B's proxy over mutual TLS under its technical identity (user org-a, client
// certificate CN=a-proxy); B admits A by certificate subject, applies B's policy (encrypted
// columns) under the partner's grant and stores into a real PostgreSQL. Checked on both sides: what
// the client sees through A, what PostgreSQL stores (no plaintext canaries), and the refusals
// (another subject or no certificate at B, a wrong CA at A).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlstate } from '@clarus/testing/outcome.ts';
import type { RuntimeUser } from '@clarus/policy/runtime/config.ts';
import { protectionPipeline } from '../../src/access/setup.ts';
import { EHEALTH_POLICY, TEST_KEY_FILES } from '@clarus/testing/rewriter.ts';
import { CREATE_PATIENT, canariesInDump, canariesInTable } from '../corpus/setup.ts';
import { makeTestPki, testPki } from '@clarus/testing/certs.ts';
import type { CertPair } from '@clarus/testing/certs.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { startProxyInProcess, writeProxyConfig } from '@clarus/testing/proxy.ts';
import type { HarnessUser, ProxyConfigDir, RunningProxy } from '@clarus/testing/proxy.ts';
import { until } from '@clarus/testing/wait.ts';

const CANARIES = ['Zelda Canaryname', '987-65-4321', 'canary-flu-X', 'Quentin Canarytwo', '111-22-3333'];
const RESEARCHER: HarnessUser = { name: 'researcher', password: 'researcher-pw' };
const B_DOCTOR: HarnessUser = { name: 'doctor', password: 'doctor-pw',
  grants: [{ grant: 'b-doctor', datasets: ['*'], access: 'readWrite', view: 'plaintext' }] };
const grant = (name: string, access: 'read' | 'readWrite', view: 'plaintext' | 'masked'): RuntimeUser['grants'] =>
  [{ grant: name, datasets: ['patients'], access, view }];

let cluster: PgCluster;
let backend: pg.Client;
const dirs: ProxyConfigDir[] = [];
const proxies: RunningProxy[] = [];
let b: RunningProxy;
let aPlain: RunningProxy;
let aMasked: RunningProxy;


async function client(url: string, ssl?: pg.ClientConfig['ssl']): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url, ...(ssl ? { ssl } : {}) });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

async function withClient<T>(url: string, f: (c: pg.Client) => Promise<T>, ssl?: pg.ClientConfig['ssl']): Promise<T> {
  const c = await client(url, ssl);
  try {
    return await f(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** B: the owning proxy, TLS with client certificates, eHealth policy, two partners and a user. */
async function startB(): Promise<RunningProxy> {
  const cfg = writeProxyConfig({
    backends: [{ cluster }], users: [B_DOCTOR], tls: { allowPlaintext: false, clientCa: true }, proxyName: 'b-proxy',
    externalProxies: [
      { name: 'org-a', certificateSubject: 'CN=a-proxy', grants: grant('org-a', 'readWrite', 'plaintext') },
      { name: 'org-c', certificateSubject: 'CN=c-proxy', grants: grant('org-c', 'read', 'masked') },
    ],
  });
  dirs.push(cfg);
  cfg.write({ ...cfg.config, policy: structuredClone(EHEALTH_POLICY) });
  mkdirSync(join(cfg.dir, 'secrets/keyring'), { recursive: true });
  for (const [name, text] of TEST_KEY_FILES) writeFileSync(join(cfg.dir, 'secrets/keyring', name), text);
  const p = await startProxyInProcess(cfg.dir, { pipeline: await protectionPipeline({ configDir: cfg.dir }), watch: false });
  proxies.push(p);
  return p;
}

/** A partner proxy: no backends, upstream = B under `user`, with this client certificate and CA. */
async function startA(user: string, cert: CertPair | null, caPem: string): Promise<RunningProxy> {
  const cfg = writeProxyConfig({ backends: [], users: [RESEARCHER], proxyName: 'a-proxy' });
  dirs.push(cfg);
  const put = (rel: string, text: string): string => { mkdirSync(join(cfg.dir, 'secrets/upstream'), { recursive: true }); writeFileSync(join(cfg.dir, rel), text); return rel; };
  cfg.write({
    ...cfg.config,
    policy: { ...cfg.config.policy, defaultBackend: 'upstream' },
    upstream: { host: '127.0.0.1', port: b.port, user, ...(cert ? { tls: {
      certFile: put('secrets/upstream/tls.crt', cert.certPem), keyFile: put('secrets/upstream/tls.key', cert.keyPem),
      caFile: put('secrets/upstream/ca.crt', caPem) } } : {}) },
  });
  const p = await startProxyInProcess(cfg.dir, { pipeline: await protectionPipeline({ configDir: cfg.dir }), watch: false });
  proxies.push(p);
  return p;
}

beforeAll(async () => {
  cluster = await startPostgres();
  backend = await client(cluster.url(), { ca: cluster.caPem });
  b = await startB();
  const pki = testPki();
  aPlain = await startA('org-a', pki.client('a-proxy'), pki.ca.certPem);
  aMasked = await startA('org-c', pki.client('c-proxy'), pki.ca.certPem);
});
afterAll(async () => {
  await backend?.end().catch(() => undefined);
  for (const p of proxies) await p.close();
  for (const d of dirs) d.destroy();
  await cluster?.destroy();
});

describe('collaborative mode: A forwards to B over mTLS, B applies the partner grant', () => {
  it('creates, writes and reads through A→B: plaintext for the client, ciphertext in PostgreSQL', async () => {
    await withClient(aPlain.url(RESEARCHER), async (c) => {
      await c.query(CREATE_PATIENT);
      await c.query("INSERT INTO patient (pat_id, pat_name, pat_ssn, pat_zip, pat_birth, diagnosis) VALUES (1, 'Zelda Canaryname', '987-65-4321', '08001', '1980-05-17', 'canary-flu-X')");
      await c.query('INSERT INTO patient (pat_id, pat_name, pat_ssn, diagnosis) VALUES ($1, $2, $3, $4)', [2, 'Quentin Canarytwo', '111-22-3333', 'canary-flu-X']);
      const r = await c.query('SELECT pat_id, pat_name, pat_ssn, pat_zip, diagnosis FROM patient ORDER BY pat_id');
      expect(r.rows).toEqual([
        { pat_id: 1, pat_name: 'Zelda Canaryname', pat_ssn: '987-65-4321', pat_zip: '080**', diagnosis: 'canary-flu-X' },
        { pat_id: 2, pat_name: 'Quentin Canarytwo', pat_ssn: '111-22-3333', pat_zip: null, diagnosis: 'canary-flu-X' },
      ]);
      expect((await c.query('SELECT pat_id FROM patient WHERE pat_ssn = $1', ['111-22-3333'])).rows).toEqual([{ pat_id: 2 }]);
    });
    // What PostgreSQL stores: ciphertext (bytea) for the encrypted columns, rows present, no canary.
    const stored = await backend.query('SELECT pat_id, pat_name FROM patient ORDER BY pat_id');
    expect(stored.rows.map((x) => x.pat_id)).toEqual([1, 2]);
    expect(Buffer.isBuffer(stored.rows[0].pat_name)).toBe(true);
    expect(await canariesInTable(backend, 'patient', CANARIES)).toEqual([]);
    expect(await canariesInDump(cluster, CANARIES)).toEqual([]);
  });

  it('B\'s own user reads what the partner wrote (same keys, B\'s grant)', async () => {
    const rows = await withClient(b.url(B_DOCTOR), async (c) => (await c.query('SELECT pat_name FROM patient WHERE pat_id = 1')).rows, { ca: testPki().ca.certPem });
    expect(rows).toEqual([{ pat_name: 'Zelda Canaryname' }]);
  });

  it('a partner with a masked read grant sees masked values and cannot write', async () => {
    await withClient(aMasked.url(RESEARCHER), async (c) => {
      expect((await c.query('SELECT pat_ssn, pat_id FROM patient WHERE pat_id = 1')).rows).toEqual([{ pat_ssn: '****4321', pat_id: 1 }]);
      expect(await sqlstate(c.query("INSERT INTO patient (pat_id, pat_name) VALUES (9, 'Masked Canary')"))).toBe('42501');
    });
    expect((await backend.query('SELECT count(*)::int AS n FROM patient')).rows).toEqual([{ n: 2 }]);
  });

  it('cancels a running query through A and B (each proxy forwards the CancelRequest with the next hop\'s key)', async () => {
    const sql = postgres(aPlain.url(RESEARCHER), { max: 1 });
    try {
      const q = sql`select pg_sleep(30) as collab_cancel_me`;
      const p = q.execute();
      const text = 'select pg_sleep(30) as collab_cancel_me';
      await until('the backend to run the statement', async () => (await cluster.psql(`select count(*) from pg_stat_activity where state = 'active' and query = '${text}'`)) === '1\n', 20_000, 50);
      await q.cancel();
      await expect(p).rejects.toMatchObject({ code: '57014' });
      expect(await sql`select 1 as ok`).toEqual([{ ok: 1 }]);
    } finally { await sql.end(); }
  });

  it('A authenticates its own clients: a wrong password is refused at A', async () => {
    expect(await sqlstate(client(aPlain.url({ name: RESEARCHER.name, password: 'guess' })))).toBe('28P01');
  });

  it('B refuses the partner user with another certificate subject or with none', async () => {
    const pki = testPki();
    const bUrl = `postgres://org-a@127.0.0.1:${b.port}/postgres`;
    const other = pki.client('intruder');
    expect(await sqlstate(client(bUrl, { ca: pki.ca.certPem, cert: other.certPem, key: other.keyPem }))).toBe('28000');
    expect(await sqlstate(client(bUrl, { ca: pki.ca.certPem }))).toBe('28000');
    // Positive control: the right certificate is admitted directly, without a password.
    const right = pki.client('a-proxy');
    const n = await withClient(bUrl, async (c) => (await c.query('SELECT count(*)::int AS n FROM patient')).rows, { ca: pki.ca.certPem, cert: right.certPem, key: right.keyPem });
    expect(n).toEqual([{ n: 2 }]);
  });

  it('A whose certificate B does not know, that B knows as a password user, or without upstream TLS: 08001 to its client', async () => {
    const pki = testPki();
    const intruder = await startA('org-a', pki.client('intruder'), pki.ca.certPem);
    const e1 = await client(intruder.url(RESEARCHER)).then(() => null, (e: { code?: string; message: string }) => e);
    expect(e1?.code).toBe('08001');
    expect(e1?.message).toMatch(/certificate authentication failed/);
    // A partner user that B knows as a password user: A has no password to give and says why.
    const asPasswordUser = await startA(B_DOCTOR.name, pki.client('a-proxy'), pki.ca.certPem);
    const e2 = await client(asPasswordUser.url(RESEARCHER)).then(() => null, (e: { code?: string; message: string }) => e);
    expect(e2?.code).toBe('08001');
    expect(e2?.message).toMatch(/asked for a password/);
    const noTls = await startA('org-a', null, '');
    expect(await sqlstate(client(noTls.url(RESEARCHER)))).toMatch(/^08/);
  });

  it('A with a wrong CA for B refuses to connect (08001), nothing reaches B', async () => {
    const pki = testPki();
    const before = (await backend.query('SELECT count(*)::int AS n FROM patient')).rows;
    const wrongCa = await startA('org-a', pki.client('a-proxy'), makeTestPki().ca.certPem);
    const e = await client(wrongCa.url(RESEARCHER)).then(() => null, (x: { code?: string; message: string }) => x);
    expect(e?.code).toBe('08001');
    expect(e?.message).toMatch(/TLS/);
    expect((await backend.query('SELECT count(*)::int AS n FROM patient')).rows).toEqual(before);
  });
});
