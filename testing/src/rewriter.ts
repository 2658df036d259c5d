// Fixtures shared by the rewriter's unit tests and the statement corpus: the eHealth policy of
// API.md kept on one backend, and a fixed test keyring (never use these keys outside tests).
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { KeyDeriver } from '@clarus/sidecar/protection/encryption/derive.ts';
import { parseKeyring } from '@clarus/sidecar/protection/encryption/keyring.ts';
import { Catalog } from '@clarus/sidecar/rewrite/catalog.ts';
import { KeyedRewriter } from '@clarus/sidecar/protection/keyed-rewriter.ts';
import type { RewriterOptions } from '@clarus/sidecar/rewrite/rewriter.ts';

export const EHEALTH_POLICY: RuntimePolicy = {
  name: 'ehealth',
  onUnsupported: 'reject',
  defaultBackend: 'cloud-a',
  keyring: { dir: 'secrets/keyring', keys: [{ name: 'default', versions: [1], current: 1 }] },
  datasets: [{
    name: 'patients', schema: 'public', table: 'patient', rowKey: 'pat_id',
    columns: [
      { name: 'pat_id', attributeType: 'technicalIdentifier', backend: 'cloud-a' },
      { name: 'pat_name', attributeType: 'identifier', encrypt: { mode: 'randomized', searchable: false, keyName: 'default' }, backend: 'cloud-a' },
      { name: 'pat_ssn', attributeType: 'identifier', encrypt: { mode: 'randomized', searchable: true, keyName: 'default' }, backend: 'cloud-a' },
      { name: 'pat_zip', attributeType: 'quasiIdentifier', anonymize: { generalize: { keepPrefix: 3 } }, backend: 'cloud-a' },
      { name: 'pat_birth', attributeType: 'quasiIdentifier', anonymize: { generalize: { truncate: 'year' } }, backend: 'cloud-a' },
      { name: 'diagnosis', attributeType: 'confidential', encrypt: { mode: 'deterministic', searchable: false, keyName: 'default' }, backend: 'cloud-a' },
    ],
  }, {
    name: 'visits', schema: 'public', table: 'visit', rowKey: 'visit_id',
    columns: [
      { name: 'visit_id', attributeType: 'technicalIdentifier', backend: 'cloud-a' },
      { name: 'pat_id', attributeType: 'technicalIdentifier', backend: 'cloud-a' },
      { name: 'reason', attributeType: 'confidential', encrypt: { mode: 'deterministic', searchable: false, keyName: 'default' }, backend: 'cloud-a' },
      { name: 'notes', attributeType: 'confidential', encrypt: { mode: 'randomized', searchable: false, keyName: 'default' }, backend: 'cloud-a' },
    ],
  }],
};

export const TEST_KEY_FILES = new Map([['default.v1', Buffer.alloc(32, 0x5a).toString('base64')]]);

export function testRewriter(policy: RuntimePolicy = EHEALTH_POLICY, files = TEST_KEY_FILES, options: RewriterOptions = {}): KeyedRewriter {
  return new KeyedRewriter(new Catalog(policy), new KeyDeriver(parseKeyring(policy.keyring.keys, files)), options);
}

/**
 * The eHealth policy as examples/ehealth writes it: `diagnosis` split onto cloud-b (splitting is
 * not implemented, so the rewriter refuses every statement on `patient`); `visit` stays whole.
 */
export const EHEALTH_SPLIT_POLICY: RuntimePolicy = {
  ...EHEALTH_POLICY,
  name: 'ehealth-split',
  datasets: EHEALTH_POLICY.datasets.map((d) => (d.name !== 'patients' ? d : {
    ...d,
    columns: d.columns.map((c) => (c.name === 'diagnosis' ? { ...c, backend: 'cloud-b' } : c)),
  })),
};
