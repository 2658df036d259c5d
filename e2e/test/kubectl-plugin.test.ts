// `kubectl clarus` against a real kube-apiserver: the plugin binary (cli/bin/kubectl-clarus) reads the
// eHealth example's objects with the kubeconfig kubectl would use and prints the proxies, the grants
// (and which expire soon) and `policy explain` of the policy in the cluster.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startControlPlane } from '../src/index.ts';
import type { ControlPlane } from '../src/index.ts';
import { exampleYaml, installCrds, repoRoot } from '../src/operator-process.ts';

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
});
