// The generated CRDs against a real kube-apiserver: they are accepted (structural schema, CEL cost
// limits), the apiserver rejects each bad fixture with the same field and reason as
// `clarus policy validate`, accepts the examples, and stores the same defaults.
// Needs etcd and kube-apiserver from e2e/setup.sh (~/.cache/clarus; `make test` builds them first);
// skipped on a developer machine where they are absent, but a failure in CI (CI=true).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '@clarus/crds/generate.ts';
import { KINDS } from '@clarus/crds/schema/index.ts';
import { checkResource, type Manifest } from '../../src/validate/resource.ts';
import { base, cases, manifest } from '../cel-cases.ts';
import { expectedVerdict, verdictCases, verdictManifest } from '../verdict-cases.ts';
import { policyIssues } from '../../src/rules/securitypolicy.ts';
import type { ObjectMeta, SecurityPolicySpec } from '@clarus/crds/types.ts';
import { until } from '@clarus/testing/wait.ts';
import { binaries, startApiServer, type ApiServer } from './apiserver.ts';

const available = Boolean(binaries.etcd && binaries.apiserver);
const plural = Object.fromEntries(KINDS.map((k) => [k.kind, k.plural]));

function docsOf(path: string): Manifest[] {
  return parseAllDocuments(readFileSync(path, 'utf8')).map((d) => d.toJS() as Manifest).filter((d) => d && d.kind !== 'Secret');
}

let api: ApiServer;
const namespaces = new Set<string>();

async function create(m: Manifest, ns = m.metadata?.namespace ?? 'default'): Promise<{ status: number; message: string }> {
  if (!namespaces.has(ns)) {
    await api.call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    namespaces.add(ns);
  }
  const base = `/apis/clarus.io/v1alpha1/namespaces/${ns}/${plural[String(m.kind)]}`;
  await api.call('DELETE', `${base}/${m.metadata?.name}`);
  const r = await api.call('POST', `${base}?fieldValidation=Strict`, { ...m, metadata: { ...m.metadata, namespace: ns } });
  return { status: r.status, message: r.body.message ?? '' };
}

describe.runIf(process.env.CI === 'true')('control-plane binaries in CI', () => {
  it('are present (make e2e-setup ran before the integration tier)', () => {
    expect(binaries).toMatchObject({ etcd: expect.any(String), apiserver: expect.any(String) });
  });
});

describe.skipIf(!available)('CRDs on a real kube-apiserver', () => {
  beforeAll(async () => {
    api = await startApiServer();
    for (const f of readdirSync(join(REPO_ROOT, 'crds/generated'))) {
      const crd = parseAllDocuments(readFileSync(join(REPO_ROOT, 'crds/generated', f), 'utf8'))[0]?.toJS() as Manifest;
      const r = await api.call('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
      if (r.status !== 201) throw new Error(`${f}: ${r.status} ${r.body.message}`);
      await until(`CRD ${crd.metadata?.name} to be established`, async () => {
        const got = await api.call('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata?.name}`);
        return got.body.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
      }, 60_000, 250);
    }
  }, 180_000);
  afterAll(async () => {
    await api?.stop();
  });

  const badDir = join(REPO_ROOT, 'policy/test/fixtures/bad');
  const schemaFixtures = readdirSync(badDir).filter((f) => {
    const [resource] = (/^# expect: (.+?) \|/m.exec(readFileSync(join(badDir, f), 'utf8')) ?? []).slice(1);
    // Fixtures about references or Secrets are the operator's checks, not the apiserver's.
    return docsOf(join(badDir, f)).some((m) => checkResource(m).issues.some((i) => i.resource === resource));
  });

  it('finds fixtures the apiserver must reject', () => {
    expect(schemaFixtures.length).toBeGreaterThanOrEqual(12);
  });

  it.each(schemaFixtures)('rejects %s with the offline validator\'s field and reason', async (file) => {
    const text = readFileSync(join(badDir, file), 'utf8');
    const [, resource, path, reason] = /^# expect: (.+?) \| (.+?) \| (.+)$/m.exec(text) ?? [];
    const m = docsOf(join(badDir, file)).find((d) => `${d.kind}/${d.metadata?.namespace ?? 'default'}/${d.metadata?.name}` === resource);
    if (!m) throw new Error(`no ${resource} in ${file}`);
    const r = await create(m);
    expect(r.status).toBeGreaterThanOrEqual(400);
    // Same field and reason; where the apiserver words a structural error differently, the fixture
    // says how in an "# apiserver:" line.
    const wording = /^# apiserver: (.+)$/m.exec(text)?.[1];
    if (wording) {
      expect(r.message).toContain(wording);
    } else {
      expect(r.message).toContain(`${path}: `);
      expect(r.message.toLowerCase()).toContain((reason ?? '').toLowerCase());
    }
  });

  it.each(cases.map((c, i) => [i, c.kind, c.message, c] as const))('CEL case %i: the apiserver also rejects %s with "%s"', async (_i, kind, message, c) => {
    const spec = base[kind]?.() ?? {};
    c.bad(spec);
    const bad = await create(manifest(kind, spec));
    expect(bad.status).toBe(422);
    expect(bad.message).toContain(message);
    if (c.good) {
      const fixed = base[kind]?.() ?? {};
      c.good(fixed);
      expect(await create(manifest(kind, fixed))).toEqual({ status: 201, message: '' });
    }
  });

  // The CRD's rules as the API server runs them against the TypeScript rule set: the same verdict on
  // every policy of the corpus, apart from the differences it declares (policy/test/verdict-cases.ts).
  it.each(verdictCases.map((c) => [c.name, c] as const))('verdict of the API server and of the TypeScript rules: %s', async (_name, c) => {
    const m = verdictManifest(c);
    const r = await create({ ...m, metadata: { ...m.metadata, name: 'verdict' } });
    const object = checkResource(m).object;
    const ts = policyIssues(object.spec as SecurityPolicySpec, object.metadata as ObjectMeta);
    expect([r.status !== 201, ts.length > 0], `${r.status} ${r.message} | ${JSON.stringify(ts)}`).toEqual(expectedVerdict(c));
  });

  it.each(['ehealth', 'passthrough', 'collaborative'])('accepts examples/%s and stores the same defaults', async (dir) => {
    const files = readdirSync(join(REPO_ROOT, 'examples', dir)).filter((f) => f.endsWith('.yaml'));
    for (const m of files.flatMap((f) => docsOf(join(REPO_ROOT, 'examples', dir, f)))) {
      const r = await create(m);
      expect(r, `${m.kind}/${m.metadata?.name}: ${r.message}`).toMatchObject({ status: 201 });
      const ns = m.metadata?.namespace ?? 'default';
      const stored = await api.call('GET', `/apis/clarus.io/v1alpha1/namespaces/${ns}/${plural[String(m.kind)]}/${m.metadata?.name}`);
      expect(stored.body.spec).toEqual(checkResource(m).object.spec);
    }
  });
});
