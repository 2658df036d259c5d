// The operator against a real control plane: `cli/bin/clarus operator` runs as a local process with the
// admin kubeconfig; the eHealth example becomes ConfigMap/Secret/Deployment/Service/PDB/HPA owned by
// the ClarusProxy, status reports readiness and broken references, policy edits roll the pods,
// HPA-owned replicas are left alone, the garbage collector removes the objects of a deleted proxy,
// and the operator keeps working across an API server restart.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { KubernetesObject } from '@kubernetes/client-node';
import { parseManifests, startControlPlane } from '../src/index.ts';
import type { ControlPlane, Manifest } from '../src/index.ts';
import {
  condition, exampleYaml, installCrds, metricValue, startOperator, waiterWithLog,
} from '../src/operator-process.ts';
import type { RunningOperator, WithStatus } from '../src/operator-process.ts';

const NS = 'hospital';
const OPERATOR_NS = 'clarus-system';
const HASH = 'clarus.io/config-hash';

type Obj = KubernetesObject & WithStatus & {
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  metadata?: KubernetesObject['metadata'] & { managedFields?: Array<{ manager?: string; fieldsV1?: unknown }> };
};
type DeploymentObj = Obj & { spec?: { replicas?: number; template?: { metadata?: { annotations?: Record<string, string> } } } };

const ref = (apiVersion: string, kind: string, name: string, namespace: string | undefined = NS) => ({ apiVersion, kind, name, namespace });
const proxyRef = ref('clarus.io/v1alpha1', 'ClarusProxy', 'ehealth-proxy');
const policyRef = ref('clarus.io/v1alpha1', 'SecurityPolicy', 'ehealth');
const deploymentRef = ref('apps/v1', 'Deployment', 'ehealth-proxy');
const configMapRef = ref('v1', 'ConfigMap', 'ehealth-proxy-config');
const secretRef = ref('v1', 'Secret', 'ehealth-proxy-secrets');
const serviceRef = ref('v1', 'Service', 'ehealth-proxy');
const pdbRef = ref('policy/v1', 'PodDisruptionBudget', 'ehealth-proxy');
const hpaRef = ref('autoscaling/v2', 'HorizontalPodAutoscaler', 'ehealth-proxy');
const peersRef = ref('v1', 'Service', 'ehealth-proxy-peers');
const OWNED = [configMapRef, secretRef, deploymentRef, serviceRef, pdbRef, hpaRef, peersRef];

function exampleDocs(): Manifest[] {
  return parseManifests(exampleYaml());
}

function policyDoc(mutate: (spec: Record<string, unknown>) => void): Manifest {
  const doc = structuredClone(exampleDocs().find((d) => d.kind === 'SecurityPolicy')) as Manifest & { spec: Record<string, unknown> };
  mutate(doc.spec);
  return doc;
}

/** Does field manager `manager` own `f:spec`/`f:replicas` of the object? */
function ownsReplicas(obj: Obj | undefined, manager: string): boolean {
  return (obj?.metadata?.managedFields ?? []).some((m) => m.manager === manager
    && JSON.stringify(m.fieldsV1 ?? {}).includes('"f:replicas"'));
}

describe('clarus operator on a real control plane', () => {
  let cp: ControlPlane;
  let op: RunningOperator;

  const get = <T extends Obj = Obj>(r: ReturnType<typeof ref>): Promise<T | undefined> => cp.kube.get<T>(r);
  const waitFor = waiterWithLog(() => cp, () => op?.proc);

  beforeAll(async () => {
    cp = await startControlPlane({ nodes: 2 });
    await installCrds(cp);
    await cp.kube.createNamespace(OPERATOR_NS);
    await cp.kube.createNamespace(NS);
    op = await startOperator(cp, { namespace: OPERATOR_NS });
  });

  afterAll(async () => {
    await op?.stop();
    await cp?.stop();
  });

  test('takes the leader Lease', async () => {
    const lease = await waitFor('leader lease', async () => {
      const l = await get<Obj & { spec?: { holderIdentity?: string } }>(ref('coordination.k8s.io/v1', 'Lease', 'clarus-operator', OPERATOR_NS));
      return l?.spec?.holderIdentity ? l : undefined;
    });
    expect(lease.spec?.holderIdentity).toMatch(/-\d+$/);
    expect(metricValue(await op.metrics(), 'clarus_operator_leader')).toBe(1);
  });

  test('the eHealth example yields ConfigMap, Secret, Deployment, Service, PDB and HPA with the right fields', async () => {
    await cp.kube.apply(exampleDocs());
    const proxy = await waitFor('proxy uid', async () => (await get(proxyRef))?.metadata?.uid ? get(proxyRef) : undefined);
    const objects = await waitFor('owned objects', async () => {
      const all = await Promise.all(OWNED.map((r) => get(r)));
      return all.every(Boolean) ? all as Obj[] : undefined;
    });
    for (const o of objects) {
      expect(o.metadata?.ownerReferences).toEqual([expect.objectContaining({
        apiVersion: 'clarus.io/v1alpha1', kind: 'ClarusProxy', name: 'ehealth-proxy', uid: proxy?.metadata?.uid, controller: true,
      })]);
      expect(o.metadata?.labels).toMatchObject({ 'app.kubernetes.io/instance': 'ehealth-proxy', 'app.kubernetes.io/managed-by': 'clarus-operator' });
    }
    const [cm, secret, dep, svc, pdb, hpa, peers] = objects as [Obj, Obj, Obj, Obj, Obj, Obj, Obj];
    // The headless Service by which replicas pass on cancel requests that reached the wrong one.
    expect(peers.spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true, ports: [expect.objectContaining({ name: 'metrics', port: 9187 })] });

    const config = JSON.parse(cm.data?.['config.json'] ?? '{}') as { proxy: unknown; hash: string; users: Array<{ name: string }>; backends: Array<{ name: string }> };
    expect(config.proxy).toEqual({ name: 'ehealth-proxy', namespace: NS });
    expect(config.backends.map((b) => b.name)).toEqual(['cloud-a', 'cloud-b']);
    expect(config.users.map((u) => u.name).sort()).toEqual(['analyst', 'drhouse']);
    expect(cm.data?.['config.json']).not.toContain('example-password-a');
    const layout = JSON.parse(secret.metadata?.annotations?.['clarus.io/layout'] ?? '[]') as Array<{ key: string; path: string }>;
    expect(Object.keys(secret.data ?? {}).sort()).toEqual(layout.map((i) => i.key).sort());
    const pwKey = layout.find((i) => i.path === 'secrets/backends/cloud-a/password')?.key ?? '';
    expect(Buffer.from(secret.data?.[pwKey] ?? '', 'base64').toString()).toBe('example-password-a');

    const pod = (dep.spec as { template: { metadata: { annotations: Record<string, string> }; spec: Record<string, unknown> } }).template;
    expect(pod.metadata.annotations[HASH]).toMatch(/^sha256:/);
    const container = (pod.spec.containers as Array<Record<string, unknown>>)[0];
    // The replicas are peers for cancel requests: the headless Service's name, the metrics port, the shared secret.
    expect(container?.args).toEqual(['proxy', '--config', '/etc/clarus', '--peers', `dns:ehealth-proxy-peers.${NS}.svc`, '--peer-port', '9187',
      '--peer-secret-file', '/etc/clarus/peer-secret']);
    expect(container?.env).toMatchObject([{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'CLARUS_AUDIT_LOG', value: '/var/log/clarus/audit.jsonl' }, { name: 'CLARUS_AUDIT_MAX_BYTES' }, { name: 'CLARUS_AUDIT_MAX_FILES' }, { name: 'CLARUS_WORKERS', value: '1' }]);
    expect(container?.readinessProbe).toMatchObject({ httpGet: { path: '/readyz', port: 'metrics' } });
    expect(pod.spec.terminationGracePeriodSeconds as number).toBeGreaterThanOrEqual(30);
    const sources = ((pod.spec.volumes as Array<{ projected: { sources: Array<Record<string, { name: string }>> } }>)[0])?.projected.sources;
    expect(sources?.map((s) => Object.values(s)[0]?.name)).toEqual(['ehealth-proxy-config', 'ehealth-proxy-secrets']);
    expect(ownsReplicas(dep, 'clarus-operator')).toBe(false);

    expect(svc.spec).toMatchObject({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 10800 } } });
    expect((svc.spec?.ports as Array<{ port: number }>)[0]?.port).toBe(5432);
    expect(pdb.spec).toMatchObject({ maxUnavailable: 1 });
    expect(hpa.spec).toMatchObject({ minReplicas: 2, maxReplicas: 10, scaleTargetRef: { kind: 'Deployment', name: 'ehealth-proxy' } });
  });

  test('status goes Ready on every kind once the proxy pods run', async () => {
    // The controller manager's HPA first raises the Deployment from its default 1 to minReplicas 2.
    const proxy = await waitFor('ClarusProxy Ready with 2 ready replicas', async () => {
      const p = await get(proxyRef);
      return condition(p, 'Ready')?.status === 'True' && p?.status?.readyReplicas === 2 ? p : undefined;
    }, 180_000);
    expect(condition(proxy, 'PolicyRendered')?.status).toBe('True');
    expect(condition(proxy, 'Available')?.status).toBe('True');
    expect(condition(proxy, 'Ready')?.observedGeneration).toBe(proxy.metadata?.generation);
    const cm = await get(configMapRef);
    const hash = (JSON.parse(cm?.data?.['config.json'] ?? '{}') as { hash: string }).hash;
    expect(proxy.status).toMatchObject({
      readyReplicas: 2, endpoint: 'ehealth-proxy.hospital.svc:5432', policyHash: hash,
      selector: 'app.kubernetes.io/name=clarus-proxy,app.kubernetes.io/instance=ehealth-proxy',
    });
    const policy = await waitFor('policy status', async () => {
      const p = await get(policyRef);
      return condition(p, 'Ready')?.status === 'True' ? p : undefined;
    });
    expect(condition(policy, 'Valid')?.status).toBe('True');
    expect(policy.status).toMatchObject({ protectedColumns: 5, hash: expect.stringMatching(/^sha256:/) });
    for (const name of ['cloud-a', 'cloud-b']) {
      const b = await waitFor(`backend ${name}`, async () => {
        const x = await get(ref('clarus.io/v1alpha1', 'CloudBackend', name));
        return condition(x, 'Ready') ? x : undefined;
      });
      expect(condition(b, 'Ready')?.status).toBe('True');
    }
    const grant = await waitFor('grant status', async () => {
      const g = await get(ref('clarus.io/v1alpha1', 'AccessGrant', 'dr-house-patients'));
      return condition(g, 'Ready') ? g : undefined;
    });
    expect(condition(grant, 'Ready')?.status).toBe('True');
  });

  test('a policy edit changes the pod-template hash and the rendered configuration', async () => {
    const before = (await get<DeploymentObj>(deploymentRef))?.spec?.template?.metadata?.annotations?.[HASH];
    const cmBefore = (await get(configMapRef))?.data?.['config.json'];
    await cp.kube.apply([policyDoc((spec) => {
      const cols = (spec.datasets as Array<{ columns: Array<{ name: string; protection?: unknown }> }>)[0]!.columns;
      cols.find((c) => c.name === 'pat_birth')!.protection = { anonymize: { generalize: { truncate: 'month' } } };
    })]);
    const after = await waitFor('new pod-template hash', async () => {
      const h = (await get<DeploymentObj>(deploymentRef))?.spec?.template?.metadata?.annotations?.[HASH];
      return h && h !== before ? h : undefined;
    });
    expect(after).toMatch(/^sha256:/);
    const cmAfter = (await get(configMapRef))?.data?.['config.json'] ?? '';
    expect(cmAfter).not.toBe(cmBefore);
    expect(cmAfter).toContain('"month"');
    await waitFor('proxy status carries the new hash', async () => {
      const p = await get(proxyRef);
      return p?.status?.policyHash === (JSON.parse(cmAfter) as { hash: string }).hash || undefined;
    });
  });

  test('replicas set through the scale subresource (as the HPA does) are not reset by reconciles', async () => {
    const scalePath = `/apis/apps/v1/namespaces/${NS}/deployments/ehealth-proxy/scale`;
    const res = await cp.request('PATCH', `${scalePath}?fieldManager=e2e-autoscaler`, { spec: { replicas: 4 } }, 'application/merge-patch+json');
    expect(res.status).toBe(200);
    // Force a reconcile that re-applies the Deployment: change the proxy's Service.
    const proxyDoc = exampleDocs().find((d) => d.kind === 'ClarusProxy') as Manifest & { spec: { service: Record<string, unknown> } };
    proxyDoc.spec.service.sessionAffinityTimeoutSeconds = 3600;
    await cp.kube.apply([proxyDoc]);
    await waitFor('service timeout 3600', async () => {
      const s = await get(serviceRef);
      return (s?.spec as { sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } } })?.sessionAffinityConfig?.clientIP?.timeoutSeconds === 3600 || undefined;
    });
    await waitFor('proxy observed the new generation', async () => {
      const p = await get(proxyRef);
      return condition(p, 'PolicyRendered')?.observedGeneration === p?.metadata?.generation || undefined;
    });
    const dep = await get<DeploymentObj>(deploymentRef);
    expect(dep?.spec?.replicas).toBe(4);
    expect(ownsReplicas(dep, 'clarus-operator')).toBe(false);
  });

  test('a broken reference turns conditions False with a reason and keeps the last good ConfigMap', async () => {
    const cmBefore = await get(configMapRef);
    await cp.kube.apply([policyDoc((spec) => { spec.backends = ['cloud-a', 'cloud-b', 'cloud-missing']; })]);
    const proxy = await waitFor('PolicyRendered False', async () => {
      const p = await get(proxyRef);
      return condition(p, 'PolicyRendered')?.status === 'False' ? p : undefined;
    });
    expect(condition(proxy, 'PolicyRendered')).toMatchObject({ reason: 'BackendNotFound', message: expect.stringContaining('cloud-missing') });
    expect(condition(proxy, 'Ready')).toMatchObject({ status: 'False', reason: 'BackendNotFound' });
    const policy = await waitFor('policy Ready False', async () => {
      const p = await get(policyRef);
      return condition(p, 'Ready')?.status === 'False' ? p : undefined;
    });
    expect(condition(policy, 'Ready')?.reason).toBe('BackendNotFound');
    const events = await waitFor('Warning event on the proxy', async () => {
      const list = await cp.kube.list<KubernetesObject & { reason?: string; type?: string; message?: string; involvedObject?: { kind?: string; name?: string } }>('v1', 'Event', NS);
      const mine = list.filter((e) => e.involvedObject?.kind === 'ClarusProxy' && e.involvedObject.name === 'ehealth-proxy');
      return mine.some((e) => e.reason === 'BackendNotFound') ? mine : undefined;
    });
    expect(events.find((e) => e.reason === 'BackendNotFound')).toMatchObject({ type: 'Warning', message: expect.stringContaining('cloud-missing') });
    expect(events.some((e) => e.reason === 'ConfigurationUpdated')).toBe(true);
    expect(condition(policy, 'Valid')?.status).toBe('True');
    const cmAfter = await get(configMapRef);
    expect(cmAfter?.data).toEqual(cmBefore?.data);
    expect(cmAfter?.metadata?.resourceVersion).toBe(cmBefore?.metadata?.resourceVersion);

    // A grant whose password Secret disappears is reported on the grant and left out of the render.
    await cp.kube.apply([policyDoc(() => undefined)]);
    await waitFor('proxy Ready again', async () => condition(await get(proxyRef), 'Ready')?.status === 'True' || undefined, 120_000);
    await cp.kube.delete(ref('v1', 'Secret', 'analyst-pw'));
    const grant = await waitFor('analyst grant not Ready', async () => {
      const g = await get(ref('clarus.io/v1alpha1', 'AccessGrant', 'analyst-patients'));
      return condition(g, 'Ready')?.status === 'False' ? g : undefined;
    });
    expect(condition(grant, 'Ready')).toMatchObject({ reason: 'SecretNotFound', message: expect.stringContaining('analyst-pw') });
    await waitFor('analyst left out of the config', async () => {
      const c = JSON.parse((await get(configMapRef))?.data?.['config.json'] ?? '{}') as { users?: Array<{ name: string }> };
      return c.users && !c.users.some((u) => u.name === 'analyst') ? true : undefined;
    });
  });

  test('keeps reconciling across an API server restart', async () => {
    await cp.restartApiServer();
    const proxyDoc = exampleDocs().find((d) => d.kind === 'ClarusProxy') as Manifest & { spec: { service: Record<string, unknown> } };
    proxyDoc.spec.service.sessionAffinityTimeoutSeconds = 1800;
    await cp.kube.apply([proxyDoc]);
    await waitFor('service timeout 1800 after restart', async () => {
      const s = await get(serviceRef);
      return (s?.spec as { sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } } })?.sessionAffinityConfig?.clientIP?.timeoutSeconds === 1800 || undefined;
    }, 120_000);
    expect(op.proc.isRunning()).toBe(true);
    const text = await op.metrics();
    expect(metricValue(text, 'clarus_operator_reconciles_total', { kind: 'ClarusProxy', outcome: 'success' })).toBeGreaterThan(0);
    expect(text).toContain('clarus_operator_reconcile_duration_seconds_bucket');
    expect(text).toContain('clarus_operator_queue_depth');
  });

  test('a standby replica waits, then takes the Lease over when the leader stops', async () => {
    const leaseRef = ref('coordination.k8s.io/v1', 'Lease', 'clarus-operator', OPERATOR_NS);
    type LeaseObj = Obj & { spec?: { holderIdentity?: string; leaseTransitions?: number } };
    const first = (await get<LeaseObj>(leaseRef))?.spec?.holderIdentity;
    const standby = await startOperator(cp, { namespace: OPERATOR_NS, name: 'clarus-operator-standby' });
    try {
      // A few renewal periods later the first replica still leads and the standby does not.
      await new Promise((resolve) => setTimeout(resolve, 5000));
      expect((await get<LeaseObj>(leaseRef))?.spec?.holderIdentity).toBe(first);
      expect(metricValue(await standby.metrics(), 'clarus_operator_leader')).toBe(0);
      await op.stop();
      const lease = await waitFor('standby holds the lease', async () => {
        const l = await get<LeaseObj>(leaseRef);
        return l?.spec?.holderIdentity && l.spec.holderIdentity !== first ? l : undefined;
      }, 60_000);
      expect(lease.spec?.leaseTransitions).toBeGreaterThanOrEqual(1);
      await waitFor('standby reports leadership', async () => (metricValue(await standby.metrics(), 'clarus_operator_leader') === 1) || undefined);
      op = standby;
      // The new leader reconciles: a change to the proxy reaches its Service.
      const proxyDoc = exampleDocs().find((d) => d.kind === 'ClarusProxy') as Manifest & { spec: { service: Record<string, unknown> } };
      proxyDoc.spec.service.sessionAffinityTimeoutSeconds = 900;
      await cp.kube.apply([proxyDoc]);
      await waitFor('service timeout 900 from the new leader', async () => {
        const svc = await get(serviceRef);
        return (svc?.spec as { sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } } })?.sessionAffinityConfig?.clientIP?.timeoutSeconds === 900 || undefined;
      });
    } catch (e) {
      await standby.stop();
      throw e;
    }
  });

  test('switching to Sidecar mode removes the workload objects and keeps the configuration', async () => {
    const proxyDoc = exampleDocs().find((d) => d.kind === 'ClarusProxy') as Manifest & { spec: Record<string, unknown> };
    proxyDoc.spec.mode = 'Sidecar';
    delete proxyDoc.spec.autoscaling;
    await cp.kube.apply([proxyDoc]);
    await waitFor('workload objects pruned', async () => {
      const left = await Promise.all([deploymentRef, serviceRef, pdbRef, hpaRef, peersRef].map((r) => get(r)));
      return left.every((o) => o === undefined) || undefined;
    });
    expect(await get(configMapRef)).toBeDefined();
    expect(await get(secretRef)).toBeDefined();
    const proxy = await waitFor('sidecar-mode status', async () => {
      const p = await get(proxyRef);
      return p?.status?.endpoint === '127.0.0.1:5432' ? p : undefined;
    });
    expect(condition(proxy, 'Available')).toMatchObject({ status: 'True', reason: 'SidecarMode' });
  });

  test('deleting the ClarusProxy garbage-collects everything it owned', async () => {
    await cp.kube.delete(proxyRef);
    await waitFor('owned objects gone', async () => {
      const left = await Promise.all(OWNED.map((r) => get(r)));
      return left.every((o) => o === undefined) || undefined;
    }, 120_000);
    const grant = await waitFor('grant reports the missing proxy', async () => {
      const g = await get(ref('clarus.io/v1alpha1', 'AccessGrant', 'dr-house-patients'));
      return condition(g, 'Ready')?.reason === 'ProxyNotFound' ? g : undefined;
    });
    expect(condition(grant, 'Ready')?.status).toBe('False');
  });
});
