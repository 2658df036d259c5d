// The control plane itself: the API server stores and serves objects, the controller manager turns a
// Deployment into a ReplicaSet and Pods, the scheduler binds them to kwok's simulated nodes, kwok
// runs them, the garbage collector removes what an owner leaves behind, RBAC is enforced, and the
// harness survives an API server restart.
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { KubernetesObject } from '@kubernetes/client-node';
import { Kube, apiErrorCode, startControlPlane, type ControlPlane, type Manifest } from '../src/index.ts';
import { testPki } from '@clarus/testing/certs.ts';

type PodLike = KubernetesObject & {
  metadata?: { name?: string; ownerReferences?: { kind: string; name: string }[] };
  spec?: { nodeName?: string };
  status?: { phase?: string };
};
type ReplicaSetLike = KubernetesObject & { metadata?: { ownerReferences?: { kind: string; name: string }[] } };
type ConfigMapLike = KubernetesObject & { data?: Record<string, string> };

const ns = 'cp-basics';
/** make kind-e2e: real nodes and a real container runtime, and the API server cannot reach this host's loopback. */
const attached = Boolean(process.env.CLARUS_E2E_KUBECONFIG);
// Never pulled on kwok nodes; on kind it is the sandbox image every node already has.
const image = 'registry.k8s.io/pause:3.10';

function deployment(name: string, replicas: number): Manifest {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'main', image, imagePullPolicy: 'IfNotPresent' }] },
      },
    },
  };
}

describe('control plane', () => {
  let cp: ControlPlane;

  beforeAll(async () => {
    cp = await startControlPlane({ nodes: 2 });
    await cp.kube.createNamespace(ns);
  });

  afterAll(async () => {
    await cp?.stop();
  });

  test('serves its version and the simulated nodes are Ready', async () => {
    const res = await cp.request('GET', '/version');
    expect(res.status).toBe(200);
    const version = res.json() as { gitVersion: string };
    expect(version.gitVersion).toMatch(/^v1\.\d+\.\d+/);
    const nodes = await cp.kube.list<{ metadata?: { name?: string } }>('v1', 'Node');
    expect(nodes.map((n) => n.metadata?.name).sort()).toEqual(cp.nodeNames);
  });

  test('a Deployment gets a ReplicaSet and Running Pods scheduled on kwok nodes', async () => {
    const [applied] = await cp.kube.apply([deployment('web', 3) ]);
    expect(applied?.metadata?.uid).toBeTruthy();
    const pods = await cp.kube.waitFor('3 Running pods of web', async () => {
      const list = await cp.kube.list<PodLike>('v1', 'Pod', ns, 'app=web');
      const running = list.filter((p) => p.status?.phase === 'Running');
      return running.length === 3 ? running : undefined;
    }, 120_000);
    for (const pod of pods) {
      expect(cp.nodeNames).toContain(pod.spec?.nodeName);
      expect(pod.metadata?.ownerReferences?.[0]?.kind).toBe('ReplicaSet');
    }
    const sets = await cp.kube.list<ReplicaSetLike>('apps/v1', 'ReplicaSet', ns, 'app=web');
    expect(sets).toHaveLength(1);
    expect(sets[0]?.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Deployment', name: 'web' });
    const dep = await cp.kube.waitFor('web available', async () => {
      const d = await cp.kube.get<KubernetesObject & { status?: { availableReplicas?: number } }>(
        { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', namespace: ns });
      return d?.status?.availableReplicas === 3 ? d : undefined;
    });
    expect(dep.status?.availableReplicas).toBe(3);
  });

  test('deleting the Deployment garbage-collects its ReplicaSet and Pods', async () => {
    await cp.kube.delete({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', namespace: ns });
    await cp.kube.waitFor('ReplicaSets and Pods of web gone', async () => {
      const sets = await cp.kube.list('apps/v1', 'ReplicaSet', ns, 'app=web');
      const pods = await cp.kube.list('v1', 'Pod', ns, 'app=web');
      return sets.length === 0 && pods.length === 0 ? true : undefined;
    }, 120_000);
  });

  test('RBAC is enforced for a ServiceAccount token', async () => {
    await cp.kube.apply([{ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'reader', namespace: ns } }]);
    const reader = new Kube(await cp.kubeconfigForServiceAccount(ns, 'reader'));
    const denied = await reader.list('v1', 'ConfigMap', ns).then(() => 0, (err: unknown) => apiErrorCode(err));
    expect(denied).toBe(403);
    await cp.kube.apply([
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'cm-read', namespace: ns },
        rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list'] }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'cm-read', namespace: ns },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'cm-read' },
        subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: ns }] },
    ]);
    // RBAC changes apply within moments; the controller manager's root CA publisher puts this
    // ConfigMap in every namespace, so the list (once allowed) shows it.
    const names = await reader.waitFor('list allowed after binding', async () => {
      const list = (await reader.list('v1', 'ConfigMap', ns).catch(() => undefined))?.map((c) => c.metadata?.name);
      return list?.includes('kube-root-ca.crt') ? list : undefined;
    });
    expect(names).toContain('kube-root-ca.crt');
  });

  test.skipIf(attached)('a webhook served by a local process is called over TLS through the loopback egress guard', async () => {
    const pki = testPki();
    const calls: string[] = [];
    const server = createHttpsServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const review = JSON.parse(Buffer.concat(chunks).toString()) as { request: { uid: string; name?: string } };
        calls.push(req.url ?? '');
        const patch = [{ op: 'add', path: '/metadata/annotations', value: { 'e2e/webhook': 'called' } }];
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
          apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
          response: { uid: review.request.uid, allowed: true, patchType: 'JSONPatch',
            patch: Buffer.from(JSON.stringify(patch)).toString('base64') },
        }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      await cp.kube.createNamespace('hooked', { 'e2e-hook': 'on' });
      await cp.kube.apply([{ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration',
        metadata: { name: 'e2e-local-hook' },
        webhooks: [{ name: 'local.e2e.clarus.io', admissionReviewVersions: ['v1'], sideEffects: 'None',
          failurePolicy: 'Fail', timeoutSeconds: 5,
          clientConfig: { url: `https://127.0.0.1:${port}/mutate`, caBundle: Buffer.from(pki.ca.certPem).toString('base64') },
          rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
          namespaceSelector: { matchLabels: { 'e2e-hook': 'on' } } }] }]);
      // Webhook configurations take effect asynchronously: retry until the pod shows the patch.
      const annotations = await cp.kube.waitFor('pod patched by the local webhook', async () => {
        const name = `p${Date.now()}`;
        const [created] = await cp.kube.apply([{ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'hooked' },
          spec: { containers: [{ name: 'c', image }] } }]);
        const found = (created?.metadata?.annotations ?? {})['e2e/webhook'];
        return found ? created?.metadata?.annotations : undefined;
      });
      expect(annotations?.['e2e/webhook']).toBe('called');
      expect(calls[0]).toMatch(/^\/mutate\?timeout=/);
      expect(cp.egress().refused).toEqual([]);
      expect(cp.egress().tunnelled).toContain(`127.0.0.1:${port}`);
    } finally {
      await cp.kube.delete({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration',
        name: 'e2e-local-hook' });
      server.close();
    }
  });

  test('survives an API server restart: data kept, clients reconnect', async () => {
    await cp.kube.apply([{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'before', namespace: ns },
      data: { k: 'v1' } } ]);
    await cp.restartApiServer();
    const before = await cp.kube.get<ConfigMapLike>(
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'before', namespace: ns });
    expect(before?.data).toEqual({ k: 'v1' });
    // The controller manager and scheduler reconnect too: a new Deployment still gets Running pods.
    await cp.kube.apply([deployment('after', 1) ]);
    await cp.kube.waitFor('a Running pod of after', async () => {
      const pods = await cp.kube.list<PodLike>('v1', 'Pod', ns, 'app=after');
      return pods.some((p) => p.status?.phase === 'Running' && p.spec?.nodeName) || undefined;
    }, 120_000);
  });
});
