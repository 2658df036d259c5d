// One gatherer for the operator's caches and for manifests from files: over the examples, the
// operator's strict gatherInputs and the offline selectForProxy render the same configuration.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '@clarus/crds/generate.ts';
import { gatherInputs, lookupOf, referencedSecrets } from './inputs.ts';
import { render } from './runtime/render.ts';
import { proxiesOf, selectForProxy } from './runtime/select.ts';
import { validateManifests } from './validate/index.ts';

function example(dir: string): ReturnType<typeof validateManifests>['set'] {
  const root = join(REPO_ROOT, 'examples', dir);
  const docs = readdirSync(root).filter((f) => f.endsWith('.yaml')).flatMap((f) =>
    parseAllDocuments(readFileSync(join(root, f), 'utf8')).map((d) => ({ doc: d.toJS() as unknown, source: f })).filter((l) => l.doc));
  const { set, errors } = validateManifests(docs);
  expect(errors).toBe(0);
  return set;
}

describe.each(['ehealth', 'collaborative', 'passthrough'])('examples/%s', (dir) => {
  const set = example(dir);

  it.each(proxiesOf(set).map((p) => [p.metadata.name, p] as const))('%s: both gatherers give render the same inputs', (_name, proxy) => {
    const gathered = gatherInputs(proxy, lookupOf(set));
    if (!gathered.ok) throw new Error(gathered.message);
    const selected = selectForProxy(set, proxy);
    if ('resource' in selected) throw new Error(selected.message);
    expect(render(gathered.inputs)).toEqual(render(selected));
  });
});

describe('lookupOf', () => {
  it('finds objects by namespace and name, and no others', () => {
    const set = example('collaborative');
    const lookup = lookupOf(set);
    expect(lookup.policy('org-a', 'shared-study')?.spec.backends).toEqual([]);
    expect(lookup.policy('org-b', 'shared-study')).toBeUndefined();
    expect(lookup.secret('org-a', 'org-a-keys')?.metadata.name).toBe('org-a-keys');
    expect(lookup.grants('org-a').map((g) => g.metadata.name)).toEqual(['researcher-study']);
  });
});

describe('vaultTransit Secrets', () => {
  it('the operator waits for Vault\'s token and CA Secrets, watches them, and hands them to render', () => {
    const set = example('ehealth');
    const policy = set.resources.find((r) => r.kind === 'SecurityPolicy');
    const keys = set.secrets.find((s) => s.metadata.name === 'ehealth-keys');
    if (policy?.kind !== 'SecurityPolicy' || !keys) throw new Error('no policy');
    policy.spec.keyring = { secretName: 'ehealth-keys', provider: 'vaultTransit',
      vaultTransit: { address: 'https://vault:8200', key: 'clarus', caSecretRef: { name: 'vault-ca' }, auth: { tokenSecretRef: { name: 'vault-token' } } } };
    keys.stringData = { 'default.v1': 'vault:v1:ZGVmYXVsdA==', 'clinical.v1': 'vault:v1:Y2xpbmljYWw=' };
    delete keys.data;
    const proxy = proxiesOf(set).find((p) => p.metadata.name === 'ehealth-proxy');
    if (!proxy) throw new Error('no proxy');
    const missing = gatherInputs(proxy, lookupOf(set));
    expect(missing.ok ? '' : missing.message).toMatch(/Secret hospital\/vault-ca \(Vault settings of SecurityPolicy ehealth\) not found/);
    set.secrets.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'vault-ca', namespace: 'hospital' }, stringData: { 'ca.crt': 'PEM' } },
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'vault-token', namespace: 'hospital' }, stringData: { token: 'hvs.x' } });
    const gathered = gatherInputs(proxy, lookupOf(set));
    if (!gathered.ok) throw new Error(gathered.message);
    const files = render(gathered.inputs).files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(['secrets/vault/ca.crt', 'secrets/vault/token', 'secrets/keyring/default.v1']));
    expect([...referencedSecrets(proxy, policy, lookupOf(set))]).toEqual(expect.arrayContaining(['vault-ca', 'vault-token', 'ehealth-keys']));
  });
});
