import { describe, expect, it } from 'vitest';
import { configFixture, proxyFixture } from '../../test/testdata.ts';
import type { PatchOp, PodLike } from './sidecar.ts';
import { alreadyInjected, escapePointer, sidecarPatch } from './sidecar.ts';

const items = [{ key: 'keyring.default.v1', path: 'secrets/keyring/default.v1' }];
const base = { proxy: proxyFixture({ mode: 'Sidecar' }), config: configFixture(), items, options: { defaultImage: 'clarus:test' } };

/** Minimal RFC 6902 "add" applier, enough to check the patch lands where intended. */
function apply(doc: unknown, ops: PatchOp[]): Record<string, unknown> {
  const out = structuredClone(doc) as Record<string, unknown>;
  for (const op of ops) {
    const parts = op.path.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = parts.pop() as string;
    let target: Record<string, unknown> | unknown[] = out;
    for (const p of parts) target = (target as Record<string, unknown>)[p] as Record<string, unknown>;
    if (Array.isArray(target)) target.splice(last === '-' ? target.length : Number(last), 0, op.value);
    else target[last] = op.value;
  }
  return out;
}

const pods: Array<[string, PodLike]> = [
  ['bare pod', { metadata: { labels: { 'clarus.io/inject': 'ehealth-proxy' } }, spec: { containers: [{ name: 'app' }] } }],
  ['pod with annotations, init containers and volumes', {
    metadata: { labels: {}, annotations: { keep: 'me' } },
    spec: { initContainers: [{ name: 'migrate' }], containers: [{ name: 'app' }], volumes: [{ name: 'data' }] },
  }],
];

describe('sidecarPatch', () => {
  it.each(pods)('%s: injects a native sidecar first, the config volume and annotations', (_name, pod) => {
    const patched = apply(pod, sidecarPatch({ ...base, pod })) as { metadata: { annotations: Record<string, string> }; spec: Record<string, Array<Record<string, unknown>>> };
    const sidecar = patched.spec.initContainers?.[0];
    expect(sidecar?.name).toBe('clarus-proxy');
    expect(sidecar?.restartPolicy).toBe('Always');
    expect(sidecar?.args).toEqual(['proxy', '--config', '/etc/clarus', '--listen', '127.0.0.1:5432']);
    expect(patched.spec.volumes?.[0]?.name).toBe('clarus-config');
    // The audit log: a bounded emptyDir beside it, the file and its rotation in the sidecar's environment.
    expect(patched.spec.volumes?.[1]).toEqual({ name: 'clarus-audit', emptyDir: { sizeLimit: '320Mi' } });
    expect(sidecar?.volumeMounts).toContainEqual({ name: 'clarus-audit', mountPath: '/var/log/clarus' });
    expect(sidecar?.env).toContainEqual({ name: 'CLARUS_AUDIT_LOG', value: '/var/log/clarus/audit.jsonl' });
    expect(patched.spec.containers).toEqual(pod.spec?.containers);
    expect(patched.spec.initContainers?.slice(1)).toEqual(pod.spec?.initContainers ?? []);
    expect(patched.spec.volumes?.slice(2)).toEqual(pod.spec?.volumes ?? []);
    expect(patched.metadata.annotations['clarus.io/injected']).toBe('ehealth-proxy');
    expect(patched.metadata.annotations['clarus.io/config-hash']).toMatch(/^sha256:/);
    for (const [k, v] of Object.entries(pod.metadata?.annotations ?? {})) expect(patched.metadata.annotations[k]).toBe(v);
  });

  it('runs the proxy\'s spec.workers worker processes in the sidecar (1 by default)', () => {
    const env = (proxy: typeof base.proxy): unknown => {
      const pod = pods[0]![1];
      const patched = apply(pod, sidecarPatch({ ...base, proxy, pod })) as { spec: Record<string, Array<Record<string, unknown>>> };
      return (patched.spec.initContainers?.[0]?.env as Array<{ name: string; value?: string }>).find((e) => e.name === 'CLARUS_WORKERS');
    };
    expect(env(base.proxy)).toEqual({ name: 'CLARUS_WORKERS', value: '1' });
    expect(env(proxyFixture({ mode: 'Sidecar', workers: 2 }))).toEqual({ name: 'CLARUS_WORKERS', value: '2' });
  });

  it.each(pods)('%s: is idempotent (the patched pod gets an empty patch)', (_name, pod) => {
    const once = apply(pod, sidecarPatch({ ...base, pod })) as PodLike;
    expect(alreadyInjected(once)).toBe(true);
    expect(sidecarPatch({ ...base, pod: once })).toEqual([]);
  });

  it('is a pure function of pod and proxy', () => {
    const pod = pods[0]![1];
    expect(sidecarPatch({ ...base, pod })).toEqual(sidecarPatch({ ...base, pod }));
  });

  it('leaves a pod that already has a clarus-proxy container alone', () => {
    expect(sidecarPatch({ ...base, pod: { spec: { containers: [{ name: 'clarus-proxy' }] } } })).toEqual([]);
  });

  it.each([['a/b', 'a~1b'], ['a~b', 'a~0b'], ['clarus.io/x', 'clarus.io~1x']])('escapePointer(%s) = %s', (i, o) => {
    expect(escapePointer(i)).toBe(o);
  });
});
