// The same ControlPlane interface over an existing cluster (kind, via `make kind-e2e`): selected by
// CLARUS_E2E_KUBECONFIG. Nothing is started or stopped; the API server restart goes through the
// kind node's container runtime (the kubelet brings the static pod back).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ControlPlane } from './controlplane.ts';
import { kubeconfigText } from './kubeconfig.ts';
import { findHelm } from './binaries.ts';
import { makeHelm } from './helm.ts';
import { Kube, rawRequest, type Credentials } from './kube.ts';
import { startProcess, waitUntil, type ManagedProcess } from './process.ts';

const run = promisify(execFile);

function fromBase64(data: string | undefined, what: string): string {
  if (!data) throw new Error(`CLARUS_E2E_KUBECONFIG: the current context has no ${what} data`);
  return Buffer.from(data, 'base64').toString('utf8');
}

/** helm from the e2e cache when built, else the one on PATH. */
function helmBinary(): string {
  try {
    return findHelm();
  } catch {
    return 'helm';
  }
}

export async function attachControlPlane(kubeconfigPath: string, kindNode?: string): Promise<ControlPlane> {
  const kube = new Kube(kubeconfigPath);
  const cluster = kube.config.getCurrentCluster();
  const user = kube.config.getCurrentUser();
  if (!cluster || !user) throw new Error(`${kubeconfigPath}: no current cluster/user`);
  const caPem = fromBase64(cluster.caData, 'certificate-authority');
  const admin = { certPem: fromBase64(user.certData, 'client-certificate'), keyPem: fromBase64(user.keyData, 'client-key') };
  const creds: Credentials = { server: cluster.server, caPem, ...admin };
  const dir = mkdtempSync(join(tmpdir(), 'clarus-attached-'));
  const nodes = await kube.list<KubernetesObject>('v1', 'Node');
  const procs: ManagedProcess[] = [];
  const waitReady = (): Promise<boolean> => waitUntil('kube-apiserver /readyz', async () =>
    (await rawRequest(creds, 'GET', '/readyz').catch(() => undefined))?.status === 200 || undefined,
  { timeoutMs: 180_000, intervalMs: 1000 });

  return {
    mode: 'attached',
    dir,
    kubeconfigPath,
    server: cluster.server,
    caPem,
    admin,
    nodeNames: nodes.map((n) => n.metadata?.name ?? ''),
    kube,
    helm: makeHelm(helmBinary(), join(dir, 'helm'), kubeconfigPath),
    request: (method, path, body, contentType) => rawRequest(creds, method, path, body, contentType),
    async restartApiServer() {
      if (!kindNode) throw new Error('restartApiServer on an attached cluster needs CLARUS_E2E_KIND_NODE');
      const { stdout } = await run('docker', ['exec', kindNode, 'crictl', 'ps', '-q', '--name', 'kube-apiserver']);
      await run('docker', ['exec', kindNode, 'crictl', 'stop', ...stdout.trim().split(/\s+/)]);
      await waitUntil('kube-apiserver to go down', async () =>
        (await rawRequest(creds, 'GET', '/readyz').catch(() => undefined))?.status !== 200 || undefined,
      { timeoutMs: 60_000, intervalMs: 200 }).catch(() => true);
      await waitReady();
    },
    async kubeconfigForServiceAccount(namespace, name, expirationSeconds = 3600) {
      const res = await rawRequest(creds, 'POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
        { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds } });
      if (res.status !== 201) throw new Error(`TokenRequest for ${namespace}/${name}: ${res.status} ${res.body}`);
      const token = (res.json() as { status: { token: string } }).status.token;
      const path = join(dir, `kubeconfig-sa-${namespace}-${name}`);
      writeFileSync(path, kubeconfigText({ server: cluster.server, caPem, user: { token } }), { mode: 0o600 });
      return path;
    },
    kubeconfigForUser() {
      throw new Error('kubeconfigForUser needs the cluster CA key, which an attached cluster does not give');
    },
    egress: () => ({ tunnelled: [], refused: [] }),
    spawn(spec) {
      const p = startProcess({ name: spec.name, command: spec.command, args: spec.args, cwd: spec.cwd ?? dir,
        logPath: join(dir, `${spec.name}.log`), env: { ...process.env, ...spec.env } });
      procs.push(p);
      return p;
    },
    logs: (lines = 30) => procs.map((p) => `--- ${p.name} ---\n${p.tail(lines)}`).join('\n')
      || '(attached cluster: see `kubectl logs` / `kind export logs`)',
    async stop() {
      for (const p of procs.reverse()) await p.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
