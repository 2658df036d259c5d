import { describe, expect, it } from 'vitest';
import { IMPORT_PARTIAL_ANNOTATION, type ClarusProxySpec, type SecurityPolicySpec } from '@clarus/crds/types.ts';
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
    ['a table twice', (s) => { s.datasets.push({ ...s.datasets[0]!, name: 'again' }); }, [{ path: 'spec.datasets', message: 'table public.patient is listed twice; each table may appear in one dataset only' }]],
    ['one table by two names (issue 14: the later dataset silently won)', (s) => { s.datasets.push({ ...s.datasets[0]!, name: 'again', table: 'patient' }); },
      [{ path: 'spec.datasets', message: 'tables public.patient and patient are the same table (public.patient); each table may appear in one dataset only' }]],
    ['one table in another case', (s) => { s.datasets.push({ ...s.datasets[0]!, name: 'again', table: 'PUBLIC.Patient' }); },
      [{ path: 'spec.datasets', message: 'tables public.patient and PUBLIC.Patient are the same table (public.patient); each table may appear in one dataset only' }]],
    ['the same table name in another schema', (s) => { s.datasets.push({ ...s.datasets[0]!, name: 'again', table: 's1.patient' }); }, []],
    ['a column twice', (s) => { s.datasets[0]!.columns.push({ name: 'pat_id', attributeType: 'technicalIdentifier' }); },
      [{ path: 'spec.datasets[0].columns', message: 'column pat_id is listed twice' }]],
    ['a column twice in another case (the proxy folds names, and kept only the later one)', (s) => { s.datasets[0]!.columns.push({ name: 'PAT_ID', attributeType: 'technicalIdentifier' }); },
      [{ path: 'spec.datasets[0].columns', message: 'column pat_id is listed twice' }]],
    ['a rowKey that is no column', (s) => { s.datasets[0]!.rowKey = 'nope'; }, [{ path: 'spec.datasets[0].rowKey', message: "nope is not one of the dataset's columns" }]],
    ['encrypt and anonymize (through the attribute type)', (s) => {
      s.attributeTypes = { identifier: { encrypt: { mode: 'randomized' }, anonymize: { mask: {} } } };
      delete s.datasets[0]!.columns[1]!.protection;
      // Reported where it is declared, as the CRD's rule does (the default is wrong whether a column uses it or not).
    }, [{ path: 'spec.attributeTypes.identifier', message: 'encrypt and anonymize are mutually exclusive' }]],
    ['a split to an unlisted backend', (s) => { s.backends = ['cloud-a']; },
      [{ path: 'spec.datasets[0].columns[2].protection.split.backend', message: 'cloud-b is not in spec.backends' }]],
    ['a split without rowKey', (s) => { delete s.datasets[0]!.rowKey; }, [{ path: 'spec.datasets[0].rowKey', message: 'required because column diagnosis is split' }]],
    ['kAnonymity columns of one dataset with one k and t (one through the attribute type)', (s) => {
      s.attributeTypes = { quasiIdentifier: { anonymize: { kAnonymity: { k: 5, tCloseness: 0.1 } } } };
      s.datasets[0]!.columns.push({ name: 'age', attributeType: 'quasiIdentifier' },
        { name: 'zip', attributeType: 'quasiIdentifier', protection: { anonymize: { kAnonymity: { k: 5, tCloseness: 0.1 } } } });
    }, []],
    ['kAnonymity columns of one dataset with different k', (s) => {
      s.attributeTypes = { quasiIdentifier: { anonymize: { kAnonymity: { k: 5 } } } };
      s.datasets[0]!.columns.push({ name: 'age', attributeType: 'quasiIdentifier' },
        { name: 'zip', attributeType: 'quasiIdentifier', protection: { anonymize: { kAnonymity: { k: 3 } } } });
    }, [{ path: 'spec.datasets[0].columns[4].protection.anonymize.kAnonymity', message: 'every kAnonymity column of dataset patients must have the same k and tCloseness: age has k=5, zip has k=3' }]],
    ['kAnonymity columns of one dataset, one with t-closeness', (s) => {
      s.datasets[0]!.columns.push({ name: 'age', attributeType: 'quasiIdentifier', protection: { anonymize: { kAnonymity: { k: 5, tCloseness: 0.2 } } } },
        { name: 'zip', attributeType: 'quasiIdentifier', protection: { anonymize: { kAnonymity: { k: 5 } } } });
    }, [{ path: 'spec.datasets[0].columns[4].protection.anonymize.kAnonymity', message: 'every kAnonymity column of dataset patients must have the same k and tCloseness: age has k=5 tCloseness=0.2, zip has k=5' }]],
  ])('%s', (_name, mutate, expected) => {
    const s = spec();
    mutate(s);
    expect(policyIssues(s)).toEqual(expected);
  });
});

describe('policyIssues on an imported policy', () => {
  it('refuses a policy that `clarus policy import --partial` marked, until the annotation is removed', () => {
    const marked = { name: 'p', annotations: { [IMPORT_PARTIAL_ANNOTATION]: '1 refusal: line 7: geom is split across 2 clouds' } };
    expect(policyIssues(spec(), marked)).toEqual([{
      path: `metadata.annotations[${IMPORT_PARTIAL_ANNOTATION}]`,
      message: 'the policy was imported with --partial and protects less than its source (1 refusal: line 7: geom is split across 2 clouds); fix what it lists, then remove the annotation',
    }]);
    expect(policyIssues(spec(), { name: 'p', annotations: {} })).toEqual([]);
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
