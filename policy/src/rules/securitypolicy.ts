// The SecurityPolicy rules that span lists (the CRD's CEL rules check each object on its own), and
// the one rule that needs the proxy too: where its statements go. One rule set for every caller:
// the operator's Valid condition, render (and through it `clarus policy validate|render`), and so
// the proxy's configuration. Pure.
import { IMPORT_PARTIAL_ANNOTATION, type ClarusProxySpec, type ColumnSpec, type ObjectMeta, type Protection, type SecurityPolicySpec } from '@clarus/crds/types.ts';

/** A broken rule: the field (from the resource's root) and why. */
export interface RuleIssue { path: string; message: string }

/** The column's own protection, else its attribute type's default; undefined when it has neither. */
export function declaredProtection(spec: SecurityPolicySpec, column: ColumnSpec): Protection | undefined {
  return column.protection ?? spec.attributeTypes?.[column.attributeType];
}

function duplicate(names: string[]): string | undefined {
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) return n;
    seen.add(n);
  }
  return undefined;
}

interface ColumnAt { at: string; index: number; column: ColumnSpec; rowKey: string | undefined }

function columnIssues(spec: SecurityPolicySpec, c: ColumnAt): RuleIssue[] {
  const p = declaredProtection(spec, c.column);
  const field = `${c.at}.columns[${c.index}].protection`;
  if (p?.encrypt && p.anonymize) return [{ path: field, message: 'encrypt and anonymize are mutually exclusive' }];
  if (!p?.split) return [];
  const placement = splitPlacementIssue(spec, p, field);
  if (placement) return [placement];
  if (!c.rowKey) return [{ path: `${c.at}.rowKey`, message: `required because column ${c.column.name} is split` }];
  return [];
}

/** Where a split column goes: one backend (`backend`) or a point's two coordinates (`coordinates`). */
function splitPlacementIssue(spec: SecurityPolicySpec, p: Protection, field: string): RuleIssue | undefined {
  const split = p.split;
  if (!split) return undefined;
  if ((split.backend === undefined) === (split.coordinates === undefined)) return { path: `${field}.split`, message: 'exactly one of backend, coordinates must be set (split)' };
  if (split.backend !== undefined) return spec.backends.includes(split.backend) ? undefined : { path: `${field}.split.backend`, message: `${split.backend} is not in spec.backends` };
  return coordinatesIssue(spec, p, field);
}

/** A point split by coordinates: two distinct listed backends, stored as plain coordinates. */
function coordinatesIssue(spec: SecurityPolicySpec, p: Protection, field: string): RuleIssue | undefined {
  const coords = p.split?.coordinates ?? [];
  const missing = coords.find((b) => !spec.backends.includes(b));
  if (missing !== undefined) return { path: `${field}.split.coordinates`, message: `${missing} is not in spec.backends` };
  if (coords.length !== 2 || coords[0] === coords[1]) return { path: `${field}.split.coordinates`, message: 'split.coordinates must name two different backends' };
  if (p.encrypt || p.anonymize) return { path: `${field}.split.coordinates`, message: 'a point column split by coordinates is stored as plain coordinates: it cannot also be encrypted or anonymized' };
  return undefined;
}

function datasetIssues(spec: SecurityPolicySpec, index: number): RuleIssue[] {
  const ds = spec.datasets[index];
  if (!ds) return [];
  const at = `spec.datasets[${index}]`;
  // Column names fold to lower case as PostgreSQL folds them (the proxy matches them so): Pat_Name is pat_name.
  const dupColumn = duplicate(ds.columns.map((c) => c.name.toLowerCase()));
  if (dupColumn) return [{ path: `${at}.columns`, message: `column ${dupColumn} is listed twice` }];
  if (ds.rowKey && !ds.columns.some((c) => c.name === ds.rowKey)) {
    return [{ path: `${at}.rowKey`, message: `${ds.rowKey} is not one of the dataset's columns` }];
  }
  const columns = ds.columns.flatMap((column, ci) => columnIssues(spec, { at, index: ci, column, rowKey: ds.rowKey }));
  return columns.length ? columns : kAnonymityIssues(spec, index);
}

/**
 * k-anonymity is a property of a dataset's records: every kAnonymity column of a dataset has the
 * same k and the same tCloseness (or none), since one microaggregation publishes them all.
 */
function kAnonymityIssues(spec: SecurityPolicySpec, index: number): RuleIssue[] {
  const ds = spec.datasets[index];
  if (!ds) return [];
  const settings = ds.columns.flatMap((column, ci) => {
    const ka = declaredProtection(spec, column)?.anonymize?.kAnonymity;
    return ka ? [{ ci, k: ka.k, t: ka.tCloseness }] : [];
  });
  const first = settings[0];
  const other = settings.find((s) => s.k !== first?.k || s.t !== first?.t);
  if (!first || !other) return [];
  const at = `spec.datasets[${index}].columns[${other.ci}].protection.anonymize.kAnonymity`;
  const describe = (s: { k: number; t: number | undefined }): string => `k=${s.k}${s.t === undefined ? '' : ` tCloseness=${s.t}`}`;
  return [{ path: at, message: `every kAnonymity column of dataset ${ds.name} must have the same k and tCloseness: ${ds.columns[first.ci]?.name} has ${describe(first)}, ${ds.columns[other.ci]?.name} has ${describe(other)}` }];
}

/**
 * The table a dataset names, as the proxy resolves it: schema `public` when unqualified, and
 * folded to lower case (the names are unquoted identifiers). `patient`, `public.patient` and
 * `Public.Patient` are one table.
 */
export function tableKey(table: string): string {
  return (table.includes('.') ? table : `public.${table}`).toLowerCase();
}

function duplicateTable(spec: SecurityPolicySpec): RuleIssue | undefined {
  const seen = new Map<string, string>();
  for (const d of spec.datasets) {
    const key = tableKey(d.table);
    const prev = seen.get(key);
    if (prev === undefined) {
      seen.set(key, d.table);
      continue;
    }
    const same = prev === d.table ? `table ${d.table} is listed twice` : `tables ${prev} and ${d.table} are the same table (${key})`;
    return { path: 'spec.datasets', message: `${same}; each table may appear in one dataset only` };
  }
  return undefined;
}

/** An attribute type's default protection is checked where declared, used by a column or not (as the CRD does). */
function attributeTypeIssues(spec: SecurityPolicySpec): RuleIssue[] {
  return Object.entries(spec.attributeTypes ?? {}).flatMap(([type, p]) => (p?.encrypt && p.anonymize
    ? [{ path: `spec.attributeTypes.${type}`, message: 'encrypt and anonymize are mutually exclusive' }] : []));
}

/** A policy printed by `clarus policy import --partial` protects less than its source until reviewed. */
function metadataIssues(metadata: ObjectMeta | undefined): RuleIssue[] {
  const partial = metadata?.annotations?.[IMPORT_PARTIAL_ANNOTATION];
  if (partial === undefined) return [];
  return [{
    path: `metadata.annotations[${IMPORT_PARTIAL_ANNOTATION}]`,
    message: `the policy was imported with --partial and protects less than its source (${partial}); fix what it lists, then remove the annotation`,
  }];
}

/**
 * Every broken rule of the policy, in field order. `backends: []` is valid here: it is the policy
 * of a proxy that forwards to a partner (see placementIssues).
 */
export function policyIssues(spec: SecurityPolicySpec, metadata?: ObjectMeta): RuleIssue[] {
  const partial = metadataIssues(metadata);
  if (partial.length > 0) return partial;
  const dupBackend = duplicate(spec.backends);
  if (dupBackend) return [{ path: 'spec.backends', message: `${dupBackend} is listed twice` }];
  const dupDataset = duplicate(spec.datasets.map((d) => d.name));
  if (dupDataset) return [{ path: 'spec.datasets', message: `dataset ${dupDataset} is listed twice` }];
  const dupTable = duplicateTable(spec);
  if (dupTable) return [dupTable];
  const defaults = attributeTypeIssues(spec);
  if (defaults.length > 0) return defaults;
  return spec.datasets.flatMap((_d, i) => datasetIssues(spec, i));
}

/**
 * Where a proxy's statements go: to the policy's backends, or, with spec.upstream, all to the
 * partner proxy. So exactly one of the two must be given. Paths are the proxy's fields.
 */
export function placementIssues(proxy: ClarusProxySpec, policyName: string, policy: SecurityPolicySpec): RuleIssue[] {
  if (proxy.upstream && policy.backends.length > 0) {
    return [{ path: 'spec.upstream', message: `policy ${policyName} lists backends; a proxy with an upstream forwards everything to the partner, so its policy must list none` }];
  }
  if (!proxy.upstream && policy.backends.length === 0) {
    return [{ path: 'spec.policyRef', message: `policy ${policyName} lists no backends and the proxy has no upstream` }];
  }
  return [];
}
