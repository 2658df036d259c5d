import { describe, expect, it } from 'vitest';
import { configFixture, proxyFixture, renderedFixture } from '../../test/testdata.ts';
import { buildConfigMap, buildSecret, configHash, parseLayout } from './config.ts';
import { CONFIG_HASH_ANNOTATION, LAYOUT_ANNOTATION } from './names.ts';
import { buildDeployment, buildHorizontalPodAutoscaler, buildPodDisruptionBudget, buildService, desiredObjects } from './workload.ts';
import { AUDIT_ENV } from './audit.ts';
import { PEER_SECRET_PATH, peerSecret } from './peers.ts';
import type { BuildInput, KubeObject } from './types.ts';

const options = { defaultImage: 'clarus:test' };
const input = (spec = {}, rendered = renderedFixture()): BuildInput => ({ proxy: proxyFixture(spec), rendered, options });

type Json = Record<string, unknown>;
const at = (o: unknown, ...path: Array<string | number>): unknown =>
  path.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], o);
const podSpec = (d: KubeObject): Json => at(d, 'spec', 'template', 'spec') as Json;
const container = (d: KubeObject): Json => at(podSpec(d), 'containers', 0) as Json;

describe('common metadata', () => {
  it.each(desiredObjects(input({ autoscaling: { maxReplicas: 5 } })).map((o) => [o.kind, o] as const))(
    '%s carries the controller owner reference and the standard labels', (_kind, obj) => {
      expect(obj.metadata.namespace).toBe('hospital');
      expect(obj.metadata.ownerReferences).toEqual([{
        apiVersion: 'clarus.io/v1alpha1', kind: 'ClarusProxy', name: 'ehealth-proxy', uid: 'uid-proxy-1',
        controller: true, blockOwnerDeletion: true,
      }]);
      expect(obj.metadata.labels).toEqual({
        'app.kubernetes.io/name': 'clarus-proxy',
        'app.kubernetes.io/instance': 'ehealth-proxy',
        'app.kubernetes.io/managed-by': 'clarus-operator',
      });
    });
});

describe('desiredObjects', () => {
  it.each([
    [{}, ['ConfigMap', 'Secret', 'Deployment', 'Service', 'Service', 'PodDisruptionBudget']],
    [{ autoscaling: { maxReplicas: 4 } }, ['ConfigMap', 'Secret', 'Deployment', 'Service', 'Service', 'PodDisruptionBudget', 'HorizontalPodAutoscaler']],
    [{ mode: 'Sidecar' }, ['ConfigMap', 'Secret']],
  ])('spec %j gives %j', (spec, kinds) => {
    expect(desiredObjects(input(spec)).map((o) => o.kind)).toEqual(kinds);
  });
});

describe('peers for cancel requests (Deployment mode)', () => {
  it('a headless Service of every pod, the secret file, and the proxy told both and its pod name', () => {
    const objects = desiredObjects(input());
    const peers = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'ehealth-proxy-peers') as KubeObject;
    expect(at(peers, 'spec', 'clusterIP')).toBe('None');
    expect(at(peers, 'spec', 'publishNotReadyAddresses')).toBe(true);
    const secret = objects.find((o) => o.kind === 'Secret') as KubeObject;
    const value = Buffer.from(String(at(secret, 'data', PEER_SECRET_PATH)), 'base64').toString('utf8');
    expect(value).toMatch(/^[0-9a-f]{64}$/);
    const deployment = objects.find((o) => o.kind === 'Deployment') as KubeObject;
    const c = container(deployment);
    const args = c.args as string[];
    expect(args.slice(args.indexOf('--peers'))).toEqual(['--peers', 'dns:ehealth-proxy-peers.hospital.svc', '--peer-port', expect.stringMatching(/^\d+$/),
      '--peer-secret-file', `/etc/clarus/${PEER_SECRET_PATH}`]);
    expect(c.env).toEqual([{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }, ...AUDIT_ENV, { name: 'CLARUS_WORKERS', value: '1' }]);
    const volume = (at(deployment, 'spec', 'template', 'spec', 'volumes') as Json[])[0] as Json;
    expect(JSON.stringify(volume)).toContain(`"path":"${PEER_SECRET_PATH}"`);
  });
  it('the secret is the same for one rendering, another for other secret files, and absent in Sidecar mode', () => {
    const r = input().rendered;
    expect(peerSecret(r)).toBe(peerSecret({ ...r, files: [...r.files].reverse() }));
    expect(peerSecret(r)).not.toBe(peerSecret({ ...r, files: r.files.map((f, i) => (i === 0 ? { ...f, content: `${f.content}x` } : f)) }));
    const sidecar = desiredObjects(input({ mode: 'Sidecar' }));
    expect(JSON.stringify(sidecar)).not.toContain(PEER_SECRET_PATH);
  });
});

describe('ConfigMap and Secret', () => {
  it('puts config.json (no secrets) in the ConfigMap', () => {
    const cm = buildConfigMap(input());
    expect(cm.metadata.name).toBe('ehealth-proxy-config');
    const parsed = JSON.parse(at(cm, 'data', 'config.json') as string);
    expect(parsed).toEqual(configFixture());
    expect(at(cm, 'data', 'config.json')).not.toContain('a2V5');
  });

  it('stores each secret file base64-encoded under its secretKey and records the layout', () => {
    const secret = buildSecret(input());
    expect(secret.metadata.name).toBe('ehealth-proxy-secrets');
    expect(at(secret, 'data', 'backends.cloud-a.password')).toBe(Buffer.from('p').toString('base64'));
    expect(Object.keys(at(secret, 'data') as Json).sort()).toEqual(['backends.cloud-a.password', 'backends.cloud-a.username', 'keyring.default.v1']);
    expect(parseLayout(secret.metadata.annotations?.[LAYOUT_ANNOTATION])).toContainEqual({ key: 'keyring.default.v1', path: 'secrets/keyring/default.v1' });
  });

  it.each([[undefined, []], ['not json', []], ['{"a":1}', []], ['[{"key":"k","path":"p"},{"key":1}]', [{ key: 'k', path: 'p' }]]])(
    'parseLayout(%j) = %j', (text, want) => expect(parseLayout(text)).toEqual(want));
});

describe('Deployment', () => {
  it('runs `proxy --config /etc/clarus` from a projected volume in the runtime layout', () => {
    const d = buildDeployment(input());
    expect(container(d).args).toEqual(['proxy', '--config', '/etc/clarus']);
    expect(container(d).volumeMounts).toEqual([{ name: 'clarus-config', mountPath: '/etc/clarus', readOnly: true }, { name: 'clarus-audit', mountPath: '/var/log/clarus' }]);
    // The audit log: a bounded emptyDir, rotated by size with a bounded number of files.
    expect(at(podSpec(d), 'volumes', 1)).toEqual({ name: 'clarus-audit', emptyDir: { sizeLimit: '320Mi' } });
    expect(container(d).env).toEqual(expect.arrayContaining([{ name: 'CLARUS_AUDIT_LOG', value: '/var/log/clarus/audit.jsonl' },
      { name: 'CLARUS_AUDIT_MAX_BYTES', value: String(16 << 20) }, { name: 'CLARUS_AUDIT_MAX_FILES', value: '16' }]));
    const sources = at(podSpec(d), 'volumes', 0, 'projected', 'sources') as Json[];
    expect(sources[0]).toEqual({ configMap: { name: 'ehealth-proxy-config', items: [{ key: 'config.json', path: 'config.json' }] } });
    expect(at(sources[1], 'secret', 'name')).toBe('ehealth-proxy-secrets');
    expect(at(sources[1], 'secret', 'items')).toContainEqual({ key: 'backends.cloud-a.username', path: 'secrets/backends/cloud-a/username' });
  });

  it('projects a short-lived service-account token for Vault\'s kubernetes auth, and none otherwise', () => {
    const vaultTransit = { address: 'https://vault:8200', mount: 'transit', key: 'clarus', maxUnreachableSeconds: 300, refreshSeconds: 60,
      auth: { method: 'kubernetes' as const, mount: 'kubernetes', role: 'clarus', tokenFile: 'secrets/vault/sa-token', audience: 'vault' } };
    const base = configFixture();
    const config = configFixture({ policy: { ...base.policy, keyring: { ...base.policy.keyring, vaultTransit } } });
    const sources = at(podSpec(buildDeployment(input({}, renderedFixture(config)))), 'volumes', 0, 'projected', 'sources') as Json[];
    expect(sources[2]).toEqual({ serviceAccountToken: { path: 'secrets/vault/sa-token', expirationSeconds: 3600, audience: 'vault' } });
    expect(podSpec(buildDeployment(input({ serviceAccountName: 'clarus-proxy' }, renderedFixture(config)))).serviceAccountName).toBe('clarus-proxy');
    expect(podSpec(buildDeployment(input())).serviceAccountName).toBeUndefined();
    const plain = at(podSpec(buildDeployment(input())), 'volumes', 0, 'projected', 'sources') as Json[];
    expect(plain.some((s) => 'serviceAccountToken' in s)).toBe(false);
    const token = configFixture({ policy: { ...base.policy, keyring: { ...base.policy.keyring, vaultTransit: { ...vaultTransit, auth: { method: 'token' as const, tokenFile: 'secrets/vault/token' } } } } });
    const viaToken = at(podSpec(buildDeployment(input({}, renderedFixture(token)))), 'volumes', 0, 'projected', 'sources') as Json[];
    expect(viaToken.some((s) => 'serviceAccountToken' in s)).toBe(false);
  });

  it('probes /readyz and /healthz on the metrics port and drains longer than drainSeconds', () => {
    const d = buildDeployment(input());
    const c = container(d);
    expect(c.ports).toContainEqual({ name: 'metrics', containerPort: 9187, protocol: 'TCP' });
    expect(c.ports).toContainEqual({ name: 'postgres', containerPort: 5432, protocol: 'TCP' });
    expect(at(c, 'readinessProbe', 'httpGet')).toEqual({ path: '/readyz', port: 'metrics' });
    expect(at(c, 'livenessProbe', 'httpGet')).toEqual({ path: '/healthz', port: 'metrics' });
    expect(at(c, 'lifecycle', 'preStop')).toBeDefined();
    expect(podSpec(d).terminationGracePeriodSeconds as number).toBeGreaterThanOrEqual(30);
  });

  it('runs as non-root with a read-only root file system and default resources', () => {
    const c = container(buildDeployment(input()));
    expect(at(c, 'securityContext', 'runAsNonRoot')).toBe(true);
    expect(at(c, 'securityContext', 'allowPrivilegeEscalation')).toBe(false);
    expect(at(c, 'securityContext', 'readOnlyRootFilesystem')).toBe(true);
    expect(at(c, 'resources', 'requests', 'cpu')).toBe('100m');
    const custom = container(buildDeployment(input({ resources: { limits: { cpu: '2' } } })));
    expect(custom.resources).toEqual({ limits: { cpu: '2' } });
  });

  it('runs spec.workers worker processes, with resources that follow the count', () => {
    const workers = (d: KubeObject): unknown => (container(d).env as Json[]).find((e) => e.name === 'CLARUS_WORKERS')?.value;
    expect(workers(buildDeployment(input()))).toBe('1');
    const four = container(buildDeployment(input({ workers: 4 })));
    expect((four.env as Json[]).filter((e) => e.name === 'CLARUS_WORKERS')).toEqual([{ name: 'CLARUS_WORKERS', value: '4' }]);
    // No resources given: a core and the one-worker memory per worker.
    expect(four.resources).toEqual({ requests: { cpu: '4', memory: '2048Mi' }, limits: { memory: '6144Mi' } });
    // Resources given: kept, a missing CPU request filled with one core per worker.
    const given = { requests: { memory: '3Gi' }, limits: { memory: '6Gi' } };
    expect(container(buildDeployment(input({ workers: 3, resources: given }))).resources).toEqual({ requests: { memory: '3Gi', cpu: '3' }, limits: { memory: '6Gi' } });
    const withCpu = { requests: { cpu: '1500m' }, limits: { cpu: '2' } };
    expect(container(buildDeployment(input({ workers: 2, resources: withCpu }))).resources).toEqual(withCpu);
    expect(container(buildDeployment(input({ workers: 1, resources: given }))).resources).toEqual(given);
  });

  it('rolls the pods when the worker count changes', () => {
    const template = (w: number): unknown => at(buildDeployment(input({ workers: w })), 'spec', 'template');
    expect(template(2)).not.toEqual(template(1));
    expect(template(2)).toEqual(template(2));
  });

  it('sets replicas only while autoscaling is off', () => {
    expect(at(buildDeployment(input({ replicas: 3 })), 'spec', 'replicas')).toBe(3);
    expect(at(buildDeployment(input({})), 'spec', 'replicas')).toBe(2);
    expect(at(buildDeployment(input({ autoscaling: { maxReplicas: 9 } })), 'spec')).not.toHaveProperty('replicas');
  });

  it('changes the pod-template hash when config, secret files or image change, and only then', () => {
    const hashOf = (i: BuildInput): string => at(buildDeployment(i), 'spec', 'template', 'metadata', 'annotations', CONFIG_HASH_ANNOTATION) as string;
    const base = hashOf(input());
    expect(base).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(hashOf(input())).toBe(base);
    expect(hashOf(input({ replicas: 7 }))).toBe(base);
    const changedConfig = renderedFixture(configFixture({ limits: { ...configFixture().limits, maxConnections: 5 } }));
    expect(hashOf(input({}, changedConfig))).not.toBe(base);
    const changedSecret = renderedFixture();
    changedSecret.files[0] = { ...changedSecret.files[0]!, content: 'b3RoZXI=' };
    expect(hashOf(input({}, changedSecret))).not.toBe(base);
    expect(hashOf(input({ image: 'clarus:other' }))).not.toBe(base);
    expect(configHash(renderedFixture(), 'clarus:test')).toBe(base);
  });

  it('uses the image from the spec, else the operator default', () => {
    expect(container(buildDeployment(input())).image).toBe('clarus:test');
    expect(container(buildDeployment(input({ image: 'registry/clarus:1' }))).image).toBe('registry/clarus:1');
  });
});

describe('Service, PDB, HPA', () => {
  it.each([
    [{}, 5432, 'ClientIP', 10800],
    [{ service: { port: 6432, sessionAffinityTimeoutSeconds: 60 } }, 6432, 'ClientIP', 60],
    [{ service: { sessionAffinity: 'None' } }, 5432, 'None', undefined],
  ])('service for %j: port %d affinity %s timeout %s', (spec, port, affinity, timeout) => {
    const svc = buildService(input(spec));
    expect(at(svc, 'spec', 'ports', 0, 'port')).toBe(port);
    expect(at(svc, 'spec', 'ports', 0, 'targetPort')).toBe('postgres');
    expect(at(svc, 'spec', 'sessionAffinity')).toBe(affinity);
    expect(at(svc, 'spec', 'sessionAffinityConfig', 'clientIP', 'timeoutSeconds')).toBe(timeout);
    expect(at(svc, 'spec', 'selector')).toEqual({ 'app.kubernetes.io/name': 'clarus-proxy', 'app.kubernetes.io/instance': 'ehealth-proxy' });
  });

  it('PDB selects the proxy pods', () => {
    const pdb = buildPodDisruptionBudget(input());
    expect(at(pdb, 'spec', 'selector', 'matchLabels', 'app.kubernetes.io/instance')).toBe('ehealth-proxy');
    expect(at(pdb, 'spec', 'maxUnavailable')).toBe(1);
  });

  it('HPA targets the Deployment with the spec bounds and CPU target', () => {
    expect(buildHorizontalPodAutoscaler(input())).toBeUndefined();
    const hpa = buildHorizontalPodAutoscaler(input({ autoscaling: { minReplicas: 2, maxReplicas: 10, targetCPUUtilizationPercentage: 60 } }));
    expect(hpa?.apiVersion).toBe('autoscaling/v2');
    expect(at(hpa, 'spec', 'scaleTargetRef')).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'ehealth-proxy' });
    expect(at(hpa, 'spec', 'minReplicas')).toBe(2);
    expect(at(hpa, 'spec', 'maxReplicas')).toBe(10);
    expect(at(hpa, 'spec', 'metrics', 0, 'resource', 'target', 'averageUtilization')).toBe(60);
  });
});
