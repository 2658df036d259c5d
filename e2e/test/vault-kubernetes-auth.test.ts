// Issue 16, the production path of the vaultTransit key provider: the proxy logs in to a real Vault
// (1.21.4, dev mode on loopback) with a service-account token of its pod, and Vault checks that token
// with a TokenReview against the real kube-apiserver of this tier. The operator renders the policy
// (kubernetes auth, audience "vault") into the pod's projected volume with a serviceAccountToken
// source; the token the kubelet would project is obtained here with the TokenRequest API for the
// same service account and audience, written where the projection puts it, and a real `clarus proxy`
// process runs from the rendered directory against a real PostgreSQL. A token of another service
// account, or with another audience, is refused by Vault: the proxy stays not ready and protected
// statements fail; the right token brings the keys in without a restart.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { KubernetesObject } from '@kubernetes/client-node';
import { startControlPlane } from '../src/index.ts';
import type { ControlPlane, Manifest } from '../src/index.ts';
import { condition, installCrds, metricValue, startOperator } from '../src/operator-process.ts';
import type { RunningOperator, WithStatus } from '../src/operator-process.ts';
import { SUPERUSER, SUPERUSER_PASSWORD, startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { startProxyProcess } from '@clarus/testing/proxy.ts';
import type { ProxyProcess } from '@clarus/testing/proxy.ts';
import { startVault } from '@clarus/testing/vault.ts';
import type { VaultServer } from '@clarus/testing/vault.ts';
import { main as keysMain } from '@clarus/cli/keys.ts';

const NS = 'vault-auth';
const APP_PASSWORD = 'app-password-vault-e2e';
const CANARY = { name: 'Kube Vault-Canary', ssn: '321-54-9876' };

async function saToken(cp: ControlPlane, sa: string, audience?: string): Promise<string> {
  const res = await cp.request('POST', `/api/v1/namespaces/${NS}/serviceaccounts/${sa}/token`,
    { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600, ...(audience ? { audiences: [audience] } : {}) } });
  if (res.status !== 201) throw new Error(`TokenRequest ${sa}: ${res.status} ${res.body}`);
  return (res.json() as { status: { token: string } }).status.token;
}

async function wrappedKeyring(vault: VaultServer): Promise<Record<string, string>> {
  const scratch = mkdtempSync(join(tmpdir(), 'clarus-keys-'));
  writeFileSync(join(scratch, 'token'), vault.rootToken);
  let out = '';
  const code = await keysMain(['generate', '--name', 'kv-keys', '--namespace', NS, '--vault-address', vault.address, '--vault-key', 'clarus',
    '--vault-token-file', join(scratch, 'token')], { out: (s) => { out += s; }, err: () => undefined }, {});
  rmSync(scratch, { recursive: true, force: true });
  if (code !== 0) throw new Error(`clarus keys generate: ${code}`);
  return (parse(out) as { stringData: Record<string, string> }).stringData;
}

function resources(db: PgCluster, vault: VaultServer, keys: Record<string, string>): Manifest[] {
  const meta = (name: string) => ({ name, namespace: NS });
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta('intruder') },
    { apiVersion: 'v1', kind: 'Secret', metadata: meta('kv-keys'), stringData: keys },
    { apiVersion: 'v1', kind: 'Secret', metadata: meta('kv-creds'), stringData: { username: SUPERUSER, password: SUPERUSER_PASSWORD } },
    { apiVersion: 'v1', kind: 'Secret', metadata: meta('app-pw'), stringData: { password: APP_PASSWORD } },
    { apiVersion: 'clarus.io/v1alpha1', kind: 'CloudBackend', metadata: meta('local-pg'),
      spec: { host: db.host, port: db.port, database: 'postgres', credentialsSecretRef: { name: 'kv-creds' }, tls: { mode: 'require' } } },
    { apiVersion: 'clarus.io/v1alpha1', kind: 'SecurityPolicy', metadata: meta('kv-policy'),
      spec: {
        backends: ['local-pg'],
        keyring: { secretName: 'kv-keys', provider: 'vaultTransit', vaultTransit: {
          address: vault.address, key: 'clarus', refreshSeconds: 5, maxUnreachableSeconds: 60,
          auth: { kubernetes: { role: 'clarus-proxy', audience: 'vault' } },
        } },
        datasets: [{ name: 'patients', table: 'public.patient', rowKey: 'pat_id', columns: [
          { name: 'pat_id', attributeType: 'technicalIdentifier' },
          { name: 'pat_name', attributeType: 'identifier', protection: { encrypt: { mode: 'randomized' } } },
          { name: 'pat_ssn', attributeType: 'identifier', protection: { encrypt: { mode: 'randomized', searchable: true } } },
        ] }],
      } },
    { apiVersion: 'clarus.io/v1alpha1', kind: 'ClarusProxy', metadata: meta('kv-proxy'), spec: { policyRef: { name: 'kv-policy' }, mode: 'Deployment', replicas: 1 } },
    { apiVersion: 'clarus.io/v1alpha1', kind: 'AccessGrant', metadata: meta('app-all'),
      spec: { proxyRef: { name: 'kv-proxy' }, subject: { user: 'app', passwordSecretRef: { name: 'app-pw', key: 'password' } }, datasets: ['*'], access: 'readWrite', view: 'plaintext' } },
  ];
}

/** Vault's kubernetes auth: TokenReview against this tier's apiserver, with a reviewer allowed to call it. */
async function configureKubernetesAuth(cp: ControlPlane, vault: VaultServer): Promise<void> {
  await cp.kube.apply([
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'vault-reviewer', namespace: NS } },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'vault-reviewer-auth-delegator' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' },
      subjects: [{ kind: 'ServiceAccount', name: 'vault-reviewer', namespace: NS }] },
  ]);
  const reviewer = await saToken(cp, 'vault-reviewer');
  const ok = async (method: string, path: string, body: unknown) => {
    const r = await vault.api(method, path, body);
    if (r.status >= 300) throw new Error(`vault ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  };
  await ok('POST', 'sys/auth/kubernetes', { type: 'kubernetes' });
  await ok('POST', 'auth/kubernetes/config', { kubernetes_host: cp.server, kubernetes_ca_cert: cp.caPem, token_reviewer_jwt: reviewer, disable_local_ca_jwt: true });
  await vault.transitToken('clarus'); // writes the policy clarus-clarus (decrypt and friends on the transit key)
  await ok('POST', 'auth/kubernetes/role/clarus-proxy', { bound_service_account_names: ['default'], bound_service_account_namespaces: [NS],
    audience: 'vault', token_policies: ['clarus-clarus'], token_ttl: '1h' });
}

describe('vaultTransit with Kubernetes service-account auth (TokenReview by the real apiserver)', () => {
  let cp: ControlPlane;
  let op: RunningOperator;
  let db: PgCluster;
  let vault: VaultServer;
  let proxy: ProxyProcess | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'clarus-vault-rendered-'));
  const tokenPath = join(dir, 'secrets/vault/sa-token');
  const ready = async () => (await fetch(`http://127.0.0.1:${proxy?.metricsPort}/readyz`)).status;

  beforeAll(async () => {
    db = await startPostgres();
    vault = await startVault();
    await vault.transitKey('clarus');
    cp = await startControlPlane({ nodes: 0 });
    await installCrds(cp);
    await cp.kube.createNamespace('clarus-system');
    await cp.kube.createNamespace(NS);
    await configureKubernetesAuth(cp, vault);
    op = await startOperator(cp, { namespace: 'clarus-system', extraArgs: ['--reachability-timeout-ms', '3000'] });
    await cp.kube.apply(resources(db, vault, await wrappedKeyring(vault)));
  });

  afterAll(async () => {
    await proxy?.close();
    await op?.stop();
    await cp?.stop();
    await vault?.close();
    await db?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the operator renders the wrapped keyring and projects a service-account token with audience vault', async () => {
    await cp.kube.waitFor('configuration rendered', async () => {
      const p = await cp.kube.get<KubernetesObject & WithStatus>({ apiVersion: 'clarus.io/v1alpha1', kind: 'ClarusProxy', name: 'kv-proxy', namespace: NS });
      return condition(p, 'PolicyRendered')?.status === 'True' ? p : undefined;
    }, 90_000).catch((e: Error) => { throw new Error(`${e.message}\n${op.proc.tail(30)}`); });
    const cm = await cp.kube.get<KubernetesObject & { data: Record<string, string> }>({ apiVersion: 'v1', kind: 'ConfigMap', name: 'kv-proxy-config', namespace: NS });
    const secret = await cp.kube.get<KubernetesObject & { data: Record<string, string> }>({ apiVersion: 'v1', kind: 'Secret', name: 'kv-proxy-secrets', namespace: NS });
    writeFileSync(join(dir, 'config.json'), cm?.data['config.json'] ?? '');
    const layout = JSON.parse(secret?.metadata?.annotations?.['clarus.io/layout'] ?? '[]') as Array<{ key: string; path: string }>;
    for (const { key, path } of layout) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), Buffer.from(secret?.data[key] ?? '', 'base64'), { mode: 0o600 });
    }
    for (const { key, path } of layout) if (path.startsWith('secrets/keyring/')) expect(Buffer.from(secret?.data[key] ?? '', 'base64').toString()).toMatch(/^vault:v1:/);
    const deployment = await cp.kube.get<KubernetesObject & { spec: { template: { spec: { volumes: Array<{ projected: { sources: Array<Record<string, unknown>> } }> } } } }>(
      { apiVersion: 'apps/v1', kind: 'Deployment', name: 'kv-proxy', namespace: NS });
    expect(deployment?.spec.template.spec.volumes[0]?.projected.sources).toContainEqual({ serviceAccountToken: { path: 'secrets/vault/sa-token', expirationSeconds: 3600, audience: 'vault' } });
  });

  test('tokens of another service account or audience are refused: not ready, protected statements fail', async () => {
    mkdirSync(dirname(tokenPath), { recursive: true });
    writeFileSync(tokenPath, await saToken(cp, 'intruder', 'vault'));
    proxy = await startProxyProcess(dir);
    expect(await ready()).toBe(503);
    const client = new pg.Client({ connectionString: proxy.url({ name: 'app', password: APP_PASSWORD }) });
    client.on('error', () => undefined);
    const failed = await client.connect().then(() => client.query('create table patient (pat_id int primary key, pat_name text, pat_ssn varchar(11))'))
      .then(() => 'no error', (e: Error) => e.message);
    await client.end().catch(() => undefined);
    expect(failed).not.toBe('no error');
    writeFileSync(tokenPath, await saToken(cp, 'default')); // the right account, the apiserver's default audience
    await new Promise((r) => setTimeout(r, 3000));
    expect(await ready()).toBe(503);
    const m = await (await fetch(`http://127.0.0.1:${proxy.metricsPort}/metrics`)).text();
    expect(metricValue(m, 'clarus_kms_requests_total', { result: 'denied' })).toBeGreaterThan(0);
    expect(metricValue(m, 'clarus_kms_keys_usable')).toBe(0);
  });

  test('the pod\'s own token (default account, audience vault) logs in; rows are encrypted with the unwrapped key', async () => {
    writeFileSync(tokenPath, await saToken(cp, 'default', 'vault'));
    await cp.kube.waitFor('proxy ready', async () => ((await ready()) === 200 ? true : undefined), 30_000);
    const client = new pg.Client({ connectionString: proxy?.url({ name: 'app', password: APP_PASSWORD }) });
    await client.connect();
    try {
      await client.query('create table patient (pat_id int primary key, pat_name text, pat_ssn varchar(11))');
      await client.query('insert into patient (pat_id, pat_name, pat_ssn) values ($1, $2, $3)', [1, CANARY.name, CANARY.ssn]);
      expect((await client.query('select pat_name from patient where pat_ssn = $1', [CANARY.ssn])).rows).toEqual([{ pat_name: CANARY.name }]);
    } finally {
      await client.end();
    }
    const stored = await db.psql('select t::text from patient t');
    expect(stored).not.toContain(CANARY.name);
    expect(stored).not.toContain(CANARY.ssn);
    const m = await (await fetch(`http://127.0.0.1:${proxy?.metricsPort}/metrics`)).text();
    expect(metricValue(m, 'clarus_kms_keys_usable')).toBe(1);
    expect(metricValue(m, 'clarus_kms_requests_total', { result: 'ok' })).toBeGreaterThan(0);
  });
});
