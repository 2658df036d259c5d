// References between resources: the checks the operator makes before it renders (policy →
// backends and keyring, proxy → policy and TLS Secrets, grant → proxy, datasets and password
// Secret). With Secret manifests present, every proxy is also rendered, so a set that validates
// is a set that renders.
import { parseKeyring } from '../runtime/keyring.ts';
import { DEFAULT_KEY, runtimeDataset, usedKeyNames } from '../runtime/policy.ts';
import { render, RenderError } from '../runtime/render.ts';
import { policyIssues } from '../rules/securitypolicy.ts';
import { nsOf, type ResourceSet } from '../inputs.ts';
import { proxiesOf, selectForProxy } from '../runtime/select.ts';
import type { AccessGrant, ClarusProxy, ClarusResource, SecurityPolicy } from '@clarus/crds/types.ts';
import { resourceId, type Issue } from './issue.ts';

function find<K extends ClarusResource['kind']>(set: ResourceSet, kind: K, ns: string, name: string): Extract<ClarusResource, { kind: K }> | undefined {
  return set.resources.find((r) => r.kind === kind && nsOf(r) === ns && r.metadata.name === name) as Extract<ClarusResource, { kind: K }> | undefined;
}

function err(r: ClarusResource, path: string, message: string): Issue {
  return { resource: resourceId(r.kind, r.metadata), path, message, severity: 'error' };
}

/** The policy's own rules (policyIssues), also for a policy no proxy uses yet, then its backends. */
function policyRefs(set: ResourceSet, p: SecurityPolicy): Issue[] {
  return [
    ...policyIssues(p.spec, p.metadata).map((i) => err(p, i.path, i.message)),
    ...p.spec.backends.flatMap((b, i) => (find(set, 'CloudBackend', nsOf(p), b) ? [] : [err(p, `spec.backends[${i}]`, `CloudBackend ${b} not found in namespace ${nsOf(p)}`)])),
  ];
}

function proxyRefs(set: ResourceSet, p: ClarusProxy): Issue[] {
  return find(set, 'SecurityPolicy', nsOf(p), p.spec.policyRef.name) ? [] : [err(p, 'spec.policyRef.name', `SecurityPolicy ${p.spec.policyRef.name} not found in namespace ${nsOf(p)}`)];
}

function grantRefs(set: ResourceSet, g: AccessGrant): Issue[] {
  const proxy = find(set, 'ClarusProxy', nsOf(g), g.spec.proxyRef.name);
  if (!proxy) return [err(g, 'spec.proxyRef.name', `ClarusProxy ${g.spec.proxyRef.name} not found in namespace ${nsOf(g)}`)];
  const policy = find(set, 'SecurityPolicy', nsOf(g), proxy.spec.policyRef.name);
  if (!policy) return [];
  return g.spec.datasets.flatMap((d, i) => (d === '*' || policy.spec.datasets.some((x) => x.name === d)
    ? [] : [err(g, `spec.datasets[${i}]`, `dataset ${d} is not in SecurityPolicy ${policy.metadata.name}`)]));
}

/** A policy no proxy uses yet is not rendered; its keyring is still checked. */
function keyringIssues(set: ResourceSet, p: SecurityPolicy): Issue[] {
  const name = p.spec.keyring.secretName;
  const secret = set.secrets.find((s) => s.metadata.name === name && nsOf(s) === nsOf(p));
  if (!secret) return [err(p, 'spec.keyring.secretName', `keyring Secret ${name} not found in namespace ${nsOf(p)}`)];
  const kr = parseKeyring(secret, p.spec.keyring.provider === 'vaultTransit');
  const datasets = p.spec.datasets.map((d) => runtimeDataset(p.spec, d, p.spec.backends[0] ?? ''));
  const missing = [DEFAULT_KEY, ...usedKeyNames(datasets)].filter((k) => !kr.keys.some((x) => x.name === k));
  return [
    ...kr.errors.map((e) => ({ resource: resourceId('Secret', secret.metadata), path: `data.${e.key}`, message: e.message, severity: 'error' as const })),
    ...[...new Set(missing)].map((k) => err(p, 'spec.keyring.secretName', `keyring Secret ${name} has no key ${k} (expected data key ${k}.v1)`)),
  ];
}

function unusedPolicies(set: ResourceSet): SecurityPolicy[] {
  const used = new Set(proxiesOf(set).map((x) => `${nsOf(x)}/${x.spec.policyRef.name}`));
  return set.resources.filter((r): r is SecurityPolicy => r.kind === 'SecurityPolicy' && !used.has(`${nsOf(r)}/${r.metadata.name}`));
}

function renderIssues(set: ResourceSet): Issue[] {
  const out: Issue[] = [];
  for (const proxy of proxiesOf(set)) {
    const input = selectForProxy(set, proxy);
    if ('resource' in input) continue; // already reported by proxyRefs
    try {
      render(input);
    } catch (e) {
      if (!(e instanceof RenderError)) throw e;
      out.push(...e.issues);
    }
  }
  return out;
}

function dedupe(issues: Issue[]): Issue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.resource}\0${i.path}\0${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Cross-resource issues of a set whose resources are individually valid. */
export function checkReferences(set: ResourceSet): Issue[] {
  const issues: Issue[] = [];
  for (const r of set.resources) {
    if (r.kind === 'SecurityPolicy') issues.push(...policyRefs(set, r));
    if (r.kind === 'ClarusProxy') issues.push(...proxyRefs(set, r));
    if (r.kind === 'AccessGrant') issues.push(...grantRefs(set, r));
  }
  if (set.secrets.length === 0) {
    issues.push({ resource: '(input)', path: '', message: 'no Secret manifests given: references to Secrets were not checked and nothing was rendered', severity: 'warning' });
  } else {
    issues.push(...renderIssues(set), ...unusedPolicies(set).flatMap((p) => keyringIssues(set, p)));
  }
  return dedupe(issues);
}
