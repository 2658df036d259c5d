// Offline validation of a set of manifests with the cluster's rules: each clarus.io resource
// against its schema and CEL rules, Secrets for shape, then the references between them.
import { GROUP } from '@clarus/crds/schema/index.ts';
import { READ_ONLY_ROLE_FIELD, readOnlyRoleWarning } from '../runtime/roles.ts';
import type { ResourceSet } from '../inputs.ts';
import type { ClarusResource, SecretManifest } from '@clarus/crds/types.ts';
import { resourceId, type Issue } from './issue.ts';
import { checkReferences } from './refs.ts';
import { checkResource, type Manifest } from './resource.ts';

export interface Loaded { doc: unknown; source: string }
export interface ValidationResult { issues: Issue[]; set: ResourceSet; errors: number }

function isManifest(doc: unknown): doc is Manifest {
  return typeof doc === 'object' && doc !== null && !Array.isArray(doc);
}

function checkSecret(m: Manifest): Issue[] {
  const id = resourceId('Secret', m.metadata);
  const out: Issue[] = [];
  if (typeof m.metadata?.name !== 'string') out.push({ resource: id, path: 'metadata.name', message: 'required field is missing', severity: 'error' });
  for (const [k, v] of Object.entries((m.data ?? {}) as Record<string, unknown>)) {
    if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v.replace(/\s/g, ''))) out.push({ resource: id, path: `data.${k}`, message: 'must be base64 (use stringData for plain text)', severity: 'error' });
  }
  return out;
}

function classify(l: Loaded, set: ResourceSet, issues: Issue[], defaultNamespace: string): void {
  const at = (i: Issue): Issue => ({ ...i, source: l.source });
  if (!isManifest(l.doc)) return void issues.push(at({ resource: '(document)', path: '', message: 'not a Kubernetes object', severity: 'error' }));
  const m = l.doc;
  if (m.kind === 'Secret' && m.apiVersion === 'v1') {
    const found = checkSecret(m);
    issues.push(...found.map(at));
    if (found.length === 0) set.secrets.push({ ...(m as unknown as SecretManifest), metadata: { ...(m.metadata as SecretManifest['metadata']), namespace: m.metadata?.namespace ?? defaultNamespace } });
    return;
  }
  if (typeof m.apiVersion !== 'string' || !m.apiVersion.startsWith(`${GROUP}/`)) {
    return void issues.push(at({ resource: resourceId(String(m.kind), m.metadata), path: 'apiVersion', message: `not a ${GROUP} resource or Secret; ignored`, severity: 'warning' }));
  }
  const checked = checkResource(m, defaultNamespace);
  issues.push(...checked.issues.map(at));
  if (checked.issues.length === 0) set.resources.push(checked.object as unknown as ClarusResource);
}

function duplicates(set: ResourceSet): Issue[] {
  const seen = new Set<string>();
  const out: Issue[] = [];
  for (const r of [...set.resources, ...set.secrets]) {
    const id = resourceId(r.kind, r.metadata);
    if (seen.has(id)) out.push({ resource: id, path: 'metadata.name', message: 'defined more than once', severity: 'error' });
    seen.add(id);
  }
  return out;
}

/** Valid, but weaker than it should be: a CloudBackend without a read-only role. */
function roleWarnings(set: ResourceSet): Issue[] {
  return set.resources.flatMap((r) => {
    const message = r.kind === 'CloudBackend' ? readOnlyRoleWarning(r) : undefined;
    return message ? [{ resource: resourceId(r.kind, r.metadata), path: READ_ONLY_ROLE_FIELD, message, severity: 'warning' as const }] : [];
  });
}

/** Reference issues name resources; point them at the file each resource came from. */
function withSources(issues: Issue[], docs: Loaded[], defaultNamespace: string): Issue[] {
  const sources = new Map<string, string>();
  for (const l of docs) {
    if (!isManifest(l.doc)) continue;
    const md = l.doc.metadata;
    sources.set(resourceId(String(l.doc.kind), { ...md, namespace: md?.namespace ?? defaultNamespace }), l.source);
  }
  return issues.map((i) => {
    const source = sources.get(i.resource);
    return source && !i.source ? { ...i, source } : i;
  });
}

export function validateManifests(docs: Loaded[], defaultNamespace = 'default'): ValidationResult {
  const set: ResourceSet = { resources: [], secrets: [] };
  const issues: Issue[] = [];
  for (const l of docs) classify(l, set, issues, defaultNamespace);
  issues.push(...duplicates(set));
  // References are only meaningful between individually valid resources.
  if (!issues.some((i) => i.severity === 'error')) issues.push(...withSources(checkReferences(set), docs, defaultNamespace));
  issues.push(...withSources(roleWarnings(set), docs, defaultNamespace));
  return { issues, set, errors: issues.filter((i) => i.severity === 'error').length };
}

export { formatIssue, type Issue } from './issue.ts';
