// examples/collaborative deployed through the operator on a real control plane: both organisations'
// objects are applied as the example writes them, the operator renders org A's proxy (a policy with
// `backends: []` and an upstream) and org B's, and the data plane runs as real `clarus proxy`
// processes on exactly what it rendered (the ConfigMaps and Secrets in the pod layout). A client of
// A reaches org B's data through both proxies. Replaced, as nothing else can be in this tier: the
// example's placeholder TLS Secrets (by a test CA's certificates), cloud-b's address and credentials
// (a real PostgreSQL), and the upstream's Service name in A's configuration (no cluster DNS here).
// B's database is scanned for the canaries: its rows, pg_dump and its server log (log_statement = all).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { KubernetesObject } from '@kubernetes/client-node';
import { parseManifests, startControlPlane } from '../src/index.ts';
import type { ControlPlane, Manifest } from '../src/index.ts';
import { testPki } from '@clarus/testing/certs.ts';
import { PG_BIN, SUPERUSER, SUPERUSER_PASSWORD, startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { startProxyProcess } from '@clarus/testing/proxy.ts';
import type { ProxyProcess } from '@clarus/testing/proxy.ts';
import { condition, installCrds, repoRoot, startOperator } from '../src/operator-process.ts';
import type { RunningOperator, WithStatus } from '../src/operator-process.ts';

const run = promisify(execFile);
const RESEARCHER = { name: 'researcher', password: 'example-researcher-password' };
const CANARIES = ['canary-collab-positive', 'canary-collab-participant'];

/** The test's certificates and database in place of the example's placeholders. */
function replacements(db: PgCluster): Manifest[] {
  const pki = testPki();
  const client = pki.client('a-proxy', 'Org A');
  const secret = (ns: string, name: string, data: Record<string, string>, type?: string): Manifest =>
    ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns }, ...(type ? { type } : {}), stringData: data });
  return [
    secret('org-a', 'a-proxy-tls', { 'tls.crt': pki.server.certPem, 'tls.key': pki.server.keyPem }, 'kubernetes.io/tls'),
    secret('org-a', 'a-to-b-mtls', { 'tls.crt': client.certPem, 'tls.key': client.keyPem, 'ca.crt': pki.ca.certPem }),
    secret('org-b', 'b-proxy-tls', { 'tls.crt': pki.server.certPem, 'tls.key': pki.server.keyPem, 'ca.crt': pki.ca.certPem }, 'kubernetes.io/tls'),
    secret('org-b', 'cloud-b-creds', { username: SUPERUSER, password: SUPERUSER_PASSWORD }),
    secret('org-b', 'cloud-b-ca', { 'ca.crt': db.caPem }),
    { apiVersion: 'clarus.io/v1alpha1', kind: 'CloudBackend', metadata: { name: 'cloud-b', namespace: 'org-b' },
      spec: { host: '127.0.0.1', port: db.port, database: 'postgres', credentialsSecretRef: { name: 'cloud-b-creds' },
        readOnlyCredentialsSecretRef: { name: 'cloud-b-readonly-creds' }, tls: { mode: 'verify-full', caSecretRef: { name: 'cloud-b-ca' } } } },
  ];
}

describe('examples/collaborative through the operator', () => {
  let cp: ControlPlane;
  let op: RunningOperator;
  let db: PgCluster;
  const proxies: ProxyProcess[] = [];
  const tmp = mkdtempSync(join(tmpdir(), 'clarus-collab-e2e-'));

  /** The operator's rendering of `proxy` in `ns`, written as the pod's projected volume lays it out. */
  async function rendered(ns: string, proxy: string): Promise<string> {
    await cp.kube.waitFor(`${ns}/${proxy} rendered`, async () => {
      const p = await cp.kube.get<KubernetesObject & WithStatus>({ apiVersion: 'clarus.io/v1alpha1', kind: 'ClarusProxy', name: proxy, namespace: ns });
      return condition(p, 'PolicyRendered')?.status === 'True' ? p : undefined;
    }, 90_000).catch((e: Error) => { throw new Error(`${e.message}\n${op.proc.tail(30)}`); });
    const dir = join(tmp, proxy);
    const cm = await cp.kube.get<KubernetesObject & { data: Record<string, string> }>({ apiVersion: 'v1', kind: 'ConfigMap', name: `${proxy}-config`, namespace: ns });
    const secret = await cp.kube.get<KubernetesObject & { data: Record<string, string> }>({ apiVersion: 'v1', kind: 'Secret', name: `${proxy}-secrets`, namespace: ns });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), cm?.data['config.json'] ?? '');
    for (const { key, path } of JSON.parse(secret?.metadata?.annotations?.['clarus.io/layout'] ?? '[]') as Array<{ key: string; path: string }>) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), Buffer.from(secret?.data[key] ?? '', 'base64'), { mode: 0o600 });
    }
    return dir;
  }

  beforeAll(async () => {
    db = await startPostgres();
    // Every statement B's cloud receives, with its parameters, goes to the server log (scanned below).
    appendFileSync(join(db.dir, 'data', 'postgresql.conf'), "\nlog_statement = 'all'\nlog_min_error_statement = 'info'\nlog_parameter_max_length = -1\n");
    await db.psql('SELECT pg_reload_conf()');
    cp = await startControlPlane({ nodes: 1 });
    await installCrds(cp);
    for (const ns of ['clarus-system', 'org-a', 'org-b']) await cp.kube.createNamespace(ns);
    op = await startOperator(cp, { namespace: 'clarus-system' });
    // The example's objects, each placeholder one swapped for its replacement (applied once, so the
    // operator never renders the placeholders).
    const swap = replacements(db);
    const key = (m: Manifest): string => `${m.kind}/${m.metadata?.namespace}/${m.metadata?.name}`;
    const byKey = new Map(swap.map((m) => [key(m), m]));
    const example = ['org-a.yaml', 'org-b.yaml'].flatMap((f) => parseManifests(readFileSync(join(repoRoot, 'examples/collaborative', f), 'utf8')));
    expect(swap.every((m) => example.some((e) => key(e) === key(m)))).toBe(true);
    await cp.kube.apply(example.map((m) => byKey.get(key(m)) ?? m));
  });

  afterAll(async () => {
    for (const p of proxies) await p.close();
    await op?.stop();
    await cp?.stop();
    await db?.destroy();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('the operator accepts both policies (A\'s lists no backends) and renders both proxies', async () => {
    const policy = async (ns: string, name: string) => cp.kube.waitFor(`${ns}/${name} Valid`, async () => {
      const p = await cp.kube.get<KubernetesObject & WithStatus>({ apiVersion: 'clarus.io/v1alpha1', kind: 'SecurityPolicy', name, namespace: ns });
      const c = condition(p, 'Valid');
      return c && c.status !== 'Unknown' ? c : undefined;
    }, 90_000);
    expect(await policy('org-a', 'shared-study')).toMatchObject({ status: 'True' });
    expect(await policy('org-b', 'study')).toMatchObject({ status: 'True' });
    const a = JSON.parse(readFileSync(join(await rendered('org-a', 'a-proxy'), 'config.json'), 'utf8')) as { backends: unknown[]; upstream?: { host: string; user: string } };
    expect(a.backends).toEqual([]);
    expect(a.upstream).toMatchObject({ host: 'b-proxy.org-b.svc', user: 'org-a' });
    const b = JSON.parse(readFileSync(join(await rendered('org-b', 'b-proxy'), 'config.json'), 'utf8')) as { users: Array<{ name: string; kind: string }> };
    expect(b.users).toContainEqual(expect.objectContaining({ name: 'org-a', kind: 'externalProxy' }));
  });

  test('a researcher of org A reads and writes org B\'s table through both proxies; B\'s database holds no canary', async () => {
    const bDir = join(tmp, 'b-proxy');
    const aDir = join(tmp, 'a-proxy');
    const bProxy = await startProxyProcess(bDir);
    proxies.push(bProxy);
    // No cluster DNS: A's upstream Service name becomes B's local address.
    const aConfig = JSON.parse(readFileSync(join(aDir, 'config.json'), 'utf8')) as { upstream: { host: string; port: number } };
    Object.assign(aConfig.upstream, { host: '127.0.0.1', port: bProxy.port });
    writeFileSync(join(aDir, 'config.json'), JSON.stringify(aConfig));
    const aProxy = await startProxyProcess(aDir);
    proxies.push(aProxy);

    const c = new pg.Client({ connectionString: aProxy.url(RESEARCHER), ssl: { ca: testPki().ca.certPem } });
    await c.connect();
    try {
      await c.query('CREATE TABLE study (id integer PRIMARY KEY, participant text, age integer, result text)');
      await c.query('INSERT INTO study (id, participant, age, result) VALUES ($1, $2, $3, $4)', [1, CANARIES[1], 37, CANARIES[0]]);
      expect((await c.query('SELECT id, age, result FROM study')).rows).toEqual([{ id: 1, age: 35, result: CANARIES[0] }]);
      expect((await c.query('SELECT id FROM study WHERE result = $1', [CANARIES[0]])).rows).toEqual([{ id: 1 }]);
    } finally {
      await c.end();
    }
    const backend = new pg.Client({ connectionString: db.url(), ssl: { ca: db.caPem } });
    await backend.connect();
    try {
      const stored = await backend.query<{ participant: string; age: number; result: Buffer }>('SELECT participant, age, result FROM study');
      expect(stored.rows).toHaveLength(1);
      expect(stored.rows[0]?.age).toBe(35);
      expect(Buffer.isBuffer(stored.rows[0]?.result)).toBe(true);
      expect(stored.rows[0]?.participant).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      const text = (await backend.query<{ t: string }>('SELECT t::text AS t FROM study t')).rows.map((r) => r.t).join('\n');
      const decoded = [...text.matchAll(/\\\\x([0-9a-f]+)/g)].map((m) => Buffer.from(m[1] ?? '', 'hex').toString('latin1')).join('\n');
      expect(CANARIES.filter((x) => text.includes(x) || decoded.includes(x))).toEqual([]);
    } finally {
      await backend.end();
    }
    const { stdout: dump } = await run(join(PG_BIN, 'pg_dump'), ['-h', db.host, '-p', String(db.port), '-U', SUPERUSER, 'postgres'], { env: { ...process.env, PGPASSWORD: SUPERUSER_PASSWORD } });
    expect(dump).toContain('PostgreSQL database dump');
    expect(CANARIES.filter((x) => dump.includes(x))).toEqual([]);
    const log = readFileSync(join(db.dir, 'server.log'), 'utf8');
    expect(log).toMatch(/INSERT INTO study/i);
    expect(CANARIES.filter((x) => log.includes(x))).toEqual([]);
  });
});
