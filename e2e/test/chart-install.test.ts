// `helm install` of the operator chart into a real API server: the CRDs are accepted and enforce
// their CEL rules, the operator Deployment runs (on simulated nodes), its ServiceAccount can do what
// the operator needs and nothing more, upgrades keep the CA bundle the operator wrote, and
// uninstall keeps the CRDs (and so every user resource).
import type { KubernetesObject } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  Kube, apiErrorCode, apiErrorMessage, freePort, installOperatorChart, startControlPlane, type ControlPlane, type Installed,
  type Manifest,
} from '../src/index.ts';

type Crd = KubernetesObject & { status?: { conditions?: { type: string; status: string }[] } };
type Webhooks = KubernetesObject & { webhooks: { name: string; failurePolicy: string; clientConfig: { caBundle?: string } }[] };
type Deployment = KubernetesObject & { status?: { availableReplicas?: number } };

const userNs = 'hospital';
/** make kind-e2e: Services are real there, so the egress-guard scenario applies to the local tier only. */
const attached = Boolean(process.env.CLARUS_E2E_KUBECONFIG);

function policy(name: string, protection: Record<string, unknown>): Manifest {
  return {
    apiVersion: 'clarus.io/v1alpha1',
    kind: 'SecurityPolicy',
    metadata: { name, namespace: userNs },
    spec: {
      backends: ['cloud-a'],
      keyring: { secretName: 'ehealth-keys' },
      datasets: [{
        name: 'patients', table: 'public.patient', rowKey: 'pat_id',
        columns: [
          { name: 'pat_id', attributeType: 'technicalIdentifier' },
          { name: 'pat_name', attributeType: 'identifier', protection },
        ],
      }],
    },
  };
}

describe('helm install into the control plane', () => {
  let cp: ControlPlane;
  let rel: Installed;

  beforeAll(async () => {
    cp = await startControlPlane({ nodes: 2 });
    rel = await installOperatorChart(cp, { values: { operator: { logLevel: 'debug' } } });
  });

  afterAll(async () => {
    await cp?.stop();
  });

  test('the four CRDs are Established', async () => {
    for (const plural of ['securitypolicies', 'cloudbackends', 'clarusproxies', 'accessgrants']) {
      const crd = await cp.kube.waitFor(`${plural} Established`, async () => {
        const c = await cp.kube.get<Crd>({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition',
          name: `${plural}.clarus.io` });
        return c?.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True') ? c : undefined;
      });
      expect(crd.metadata?.annotations?.['helm.sh/resource-policy']).toBe('keep');
    }
  });

  test('the operator Deployment is available with 2 replicas and the webhook is registered', async () => {
    const dep = await cp.kube.waitFor('operator Deployment available', async () => {
      const d = await cp.kube.get<Deployment>({ apiVersion: 'apps/v1', kind: 'Deployment', name: rel.fullname,
        namespace: rel.namespace });
      return d?.status?.availableReplicas === 2 ? d : undefined;
    });
    expect(dep.status?.availableReplicas).toBe(2);
    const mwc = await cp.kube.get<Webhooks>({ apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration', name: rel.fullname });
    expect(mwc?.webhooks.map((w) => w.name)).toEqual(['inject.clarus.io']);
    expect(mwc?.webhooks[0]?.failurePolicy).toBe('Fail');
  });

  test('CEL rejects a bad SecurityPolicy with its message; a good one is stored', async () => {
    await cp.kube.createNamespace(userNs);
    const bad = policy('bad', { encrypt: { mode: 'randomized' }, anonymize: { suppress: {} } });
    const err = await cp.kube.apply([bad]).then(() => undefined, (e: unknown) => e);
    expect(apiErrorCode(err)).toBe(422);
    expect(apiErrorMessage(err)).toContain('encrypt and anonymize are mutually exclusive');
    expect(await cp.kube.get({ apiVersion: 'clarus.io/v1alpha1', kind: 'SecurityPolicy', name: 'bad',
      namespace: userNs })).toBeUndefined();
    await cp.kube.apply([policy('good', { encrypt: { mode: 'randomized' } })]);
    const stored = await cp.kube.get<Manifest>({ apiVersion: 'clarus.io/v1alpha1', kind: 'SecurityPolicy', name: 'good',
      namespace: userNs });
    expect(JSON.stringify(stored?.spec)).toContain('randomized');
  });

  test('the operator ServiceAccount has what it needs and no more (RBAC, with its own token)', async () => {
    const op = new Kube(await cp.kubeconfigForServiceAccount(rel.namespace, rel.serviceAccount));
    // Allowed: read the Clarus kinds everywhere, manage ConfigMaps, write status.
    const policies = await op.list('clarus.io/v1alpha1', 'SecurityPolicy');
    expect(policies.map((p) => p.metadata?.name)).toContain('good');
    await op.apply([{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'op-owned', namespace: userNs },
      data: { a: 'b' } }]);
    const status = await op.request('PATCH', `/apis/clarus.io/v1alpha1/namespaces/${userNs}/securitypolicies/good/status`,
      { status: { observedGeneration: 1 } }, 'application/merge-patch+json');
    expect(status.status, status.body).toBe(200);
    // Denied: changing a user's policy spec, creating pods, touching another webhook configuration.
    const denied = async (p: Promise<unknown>): Promise<number | undefined> => p.then(() => 0, apiErrorCode);
    expect(await denied(op.apply([policy('sneaky', { encrypt: { mode: 'randomized' } })]))).toBe(403);
    expect(await denied(op.apply([{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: userNs },
      spec: { containers: [{ name: 'c', image: 'x' }] } }]))).toBe(403);
    await cp.kube.apply([{ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'someone-else' }, webhooks: [] }]);
    expect(await denied(op.apply([{ apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration', metadata: { name: 'someone-else', labels: { x: 'y' } } }]))).toBe(403);
    // Allowed: its own webhook configuration's CA bundle (what the operator patches).
    const own = await op.get<Webhooks>({ apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration', name: rel.fullname });
    expect(own?.webhooks).toHaveLength(1);
  });

  test.skipIf(attached)('webhook scope and failurePolicy are enforced by the API server; Service dials never leave loopback', async () => {
    await cp.kube.createNamespace('inject-on', { 'clarus.io/injection': 'enabled' });
    await cp.kube.createNamespace('inject-off');
    const pod = (name: string, namespace: string, inject: boolean): Manifest => ({
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name, namespace, labels: inject ? { 'clarus.io/inject': 'ehealth-proxy' } : {} },
      spec: { containers: [{ name: 'app', image: 'registry.invalid/app:1' }] },
    });
    const create = (m: Manifest): Promise<string> => cp.kube.apply([m]).then(() => 'created', apiErrorMessage);
    // The API server loads webhook configurations asynchronously: retry with fresh pod names until
    // the configuration in force gives the expected answer.
    let n = 0;
    const eventually = (what: string, namespace: string, inject: boolean, expected: (r: string) => boolean) =>
      cp.kube.waitFor(what, async () => {
        const result = await create(pod(`p${n++}`, namespace, inject));
        return expected(result) ? result : undefined;
      }, 30_000);
    // Fail: the webhook's Service has no real address here (the egress guard refuses its ClusterIP),
    // so a labelled pod in an enabled namespace cannot be created.
    const rejected = await eventually('labelled pod rejected', 'inject-on', true, (r) => r !== 'created');
    expect(rejected).toMatch(/inject\.clarus\.io/);
    expect(cp.egress().refused.some((t) => /^10\.0\.0\.\d+:443$/.test(t))).toBe(true);
    // Out of scope, so the webhook is never called: no label, or a namespace without the label.
    expect(await create(pod('unlabelled', 'inject-on', false))).toBe('created');
    expect(await create(pod('labelled', 'inject-off', true))).toBe('created');
    // webhook.url at a loopback port nobody serves, with Ignore: the pod is admitted without it,
    // after the API server tried that URL (through the guard, on loopback).
    const closed = await freePort();
    await installOperatorChart(cp, { webhookUrl: `https://127.0.0.1:${closed}/mutate-v1-pod`,
      values: { webhook: { failurePolicy: 'Ignore' } } });
    await eventually('labelled pod admitted', 'inject-on', true, (r) => r === 'created');
    expect(cp.egress().tunnelled).toContain(`127.0.0.1:${closed}`);
  });

  test('helm upgrade applies new values and keeps the CA bundle the operator wrote', async () => {
    const caBundle = Buffer.from('-----BEGIN CERTIFICATE-----\nnot-checked-until-called\n-----END CERTIFICATE-----\n')
      .toString('base64');
    const mwcRef = { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', name: rel.fullname };
    const current = await cp.kube.get<Webhooks>(mwcRef);
    const patched = structuredClone(current) as Webhooks;
    const first = patched.webhooks[0];
    if (!first) throw new Error('no webhook');
    first.clientConfig.caBundle = caBundle;
    // As the operator does: an update of the caBundle by another field manager.
    await cp.kube.objects.replace(patched, undefined, undefined, 'clarus-operator');
    await installOperatorChart(cp, { values: { webhook: { failurePolicy: 'Ignore' } } });
    const after = await cp.kube.get<Webhooks>(mwcRef);
    expect(after?.webhooks[0]?.failurePolicy).toBe('Ignore');
    expect(after?.webhooks[0]?.clientConfig.caBundle).toBe(caBundle);
  });

  test('helm uninstall removes the operator but keeps the CRDs and user resources', async () => {
    await cp.helm.ok(['uninstall', rel.release, '--namespace', rel.namespace, '--wait']);
    await cp.kube.waitFor('operator Deployment gone', async () =>
      (await cp.kube.get({ apiVersion: 'apps/v1', kind: 'Deployment', name: rel.fullname, namespace: rel.namespace }))
        ? undefined : true);
    expect(await cp.kube.get({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration',
      name: rel.fullname })).toBeUndefined();
    expect(await cp.kube.get({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition',
      name: 'securitypolicies.clarus.io' })).toBeDefined();
    expect(await cp.kube.get({ apiVersion: 'clarus.io/v1alpha1', kind: 'SecurityPolicy', name: 'good',
      namespace: userNs })).toBeDefined();
  });
});
