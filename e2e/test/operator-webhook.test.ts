// Sidecar injection through the real admission path: the API server calls the operator's webhook
// over TLS (https://127.0.0.1:PORT, caBundle written by the operator from the CA it generated), and
// pods labelled clarus.io/inject in a namespace labelled clarus.io/injection=enabled get the native
// sidecar; other pods are left alone, and injection is idempotent.
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { KubernetesObject } from '@kubernetes/client-node';
import { freePort, parseManifests, startControlPlane } from '../src/index.ts';
import type { ControlPlane, Manifest } from '../src/index.ts';
import { condition, exampleYaml, installCrds, startOperator, waiterWithLog } from '../src/operator-process.ts';
import { generateCA, generateServing } from '@clarus/operator/certs/generate.ts';
import type { RunningOperator, WithStatus } from '../src/operator-process.ts';

const OPERATOR_NS = 'clarus-system';
const APP_NS = 'apps';
const PLAIN_NS = 'plain';
const WEBHOOK = 'clarus-e2e-injector';

type Container = { name: string; restartPolicy?: string; args?: string[]; image?: string };
type Pod = KubernetesObject & {
  metadata?: KubernetesObject['metadata'] & { annotations?: Record<string, string> };
  spec?: { initContainers?: Container[]; containers?: Container[]; volumes?: Array<{ name: string; projected?: unknown }> };
};

/** The eHealth example moved to `namespace`, with the proxy in Sidecar mode (no Deployment). */
function sidecarExample(namespace: string): Manifest[] {
  return parseManifests(exampleYaml()).map((d) => {
    const doc = structuredClone(d) as Manifest & { spec?: Record<string, unknown> };
    doc.metadata = { ...doc.metadata, namespace };
    if (doc.kind === 'ClarusProxy' && doc.spec) {
      doc.spec.mode = 'Sidecar';
      delete doc.spec.autoscaling;
      delete doc.spec.replicas;
    }
    return doc;
  });
}

function pod(name: string, namespace: string, labels: Record<string, string>, extra: Partial<NonNullable<Pod['spec']>> = {}): Manifest {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, labels },
    spec: { containers: [{ name: 'app', image: 'registry.invalid/app:1' }], ...extra },
  };
}

function webhookConfig(port: number): Manifest {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: WEBHOOK },
    webhooks: [{
      name: 'inject.clarus.io',
      admissionReviewVersions: ['v1'],
      sideEffects: 'None',
      failurePolicy: 'Fail',
      timeoutSeconds: 10,
      clientConfig: { url: `https://127.0.0.1:${port}/mutate-v1-pod` },
      rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' }],
      namespaceSelector: { matchLabels: { 'clarus.io/injection': 'enabled' } },
      objectSelector: { matchExpressions: [{ key: 'clarus.io/inject', operator: 'Exists' }] },
    }],
  };
}

// Against an attached kind cluster (make kind-e2e) the API server runs in a container and cannot
// call a webhook on this host's loopback, so this suite needs the local control plane.
const attached = Boolean(process.env.CLARUS_E2E_KUBECONFIG);

describe.skipIf(attached)('sidecar injection through the admission webhook', () => {
  let cp: ControlPlane;
  let op: RunningOperator;
  let port: number;

  const getPod = (name: string, namespace = APP_NS): Promise<Pod | undefined> =>
    cp.kube.get<Pod>({ apiVersion: 'v1', kind: 'Pod', name, namespace });
  const waitFor = waiterWithLog(() => cp, () => op?.proc);

  beforeAll(async () => {
    cp = await startControlPlane({ nodes: 1 });
    await installCrds(cp);
    await cp.kube.createNamespace(OPERATOR_NS);
    await cp.kube.createNamespace(APP_NS, { 'clarus.io/injection': 'enabled' });
    await cp.kube.createNamespace(PLAIN_NS);
    // The webhook configuration exists before the operator, without a caBundle: the operator fills it in.
    port = await freePort();
    await cp.kube.apply([webhookConfig(port)]);
    op = await startOperator(cp, { namespace: OPERATOR_NS, webhookConfigName: WEBHOOK, webhookPort: port });
    await cp.kube.apply(sidecarExample(APP_NS));
    await cp.kube.apply(sidecarExample(PLAIN_NS));
    await waitFor('sidecar proxy rendered', async () => {
      const p = await cp.kube.get<KubernetesObject & WithStatus>({ apiVersion: 'clarus.io/v1alpha1', kind: 'ClarusProxy', name: 'ehealth-proxy', namespace: APP_NS });
      return condition(p, 'Ready')?.status === 'True' ? p : undefined;
    });
  });

  afterAll(async () => {
    await op?.stop();
    await cp?.stop();
  });

  test('the operator wrote a CA bundle that verifies the serving certificate it stored', async () => {
    const config = await cp.kube.get<KubernetesObject & { webhooks: Array<{ clientConfig: { caBundle?: string } }> }>(
      { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', name: WEBHOOK });
    const bundle = Buffer.from(config?.webhooks[0]?.clientConfig.caBundle ?? '', 'base64').toString();
    const secret = await cp.kube.get<KubernetesObject & { data: Record<string, string> }>(
      { apiVersion: 'v1', kind: 'Secret', name: 'clarus-webhook-tls', namespace: OPERATOR_NS });
    const leaf = new X509Certificate(Buffer.from(secret?.data['tls.crt'] ?? '', 'base64'));
    const ca = new X509Certificate(bundle);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.checkIP('127.0.0.1')).toBeTruthy();
  });

  test('a labelled pod in an injection-enabled namespace gets the native sidecar', async () => {
    // The API server picks the new caBundle up from its own watch; retry the create until it has.
    await waitFor('pod admitted', async () => {
      await cp.kube.apply([pod('injected', APP_NS, { 'clarus.io/inject': 'ehealth-proxy' })]);
      return true;
    }, 30_000);
    const p = await getPod('injected');
    const sidecar = p?.spec?.initContainers?.[0];
    expect(sidecar).toMatchObject({ name: 'clarus-proxy', restartPolicy: 'Always', image: process.env.CLARUS_E2E_IMAGE ?? 'registry.invalid/clarus:e2e' });
    expect(sidecar?.args).toEqual(['proxy', '--config', '/etc/clarus', '--listen', '127.0.0.1:5432']);
    expect(p?.spec?.containers?.map((c) => c.name)).toEqual(['app']);
    expect(p?.spec?.volumes?.find((v) => v.name === 'clarus-config')?.projected).toBeDefined();
    expect(p?.metadata?.annotations?.['clarus.io/injected']).toBe('ehealth-proxy');
  });

  test('injection is idempotent: a pod that already carries the sidecar gets no second one', async () => {
    const already = { name: 'clarus-proxy', image: 'registry.invalid/clarus:e2e', restartPolicy: 'Always' };
    await cp.kube.apply([pod('pre-injected', APP_NS, { 'clarus.io/inject': 'ehealth-proxy' }, { initContainers: [already] })]);
    const p = await getPod('pre-injected');
    const names = [...(p?.spec?.initContainers ?? []), ...(p?.spec?.containers ?? [])].map((c) => c.name);
    expect(names.filter((n) => n === 'clarus-proxy')).toHaveLength(1);
  });

  test.each([
    ['namespace without the injection label', 'plain-ns', PLAIN_NS, { 'clarus.io/inject': 'ehealth-proxy' }],
    ['pod without the inject label', 'unlabelled', APP_NS, {}],
    ['label naming a proxy that does not exist', 'unknown-proxy', APP_NS, { 'clarus.io/inject': 'nope' }],
  ])('%s: pod created unchanged', async (_n, name, namespace, labels) => {
    await cp.kube.apply([pod(name, namespace, labels)]);
    const p = await getPod(name, namespace);
    expect(p?.spec?.initContainers ?? []).toEqual([]);
    expect(p?.spec?.containers?.map((c) => c.name)).toEqual(['app']);
  });

  type SecretObj = KubernetesObject & { data: Record<string, string> };
  const secretRef = { apiVersion: 'v1', kind: 'Secret', name: 'clarus-webhook-tls', namespace: OPERATOR_NS };
  const pem = (secret: SecretObj | undefined, key: string): string => Buffer.from(secret?.data[key] ?? '', 'base64').toString();
  const b64 = (text: string): string => Buffer.from(text).toString('base64');
  const daysLeft = (certPem: string): number => (Date.parse(new X509Certificate(certPem).validTo) - Date.now()) / 86_400_000;
  const bundleCerts = async (): Promise<string[]> => {
    const config = await cp.kube.get<KubernetesObject & { webhooks: Array<{ clientConfig: { caBundle?: string } }> }>(
      { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', name: WEBHOOK });
    const text = Buffer.from(config?.webhooks[0]?.clientConfig.caBundle ?? '', 'base64').toString();
    return text.split(/(?=-----BEGIN CERTIFICATE-----)/).filter((c) => c.includes('BEGIN'));
  };
  /** Stores `material` in the webhook Secret, then restarts the operator, which checks it at start. */
  const replaceAndRestart = async (material: Record<string, string>): Promise<void> => {
    const secret = await cp.kube.get<SecretObj>(secretRef);
    const data = { ...secret?.data, ...Object.fromEntries(Object.entries(material).map(([k, v]) => [k, b64(v)])) };
    await cp.request('PATCH', `/api/v1/namespaces/${OPERATOR_NS}/secrets/clarus-webhook-tls`, { data }, 'application/merge-patch+json');
    await op.stop();
    op = await startOperator(cp, { namespace: OPERATOR_NS, webhookConfigName: WEBHOOK, webhookPort: port });
  };
  const injectedPod = async (name: string): Promise<Pod | undefined> => {
    await waitFor(`pod ${name} admitted`, async () => {
      await cp.kube.apply([pod(name, APP_NS, { 'clarus.io/inject': 'ehealth-proxy' })]);
      return true;
    }, 30_000);
    return getPod(name);
  };

  test('a serving certificate close to expiry is re-issued under the same CA', async () => {
    const before = await cp.kube.get<SecretObj>(secretRef);
    const ca = { certPem: pem(before, 'ca.crt'), keyPem: pem(before, 'ca.key') };
    const expiring = generateServing(ca, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], now: new Date(), validDays: 5 });
    await replaceAndRestart({ 'tls.crt': expiring.certPem, 'tls.key': expiring.keyPem });
    const after = await cp.kube.get<SecretObj>(secretRef);
    expect(daysLeft(pem(after, 'tls.crt'))).toBeGreaterThan(80);
    expect(pem(after, 'ca.crt')).toBe(ca.certPem);
    expect((await injectedPod('after-serving-rotation'))?.spec?.initContainers?.[0]?.name).toBe('clarus-proxy');
  });

  test('a CA close to expiry is replaced; the bundle keeps the old CA while it is valid', async () => {
    const oldCa = generateCA('expiring-ca', new Date(), 5);
    const serving = generateServing(oldCa, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], now: new Date(), validDays: 5 });
    await replaceAndRestart({ 'ca.crt': oldCa.certPem, 'ca.key': oldCa.keyPem, 'tls.crt': serving.certPem, 'tls.key': serving.keyPem });
    const after = await cp.kube.get<SecretObj>(secretRef);
    const newCa = pem(after, 'ca.crt');
    expect(newCa).not.toBe(oldCa.certPem);
    expect(daysLeft(newCa)).toBeGreaterThan(300);
    expect(new X509Certificate(pem(after, 'tls.crt')).verify(new X509Certificate(newCa).publicKey)).toBe(true);
    const bundle = await bundleCerts();
    expect(bundle.map((c) => c.trim())).toEqual([newCa.trim(), oldCa.certPem.trim()]);
    expect((await injectedPod('after-ca-rotation'))?.spec?.initContainers?.[0]?.name).toBe('clarus-proxy');
  });
});
