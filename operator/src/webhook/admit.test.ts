import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { configFixture, proxyFixture } from '../../test/testdata.ts';
import type { AdmissionRequest, ProxyTarget } from './admit.ts';
import { admit, classify } from './admit.ts';

const options = { defaultImage: 'clarus:test' };
const pod = (labels: Record<string, string> = { 'clarus.io/inject': 'ehealth-proxy' }): AdmissionRequest['object'] =>
  ({ metadata: { labels }, spec: { containers: [{ name: 'app' }] } });
const request = (over: Partial<AdmissionRequest> = {}): AdmissionRequest =>
  ({ uid: 'u1', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'hospital', object: pod(), ...over });
const rendered = { config: configFixture(), items: [{ key: 'k', path: 'secrets/k' }] };
const sidecar: ProxyTarget = { found: true, proxy: proxyFixture({ mode: 'Sidecar' }), rendered };

describe('classify', () => {
  it.each([
    ['pod create with label', request(), 'inject'],
    ['update', request({ operation: 'UPDATE' }), 'skip'],
    ['not a pod', request({ kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }), 'skip'],
    ['no label', request({ object: pod({}) }), 'skip'],
  ])('%s -> %s', (_n, req, action) => expect(classify(req).action).toBe(action));
});

describe('admit', () => {
  it.each([
    ['proxy missing', { found: false } as ProxyTarget, 'not found'],
    ['Deployment-mode proxy', { found: true, proxy: proxyFixture(), rendered } as ProxyTarget, 'not in Sidecar mode'],
    ['not rendered yet', { found: true, proxy: proxyFixture({ mode: 'Sidecar' }) } as ProxyTarget, 'no rendered configuration'],
  ])('%s: allowed, unpatched, with a warning', (_n, target, warning) => {
    const r = admit(request(), target, options);
    expect(r).toMatchObject({ uid: 'u1', allowed: true });
    expect(r.patch).toBeUndefined();
    expect(r.warnings?.[0]).toContain(warning);
  });

  it('patches a labelled pod with the native sidecar for a Sidecar-mode proxy', () => {
    const r = admit(request(), sidecar, options);
    expect(r.patchType).toBe('JSONPatch');
    const ops = JSON.parse(Buffer.from(r.patch ?? '', 'base64').toString('utf8')) as Array<{ path: string; value: { name?: string; restartPolicy?: string } }>;
    const init = ops.find((o) => o.path === '/spec/initContainers');
    expect(init?.value).toEqual([expect.objectContaining({ name: 'clarus-proxy', restartPolicy: 'Always' })]);
  });

  it('does not patch a pod that already carries the sidecar', () => {
    const injected = { ...pod(), spec: { containers: [{ name: 'app' }], initContainers: [{ name: 'clarus-proxy' }] } };
    const r = admit(request({ object: injected }), sidecar, options);
    expect(r).toEqual({ uid: 'u1', allowed: true });
  });
});
