// Picks, from a mixed set of resources (e.g. every manifest under a folder), what render() needs
// for one ClarusProxy: its policy, the policy's backends, its grants and the namespace's Secrets.
import type { AccessGrant, ClarusProxy, ClarusResource, CloudBackend, SecretManifest, SecurityPolicy } from '@clarus/crds/types.ts';
import type { Issue } from '../validate/issue.ts';
import type { RenderInput } from './render.ts';

export interface ResourceSet { resources: ClarusResource[]; secrets: SecretManifest[] }

const nsOf = (m: { metadata: { namespace?: string } }): string => m.metadata.namespace ?? 'default';

export function proxiesOf(set: ResourceSet): ClarusProxy[] {
  return set.resources.filter((r): r is ClarusProxy => r.kind === 'ClarusProxy');
}

export function selectForProxy(set: ResourceSet, proxy: ClarusProxy): RenderInput | Issue {
  const ns = nsOf(proxy);
  const inNs = set.resources.filter((r) => nsOf(r) === ns);
  const policy = inNs.find((r): r is SecurityPolicy => r.kind === 'SecurityPolicy' && r.metadata.name === proxy.spec.policyRef.name);
  if (!policy) {
    return { resource: `ClarusProxy/${ns}/${proxy.metadata.name}`, path: 'spec.policyRef.name', message: `SecurityPolicy ${proxy.spec.policyRef.name} not found in namespace ${ns}`, severity: 'error' };
  }
  return {
    proxy,
    policy,
    backends: inNs.filter((r): r is CloudBackend => r.kind === 'CloudBackend'),
    grants: inNs.filter((r): r is AccessGrant => r.kind === 'AccessGrant' && r.spec.proxyRef.name === proxy.metadata.name),
    secrets: set.secrets.filter((s) => nsOf(s) === ns),
  };
}
