// Which objects a ClarusProxy depends on, and gathering them from the caches. Pure: a Lookup is any
// read-only view of the caches, so the same code runs against informers and against test fixtures.
import type { AccessGrant, ClarusProxy, CloudBackend, SecretManifest, SecurityPolicy } from '@clarus/crds';
import { Reason } from './conditions.ts';
import { checkPolicy } from './securitypolicy/check.ts';

export interface Lookup {
  policy(namespace: string, name: string): SecurityPolicy | undefined;
  backend(namespace: string, name: string): CloudBackend | undefined;
  secret(namespace: string, name: string): SecretManifest | undefined;
  grants(namespace: string): AccessGrant[];
}

export interface ProxyInputs {
  proxy: ClarusProxy;
  policy: SecurityPolicy;
  backends: CloudBackend[];
  grants: AccessGrant[];
  secrets: SecretManifest[];
}

export interface Problem { reason: string; message: string }
export type Gathered = { ok: true; inputs: ProxyInputs; skippedGrants: Problem[] } | ({ ok: false } & Problem);

export const nsOf = (o: { metadata: { namespace?: string } }): string => o.metadata.namespace ?? 'default';

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

export function grantsFor(proxy: ClarusProxy, all: AccessGrant[]): AccessGrant[] {
  return all.filter((g) => g.spec.proxyRef.name === proxy.metadata.name)
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}

function secretProblem(lookup: Lookup, ns: string, ref: { name: string; key?: string }, user: string): Problem | undefined {
  const secret = lookup.secret(ns, ref.name);
  if (!secret) return { reason: Reason.SecretNotFound, message: `Secret ${ns}/${ref.name} (${user}) not found` };
  if (ref.key && secret.data?.[ref.key] === undefined && secret.stringData?.[ref.key] === undefined) {
    return { reason: Reason.SecretKeyMissing, message: `Secret ${ns}/${ref.name} (${user}) has no key ${ref.key}` };
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
    if (!backend) return { reason: Reason.BackendNotFound, message: `CloudBackend ${ns}/${name} (used by SecurityPolicy ${policy.metadata.name}) not found` };
    backends.push(backend);
  }
  return backends;
}

function requiredSecrets(proxy: ClarusProxy, policy: SecurityPolicy, backends: CloudBackend[]):
  Array<{ ref: { name: string; key?: string }; user: string }> {
  return [
    { ref: { name: policy.spec.keyring.secretName }, user: `keyring of SecurityPolicy ${policy.metadata.name}` },
    ...backends.flatMap((b) => backendSecrets(b).map((ref) => ({ ref, user: `CloudBackend ${b.metadata.name}` }))),
    ...proxySecrets(proxy).map((name) => ({ ref: { name }, user: `ClarusProxy ${proxy.metadata.name}` })),
  ];
}

export function gatherInputs(proxy: ClarusProxy, lookup: Lookup): Gathered {
  const ns = nsOf(proxy);
  const policy = lookup.policy(ns, proxy.spec.policyRef.name);
  if (!policy) return { ok: false, reason: Reason.PolicyNotFound, message: `SecurityPolicy ${ns}/${proxy.spec.policyRef.name} not found` };
  const invalid = checkPolicy(policy);
  if (invalid) return { ok: false, reason: Reason.PolicyInvalid, message: `SecurityPolicy ${ns}/${policy.metadata.name}: ${invalid.message}` };
  const backends = collectBackends(lookup, ns, policy);
  if (!Array.isArray(backends)) return { ok: false, ...backends };
  const secrets = new Map<string, SecretManifest>();
  for (const { ref, user } of requiredSecrets(proxy, policy, backends)) {
    const problem = secretProblem(lookup, ns, ref, user);
    if (problem) return { ok: false, ...problem };
    secrets.set(ref.name, lookup.secret(ns, ref.name) as SecretManifest);
  }
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
  const sortedSecrets = [...secrets.values()].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  return { ok: true, inputs: { proxy, policy, backends, grants, secrets: sortedSecrets }, skippedGrants };
}

export type DependencyKind = 'SecurityPolicy' | 'CloudBackend' | 'AccessGrant' | 'Secret';

/** Does `proxy` (as currently resolvable) depend on the object `kind/name` in its namespace? */
export function dependsOn(proxy: ClarusProxy, lookup: Lookup, kind: DependencyKind, name: string): boolean {
  const ns = nsOf(proxy);
  const policy = lookup.policy(ns, proxy.spec.policyRef.name);
  switch (kind) {
    case 'SecurityPolicy': return proxy.spec.policyRef.name === name;
    case 'CloudBackend': return policy?.spec.backends.includes(name) ?? false;
    case 'AccessGrant': return true; // a new or changed grant may name this proxy; re-render is cheap
    case 'Secret': return secretNames(proxy, policy, lookup).has(name);
  }
}

function secretNames(proxy: ClarusProxy, policy: SecurityPolicy | undefined, lookup: Lookup): Set<string> {
  const ns = nsOf(proxy);
  const names = new Set(proxySecrets(proxy));
  if (!policy) return names;
  names.add(policy.spec.keyring.secretName);
  for (const b of policy.spec.backends) {
    const backend = lookup.backend(ns, b);
    if (backend) for (const ref of backendSecrets(backend)) names.add(ref.name);
  }
  for (const g of grantsFor(proxy, lookup.grants(ns))) {
    if (g.spec.subject.passwordSecretRef) names.add(g.spec.subject.passwordSecretRef.name);
  }
  return names;
}
