import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { AccessGrant, ClarusProxy, CloudBackend, SecretManifest, SecurityPolicy } from '@clarus/crds';
import { gatherInputs } from '@clarus/policy/inputs.ts';
import { renderProxy } from './render.ts';
import { desiredObjects } from './specs/workload.ts';
import { parseHostPort } from './cli.ts';

const examples = new URL('../../examples', import.meta.url).pathname;

interface Doc { kind: string; metadata: { name: string; namespace?: string } }
function loadExample(name = 'ehealth', file = /\.yaml$/): Doc[] {
  const dir = join(examples, name);
  return readdirSync(dir).filter((f) => file.test(f)).flatMap((f) =>
    parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJS() as Doc).filter(Boolean));
}

function world(docs: Doc[]): Parameters<typeof gatherInputs>[1] {
  const of = <T>(kind: string, ns?: string): T[] => docs.filter((d) => d.kind === kind && (ns === undefined || (d.metadata.namespace ?? 'default') === ns)) as unknown as T[];
  const find = <T extends Doc>(kind: string, ns: string, name: string): T | undefined => of<T>(kind, ns).find((d) => d.metadata.name === name);
  return {
    policy: (ns, name) => find('SecurityPolicy', ns, name) as SecurityPolicy | undefined,
    backend: (ns, name) => find('CloudBackend', ns, name) as CloudBackend | undefined,
    secret: (ns, name) => find('Secret', ns, name) as SecretManifest | undefined,
    grants: (ns) => of<AccessGrant>('AccessGrant', ns),
  };
}

describe('renderProxy with the eHealth example', () => {
  const docs = loadExample();
  const proxy = docs.find((d) => d.kind === 'ClarusProxy') as unknown as ClarusProxy;

  it('renders the example into objects whose Secret carries every rendered file', () => {
    const g = gatherInputs(proxy, world(docs));
    if (!g.ok) throw new Error(g.message);
    const out = renderProxy(g.inputs);
    if (!out.ok) throw new Error(out.message);
    expect(out.rendered.config.proxy).toEqual({ name: 'ehealth-proxy', namespace: 'hospital' });
    expect(out.rendered.config.hash).toMatch(/^sha256:/);
    const objects = desiredObjects({ proxy, rendered: out.rendered, options: { defaultImage: 'clarus:test' } });
    const secret = objects.find((o) => o.kind === 'Secret') as unknown as { data: Record<string, string> };
    // Every rendered file, plus the replicas' shared peer-cancel secret (Deployment mode).
    expect(Object.keys(secret.data).sort()).toEqual([...out.rendered.files.map((f) => f.secretKey), 'peer-secret'].sort());
    // Both backend roles reach the pod: read-write and read-only credentials, side by side.
    const text = (key: string) => Buffer.from(secret.data[key] ?? '', 'base64').toString('utf8');
    expect([text('backends__cloud-a__username'), text('backends__cloud-a__readonly-username')]).toEqual(['clarus_a', 'clarus_a_ro']);
    expect(out.rendered.config.backends[0]?.readOnly).toEqual({ usernameFile: 'secrets/backends/cloud-a/readonly-username', passwordFile: 'secrets/backends/cloud-a/readonly-password' });
    expect(out.rendered.files.some((f) => f.path.startsWith('secrets/users/'))).toBe(true);
  });

  it('turns a render problem into a RenderFailed outcome naming the field', () => {
    const broken = docs.map((d) => (d.kind === 'Secret' && d.metadata.name === 'ehealth-keys'
      ? { ...d, stringData: { 'default.v1': 'EOQNEAn4rREuUI5IjeHNBKQrSVMUePz0wLZ4Fhc4XEE=' } } : d));
    const g = gatherInputs(proxy, world(broken));
    if (!g.ok) throw new Error(g.message);
    const out = renderProxy(g.inputs);
    expect(out.ok).toBe(false);
    if (out.ok) return;
    expect(out.reason).toBe('RenderFailed');
    expect(out.message).toContain('clinical');
  });
});

describe('renderProxy with the collaborative example', () => {
  // Org A's policy lists no backends: its proxy forwards everything to org B's proxy (spec.upstream).
  const docs = loadExample('collaborative', /^org-a\.yaml$/);
  const proxy = docs.find((d) => d.kind === 'ClarusProxy') as unknown as ClarusProxy;

  it('gathers and renders org A, whose policy has backends: []', () => {
    const g = gatherInputs(proxy, world(docs));
    if (!g.ok) throw new Error(g.message);
    expect(g.inputs.backends).toEqual([]);
    const out = renderProxy(g.inputs);
    if (!out.ok) throw new Error(out.message);
    expect(out.rendered.config.backends).toEqual([]);
    expect(out.rendered.config.upstream).toMatchObject({ user: 'org-a', tls: { caFile: 'secrets/upstream/ca.crt' } });
  });

  it('refuses the same policy for a proxy without an upstream', () => {
    const { upstream: _upstream, ...spec } = proxy.spec;
    const g = gatherInputs({ ...proxy, spec }, world(docs));
    if (!g.ok) throw new Error(g.message);
    const out = renderProxy(g.inputs);
    expect(out).toMatchObject({ ok: false, reason: 'RenderFailed' });
    if (!out.ok) expect(out.message).toContain('lists no backends and the proxy has no upstream');
  });
});

describe('parseHostPort', () => {
  it.each([['0.0.0.0:8080', '0.0.0.0', 8080], ['127.0.0.1:0', '127.0.0.1', 0], [':9443', '0.0.0.0', 9443], ['[::1]:1', '::1', 1]])(
    '%s', (text, host, port) => expect(parseHostPort(text)).toEqual({ host, port }));
  it.each(['nope', 'h:99999', 'h:x'])('rejects %s', (text) => expect(() => parseHostPort(text)).toThrow(/invalid HOST:PORT/));
});
