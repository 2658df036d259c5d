// Shared fixtures for the operator's unit tests: one proxy, its policy, backends, grants, Secrets and
// a rendered configuration shaped like policy/src/runtime/config.ts describes.
import type { AccessGrant, ClarusProxy, CloudBackend, SecretManifest, SecurityPolicy } from '@clarus/crds';
import type { RuntimeConfig } from '@clarus/policy';
import type { Rendered } from '../src/specs/types.ts';
import type { Lookup } from '@clarus/policy/inputs.ts';

export const NS = 'hospital';

export function proxyFixture(spec: Partial<ClarusProxy['spec']> = {}): ClarusProxy {
  return {
    apiVersion: 'clarus.io/v1alpha1',
    kind: 'ClarusProxy',
    metadata: { name: 'ehealth-proxy', namespace: NS, uid: 'uid-proxy-1', generation: 3 },
    spec: { policyRef: { name: 'ehealth' }, mode: 'Deployment', replicas: 2, ...spec },
  };
}

export function policyFixture(): SecurityPolicy {
  return {
    apiVersion: 'clarus.io/v1alpha1',
    kind: 'SecurityPolicy',
    metadata: { name: 'ehealth', namespace: NS, generation: 1 },
    spec: {
      backends: ['cloud-a', 'cloud-b'],
      keyring: { secretName: 'ehealth-keys' },
      attributeTypes: { identifier: { encrypt: { mode: 'randomized' } } },
      datasets: [{
        name: 'patients', table: 'public.patient', rowKey: 'pat_id',
        columns: [
          { name: 'pat_id', attributeType: 'technicalIdentifier' },
          { name: 'pat_name', attributeType: 'identifier' },
          { name: 'pat_zip', attributeType: 'quasiIdentifier', protection: { anonymize: { generalize: { keepPrefix: 3 } } } },
          { name: 'diagnosis', attributeType: 'confidential', protection: { split: { backend: 'cloud-b' }, encrypt: { mode: 'deterministic' } } },
          { name: 'note', attributeType: 'nonConfidential' },
        ],
      }],
    },
  };
}

export function backendFixture(name: string, caSecret?: string, readOnlySecret?: string): CloudBackend {
  return {
    apiVersion: 'clarus.io/v1alpha1',
    kind: 'CloudBackend',
    metadata: { name, namespace: NS, generation: 1 },
    spec: {
      host: `${name}.example`, port: 5432, database: 'ehealth', credentialsSecretRef: { name: `${name}-creds` },
      ...(readOnlySecret ? { readOnlyCredentialsSecretRef: { name: readOnlySecret } } : {}),
      ...(caSecret ? { tls: { mode: 'verify-full' as const, caSecretRef: { name: caSecret, key: 'ca.crt' } } } : {}),
    },
  };
}

export function grantFixture(name: string, secret?: string, expires?: string): AccessGrant {
  return {
    apiVersion: 'clarus.io/v1alpha1',
    kind: 'AccessGrant',
    metadata: { name, namespace: NS, generation: 1 },
    spec: {
      proxyRef: { name: 'ehealth-proxy' },
      subject: { user: name, ...(secret ? { passwordSecretRef: { name: secret, key: 'password' } } : {}) },
      datasets: ['patients'], access: 'read', view: 'plaintext', ...(expires ? { expires } : {}),
    },
  };
}

export function secretFixture(name: string, data: Record<string, string>): SecretManifest {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: NS }, data };
}

export interface World {
  policies: SecurityPolicy[];
  backends: CloudBackend[];
  grants: AccessGrant[];
  secrets: SecretManifest[];
}

export function worldFixture(): World {
  return {
    policies: [policyFixture()],
    backends: [backendFixture('cloud-a'), backendFixture('cloud-b', 'cloud-b-ca')],
    grants: [grantFixture('drhouse', 'drhouse-pw')],
    secrets: [
      secretFixture('ehealth-keys', { 'default.v1': 'a2V5' }),
      secretFixture('cloud-a-creds', { username: 'dQ==', password: 'cA==' }),
      secretFixture('cloud-b-creds', { username: 'dQ==', password: 'cA==' }),
      secretFixture('cloud-b-ca', { 'ca.crt': 'Y2E=' }),
      secretFixture('drhouse-pw', { password: 'cHc=' }),
    ],
  };
}

export function lookupOf(w: World): Lookup {
  const find = <T extends { metadata: { name: string; namespace?: string } }>(list: T[], ns: string, name: string): T | undefined =>
    list.find((o) => o.metadata.name === name && (o.metadata.namespace ?? 'default') === ns);
  return {
    policy: (ns, name) => find(w.policies, ns, name),
    backend: (ns, name) => find(w.backends, ns, name),
    secret: (ns, name) => find(w.secrets, ns, name),
    grants: (ns) => w.grants.filter((g) => (g.metadata.namespace ?? 'default') === ns),
  };
}

export function configFixture(overrides: Partial<RuntimeConfig> = {}): RuntimeConfig {
  return {
    version: 1,
    proxy: { name: 'ehealth-proxy', namespace: NS },
    listen: { host: '0.0.0.0', port: 5432 },
    metricsListen: { host: '0.0.0.0', port: 9187 },
    backends: [],
    users: [],
    policy: { name: 'ehealth', onUnsupported: 'reject', defaultBackend: 'cloud-a', keyring: { dir: 'secrets/keyring', keys: [] }, datasets: [] },
    limits: { maxConnections: 100, maxMessageBytes: 1 << 20, connectTimeoutSeconds: 10, idleTimeoutSeconds: 0, drainSeconds: 30 },
    ...overrides,
  };
}

export function renderedFixture(config: RuntimeConfig = configFixture()): Rendered {
  return {
    config,
    files: [
      { path: 'secrets/keyring/default.v1', content: 'a2V5', secretKey: 'keyring.default.v1' },
      { path: 'secrets/backends/cloud-a/username', content: 'u', secretKey: 'backends.cloud-a.username' },
      { path: 'secrets/backends/cloud-a/password', content: 'p', secretKey: 'backends.cloud-a.password' },
    ],
  };
}
