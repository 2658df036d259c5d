// `kubectl clarus` against a real kube-apiserver: the plugin binary (cli/bin/kubectl-clarus) reads the
// eHealth example's objects with the kubeconfig kubectl would use and prints the proxies, the grants
// (and which expire soon) and `policy explain` of the policy in the cluster. `status` also reads the
// metrics endpoints of real proxy processes, found through EndpointSlices of the proxy's peers
// Service (the objects kube-controller-manager writes for the operator's headless Service; written
// by the test here, since this tier has no kubelet to run the pods), and shows refusals by reason.
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startControlPlane } from '../src/index.ts';
import type { ControlPlane } from '../src/index.ts';
import { exampleYaml, installCrds, repoRoot } from '../src/operator-process.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { DEFAULT_USER, startProxyProcess, writeProxyConfig } from '@clarus/testing/proxy.ts';
import type { ProxyProcess } from '@clarus/testing/proxy.ts';
import { EHEALTH_POLICY, TEST_KEY_FILES } from '@clarus/testing/rewriter.ts';

const run = promisify(execFile);

describe('kubectl clarus', () => {
  let cp: ControlPlane;
  const plugin = async (...args: string[]): Promise<string> =>
    (await run(`${repoRoot}cli/bin/kubectl-clarus`, args, { env: { ...process.env, KUBECONFIG: cp.kubeconfigPath } })).stdout;

  beforeAll(async () => {
    cp = await startControlPlane({ nodes: 0 });
    await installCrds(cp);
    await cp.kube.createNamespace('hospital');
    await cp.kube.apply(exampleYaml());
  });
  afterAll(async () => {
    await cp?.stop();
  });

  test('grants: who may read or write which dataset, with which view, until when', async () => {
    const lines = (await plugin('grants', '-n', 'hospital')).trim().split('\n');
    expect(lines[0]).toMatch(/^SUBJECT\s+PROXY\s+DATASETS\s+ACCESS\s+VIEW\s+UNTIL\s+GRANT$/);
    expect(lines.slice(1).map((l) => l.split(/\s{2,}/)[0]).sort()).toEqual(['user analyst', 'user drhouse']);
    expect(lines.find((l) => l.includes('analyst-patients'))).toMatch(/2027-06-30T00:00:00Z \(\d+d left\)/);
  });

  test('status: the proxies and the grants that expire within the window', async () => {
    const out = await plugin('status', '-n', 'hospital', '--expiring-days', '100000');
    expect(out).toMatch(/^PROXY\s+MODE\s+READY\s+POLICY\s+CONFIG HASH\s+STATUS\nehealth-proxy\s+Deployment\s+0\/\d+\s+ehealth\s+-\s+Unknown/);
    expect(out).toMatch(/grants expiring within 100000 days:\nSUBJECT[^\n]*\nuser analyst/);
    expect(await plugin('status', '-n', 'hospital', '--expiring-days', '0')).toContain('no grant expires within 0 days');
  });

  test('explain: the protections of the policy in the cluster, and what a statement becomes', async () => {
    const out = await plugin('explain', '-n', 'hospital', '--sql', 'SELECT pat_name FROM patient WHERE pat_ssn = $1');
    expect(out).toContain('pat_ssn');
    expect(out).toMatch(/--sql "SELECT pat_name FROM patient WHERE pat_ssn = \$1"/);
  });

  describe('status reads the proxies\' metrics endpoints', () => {
    let db: PgCluster;
    let cfg: ReturnType<typeof writeProxyConfig>;
    const proxies: ProxyProcess[] = [];
    const NOBODY = { name: 'nobody', password: 'nobody-pw' };
    const RENDERED = 'sha256:0123456789abcdef0123456789abcdef';
    // EndpointSlice addresses may not be loopback: the proxies listen on this host's own address.
    const hostIp = Object.values(networkInterfaces()).flat().find((i) => i?.family === 'IPv4' && !i.internal)?.address;

    const slice = (pod: string, port: number) => ({
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: `ehealth-proxy-peers-${pod.slice(-1)}`, namespace: 'hospital',
        labels: { 'kubernetes.io/service-name': 'ehealth-proxy-peers', 'endpointslice.kubernetes.io/managed-by': 'clarus-e2e' } },
      addressType: 'IPv4', ports: [{ name: 'metrics', port, protocol: 'TCP' }],
      endpoints: [{ addresses: [hostIp], conditions: { ready: true }, targetRef: { kind: 'Pod', namespace: 'hospital', name: pod } }],
    });
    const query = async (p: ProxyProcess, user: typeof DEFAULT_USER, sql: string): Promise<string> => {
      const c = new pg.Client({ connectionString: p.url(user) });
      await c.connect();
      try {
        return await c.query(sql).then(() => 'ok', (e: { code: string }) => e.code);
      } finally {
        await c.end();
      }
    };

    beforeAll(async () => {
      expect(hostIp, 'a non-loopback IPv4 address on this host').toBeDefined();
      db = await startPostgres();
      cfg = writeProxyConfig({ backends: [{ cluster: db, name: 'cloud-a' }], proxyName: 'ehealth-proxy',
        users: [{ ...DEFAULT_USER, grants: [{ grant: 'all', datasets: ['*'], access: 'readWrite', view: 'plaintext' }] }, NOBODY] });
      cfg.write({ ...cfg.config, hash: RENDERED, policy: structuredClone(EHEALTH_POLICY) });
      mkdirSync(join(cfg.dir, 'secrets/keyring'), { recursive: true });
      for (const [name, text] of TEST_KEY_FILES) writeFileSync(join(cfg.dir, 'secrets/keyring', name), text);
      for (const pod of ['ehealth-proxy-7d9f-a', 'ehealth-proxy-7d9f-b']) {
        proxies.push(await startProxyProcess(cfg.dir, ['--metrics-listen', `${hostIp}:0`], { POD_NAME: pod }));
      }
      const [a, b] = proxies as [ProxyProcess, ProxyProcess];
      expect(await query(a, DEFAULT_USER, 'CREATE TABLE patient (pat_id int PRIMARY KEY, pat_name text, pat_ssn text, pat_zip text, pat_birth date, diagnosis text)')).toBe('ok');
      // Replica a: two statements calling a function off the allowlist on a protected column;
      // replica b: one statement of a user without a grant.
      for (let i = 0; i < 2; i++) expect(await query(a, DEFAULT_USER, 'SELECT pg_read_file(pat_name) FROM patient')).toBe('0A000');
      expect(await query(b, NOBODY, 'SELECT pat_name FROM patient')).toBe('42501');
      await cp.kube.apply([slice('ehealth-proxy-7d9f-a', a.metricsPort), slice('ehealth-proxy-7d9f-b', b.metricsPort)]);
      // As the operator would after rendering a newer configuration than the one the pods run.
      const r = await cp.kube.request('PATCH', '/apis/clarus.io/v1alpha1/namespaces/hospital/clarusproxies/ehealth-proxy/status',
        { status: { policyHash: 'sha256:newer' } }, 'application/merge-patch+json');
      expect(r.status, r.body).toBe(200);
    });
    afterAll(async () => {
      for (const p of proxies) await p.close();
      cfg?.destroy();
      await db?.destroy();
    });

    test('each replica found through the peers Service\'s EndpointSlices, with its refusals of the last 15 minutes by reason', async () => {
      const out = await plugin('status', '-n', 'hospital');
      const start = out.indexOf('\nPROXY  ') + 1;
      const table = out.slice(start, out.indexOf('\n\n', start));
      const rows = table.split('\n');
      expect(rows[0]).toMatch(/^PROXY\s+ENDPOINT\s+READY\s+GENERATION\s+CONFIG HASH\s+KMS\s+REFUSED LAST 15 MIN BY REASON\s+SINCE START$/);
      // Each pod's configuration hash, stale against the ClarusProxy's rendered one.
      expect(rows.slice(1).map((l) => l.split(/\s{2,}/))).toEqual([
        ['ehealth-proxy', 'ehealth-proxy-7d9f-a', 'yes', '1', 'sha256:0123456789ab (stale)', '-', 'function 0A000 ×2', '2'],
        ['ehealth-proxy', 'ehealth-proxy-7d9f-b', 'yes', '1', 'sha256:0123456789ab (stale)', '-', 'accessDenied 42501 ×1', '1'],
      ]);
      // The backends and their Reachable condition (no operator runs here: not checked yet).
      expect(out).toMatch(/BACKEND\s+ADDRESS\s+REACHABLE\n/);
    });

    test('--metrics URL reads the endpoints given (e.g. port-forwarded) instead; an endpoint that does not answer is shown as such', async () => {
      const [a] = proxies as [ProxyProcess];
      const ip = String(hostIp);
      const out = await plugin('status', '-n', 'hospital', '--metrics', `http://${ip}:${a.metricsPort}/metrics`, '--metrics', 'http://127.0.0.1:1');
      expect(out).toMatch(new RegExp(`\\n-\\s+http://${ip.replace(/\./g, '\\.')}:${a.metricsPort}/metrics\\s+yes\\s+1\\s+sha256:0123456789ab\\s+-\\s+function 0A000 ×2\\s+2\\n`));
      expect(out).toMatch(/\n-\s+http:\/\/127\.0\.0\.1:1\s+unreachable\s+-\s+-\s+-\s+unreachable\s+-\n/);
    });
  });
});
