import { describe, expect, it } from 'vitest';
import { grantFixture, lookupOf, policyFixture, proxyFixture, secretFixture, worldFixture, backendFixture } from '../../test/testdata.ts';
import type { World } from '../../test/testdata.ts';
import { grantStatus, untilExpiry } from './accessgrant/reconcile.ts';
import { proxyStatus } from './clarusproxy/status.ts';
import { backendStatus } from './cloudbackend/reconcile.ts';
import { checkPolicy, policyHash, protectedColumns } from './securitypolicy/check.ts';
import { policyStatus } from './securitypolicy/reconcile.ts';
import { statusChanged } from './status.ts';

const NOW = '2026-11-29T12:00:00.000Z';
const cond = (list: Array<{ type: string }> | undefined, type: string): Record<string, unknown> | undefined =>
  list?.find((c) => c.type === type) as Record<string, unknown> | undefined;

describe('ClarusProxy status', () => {
  const available = { replicas: 2, readyReplicas: 2, availableReplicas: 2, conditions: [{ type: 'Available', status: 'True' }] };

  it('is Ready with endpoint, selector, replicas and hash when the Deployment is available', () => {
    const s = proxyStatus(proxyFixture(), { kind: 'applied', policyHash: 'sha256:abc', deployment: available }, NOW);
    expect(s).toMatchObject({
      observedGeneration: 3, replicas: 2, readyReplicas: 2, policyHash: 'sha256:abc',
      endpoint: 'ehealth-proxy.hospital.svc:5432',
      selector: 'app.kubernetes.io/name=clarus-proxy,app.kubernetes.io/instance=ehealth-proxy',
    });
    for (const t of ['Ready', 'PolicyRendered', 'Available']) expect(cond(s.conditions, t)).toMatchObject({ status: 'True', observedGeneration: 3 });
  });

  it.each([
    ['no Deployment status yet', undefined, 'Unknown'],
    ['Deployment without available replicas', { replicas: 2, readyReplicas: 0, availableReplicas: 0, conditions: [{ type: 'Available', status: 'False', message: 'min' }] }, 'False'],
  ])('%s: Available %s and not Ready', (_n, deployment, availability) => {
    const s = proxyStatus(proxyFixture(), { kind: 'applied', policyHash: 'sha256:abc', deployment }, NOW);
    expect(cond(s.conditions, 'Available')?.status).toBe(availability);
    expect(cond(s.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'DeploymentUnavailable' });
    expect(cond(s.conditions, 'PolicyRendered')?.status).toBe('True');
  });

  it('a render failure sets PolicyRendered and Ready False with the reason, keeping the last hash', () => {
    const proxy = proxyFixture();
    proxy.status = { policyHash: 'sha256:old' };
    const s = proxyStatus(proxy, { kind: 'renderFailed', problem: { reason: 'BackendNotFound', message: 'CloudBackend hospital/x not found' } }, NOW);
    expect(cond(s.conditions, 'PolicyRendered')).toMatchObject({ status: 'False', reason: 'BackendNotFound', message: 'CloudBackend hospital/x not found' });
    expect(cond(s.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'BackendNotFound' });
    expect(s.policyHash).toBe('sha256:old');
  });

  it('writes only metav1.Condition fields, even when the problem object carries more', () => {
    const problem = { ok: false, reason: 'PolicyNotFound', message: 'm' } as { reason: string; message: string };
    const s = proxyStatus(proxyFixture(), { kind: 'renderFailed', problem }, NOW);
    for (const c of s.conditions ?? []) {
      expect(Object.keys(c).sort()).toEqual(['lastTransitionTime', 'message', 'observedGeneration', 'reason', 'status', 'type']);
    }
  });

  it('while the last good configuration keeps serving, a render failure still shows the running replicas', () => {
    const s = proxyStatus(proxyFixture(), { kind: 'renderFailed', problem: { reason: 'PolicyInvalid', message: 'x' }, deployment: available }, NOW);
    expect(cond(s.conditions, 'Available')?.status).toBe('True');
    expect(cond(s.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'PolicyInvalid' });
    expect(s).toMatchObject({ replicas: 2, readyReplicas: 2 });
  });

  it('apply failure is reported as ApplyFailed', () => {
    const s = proxyStatus(proxyFixture(), { kind: 'applyFailed', policyHash: 'sha256:x', message: 'forbidden' }, NOW);
    expect(cond(s.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'ApplyFailed', message: 'forbidden' });
  });

  it('Sidecar mode is Available without a Deployment and names the loopback endpoint', () => {
    const s = proxyStatus(proxyFixture({ mode: 'Sidecar' }), { kind: 'applied', policyHash: 'sha256:x' }, NOW);
    expect(cond(s.conditions, 'Ready')?.status).toBe('True');
    expect(s.endpoint).toBe('127.0.0.1:5432');
    expect(s.replicas).toBe(0);
  });

  it('statusChanged sees real changes only', () => {
    const s = proxyStatus(proxyFixture(), { kind: 'applied', policyHash: 'sha256:abc', deployment: available }, NOW);
    expect(statusChanged(s, { ...s })).toBe(false);
    expect(statusChanged(s, { ...s, readyReplicas: 1 })).toBe(true);
    expect(statusChanged(undefined, s)).toBe(true);
  });
});

describe('SecurityPolicy checks and status', () => {
  it('counts columns with an effective protection (attribute-type defaults included)', () => {
    expect(protectedColumns(policyFixture())).toBe(3); // pat_name (default), pat_zip, diagnosis
  });

  it.each([
    ['valid', (): void => undefined, undefined],
    ['split backend not listed', (p: ReturnType<typeof policyFixture>) => { p.spec.datasets[0]!.columns[3]!.protection = { split: { backend: 'cloud-z' } }; }, 'split.backend: cloud-z is not in spec.backends'],
    ['split without rowKey', (p: ReturnType<typeof policyFixture>) => { delete p.spec.datasets[0]!.rowKey; }, 'rowKey: required because column diagnosis is split'],
    ['rowKey not a column', (p: ReturnType<typeof policyFixture>) => { p.spec.datasets[0]!.rowKey = 'nope'; }, 'nope is not one of the dataset'],
    ['duplicate column', (p: ReturnType<typeof policyFixture>) => { p.spec.datasets[0]!.columns.push({ name: 'note', attributeType: 'nonConfidential' }); }, 'column note is listed twice'],
    ['duplicate dataset', (p: ReturnType<typeof policyFixture>) => { p.spec.datasets.push({ ...p.spec.datasets[0]!, table: 'public.other' }); }, 'dataset patients is listed twice'],
    ['one table by two spellings (issue 14)', (p: ReturnType<typeof policyFixture>) => { p.spec.datasets.push({ ...p.spec.datasets[0]!, name: 'again', table: p.spec.datasets[0]!.table.replace(/^public\./, '').toUpperCase() }); }, 'are the same table'],
    ['imported with --partial', (p: ReturnType<typeof policyFixture>) => { p.metadata.annotations = { 'clarus.io/import-partial': '1 refusal(s)' }; }, 'metadata.annotations[clarus.io/import-partial]: the policy was imported with --partial'],
    // A policy without backends is the policy of a proxy that forwards to a partner (spec.upstream);
    // whether a proxy may use it is the proxy's rule (placementIssues, checked by render).
    ['no backends', (p: ReturnType<typeof policyFixture>) => { p.spec.backends = []; p.spec.datasets[0]!.columns[3]!.protection = { encrypt: { mode: 'deterministic' } }; }, undefined],
  ])('%s', (_n, mutate, message) => {
    const p = policyFixture();
    mutate(p);
    const problem = checkPolicy(p);
    if (message === undefined) expect(problem).toBeUndefined();
    else expect(problem?.message).toContain(message);
  });

  it('Valid and Ready when valid and referenced objects exist; Ready False naming a missing backend', () => {
    const ok = policyStatus(policyFixture(), lookupOf(worldFixture()), NOW);
    expect(cond(ok.conditions, 'Valid')?.status).toBe('True');
    expect(cond(ok.conditions, 'Ready')?.status).toBe('True');
    expect(ok.hash).toBe(policyHash(policyFixture()));
    const w: World = { ...worldFixture(), backends: [backendFixture('cloud-a')] };
    const missing = policyStatus(policyFixture(), lookupOf(w), NOW);
    expect(cond(missing.conditions, 'Valid')?.status).toBe('True');
    expect(cond(missing.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'BackendNotFound' });
  });

  it('hash changes with the effective policy', () => {
    const p = policyFixture();
    const before = policyHash(p);
    p.spec.attributeTypes = { identifier: { encrypt: { mode: 'deterministic' } } };
    expect(policyHash(p)).not.toBe(before);
  });
});

describe('CloudBackend status', () => {
  it.each([
    ['all secrets present', worldFixture(), 'True', 'Ready'],
    ['credentials missing', { ...worldFixture(), secrets: worldFixture().secrets.filter((s) => s.metadata.name !== 'cloud-b-creds') }, 'False', 'SecretNotFound'],
    ['CA missing', { ...worldFixture(), secrets: worldFixture().secrets.filter((s) => s.metadata.name !== 'cloud-b-ca') }, 'False', 'SecretNotFound'],
  ])('%s -> Ready %s (%s)', (_n, world, status, reason) => {
    const s = backendStatus(backendFixture('cloud-b', 'cloud-b-ca'), lookupOf(world), { checked: false }, NOW);
    expect(cond(s.conditions, 'Ready')).toMatchObject({ status, reason });
    expect(cond(s.conditions, 'Reachable')).toMatchObject({ status: 'Unknown', reason: 'NotChecked' });
  });

  it('ReadOnlyRole is False with the warning naming the backend when it has no read-only role, True when it has one', () => {
    const none = backendStatus(backendFixture('cloud-a'), lookupOf(worldFixture()), { checked: false }, NOW);
    expect(cond(none.conditions, 'ReadOnlyRole')).toMatchObject({ status: 'False', reason: 'NoReadOnlyRole',
      message: 'backend cloud-a has no read-only role: read-only grants use the read-write role, so a miss in the proxy could let a read grant write' });
    expect(cond(none.conditions, 'Ready')).toMatchObject({ status: 'True' }); // a warning, not an error
    const world = worldFixture();
    world.secrets.push(secretFixture('cloud-a-ro', { username: 'cm8=', password: 'cA==' }));
    const both = backendStatus(backendFixture('cloud-a', undefined, 'cloud-a-ro'), lookupOf(world), { checked: false }, NOW);
    expect(cond(both.conditions, 'ReadOnlyRole')).toMatchObject({ status: 'True', reason: 'ReadOnlyRoleConfigured' });
    expect(cond(both.conditions, 'Ready')).toMatchObject({ status: 'True' });
  });

  it('is not Ready when the read-only role Secret lacks a key', () => {
    const world = worldFixture();
    world.secrets.push(secretFixture('cloud-a-ro', { username: 'cm8=' }));
    const s = backendStatus(backendFixture('cloud-a', undefined, 'cloud-a-ro'), lookupOf(world), { checked: false }, NOW);
    expect(cond(s.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'SecretKeyMissing', message: 'Secret hospital/cloud-a-ro has no key password' });
  });

  it('reports reachability results', () => {
    const s = backendStatus(backendFixture('cloud-a'), lookupOf(worldFixture()), { checked: true, ok: false, message: 'refused' }, NOW);
    expect(cond(s.conditions, 'Reachable')).toMatchObject({ status: 'False', reason: 'Unreachable', message: 'refused' });
  });
});

describe('AccessGrant status', () => {
  const now = new Date(NOW);
  it.each([
    ['valid', grantFixture('drhouse', 'drhouse-pw'), true, 'True', 'Ready'],
    ['proxy missing', grantFixture('drhouse', 'drhouse-pw'), false, 'False', 'ProxyNotFound'],
    ['secret missing', grantFixture('drhouse', 'nope'), true, 'False', 'SecretNotFound'],
    ['expired', grantFixture('drhouse', 'drhouse-pw', '2026-01-01T00:00:00Z'), true, 'False', 'Expired'],
  ])('%s -> %s %s', (_n, grant, hasProxy, status, reason) => {
    const s = grantStatus(grant, hasProxy ? proxyFixture() : undefined, lookupOf(worldFixture()), now);
    expect(cond(s.conditions, 'Ready')).toMatchObject({ status, reason });
  });

  it('schedules a re-check at expiry', () => {
    expect(untilExpiry(grantFixture('a', undefined, '2026-11-29T12:00:10.000Z'), now)).toBe(11_000);
    expect(untilExpiry(grantFixture('a'), now)).toBeUndefined();
    expect(untilExpiry(grantFixture('a', undefined, '2020-01-01T00:00:00Z'), now)).toBeUndefined();
  });
});
