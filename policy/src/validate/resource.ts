// Validation of one resource: defaults, then schema, then CEL (only on a structurally valid object,
// as a failed type would only make the rules fail confusingly).
import { kindDef, objectSchema, GROUP, VERSION } from '@clarus/crds/schema/index.ts';
import { DNS_SUBDOMAIN } from '@clarus/crds/schema/props.ts';
import { validateRules } from './cel.ts';
import { resourceId, type Issue } from './issue.ts';
import { applyDefaults, validateSchema, type FieldError } from './structural.ts';

export interface Manifest { apiVersion?: unknown; kind?: unknown; metadata?: { name?: string; namespace?: string; [k: string]: unknown }; [k: string]: unknown }

function metadataErrors(m: Manifest): FieldError[] {
  const md = m.metadata;
  if (typeof md !== 'object' || md === null) return [{ path: 'metadata', message: 'required field is missing' }];
  const out: FieldError[] = [];
  if (typeof md.name !== 'string' || md.name === '') out.push({ path: 'metadata.name', message: 'required field is missing' });
  else if (md.name.length > 253 || !new RegExp(DNS_SUBDOMAIN).test(md.name)) out.push({ path: 'metadata.name', message: `${JSON.stringify(md.name)} is not a valid object name (DNS-1123 subdomain)` });
  if (md.namespace !== undefined && (typeof md.namespace !== 'string' || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(md.namespace))) {
    out.push({ path: 'metadata.namespace', message: 'must be a DNS-1123 label' });
  }
  return out;
}

export interface Checked { object: Manifest; issues: Issue[] }

/** Validates a clarus.io resource; returns it with defaults applied, and its issues. */
export function checkResource(m: Manifest, defaultNamespace = 'default'): Checked {
  const kind = String(m.kind);
  const def = kindDef(kind);
  const withNs: Manifest = { ...m, metadata: { ...m.metadata, namespace: m.metadata?.namespace ?? defaultNamespace } };
  const id = resourceId(kind, withNs.metadata);
  const issue = (e: FieldError): Issue => ({ resource: id, path: e.path, message: e.message, severity: 'error' });
  if (!def) return { object: withNs, issues: [issue({ path: 'kind', message: `unknown kind ${kind} in ${GROUP}` })] };
  if (m.apiVersion !== `${GROUP}/${VERSION}`) {
    return { object: withNs, issues: [issue({ path: 'apiVersion', message: `must be ${GROUP}/${VERSION}, got ${JSON.stringify(m.apiVersion)}` })] };
  }
  const schema = objectSchema(def);
  const { apiVersion, kind: k, metadata, ...rest } = withNs;
  const defaulted = { apiVersion, kind: k, metadata, ...(applyDefaults(schema, rest) as Record<string, unknown>) } as Manifest;
  const errors = metadataErrors(defaulted);
  const { metadata: _md, ...body } = defaulted;
  validateSchema(schema, body, '', errors);
  if (errors.length === 0) validateRules(schema, body, '', errors);
  return { object: defaulted, issues: errors.map(issue) };
}
