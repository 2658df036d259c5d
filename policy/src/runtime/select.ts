// Picks, from a mixed set of resources (e.g. every manifest under a folder), what render() needs
// for one ClarusProxy, through the same Lookup and references as the operator's gatherInputs. Unlike
// it, a missing backend or Secret is left for render() to report, so one run lists every problem.
import type { ClarusProxy, CloudBackend, SecretManifest } from '@clarus/crds/types.ts';
import { lookupOf, nsOf, referencedSecrets, type ResourceSet } from '../inputs.ts';
import type { Issue } from '../validate/issue.ts';
import type { RenderInput } from './render.ts';

export function proxiesOf(set: ResourceSet): ClarusProxy[] {
  return set.resources.filter((r): r is ClarusProxy => r.kind === 'ClarusProxy');
}

export function selectForProxy(set: ResourceSet, proxy: ClarusProxy): RenderInput | Issue {
  const ns = nsOf(proxy);
  const lookup = lookupOf(set);
  const policy = lookup.policy(ns, proxy.spec.policyRef.name);
  if (!policy) {
    return { resource: `ClarusProxy/${ns}/${proxy.metadata.name}`, path: 'spec.policyRef.name', message: `SecurityPolicy ${proxy.spec.policyRef.name} not found in namespace ${ns}`, severity: 'error' };
  }
  return {
    proxy,
    policy,
    backends: policy.spec.backends.map((b) => lookup.backend(ns, b)).filter((b): b is CloudBackend => b !== undefined),
    grants: lookup.grants(ns).filter((g) => g.spec.proxyRef.name === proxy.metadata.name),
    secrets: [...referencedSecrets(proxy, policy, lookup)].map((s) => lookup.secret(ns, s)).filter((s): s is SecretManifest => s !== undefined),
  };
}
