// Runs `cli/bin/clarus operator` as a local process against a control plane started by the e2e harness,
// and the small helpers the operator scenarios share. Test support only.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startProcess, waitUntil } from './index.ts';
import type { ControlPlane, ManagedProcess } from './index.ts';

export const repoRoot = new URL('../../', import.meta.url).pathname;
export const crdDir = join(repoRoot, 'crds/generated');
export const exampleDir = join(repoRoot, 'examples/ehealth');

export interface RunningOperator {
  proc: ManagedProcess;
  metricsPort: number;
  webhookPort: number;
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

export interface OperatorOptions {
  namespace: string;
  webhookConfigName?: string;
  leaseDurationSeconds?: number;
  resyncSeconds?: number;
  name?: string;
  /** Webhook port chosen in advance (the webhook configuration must name it before the operator starts). */
  webhookPort?: number;
  extraArgs?: string[];
}

export async function startOperator(cp: ControlPlane, opts: OperatorOptions): Promise<RunningOperator> {
  const metricsPort = await freePort();
  const webhookPort = opts.webhookPort ?? await freePort();
  const args = [
    'operator',
    '--namespace', opts.namespace,
    '--metrics-listen', `127.0.0.1:${metricsPort}`,
    '--webhook-listen', `127.0.0.1:${webhookPort}`,
    '--webhook-ip', '127.0.0.1',
    '--webhook-dns', 'localhost',
    '--webhook-config-name', opts.webhookConfigName ?? '',
    '--webhook-secret-name', 'clarus-webhook-tls',
    '--lease-duration', String(opts.leaseDurationSeconds ?? 60),
    '--resync-seconds', String(opts.resyncSeconds ?? 30),
    // kind (make kind-e2e) loads the real image; kwok nodes never pull, so any name will do there.
    '--proxy-image', process.env.CLARUS_E2E_IMAGE ?? 'registry.invalid/clarus:e2e',
    '--log-level', 'debug',
    ...(opts.extraArgs ?? []),
  ];
  const proc = startProcess({
    name: opts.name ?? 'clarus-operator',
    command: join(repoRoot, 'cli/bin/clarus'),
    args,
    logPath: join(cp.dir, `${opts.name ?? 'clarus-operator'}.log`),
    env: { ...process.env, KUBECONFIG: cp.kubeconfigPath },
    cwd: repoRoot,
  });
  const metrics = async (): Promise<string> => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  await waitUntil('operator /readyz', async () => {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/readyz`).catch(() => undefined);
    return res?.status === 200 || undefined;
  }, { timeoutMs: 60_000, proc });
  return { proc, metricsPort, webhookPort, metrics, stop: () => proc.stop() };
}

export async function installCrds(cp: ControlPlane): Promise<void> {
  for (const file of readdirSync(crdDir).filter((f) => f.endsWith('.yaml')).sort()) {
    await cp.kube.apply(readFileSync(join(crdDir, file), 'utf8'));
  }
  await cp.kube.waitFor('CRDs established', async () => {
    const crds = await cp.kube.list<{ metadata?: { name?: string }; status?: { conditions?: Array<{ type: string; status: string }> } }>(
      'apiextensions.k8s.io/v1', 'CustomResourceDefinition');
    const ours = crds.filter((c) => c.metadata?.name?.endsWith('.clarus.io'));
    const established = ours.filter((c) => c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True'));
    return ours.length === 4 && established.length === 4 ? true : undefined;
  });
}

export function exampleYaml(): string {
  return readdirSync(exampleDir).filter((f) => f.endsWith('.yaml')).sort()
    .map((f) => readFileSync(join(exampleDir, f), 'utf8')).join('\n---\n');
}

interface Cond { type: string; status: string; reason?: string; message?: string; observedGeneration?: number }
export interface WithStatus { metadata?: { generation?: number; uid?: string }; status?: { conditions?: Cond[] } & Record<string, unknown> }

export function condition(obj: WithStatus | undefined, type: string): Cond | undefined {
  return obj?.status?.conditions?.find((c) => c.type === type);
}

/** Metric value from Prometheus text exposition, summing all series of `name` matching `labels`. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

export type Waiter = <T>(what: string, check: () => Promise<T | undefined>, timeoutMs?: number) => Promise<T>;

/**
 * cp.kube.waitFor that adds the tail of the operator's log to a timeout error. Both arguments are
 * getters because scenarios assign the control plane and the operator in beforeAll.
 */
export function waiterWithLog(cp: () => ControlPlane, operator: () => ManagedProcess | undefined): Waiter {
  return async (what, check, timeoutMs = 90_000) => {
    try {
      return await cp().kube.waitFor(what, check, timeoutMs);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- operator log ---\n${operator()?.tail(40)}`);
    }
  };
}
