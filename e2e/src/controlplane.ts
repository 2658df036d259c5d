// A real Kubernetes control plane on loopback, without containers: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok (simulated nodes that run pods in simulation),
// all built by e2e/setup.sh. Everything lives in a temporary folder and is torn down by stop().
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubernetesObject } from '@kubernetes/client-node';
import { findBinaries, type Binaries } from './binaries.ts';
import {
  apiServerArgs, controllerManagerArgs, etcdArgs, fakeNode, kwokArgs, schedulerArgs, type Paths, type Ports,
} from './components.ts';
import { attachControlPlane } from './attach.ts';
import { egressSelectorConfig, startEgressGuard, type EgressGuard } from './egress.ts';
import { makeHelm, type Helm } from './helm.ts';
import { kubeconfigText } from './kubeconfig.ts';
import { Kube, rawRequest, type Credentials } from './kube.ts';
import { makeControlPlanePki, type CertPair, type ControlPlanePki } from './pki.ts';
import { isAddressInUse } from '@clarus/testing/ports.ts';
import { freePort, startProcess, waitUntil, type ManagedProcess } from './process.ts';

export interface ControlPlaneOptions {
  /** Simulated nodes to create (kwok). 0 starts no kwok. Default 2. */
  nodes?: number;
  /** Keep the temporary folder (logs, data) after stop(), for debugging. Also CLARUS_E2E_KEEP=1. */
  keepDir?: boolean;
  /** Milliseconds to wait for each component to become ready. Default 120 s. */
  readyTimeoutMs?: number;
}

export interface SpawnSpec {
  name: string;
  command: string;
  args: string[];
  /** Added to this process's environment. */
  env?: Record<string, string>;
  cwd?: string;
}

export interface ControlPlane {
  /** local: processes started here; attached: an existing cluster (kind) from CLARUS_E2E_KUBECONFIG. */
  readonly mode: 'local' | 'attached';
  /** Temporary folder with data, certificates, kubeconfig and one log file per component. */
  readonly dir: string;
  /** Admin kubeconfig (user `clarus-e2e-admin`, group system:masters). */
  readonly kubeconfigPath: string;
  /** https://127.0.0.1:PORT */
  readonly server: string;
  /** PEM of the CA that signed the API server's certificate and the client certificates. */
  readonly caPem: string;
  readonly admin: CertPair;
  /** The local binaries (local mode only). */
  readonly binaries?: Binaries;
  readonly nodeNames: string[];
  /** Admin client: apply YAML, get/list/delete, waits. */
  readonly kube: Kube;
  /** helm with this cluster's admin kubeconfig. */
  readonly helm: Helm;
  /** Raw HTTPS request as admin. */
  request(method: string, path: string, body?: unknown, contentType?: string): ReturnType<typeof rawRequest>;
  /** Kills the API server (SIGTERM), starts it again on the same port and waits for /readyz. */
  restartApiServer(): Promise<void>;
  /** A kubeconfig for a ServiceAccount (token from the TokenRequest API): tests RBAC as a pod would. */
  kubeconfigForServiceAccount(namespace: string, name: string, expirationSeconds?: number): Promise<string>;
  /** A kubeconfig for a certificate user, e.g. to check what a non-admin may do. */
  kubeconfigForUser(user: string, groups?: string[]): string;
  /**
   * The API server's outbound dials (host:port) seen by the loopback egress guard: tunnelled
   * (loopback, e.g. a webhook at https://127.0.0.1:PORT) and refused (anything else, e.g. a webhook
   * configured with a Service: its ClusterIP is not a real address in this tier).
   */
  egress(): { tunnelled: string[]; refused: string[] };
  /**
   * Starts a process that lives with this control plane (e.g. `cli/bin/clarus operator` with
   * KUBECONFIG): its log goes to <dir>/<name>.log and stop() ends it first.
   */
  spawn(opts: SpawnSpec): ManagedProcess;
  /** Last lines of each component's log, to print when a scenario fails. */
  logs(lines?: number): string;
  /** Stops every process (process groups, SIGTERM then SIGKILL) and removes the folder. Idempotent. */
  stop(): Promise<void>;
}

function writePaths(dir: string, pki: ControlPlanePki, kwokStages: string[]): Paths {
  const p: Paths = {
    dir,
    etcdData: join(dir, 'etcd'),
    certDir: join(dir, 'certs'),
    caCert: join(dir, 'certs', 'ca.crt'),
    apiServerCert: join(dir, 'certs', 'apiserver.crt'),
    apiServerKey: join(dir, 'certs', 'apiserver.key'),
    saPublicKey: join(dir, 'certs', 'sa.pub'),
    saPrivateKey: join(dir, 'certs', 'sa.key'),
    adminKubeconfig: join(dir, 'kubeconfig'),
    kwokConfig: join(dir, 'kwok.yaml'),
    egressConfig: join(dir, 'egress-selector.json'),
    egressSocket: join(dir, 'egress.sock'),
  };
  mkdirSync(p.certDir, { recursive: true, mode: 0o700 });
  writeFileSync(p.caCert, pki.ca.certPem);
  writeFileSync(p.apiServerCert, pki.apiServer.certPem);
  writeFileSync(p.apiServerKey, pki.apiServer.keyPem, { mode: 0o600 });
  writeFileSync(p.saPublicKey, pki.serviceAccount.publicKeyPem);
  writeFileSync(p.saPrivateKey, pki.serviceAccount.privateKeyPem, { mode: 0o600 });
  writeFileSync(p.egressConfig, egressSelectorConfig(p.egressSocket));
  writeFileSync(p.kwokConfig, kwokStages.map((f) => readFileSync(f, 'utf8')).join('\n---\n'));
  return p;
}

async function allocatePorts(): Promise<Ports> {
  return {
    etcdClient: await freePort(),
    etcdPeer: await freePort(),
    apiServer: await freePort(),
    controllerManager: await freePort(),
    scheduler: await freePort(),
    kwok: await freePort(),
  };
}

/** GET `url` without credentials (health endpoints); true on a 200 answer. */
async function healthy(url: string): Promise<boolean> {
  const res = await fetch(url).catch(() => undefined);
  return res?.status === 200;
}

/**
 * Starts a local control plane, or, when CLARUS_E2E_KUBECONFIG is set (make kind-e2e), attaches to
 * that cluster instead so the same scenarios run against real pods.
 */
export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const attachTo = process.env.CLARUS_E2E_KUBECONFIG;
  if (attachTo) return attachControlPlane(attachTo, process.env.CLARUS_E2E_KIND_NODE);
  // Another test process may bind a port between our check and a component's own bind: start
  // again on fresh ports (the failed attempt stopped what it started).
  for (let attempt = 1; ; attempt++) {
    try {
      return await startLocal(opts);
    } catch (e) {
      if (attempt >= 3 || !isAddressInUse(e)) throw e;
    }
  }
}

async function startLocal(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const binaries = findBinaries();
  const dir = mkdtempSync(join(tmpdir(), 'clarus-cp-'));
  const timeoutMs = opts.readyTimeoutMs ?? 120_000;
  const procs: ManagedProcess[] = [];
  let apiServer: ManagedProcess | undefined;
  let guard: EgressGuard | undefined;
  let stopped = false;

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // Reverse start order: clients first, storage last.
    for (const p of [...procs].reverse()) await p.stop();
    await guard?.close();
    if (!opts.keepDir && process.env.CLARUS_E2E_KEEP !== '1') rmSync(dir, { recursive: true, force: true });
  };

  try {
    const pki = makeControlPlanePki();
    const paths = writePaths(dir, pki, binaries.kwokStages);
    const ports = await allocatePorts();
    const server = `https://127.0.0.1:${ports.apiServer}`;
    const admin = pki.client('clarus-e2e-admin', ['system:masters']);
    const creds: Credentials = { server, caPem: pki.ca.certPem, ...admin };
    writeFileSync(paths.adminKubeconfig, kubeconfigText({ server, caPem: pki.ca.certPem, user: admin }),
      { mode: 0o600 });

    const start = (name: string, command: string, args: string[], extra?: Pick<SpawnSpec, 'env' | 'cwd'>):
      ManagedProcess => {
      const p = startProcess({ name, command, args, logPath: join(dir, `${name}.log`), cwd: extra?.cwd ?? dir,
        env: extra?.env ? { ...process.env, ...extra.env } : process.env });
      procs.push(p);
      return p;
    };

    guard = await startEgressGuard(paths.egressSocket);
    const seen = guard;
    const etcd = start('etcd', binaries.etcd, etcdArgs(paths, ports));
    // PDB and Lease controllers need /health to report the store as serving.
    await waitUntil('etcd /health', async () =>
      (await healthy(`http://127.0.0.1:${ports.etcdClient}/health`)) || undefined, { timeoutMs, proc: etcd });

    const startApiServer = async (): Promise<ManagedProcess> => {
      const p = start('kube-apiserver', binaries.kubeApiserver, apiServerArgs(paths, ports));
      await waitUntil('kube-apiserver /readyz', async () => {
        const res = await rawRequest(creds, 'GET', '/readyz');
        return res.status === 200 || undefined;
      }, { timeoutMs, proc: p });
      return p;
    };
    apiServer = await startApiServer();

    const kcm = start('kube-controller-manager', binaries.kubeControllerManager, controllerManagerArgs(paths, ports));
    const sched = start('kube-scheduler', binaries.kubeScheduler, schedulerArgs(paths, ports));
    await insecureHealthz('kube-controller-manager', ports.controllerManager, kcm, timeoutMs);
    await insecureHealthz('kube-scheduler', ports.scheduler, sched, timeoutMs);

    const kube = new Kube(paths.adminKubeconfig);
    const nodeNames: string[] = [];
    const nodeCount = opts.nodes ?? 2;
    if (nodeCount > 0) {
      const kwok = start('kwok', binaries.kwok, [...kwokArgs(paths, ports), '--node-lease-duration-seconds=40']);
      for (let i = 0; i < nodeCount; i++) nodeNames.push(`kwok-node-${i}`);
      await kube.apply(nodeNames.map(fakeNode));
      await waitUntil('kwok nodes Ready', async () => {
        const nodes = await kube.list<NodeLike>('v1', 'Node');
        const ready = nodes.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
        return ready.length >= nodeCount || undefined;
      }, { timeoutMs, proc: kwok });
    }

    const cp: ControlPlane = {
      mode: 'local',
      dir,
      kubeconfigPath: paths.adminKubeconfig,
      server,
      caPem: pki.ca.certPem,
      admin,
      binaries,
      nodeNames,
      kube,
      helm: makeHelm(binaries.helm, join(dir, 'helm'), paths.adminKubeconfig),
      request: (method, path, body, contentType) => rawRequest(creds, method, path, body, contentType),
      async restartApiServer() {
        const old = apiServer;
        if (old) {
          await old.stop();
          procs.splice(procs.indexOf(old), 1);
        }
        apiServer = await startApiServer();
      },
      async kubeconfigForServiceAccount(namespace, name, expirationSeconds = 3600) {
        const res = await rawRequest(creds, 'POST',
          `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
          { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds } });
        if (res.status !== 201) throw new Error(`TokenRequest for ${namespace}/${name}: ${res.status} ${res.body}`);
        const token = (res.json() as { status: { token: string } }).status.token;
        const path = join(dir, `kubeconfig-sa-${namespace}-${name}`);
        writeFileSync(path, kubeconfigText({ server, caPem: pki.ca.certPem, user: { token } }), { mode: 0o600 });
        return path;
      },
      kubeconfigForUser(user, groups = []) {
        const path = join(dir, `kubeconfig-user-${user.replace(/[^a-zA-Z0-9-]/g, '_')}`);
        writeFileSync(path, kubeconfigText({ server, caPem: pki.ca.certPem, user: pki.client(user, groups) }),
          { mode: 0o600 });
        return path;
      },
      egress: () => ({ tunnelled: [...seen.tunnelled], refused: [...seen.refused] }),
      spawn: (spec) => start(spec.name, spec.command, spec.args, spec),
      logs: (lines = 30) => procs.map((p) => `--- ${p.name} (${p.logPath}) ---\n${p.tail(lines)}`).join('\n'),
      stop,
    };
    return cp;
  } catch (err) {
    await stop();
    throw err;
  }
}

interface NodeLike extends KubernetesObject { status?: { conditions?: { type: string; status: string }[] } }

/**
 * The controller manager and scheduler serve /healthz on HTTPS with a self-signed certificate
 * they generate; the endpoint needs no credentials, so skip verification for this probe only.
 */
async function insecureHealthz(name: string, port: number, proc: ManagedProcess, timeoutMs: number): Promise<void> {
  const creds: Credentials = { server: `https://127.0.0.1:${port}`, caPem: '', insecure: true };
  await waitUntil(`${name} /healthz`, async () => {
    const res = await rawRequest(creds, 'GET', '/healthz');
    return res.status === 200 || undefined;
  }, { timeoutMs, proc });
}
