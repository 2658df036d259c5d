// Data plane of the control-plane tier: the ConfigMap and Secret the operator rendered into the API
// server are written to a directory exactly as the pod's projected volume would lay them out, and a
// real `clarus proxy` process runs from it against a real PostgreSQL, serving a real client (pg).
// This proves the operator's output is what the proxy runs on: the SCRAM verifier the client logs in
// with and the backend credentials the proxy uses both come from the rendered Secret. The proxy
// runs the protection pipeline from that configuration: a granted client writes a dataset with
// encrypted columns and reads it back in plaintext, while the database stores only ciphertext. Two
// replicas run with the arguments and peer secret the operator rendered, and pass on a cancel request.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { KubernetesObject } from '@kubernetes/client-node';
import { freePort, startControlPlane, waitUntil } from '../src/index.ts';
import { replicaIdFor } from '@clarus/sidecar/io/cancel.ts';
import { encodeStartup } from '@clarus/sidecar/protocol/startup.ts';
import type { ControlPlane, Manifest } from '../src/index.ts';
import { SUPERUSER, SUPERUSER_PASSWORD, startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { startProxyProcess } from '@clarus/testing/proxy.ts';
import type { ProxyProcess } from '@clarus/testing/proxy.ts';
import { condition, installCrds, startOperator } from '../src/operator-process.ts';
import type { RunningOperator, WithStatus } from '../src/operator-process.ts';

const NS = 'dataplane';
const APP_PASSWORD = 'app-password-from-a-secret';
const CANARY = { name1: 'Zelda Dataplane-Canary', name2: 'Quentin Dataplane-Canary', ssn1: '987-65-4321', ssn2: '123-45-6789', diag: 'canary-diagnosis-flu' };

function resources(db: PgCluster): Manifest[] {
  const meta = (name: string): { name: string; namespace: string } => ({ name, namespace: NS });
  return [
    { apiVersion: 'v1', kind: 'Secret', metadata: meta('dp-keys'), stringData: { 'default.v1': randomBytes(32).toString('base64') } },
    { apiVersion: 'v1', kind: 'Secret', metadata: meta('dp-creds'), stringData: { username: SUPERUSER, password: SUPERUSER_PASSWORD } },
    { apiVersion: 'v1', kind: 'Secret', metadata: meta('app-pw'), stringData: { password: APP_PASSWORD } },
    { apiVersion: 'clarus.io/v1alpha1', kind: 'CloudBackend', metadata: meta('local-pg'),
      spec: { host: db.host, port: db.port, database: 'postgres', credentialsSecretRef: { name: 'dp-creds' }, tls: { mode: 'require' } } },
    { apiVersion: 'clarus.io/v1alpha1', kind: 'SecurityPolicy', metadata: meta('dp-policy'),
      spec: {
        backends: ['local-pg'], keyring: { secretName: 'dp-keys' },
        datasets: [{ name: 'patients', table: 'public.patient', rowKey: 'pat_id', columns: [
          { name: 'pat_id', attributeType: 'technicalIdentifier' },
          { name: 'pat_name', attributeType: 'identifier', protection: { encrypt: { mode: 'randomized' } } },
          { name: 'pat_ssn', attributeType: 'identifier', protection: { encrypt: { mode: 'randomized', searchable: true } } },
          { name: 'diagnosis', attributeType: 'confidential', protection: { encrypt: { mode: 'deterministic' } } },
        ] }],
      } },
    { apiVersion: 'clarus.io/v1alpha1', kind: 'ClarusProxy', metadata: meta('dp-proxy'),
      spec: { policyRef: { name: 'dp-policy' }, mode: 'Deployment', replicas: 1 } },
    { apiVersion: 'clarus.io/v1alpha1', kind: 'AccessGrant', metadata: meta('app-all'),
      spec: { proxyRef: { name: 'dp-proxy' }, subject: { user: 'app', passwordSecretRef: { name: 'app-pw', key: 'password' } },
        datasets: ['*'], access: 'readWrite', view: 'plaintext' } },
  ];
}

describe('the proxy runs on what the operator rendered', () => {
  let cp: ControlPlane;
  let op: RunningOperator;
  let db: PgCluster;
  let proxy: ProxyProcess | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'clarus-rendered-'));

  beforeAll(async () => {
    db = await startPostgres();
    cp = await startControlPlane({ nodes: 1 });
    await installCrds(cp);
    await cp.kube.createNamespace('clarus-system');
    await cp.kube.createNamespace(NS);
    op = await startOperator(cp, { namespace: 'clarus-system', extraArgs: ['--reachability-timeout-ms', '3000'] });
    await cp.kube.apply(resources(db));
  });

  afterAll(async () => {
    await proxy?.close();
    await op?.stop();
    await cp?.stop();
    await db?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('writes the rendered ConfigMap and Secret to a directory in the pod layout', async () => {
    await cp.kube.waitFor('configuration rendered', async () => {
      const p = await cp.kube.get<KubernetesObject & WithStatus>({ apiVersion: 'clarus.io/v1alpha1', kind: 'ClarusProxy', name: 'dp-proxy', namespace: NS });
      return condition(p, 'PolicyRendered')?.status === 'True' ? p : undefined;
    }, 90_000).catch((e: Error) => { throw new Error(`${e.message}\n${op.proc.tail(30)}`); });
    const cm = await cp.kube.get<KubernetesObject & { data: Record<string, string> }>({ apiVersion: 'v1', kind: 'ConfigMap', name: 'dp-proxy-config', namespace: NS });
    const secret = await cp.kube.get<KubernetesObject & { data: Record<string, string> }>({ apiVersion: 'v1', kind: 'Secret', name: 'dp-proxy-secrets', namespace: NS });
    writeFileSync(join(dir, 'config.json'), cm?.data['config.json'] ?? '');
    const layout = JSON.parse(secret?.metadata?.annotations?.['clarus.io/layout'] ?? '[]') as Array<{ key: string; path: string }>;
    for (const { key, path } of layout) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), Buffer.from(secret?.data[key] ?? '', 'base64'), { mode: 0o600 });
    }
    const paths = layout.map((i) => i.path);
    expect(paths).toContain('secrets/backends/local-pg/password');
    expect(paths).toContain('secrets/users/app.scram');
    expect(paths).toContain('secrets/keyring/default.v1');
  });

  test('a real client logs in with the rendered verifier and its rows land in the real database', async () => {
    proxy = await startProxyProcess(dir);
    const client = new pg.Client({ connectionString: proxy.url({ name: 'app', password: APP_PASSWORD }) });
    await client.connect();
    try {
      await client.query('create table visits (id int primary key, ward text)');
      await client.query('insert into visits values ($1, $2), ($3, $4)', [1, 'cardiology', 2, 'oncology']);
      const res = await client.query<{ id: number; ward: string }>('select id, ward from visits order by id');
      expect(res.rows).toEqual([{ id: 1, ward: 'cardiology' }, { id: 2, ward: 'oncology' }]);
    } finally {
      await client.end();
    }
    expect(await db.psql('select id, ward from visits order by id')).toBe('1|cardiology\n2|oncology\n');
  });

  test('a granted client writes an encrypted dataset through the proxy: plaintext back, no plaintext stored', async () => {
    if (!proxy) throw new Error('proxy not started');
    const client = new pg.Client({ connectionString: proxy.url({ name: 'app', password: APP_PASSWORD }) });
    await client.connect();
    try {
      await client.query('create table patient (pat_id int primary key, pat_name text not null, pat_ssn varchar(11), diagnosis text, ward text)');
      await client.query(`insert into patient (pat_id, pat_name, pat_ssn, diagnosis, ward) values (1, '${CANARY.name1}', '${CANARY.ssn1}', '${CANARY.diag}', 'cardiology')`);
      await client.query('insert into patient (pat_id, pat_name, pat_ssn, diagnosis, ward) values ($1, $2, $3, $4, $5)', [2, CANARY.name2, CANARY.ssn2, CANARY.diag, 'oncology']);
      const all = await client.query('select pat_id, pat_name, pat_ssn, diagnosis, ward from patient order by pat_id');
      expect(all.rows).toEqual([
        { pat_id: 1, pat_name: CANARY.name1, pat_ssn: CANARY.ssn1, diagnosis: CANARY.diag, ward: 'cardiology' },
        { pat_id: 2, pat_name: CANARY.name2, pat_ssn: CANARY.ssn2, diagnosis: CANARY.diag, ward: 'oncology' },
      ]);
      // Equality on the searchable (blind index) and the deterministic column goes through the rewriter.
      expect((await client.query('select pat_name from patient where pat_ssn = $1', [CANARY.ssn2])).rows).toEqual([{ pat_name: CANARY.name2 }]);
      expect((await client.query(`select count(*)::int as n from patient where diagnosis = '${CANARY.diag}'`)).rows).toEqual([{ n: 2 }]);
    } finally {
      await client.end();
    }
    const backend = new pg.Client({ connectionString: db.url(), ssl: { ca: db.caPem } });
    await backend.connect();
    try {
      // Every column of every row as text (hidden blind-index columns included); bytea shows as hex,
      // so the hex is decoded too before looking for the canaries.
      const rows = await backend.query<{ t: string }>('select t::text as t from patient t');
      expect(rows.rows).toHaveLength(2);
      const text = rows.rows.map((r) => r.t).join('\n');
      const decoded = [...text.matchAll(/\\\\x([0-9a-f]+)/g)].map((m) => Buffer.from(m[1] ?? '', 'hex').toString('latin1')).join('\n');
      expect(decoded.length).toBeGreaterThan(0);
      const found = Object.values(CANARY).filter((c) => text.includes(c) || decoded.includes(c));
      expect(found).toEqual([]);
      expect(text).toContain('cardiology'); // the unprotected column is stored as is: the scan sees plaintext when there is some
      const types = await backend.query<{ column_name: string; data_type: string }>(
        "select column_name, data_type from information_schema.columns where table_schema = 'public' and table_name = 'patient' order by ordinal_position");
      expect(Object.fromEntries(types.rows.map((r) => [r.column_name, r.data_type]))).toEqual({
        pat_id: 'integer', pat_name: 'bytea', pat_ssn: 'bytea', diagnosis: 'bytea', ward: 'text', pat_ssn__bidx: 'bytea',
      });
    } finally {
      await backend.end();
    }
  });

  test('a wrong password is refused by the proxy with the PostgreSQL SQLSTATE', async () => {
    if (!proxy) throw new Error('proxy not started');
    const client = new pg.Client({ connectionString: proxy.url({ name: 'app', password: 'wrong' }) });
    const err = await client.connect().then(() => undefined, (e: { code?: string }) => e);
    await client.end().catch(() => undefined);
    expect(err?.code).toBe('28P01');
  });

  test('CloudBackend Reachable reflects a real TCP connect', async () => {
    const closed = await freePort();
    await cp.kube.apply([{ apiVersion: 'clarus.io/v1alpha1', kind: 'CloudBackend', metadata: { name: 'nobody-home', namespace: NS },
      spec: { host: '127.0.0.1', port: closed, database: 'x', credentialsSecretRef: { name: 'dp-creds' }, tls: { mode: 'disable' } } }]);
    const reachable = async (name: string): Promise<ReturnType<typeof condition>> => cp.kube.waitFor(`${name} Reachable`, async () => {
      const b = await cp.kube.get<KubernetesObject & WithStatus>({ apiVersion: 'clarus.io/v1alpha1', kind: 'CloudBackend', name, namespace: NS });
      const c = condition(b, 'Reachable');
      return c && c.status !== 'Unknown' ? c : undefined;
    }, 60_000);
    expect(await reachable('local-pg')).toMatchObject({ status: 'True', reason: 'Reachable' });
    expect(await reachable('nobody-home')).toMatchObject({ status: 'False', reason: 'Unreachable', message: expect.stringContaining(String(closed)) });
  });

  test('two replicas with the operator\'s peer arguments and secret: a cancel that reaches replica b cancels the query on replica a', async () => {
    const dep = await cp.kube.get<KubernetesObject & { spec: { template: { spec: { containers: Array<{ args: string[] }> } } } }>(
      { apiVersion: 'apps/v1', kind: 'Deployment', name: 'dp-proxy', namespace: NS });
    const args = dep?.spec.template.spec.containers[0]?.args ?? [];
    const at = (name: string): string => args[args.indexOf(name) + 1] ?? '';
    expect(at('--peers')).toBe(`dns:dp-proxy-peers.${NS}.svc`);
    // The rendered Secret carries the peer secret at the path the arguments name (written above).
    const secretFile = join(dir, at('--peer-secret-file').replace(/^\/etc\/clarus\//, ''));
    expect(readFileSync(secretFile, 'utf8')).toMatch(/^[0-9a-f]{64}$/);
    // No cluster DNS here: the peers are named by address (the form --peers takes besides dns:NAME),
    // two loopback addresses sharing the peer port, as the pods share the metrics port.
    const port = await freePort();
    const [pa, pb] = ['dp-proxy-6f7c9-aaaaa', 'dp-proxy-6f7c9-bbbbb'];
    expect(replicaIdFor(`${pa}/${NS}/dp-proxy`)).not.toBe(replicaIdFor(`${pb}/${NS}/dp-proxy`));
    const replica = (pod: string, ip: string): Promise<ProxyProcess> => startProxyProcess(dir, ['--metrics-listen', `${ip}:${port}`, '--peers', '127.0.0.2,127.0.0.3',
      '--peer-port', at('--peer-port') === '9187' ? String(port) : 'unexpected', '--peer-secret-file', secretFile], { POD_NAME: pod });
    const a = await replica(pa, '127.0.0.2');
    const b = await replica(pb, '127.0.0.3');
    const client = new pg.Client({ connectionString: a.url({ name: 'app', password: APP_PASSWORD }) });
    client.on('error', () => undefined);
    try {
      await client.connect();
      const key = client as unknown as { processID: number; secretKey: number };
      const running = client.query('select pg_sleep(30)').then(() => 'finished', (e: { code?: string }) => e.code);
      await waitUntil('the query runs on the backend', async () => ((await db.psql("select count(*) from pg_stat_activity where query = 'select pg_sleep(30)' and state = 'active'")) === '1\n' ? true : undefined), { timeoutMs: 10_000 });
      await new Promise<void>((resolve) => {
        const s = connect(b.port, '127.0.0.1', () => s.end(encodeStartup({ type: 'CancelRequest', processId: key.processID, secretKey: key.secretKey })));
        s.on('close', () => resolve());
        s.on('error', () => resolve());
      });
      expect(await running).toBe('57014');
      expect(await (await fetch(`http://127.0.0.3:${port}/metrics`)).text()).toMatch(/clarus_cancel_requests_total\{result="other-replica"\} 1/);
      expect(await (await fetch(`http://127.0.0.2:${port}/metrics`)).text()).toMatch(/clarus_cancel_requests_total\{result="peer-found"\} 1/);
    } finally {
      await client.end().catch(() => undefined);
      await a.close();
      await b.close();
    }
  });
});
