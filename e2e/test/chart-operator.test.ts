// The chart and the real operator together: the chart is installed with its webhook pointed at a
// local `clarus operator` process, and that process runs with the chart's environment contract and
// the token of the chart's ServiceAccount. So the RBAC the chart grants is proven sufficient (the
// operator reconciles the eHealth example, takes its Lease, patches its own webhook's CA bundle and
// injects sidecars) as well as minimal (chart-install.test.ts checks what it must not do).
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { KubernetesObject } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  clarusBin, freePort, installOperatorChart, parseManifests, startControlPlane, waitUntil,
  type ControlPlane, type Installed, type ManagedProcess, type Manifest,
} from '../src/index.ts';
import { waiterWithLog } from '../src/operator-process.ts';

type Cond = { type: string; status: string; reason?: string; message?: string };
type WithConditions = KubernetesObject & { status?: { conditions?: Cond[] } };
type EnvVar = { name: string; value?: string };
type OperatorDeployment = KubernetesObject & { spec: { template: { spec: { containers: { env?: EnvVar[] }[] } } } };
type Webhooks = KubernetesObject & { webhooks: { clientConfig: { caBundle?: string } }[] };
type Pod = KubernetesObject & { spec?: { initContainers?: { name: string; restartPolicy?: string }[] } };

const exampleDir = new URL('../../examples/ehealth', import.meta.url).pathname;
const ns = 'hospital';

function example(): Manifest[] {
  return parseManifests(readdirSync(exampleDir).filter((f) => f.endsWith('.yaml')).sort()
    .map((f) => readFileSync(join(exampleDir, f), 'utf8')).join('\n---\n'));
}

/** The operator container's environment as the chart renders it, minus what the downward API fills. */
function chartEnv(dep: OperatorDeployment): Record<string, string> {
  const env = dep.spec.template.spec.containers[0]?.env ?? [];
  return Object.fromEntries(env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value ?? '']));
}

// On kind (CLARUS_E2E_KUBECONFIG) the API server cannot call a webhook on this host's loopback, and
// the chart's own operator pods run there instead.
describe.skipIf(Boolean(process.env.CLARUS_E2E_KUBECONFIG))('the chart with the real operator, running as the chart\'s ServiceAccount', () => {
  let cp: ControlPlane;
  let rel: Installed;
  let op: ManagedProcess;

  beforeAll(async () => {
    cp = await startControlPlane({ nodes: 1 });
    const webhookPort = await freePort();
    rel = await installOperatorChart(cp, { webhookUrl: `https://127.0.0.1:${webhookPort}/mutate-v1-pod` });
    const dep = await cp.kube.get<OperatorDeployment>({ apiVersion: 'apps/v1', kind: 'Deployment', name: rel.fullname,
      namespace: rel.namespace });
    if (!dep) throw new Error('operator Deployment not installed');
    const metricsPort = await freePort();
    op = cp.spawn({
      name: 'operator-chart-sa',
      command: clarusBin,
      // The chart's Service name is not where this process listens: its certificate must name 127.0.0.1.
      args: ['operator', '--webhook-ip', '127.0.0.1'],
      env: {
        ...chartEnv(dep),
        CLARUS_NAMESPACE: rel.namespace,
        CLARUS_POD_NAME: 'local-operator',
        CLARUS_METRICS_LISTEN: `127.0.0.1:${metricsPort}`,
        CLARUS_WEBHOOK_LISTEN: `127.0.0.1:${webhookPort}`,
        KUBECONFIG: await cp.kubeconfigForServiceAccount(rel.namespace, rel.serviceAccount),
      },
    });
    await waitUntil('operator /readyz', async () =>
      (await fetch(`http://127.0.0.1:${metricsPort}/readyz`).catch(() => undefined))?.status === 200 || undefined,
    { timeoutMs: 90_000, proc: op });
  });

  afterAll(async () => {
    await cp?.stop();
  });

  const waitFor = waiterWithLog(() => cp, () => op);

  test('takes the chart\'s Lease and writes the CA bundle of the chart\'s webhook configuration', async () => {
    const lease = await waitFor('Lease held', async () => {
      const l = await cp.kube.get<KubernetesObject & { spec?: { holderIdentity?: string } }>(
        { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', name: rel.fullname, namespace: rel.namespace });
      return l?.spec?.holderIdentity ? l : undefined;
    });
    expect(lease.spec?.holderIdentity).toBe('local-operator');
    const bundle = await waitFor('caBundle written', async () => {
      const mwc = await cp.kube.get<Webhooks>({ apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'MutatingWebhookConfiguration', name: rel.fullname });
      return mwc?.webhooks[0]?.clientConfig.caBundle;
    });
    expect(Buffer.from(bundle, 'base64').toString()).toContain('BEGIN CERTIFICATE');
  });

  test('reconciles the eHealth example to Ready with only the chart\'s RBAC', async () => {
    await cp.kube.createNamespace(ns);
    await cp.kube.apply(example());
    const proxy = await waitFor('ClarusProxy Ready', async () => {
      const p = await cp.kube.get<WithConditions>({ apiVersion: 'clarus.io/v1alpha1', kind: 'ClarusProxy',
        name: 'ehealth-proxy', namespace: ns });
      return p?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
    });
    expect(proxy.metadata?.name).toBe('ehealth-proxy');
    for (const [apiVersion, kind] of [['apps/v1', 'Deployment'], ['v1', 'Service'], ['v1', 'ConfigMap'],
      ['policy/v1', 'PodDisruptionBudget'], ['autoscaling/v2', 'HorizontalPodAutoscaler'], ['v1', 'Secret']]) {
      const owned = (await cp.kube.list(apiVersion as string, kind as string, ns)).filter((o) =>
        o.metadata?.ownerReferences?.some((r) => r.kind === 'ClarusProxy' && r.name === 'ehealth-proxy'));
      expect(owned.length, `${kind} owned by the ClarusProxy`).toBeGreaterThan(0);
    }
    expect(op.tail(2000)).not.toMatch(/forbidden/i);
  });

  test('injects the sidecar into a labelled pod through the chart\'s webhook configuration', async () => {
    const [deploymentMode] = example().filter((d) => d.kind === 'ClarusProxy');
    if (!deploymentMode) throw new Error('the example has no ClarusProxy');
    const sidecarMode = structuredClone(deploymentMode) as Manifest & { spec: Record<string, unknown> };
    sidecarMode.metadata = { name: 'sidecar-proxy', namespace: ns };
    sidecarMode.spec.mode = 'Sidecar';
    delete sidecarMode.spec.autoscaling;
    delete sidecarMode.spec.replicas;
    await cp.kube.apply([sidecarMode, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns,
      labels: { 'clarus.io/injection': 'enabled' } } }]);
    await waitFor('Sidecar-mode proxy Ready', async () => {
      const p = await cp.kube.get<WithConditions>({ apiVersion: 'clarus.io/v1alpha1', kind: 'ClarusProxy',
        name: 'sidecar-proxy', namespace: ns });
      return p?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
    });
    // The API server picks up the CA bundle the operator wrote asynchronously; until then the call
    // fails TLS verification and failurePolicy Fail rejects the pod, so retry with fresh names.
    let n = 0;
    const pod = await waitFor('labelled pod admitted', async () => {
      const [created] = await cp.kube.apply([{ apiVersion: 'v1', kind: 'Pod',
        metadata: { name: `app-${n++}`, namespace: ns, labels: { 'clarus.io/inject': 'sidecar-proxy' } },
        spec: { containers: [{ name: 'app', image: 'registry.invalid/app:1' }] } }]).catch(() => []);
      return created as Pod | undefined;
    });
    const sidecar = pod.spec?.initContainers?.find((c) => c.restartPolicy === 'Always');
    expect(sidecar, JSON.stringify(pod.spec?.initContainers)).toBeDefined();
    expect(cp.egress().refused).toEqual([]);
  });
});
