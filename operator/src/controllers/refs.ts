// Which objects a ClarusProxy depends on, for mapping a changed object to the proxies to reconcile.
// Gathering the inputs themselves is the policy package's (one gatherer over a Lookup, the same
// for informer caches and for manifests read from files).
import type { ClarusProxy } from '@clarus/crds';
import { nsOf, referencedSecrets, type Lookup } from '@clarus/policy/inputs.ts';

export type DependencyKind = 'SecurityPolicy' | 'CloudBackend' | 'AccessGrant' | 'Secret';

/** Does `proxy` (as currently resolvable) depend on the object `kind/name` in its namespace? */
export function dependsOn(proxy: ClarusProxy, lookup: Lookup, kind: DependencyKind, name: string): boolean {
  const ns = nsOf(proxy);
  const policy = lookup.policy(ns, proxy.spec.policyRef.name);
  switch (kind) {
    case 'SecurityPolicy': return proxy.spec.policyRef.name === name;
    case 'CloudBackend': return policy?.spec.backends.includes(name) ?? false;
    case 'AccessGrant': return true; // a new or changed grant may name this proxy; re-render is cheap
    case 'Secret': return referencedSecrets(proxy, policy, lookup).has(name);
  }
}
