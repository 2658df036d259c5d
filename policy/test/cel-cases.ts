// The CEL rule cases: a good object per kind and, per rule, a mutation that breaks it (and one that
// satisfies it). Shared by the cel-js unit test and the real-apiserver integration test, so both
// evaluate the same objects.
import type { Manifest } from '../src/validate/resource.ts';

export type Mutate = (spec: Record<string, any>) => void; // eslint-disable-line @typescript-eslint/no-explicit-any

export const base: Record<string, () => Record<string, unknown>> = {
  SecurityPolicy: () => ({
    backends: ['a', 'b'], keyring: { secretName: 'keys' },
    attributeTypes: { identifier: { encrypt: { mode: 'randomized' } }, quasiIdentifier: { anonymize: { kAnonymity: { k: 3 } } } },
    datasets: [{
      name: 'patients', table: 'public.patient', rowKey: 'id',
      columns: [
        { name: 'id', attributeType: 'technicalIdentifier' },
        { name: 'name', attributeType: 'identifier', protection: { encrypt: { mode: 'randomized', searchable: true } } },
        { name: 'zip', attributeType: 'quasiIdentifier', protection: { anonymize: { generalize: { keepPrefix: 3 } } } },
        { name: 'age', attributeType: 'quasiIdentifier', protection: { anonymize: { kAnonymity: { k: 2, tCloseness: 0.2 } } } },
        { name: 'email', attributeType: 'identifier', protection: { anonymize: { mask: { format: 'email' } } } },
        { name: 'salary', attributeType: 'confidential', protection: { anonymize: { noise: { distribution: 'laplace', epsilon: 1, sensitivity: 100 } } } },
        { name: 'diagnosis', attributeType: 'confidential', protection: { split: { backend: 'b' }, encrypt: { mode: 'deterministic' } } },
      ],
    }, { name: 'visits', table: 'public.visit', columns: [{ name: 'v', attributeType: 'nonConfidential' }] }],
  }),
  CloudBackend: () => ({ host: 'h', database: 'd', credentialsSecretRef: { name: 'c' }, tls: { mode: 'verify-ca', caSecretRef: { name: 'ca' } } }),
  ClarusProxy: () => ({ policyRef: { name: 'p' }, autoscaling: { minReplicas: 2, maxReplicas: 4 } }),
  AccessGrant: () => ({ proxyRef: { name: 'px' }, subject: { user: 'bob', passwordSecretRef: { name: 'pw' } }, datasets: ['patients'], access: 'read', view: 'masked' }),
};

const col = (s: Record<string, any>, i: number) => s.datasets[0].columns[i]; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface Case { kind: string; message: string; bad: Mutate; good?: Mutate }
export const cases: Case[] = [
  { kind: 'SecurityPolicy', message: 'encrypt and anonymize are mutually exclusive', bad: (s) => { col(s, 1).protection.anonymize = { suppress: {} }; } },
  { kind: 'SecurityPolicy', message: 'vaultTransit is set exactly when provider is vaultTransit', bad: (s) => { s.keyring.provider = 'vaultTransit'; },
    good: (s) => { s.keyring = { secretName: 'keys', provider: 'vaultTransit', vaultTransit: { address: 'https://vault:8200', key: 'clarus', auth: { kubernetes: { role: 'clarus' } } } }; } },
  { kind: 'SecurityPolicy', message: 'vaultTransit is set exactly when provider is vaultTransit', bad: (s) => { s.keyring.vaultTransit = { address: 'https://vault:8200', key: 'clarus', auth: { kubernetes: { role: 'clarus' } } }; } },
  { kind: 'SecurityPolicy', message: 'exactly one of kubernetes or tokenSecretRef',
    bad: (s) => { s.keyring = { secretName: 'keys', provider: 'vaultTransit', vaultTransit: { address: 'https://vault:8200', key: 'clarus', auth: { kubernetes: { role: 'r' }, tokenSecretRef: { name: 't' } } } }; },
    good: (s) => { s.keyring = { secretName: 'keys', provider: 'vaultTransit', vaultTransit: { address: 'http://127.0.0.1:8200', key: 'clarus', auth: { tokenSecretRef: { name: 't' } } } }; } },
  { kind: 'SecurityPolicy', message: 'encrypt and anonymize are mutually exclusive', bad: (s) => { s.attributeTypes.identifier.anonymize = { suppress: {} }; } },
  { kind: 'SecurityPolicy', message: 'searchable applies to randomized mode', bad: (s) => { col(s, 6).protection.encrypt.searchable = true; }, good: (s) => { col(s, 6).protection.encrypt.searchable = false; } },
  { kind: 'SecurityPolicy', message: 'reversible pseudonyms use the hex format', bad: (s) => { col(s, 4).protection = { anonymize: { pseudonymize: { reversible: true, format: 'uuid' } } }; }, good: (s) => { col(s, 4).protection = { anonymize: { pseudonymize: { reversible: true } } }; } },
  { kind: 'SecurityPolicy', message: 'keepFirst and keepLast apply to partial', bad: (s) => { col(s, 1).protection.encrypt.maskedView = { function: 'email', keepLast: 2 }; }, good: (s) => { col(s, 1).protection.encrypt.maskedView = { function: 'partial', keepFirst: 1, keepLast: 2, char: '#' }; } },
  { kind: 'SecurityPolicy', message: 'char applies to partial and email', bad: (s) => { col(s, 1).protection.encrypt.maskedView = { function: 'hash', char: '#' }; }, good: (s) => { col(s, 1).protection.encrypt.maskedView = { function: 'email', char: '#' }; } },
  { kind: 'SecurityPolicy', message: 'truncate needs unit', bad: (s) => { col(s, 1).protection.encrypt.maskedView = { function: 'truncate' }; }, good: (s) => { col(s, 1).protection.encrypt.maskedView = { function: 'truncate', unit: 'year' }; } },
  { kind: 'SecurityPolicy', message: 'truncate needs unit', bad: (s) => { col(s, 1).protection.encrypt.maskedView = { function: 'null', unit: 'year' }; } },
  { kind: 'SecurityPolicy', message: 'fixed needs value', bad: (s) => { col(s, 1).protection.encrypt.maskedView = { function: 'fixed' }; }, good: (s) => { col(s, 1).protection.encrypt.maskedView = { function: 'fixed', value: 'n/a' }; } },
  { kind: 'SecurityPolicy', message: 'fixed needs value', bad: (s) => { col(s, 1).protection.encrypt.maskedView = { function: 'partial', value: 'x' }; } },
  { kind: 'SecurityPolicy', message: 'exactly one of suppress, mask', bad: (s) => { col(s, 2).protection.anonymize.suppress = {}; } },
  { kind: 'SecurityPolicy', message: 'exactly one of suppress, mask', bad: (s) => { col(s, 2).protection.anonymize = {}; } },
  { kind: 'SecurityPolicy', message: 'format cannot be combined', bad: (s) => { col(s, 4).protection.anonymize.mask.keepLast = 2; }, good: (s) => { col(s, 4).protection.anonymize.mask = { keepFirst: 1, keepLast: 2 }; } },
  { kind: 'SecurityPolicy', message: 'exactly one of step, truncate', bad: (s) => { col(s, 2).protection.anonymize.generalize.step = 10; } },
  { kind: 'SecurityPolicy', message: 'exactly one of step, truncate', bad: (s) => { col(s, 2).protection.anonymize.generalize = {}; } },
  { kind: 'SecurityPolicy', message: 'exactly one of step, truncate', bad: (s) => { col(s, 2).protection.anonymize.generalize = { gridMeters: 10, shiftMeters: 10 }; }, good: (s) => { col(s, 2).protection.anonymize.generalize = { shiftMeters: 10 }; } },
  { kind: 'SecurityPolicy', message: 'epsilon and sensitivity go together', bad: (s) => { delete col(s, 5).protection.anonymize.noise.sensitivity; } },
  { kind: 'SecurityPolicy', message: 'set either scale or epsilon+sensitivity', bad: (s) => { col(s, 5).protection.anonymize.noise.scale = 3; }, good: (s) => { col(s, 5).protection.anonymize.noise = { distribution: 'gaussian', scale: 3 }; } },
  { kind: 'SecurityPolicy', message: 'set either scale or epsilon+sensitivity', bad: (s) => { col(s, 5).protection.anonymize.noise = { distribution: 'gaussian' }; } },
  { kind: 'SecurityPolicy', message: 'k must be at least 2', bad: (s) => { col(s, 3).protection.anonymize.kAnonymity.k = 1; }, good: (s) => { col(s, 3).protection.anonymize.kAnonymity.k = 2; } },
  { kind: 'SecurityPolicy', message: 'k must be at least 2', bad: (s) => { s.attributeTypes.quasiIdentifier.anonymize.kAnonymity.k = 0; } },
  { kind: 'SecurityPolicy', message: 'kAnonymity applies to quasiIdentifier columns only', bad: (s) => { col(s, 3).attributeType = 'confidential'; } },
  { kind: 'SecurityPolicy', message: 'kAnonymity applies to quasiIdentifier only', bad: (s) => { s.attributeTypes.confidential = { anonymize: { kAnonymity: { k: 3 } } }; } },
  { kind: 'SecurityPolicy', message: 'a dataset with split columns needs a rowKey', bad: (s) => { delete s.datasets[0].rowKey; }, good: (s) => { delete s.datasets[0].rowKey; delete col(s, 6).protection.split; } },
  { kind: 'SecurityPolicy', message: 'rowKey must name a column of attributeType technicalIdentifier', bad: (s) => { s.datasets[0].rowKey = 'nope'; } },
  { kind: 'SecurityPolicy', message: 'rowKey must name a column of attributeType technicalIdentifier', bad: (s) => { s.datasets[0].rowKey = 'name'; } },
  { kind: 'SecurityPolicy', message: 'the row key is stored on every backend', bad: (s) => { col(s, 0).protection = { split: { backend: 'b' } }; } },
  { kind: 'SecurityPolicy', message: 'the row key of a dataset with split columns joins its fragments', bad: (s) => { col(s, 0).protection = { encrypt: { mode: 'deterministic' } }; },
    good: (s) => { col(s, 0).protection = {}; } },
  { kind: 'SecurityPolicy', message: 'every split backend must be listed in spec.backends', bad: (s) => { s.backends = ['a']; }, good: (s) => { s.backends = ['a', 'c', 'b']; } },
  { kind: 'SecurityPolicy', message: 'a column split to the default backend', bad: (s) => { col(s, 6).protection.split.backend = 'a'; }, good: (s) => { s.backends = ['a', 'b', 'c']; col(s, 6).protection.split.backend = 'c'; } },
  // A point column split by coordinates (CLARUS splitting_type points).
  { kind: 'SecurityPolicy', message: 'exactly one of backend, coordinates', bad: (s) => { col(s, 6).protection = { split: { backend: 'b', coordinates: ['a', 'b'] } }; },
    good: (s) => { col(s, 6).protection = { split: { coordinates: ['a', 'b'] } }; } },
  { kind: 'SecurityPolicy', message: 'exactly one of backend, coordinates', bad: (s) => { col(s, 6).protection = { split: {} }; } },
  { kind: 'SecurityPolicy', message: 'split.coordinates must name two different backends', bad: (s) => { col(s, 6).protection = { split: { coordinates: ['b', 'b'] } }; } },
  { kind: 'SecurityPolicy', message: 'a point column split by coordinates is stored as plain coordinates', bad: (s) => { col(s, 6).protection = { split: { coordinates: ['a', 'b'] }, encrypt: { mode: 'deterministic' } }; } },
  { kind: 'SecurityPolicy', message: 'every split backend must be listed in spec.backends', bad: (s) => { col(s, 6).protection = { split: { coordinates: ['b', 'c'] } }; },
    good: (s) => { s.backends = ['a', 'b', 'c']; col(s, 6).protection = { split: { coordinates: ['b', 'c'] } }; } },
  { kind: 'SecurityPolicy', message: 'each table may appear in one dataset only', bad: (s) => { s.datasets[1].table = 'public.patient'; } },
  { kind: 'SecurityPolicy', message: 'each table may appear in one dataset only', bad: (s) => { s.datasets[1].table = 'patient'; }, good: (s) => { s.datasets[1].table = 's1.patient'; } },
  { kind: 'SecurityPolicy', message: 'each table may appear in one dataset only', bad: (s) => { s.datasets[1].table = 'Public.Patient'; } },
  { kind: 'CloudBackend', message: 'verify-ca and verify-full need caSecretRef', bad: (s) => { delete s.tls.caSecretRef; }, good: (s) => { s.tls = { mode: 'require' }; } },
  { kind: 'CloudBackend', message: 'tls is required', bad: (s) => { delete s.tls; } },
  { kind: 'CloudBackend', message: 'caSecretRef is only used by verify-ca and verify-full', bad: (s) => { s.tls.mode = 'require'; } },
  { kind: 'CloudBackend', message: 'readOnlyCredentialsSecretRef must name another Secret than credentialsSecretRef', bad: (s) => { s.readOnlyCredentialsSecretRef = { name: 'c' }; }, good: (s) => { s.readOnlyCredentialsSecretRef = { name: 'c-ro' }; } },
  { kind: 'ClarusProxy', message: 'minReplicas must not exceed maxReplicas', bad: (s) => { s.autoscaling.minReplicas = 5; }, good: (s) => { s.autoscaling.minReplicas = 4; } },
  { kind: 'ClarusProxy', message: 'autoscaling applies to Deployment mode only', bad: (s) => { s.mode = 'Sidecar'; }, good: (s) => { s.mode = 'Sidecar'; delete s.autoscaling; } },
  { kind: 'ClarusProxy', message: 'serviceAccountName applies to Deployment mode only', bad: (s) => { s.mode = 'Sidecar'; delete s.autoscaling; s.serviceAccountName = 'clarus-proxy'; },
    good: (s) => { s.serviceAccountName = 'clarus-proxy'; } },
  { kind: 'AccessGrant', message: 'user and passwordSecretRef go together', bad: (s) => { delete s.subject.passwordSecretRef; } },
  { kind: 'AccessGrant', message: 'user and passwordSecretRef go together', bad: (s) => { s.subject = { passwordSecretRef: { name: 'pw' }, externalProxy: { name: 'x', certificateSubject: 'CN=x' } }; } },
  { kind: 'AccessGrant', message: 'exactly one of user (with passwordSecretRef) or externalProxy', bad: (s) => { s.subject.externalProxy = { name: 'x', certificateSubject: 'CN=x' }; }, good: (s) => { s.subject = { externalProxy: { name: 'x', certificateSubject: 'CN=x' } }; } },
  { kind: 'AccessGrant', message: 'exactly one of user (with passwordSecretRef) or externalProxy', bad: (s) => { s.subject = {}; } },
  { kind: 'AccessGrant', message: '"*" must be the only entry', bad: (s) => { s.datasets = ['*', 'patients']; }, good: (s) => { s.datasets = ['*']; } },
];

export function manifest(kind: string, spec: Record<string, unknown>): Manifest {
  return { apiVersion: 'clarus.io/v1alpha1', kind, metadata: { name: 'x', namespace: 'ns' }, spec };
}

