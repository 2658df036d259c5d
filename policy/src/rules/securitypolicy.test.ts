import { describe, expect, it } from 'vitest';
import type { ClarusProxySpec, SecurityPolicySpec } from '@clarus/crds/types.ts';
import { placementIssues, policyIssues } from './securitypolicy.ts';

function spec(): SecurityPolicySpec {
  return {
    backends: ['cloud-a', 'cloud-b'],
    keyring: { secretName: 'keys' },
    datasets: [{
      name: 'patients', table: 'public.patient', rowKey: 'pat_id',
      columns: [
        { name: 'pat_id', attributeType: 'technicalIdentifier' },
        { name: 'pat_name', attributeType: 'identifier', protection: { encrypt: { mode: 'randomized' } } },
        { name: 'diagnosis', attributeType: 'confidential', protection: { split: { backend: 'cloud-b' } } },
      ],
    }],
  };
}

describe('policyIssues', () => {
  it.each<[string, (s: SecurityPolicySpec) => void, Array<{ path: string; message: string }>]>([
    ['valid', () => undefined, []],
    ['no backends and nothing split (a proxy that forwards to a partner)', (s) => {
      s.backends = [];
      s.datasets[0]!.columns[2]!.protection = { encrypt: { mode: 'deterministic' } };
    }, []],
    ['a backend twice', (s) => { s.backends.push('cloud-a'); }, [{ path: 'spec.backends', message: 'cloud-a is listed twice' }]],
    ['a dataset twice', (s) => { s.datasets.push({ ...s.datasets[0]!, table: 'other' }); }, [{ path: 'spec.datasets', message: 'dataset patients is listed twice' }]],
    ['a table twice', (s) => { s.datasets.push({ ...s.datasets[0]!, name: 'again' }); }, [{ path: 'spec.datasets', message: 'table public.patient is listed twice' }]],
    ['a column twice', (s) => { s.datasets[0]!.columns.push({ name: 'pat_id', attributeType: 'technicalIdentifier' }); },
      [{ path: 'spec.datasets[0].columns', message: 'column pat_id is listed twice' }]],
    ['a rowKey that is no column', (s) => { s.datasets[0]!.rowKey = 'nope'; }, [{ path: 'spec.datasets[0].rowKey', message: "nope is not one of the dataset's columns" }]],
    ['encrypt and anonymize (through the attribute type)', (s) => {
      s.attributeTypes = { identifier: { encrypt: { mode: 'randomized' }, anonymize: { mask: {} } } };
      delete s.datasets[0]!.columns[1]!.protection;
    }, [{ path: 'spec.datasets[0].columns[1].protection', message: 'encrypt and anonymize are mutually exclusive' }]],
    ['a split to an unlisted backend', (s) => { s.backends = ['cloud-a']; },
      [{ path: 'spec.datasets[0].columns[2].protection.split.backend', message: 'cloud-b is not in spec.backends' }]],
    ['a split without rowKey', (s) => { delete s.datasets[0]!.rowKey; }, [{ path: 'spec.datasets[0].rowKey', message: 'required because column diagnosis is split' }]],
  ])('%s', (_name, mutate, expected) => {
    const s = spec();
    mutate(s);
    expect(policyIssues(s)).toEqual(expected);
  });
});

describe('placementIssues', () => {
  const upstream: ClarusProxySpec = { policyRef: { name: 'p' }, upstream: { host: 'partner', port: 5432 } };
  const direct: ClarusProxySpec = { policyRef: { name: 'p' } };

  it.each<[string, ClarusProxySpec, string[], string[]]>([
    ['backends, no upstream', direct, ['cloud-a'], []],
    ['no backends, an upstream', upstream, [], []],
    ['backends and an upstream', upstream, ['cloud-a'], ['spec.upstream']],
    ['neither', direct, [], ['spec.policyRef']],
  ])('%s', (_name, proxy, backends, paths) => {
    expect(placementIssues(proxy, 'p', { ...spec(), backends, datasets: [] }).map((i) => i.path)).toEqual(paths);
  });
});
