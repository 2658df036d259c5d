// Which objects a ClarusProxy depends on, and gathering them for render(). One gatherer over a
// read-only Lookup, so the same code runs against the operator's informer caches and against a set
// of manifests read from files (lookupOf). Pure.
import type { AccessGrant, ClarusProxy, ClarusResource, CloudBackend, SecretManifest, SecurityPolicy } from '@clarus/crds/types.ts';
import type { RenderInput } from './runtime/render.ts';
import { policyIssues } from './rules/securitypolicy.ts';

export interface Lookup {
  policy(namespace: string, name: string): SecurityPolicy | undefined;
  backend(namespace: string, name: string): CloudBackend | undefined;
  secret(namespace: string, name: string): SecretManifest | undefined;
  grants(namespace: string): AccessGrant[];
}

/** A mixed set of resources, e.g. every manifest under a folder. */
export interface ResourceSet { resources: ClarusResource[]; secrets: SecretManifest[] }

/** Why the inputs could not be gathered; the reasons are the operator's condition reasons. */
export const InputReason = {
  PolicyNotFound: 'PolicyNotFound',
  PolicyInvalid: 'PolicyInvalid',
  BackendNotFound: 'BackendNotFound',
  SecretNotFound: 'SecretNotFound',
  SecretKeyMissing: 'SecretKeyMissing',
} as const;

export interface Problem { reason: string; message: string }
export type Gathered = { ok: true; inputs: RenderInput; skippedGrants: Problem[] } | ({ ok: false } & Problem);

export const nsOf = (o: { metadata: { namespace?: string } }): string => o.metadata.namespace ?? 'default';

/** A Lookup over a set of manifests (objects without a namespace are in `default`). */
export function lookupOf(set: ResourceSet): Lookup {
  const find = <K extends ClarusResource['kind']>(kind: K, ns: string, name: string): Extract<ClarusResource, { kind: K }> | undefined =>
    set.resources.find((r) => r.kind === kind && nsOf(r) === ns && r.metadata.name === name) as Extract<ClarusResource, { kind: K }> | undefined;
  return {
    policy: (ns, name) => find('SecurityPolicy', ns, name),
    backend: (ns, name) => find('CloudBackend', ns, name),
    secret: (ns, name) => set.secrets.find((s) => nsOf(s) === ns && s.metadata.name === name),
    grants: (ns) => set.resources.filter((r): r is AccessGrant => r.kind === 'AccessGrant' && nsOf(r) === ns),
  };
}

/** Secret names a backend needs: credentials always, the read-only role's and the CA when it names them. */
export function backendSecrets(b: CloudBackend): Array<{ name: string; key?: string }> {
  const refs: Array<{ name: string; key?: string }> = [{ name: b.spec.credentialsSecretRef.name }];
  if (b.spec.readOnlyCredentialsSecretRef) refs.push({ name: b.spec.readOnlyCredentialsSecretRef.name });
  if (b.spec.tls?.caSecretRef) refs.push({ name: b.spec.tls.caSecretRef.name, key: b.spec.tls.caSecretRef.key ?? 'ca.crt' });
  return refs;
}

export function proxySecrets(p: ClarusProxy): string[] {
  return [p.spec.tls?.secretName, p.spec.upstream?.tls?.secretName].filter((s): s is string => Boolean(s));
}

/** Secrets the policy's key provider reads: Vault's CA and token (provider vaultTransit). */
export function keyProviderSecrets(policy: SecurityPolicy): Array<{ name: string; key?: string }> {
  const v = policy.spec.keyring.provider === 'vaultTransit' ? policy.spec.keyring.vaultTransit : undefined;
  if (!v) return [];
  const refs: Array<{ name: string; key?: string }> = [];
  if (v.caSecretRef) refs.push({ name: v.caSecretRef.name, key: v.caSecretRef.key ?? 'ca.crt' });
  if (v.auth.tokenSecretRef) refs.push({ name: v.auth.tokenSecretRef.name, key: v.auth.tokenSecretRef.key ?? 'token' });
  return refs;
}

export function grantsFor(proxy: ClarusProxy, all: AccessGrant[]): AccessGrant[] {
  return all.filter((g) => g.spec.proxyRef.name === proxy.metadata.name)
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}

/** Every Secret the proxy's configuration reads, as far as its policy and backends resolve. */
export function referencedSecrets(proxy: ClarusProxy, policy: SecurityPolicy | undefined, lookup: Lookup): Set<string> {
  const ns = nsOf(proxy);
  const names = new Set(proxySecrets(proxy));
  if (!policy) return names;
  names.add(policy.spec.keyring.secretName);
  for (const ref of keyProviderSecrets(policy)) names.add(ref.name);
  for (const b of policy.spec.backends) {
    const backend = lookup.backend(ns, b);
    if (backend) for (const ref of backendSecrets(backend)) names.add(ref.name);
  }
  for (const g of grantsFor(proxy, lookup.grants(ns))) {
    if (g.spec.subject.passwordSecretRef) names.add(g.spec.subject.passwordSecretRef.name);
  }
  return names;
}

function secretProblem(lookup: Lookup, ns: string, ref: { name: string; key?: string }, user: string): Problem | undefined {
  const secret = lookup.secret(ns, ref.name);
  if (!secret) return { reason: InputReason.SecretNotFound, message: `Secret ${ns}/${ref.name} (${user}) not found` };
  if (ref.key && secret.data?.[ref.key] === undefined && secret.stringData?.[ref.key] === undefined) {
    return { reason: InputReason.SecretKeyMissing, message: `Secret ${ns}/${ref.name} (${user}) has no key ${ref.key}` };
  }
  return undefined;
}

/** A grant that cannot be rendered (its password Secret is missing) is left out; its own status says why. */
export function grantProblem(lookup: Lookup, grant: AccessGrant): Problem | undefined {
  const ref = grant.spec.subject.passwordSecretRef;
  if (!ref) return undefined;
  return secretProblem(lookup, nsOf(grant), { name: ref.name, key: ref.key ?? 'password' }, `password of grant ${grant.metadata.name}`);
}

function collectBackends(lookup: Lookup, ns: string, policy: SecurityPolicy): CloudBackend[] | Problem {
  const backends: CloudBackend[] = [];
  for (const name of policy.spec.backends) {
    const backend = lookup.backend(ns, name);
    if (!backend) return { reason: InputReason.BackendNotFound, message: `CloudBackend ${ns}/${name} (used by SecurityPolicy ${policy.metadata.name}) not found` };
    backends.push(backend);
  }
  return backends;
}

function requiredSecrets(proxy: ClarusProxy, policy: SecurityPolicy, backends: CloudBackend[]):
  Array<{ ref: { name: string; key?: string }; user: string }> {
  return [
    { ref: { name: policy.spec.keyring.secretName }, user: `keyring of SecurityPolicy ${policy.metadata.name}` },
    ...keyProviderSecrets(policy).map((ref) => ({ ref, user: `Vault settings of SecurityPolicy ${policy.metadata.name}` })),
    ...backends.flatMap((b) => backendSecrets(b).map((ref) => ({ ref, user: `CloudBackend ${b.metadata.name}` }))),
    ...proxySecrets(proxy).map((name) => ({ ref: { name }, user: `ClarusProxy ${proxy.metadata.name}` })),
  ];
}

/** The proxy's grants whose password Secret exists (added to `secrets`), and the others, skipped. */
function usableGrants(proxy: ClarusProxy, lookup: Lookup, secrets: Map<string, SecretManifest>): { grants: AccessGrant[]; skippedGrants: Problem[] } {
  const ns = nsOf(proxy);
  const grants: AccessGrant[] = [];
  const skippedGrants: Problem[] = [];
  for (const grant of grantsFor(proxy, lookup.grants(ns))) {
    const problem = grantProblem(lookup, grant);
    if (problem) {
      skippedGrants.push(problem);
      continue;
    }
    grants.push(grant);
    const ref = grant.spec.subject.passwordSecretRef;
    if (ref) secrets.set(ref.name, lookup.secret(ns, ref.name) as SecretManifest);
  }
  return { grants, skippedGrants };
}

/**
 * Everything render() needs for one proxy, or the first missing or invalid object (the operator
 * waits for it). Grants whose password Secret is missing are left out and listed.
 */
export function gatherInputs(proxy: ClarusProxy, lookup: Lookup): Gathered {
  const ns = nsOf(proxy);
  const policy = lookup.policy(ns, proxy.spec.policyRef.name);
  if (!policy) return { ok: false, reason: InputReason.PolicyNotFound, message: `SecurityPolicy ${ns}/${proxy.spec.policyRef.name} not found` };
  const invalid = policyIssues(policy.spec, policy.metadata)[0];
  if (invalid) return { ok: false, reason: InputReason.PolicyInvalid, message: `SecurityPolicy ${ns}/${policy.metadata.name}: ${invalid.path}: ${invalid.message}` };
  const backends = collectBackends(lookup, ns, policy);
  if (!Array.isArray(backends)) return { ok: false, ...backends };
  const secrets = new Map<string, SecretManifest>();
  for (const { ref, user } of requiredSecrets(proxy, policy, backends)) {
    const problem = secretProblem(lookup, ns, ref, user);
    if (problem) return { ok: false, ...problem };
    secrets.set(ref.name, lookup.secret(ns, ref.name) as SecretManifest);
  }
  const { grants, skippedGrants } = usableGrants(proxy, lookup, secrets);
  const sortedSecrets = [...secrets.values()].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  return { ok: true, inputs: { proxy, policy, backends, grants, secrets: sortedSecrets }, skippedGrants };
}
