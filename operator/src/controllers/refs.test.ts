import { describe, expect, it } from 'vitest';
import { backendFixture, lookupOf, proxyFixture, secretFixture, worldFixture } from '../../test/testdata.ts';
import type { World } from '../../test/testdata.ts';
import { gatherInputs } from '@clarus/policy/inputs.ts';
import { dependsOn } from './refs.ts';

const without = (w: World, kind: keyof World, name: string): World =>
  ({ ...w, [kind]: (w[kind] as Array<{ metadata: { name: string } }>).filter((o) => o.metadata.name !== name) });

describe('gatherInputs', () => {
  it('collects policy, backends, grants and every referenced Secret', () => {
    const g = gatherInputs(proxyFixture(), lookupOf(worldFixture()));
    if (!g.ok) throw new Error(g.message);
    expect(g.inputs.policy.metadata.name).toBe('ehealth');
    expect(g.inputs.backends.map((b) => b.metadata.name)).toEqual(['cloud-a', 'cloud-b']);
    expect(g.inputs.grants.map((x) => x.metadata.name)).toEqual(['drhouse']);
    expect(g.inputs.secrets.map((s) => s.metadata.name)).toEqual(['cloud-a-creds', 'cloud-b-ca', 'cloud-b-creds', 'drhouse-pw', 'ehealth-keys']);
  });

  it.each([
    ['policy', without(worldFixture(), 'policies', 'ehealth'), 'PolicyNotFound', 'SecurityPolicy hospital/ehealth not found'],
    ['backend', without(worldFixture(), 'backends', 'cloud-b'), 'BackendNotFound', 'CloudBackend hospital/cloud-b'],
    ['keyring', without(worldFixture(), 'secrets', 'ehealth-keys'), 'SecretNotFound', 'ehealth-keys (keyring of SecurityPolicy ehealth)'],
    ['credentials', without(worldFixture(), 'secrets', 'cloud-a-creds'), 'SecretNotFound', 'cloud-a-creds (CloudBackend cloud-a)'],
    ['CA', without(worldFixture(), 'secrets', 'cloud-b-ca'), 'SecretNotFound', 'cloud-b-ca'],
  ])('missing %s -> %s', (_what, world, reason, message) => {
    const g = gatherInputs(proxyFixture(), lookupOf(world));
    expect(g.ok).toBe(false);
    if (g.ok) return;
    expect(g.reason).toBe(reason);
    expect(g.message).toContain(message);
  });

  it('collects the read-only role Secret of a backend that names one, and fails naming the backend when it is missing', () => {
    const w = worldFixture();
    w.backends[0] = backendFixture('cloud-a', undefined, 'cloud-a-ro');
    expect(gatherInputs(proxyFixture(), lookupOf(w))).toMatchObject({ ok: false, reason: 'SecretNotFound', message: 'Secret hospital/cloud-a-ro (CloudBackend cloud-a) not found' });
    w.secrets.push(secretFixture('cloud-a-ro', { username: 'cm8=', password: 'cA==' }));
    const g = gatherInputs(proxyFixture(), lookupOf(w));
    if (!g.ok) throw new Error(g.message);
    expect(g.inputs.secrets.map((s) => s.metadata.name)).toContain('cloud-a-ro');
    expect(dependsOn(proxyFixture(), lookupOf(w), 'Secret', 'cloud-a-ro')).toBe(true);
  });

  it('refuses an invalid policy with PolicyInvalid naming the field', () => {
    const w = worldFixture();
    w.policies[0]!.spec.datasets[0]!.columns[3]!.protection = { split: { backend: 'cloud-z' } };
    const g = gatherInputs(proxyFixture(), lookupOf(w));
    expect(g.ok ? undefined : [g.reason, g.message]).toEqual(['PolicyInvalid',
      'SecurityPolicy hospital/ehealth: spec.datasets[0].columns[3].protection.split.backend: cloud-z is not in spec.backends']);
  });

  it('reports a Secret without the referenced key', () => {
    const w = worldFixture();
    w.secrets = w.secrets.map((s) => (s.metadata.name === 'cloud-b-ca' ? secretFixture('cloud-b-ca', { other: 'eA==' }) : s));
    const g = gatherInputs(proxyFixture(), lookupOf(w));
    expect(g.ok ? '' : g.reason).toBe('SecretKeyMissing');
  });

  it('leaves out a grant whose password Secret is missing, without failing the proxy', () => {
    const g = gatherInputs(proxyFixture(), lookupOf(without(worldFixture(), 'secrets', 'drhouse-pw')));
    if (!g.ok) throw new Error(g.message);
    expect(g.inputs.grants).toEqual([]);
    expect(g.skippedGrants[0]?.reason).toBe('SecretNotFound');
  });

  it('requires the proxy TLS Secret when spec.tls names one', () => {
    const g = gatherInputs(proxyFixture({ tls: { secretName: 'proxy-tls' } }), lookupOf(worldFixture()));
    expect(g.ok ? '' : g.message).toContain('proxy-tls');
  });
});

describe('dependsOn', () => {
  const lookup = lookupOf(worldFixture());
  it.each([
    ['SecurityPolicy', 'ehealth', true],
    ['SecurityPolicy', 'other', false],
    ['CloudBackend', 'cloud-b', true],
    ['CloudBackend', 'cloud-z', false],
    ['Secret', 'ehealth-keys', true],
    ['Secret', 'cloud-b-ca', true],
    ['Secret', 'drhouse-pw', true],
    ['Secret', 'unrelated', false],
  ] as const)('%s %s -> %s', (kind, name, want) => {
    expect(dependsOn(proxyFixture(), lookup, kind, name)).toBe(want);
  });
});
