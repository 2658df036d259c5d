// Pure checks of a SecurityPolicy that the CRD's CEL rules cannot express (they span lists), plus
// the figures its status reports.
import type { ColumnSpec, Protection, SecurityPolicy } from '@clarus/crds';
import { hashOf } from '../../specs/hash.ts';
import type { Problem } from '../refs.ts';
import { Reason } from '../conditions.ts';

export function effectiveProtection(policy: SecurityPolicy, column: ColumnSpec): Protection | undefined {
  return column.protection ?? policy.spec.attributeTypes?.[column.attributeType];
}

const isProtected = (p: Protection | undefined): boolean => Boolean(p && (p.encrypt || p.anonymize || p.split));

export function protectedColumns(policy: SecurityPolicy): number {
  return policy.spec.datasets.reduce(
    (n, ds) => n + ds.columns.filter((c) => isProtected(effectiveProtection(policy, c))).length, 0);
}

function duplicate(names: string[]): string | undefined {
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) return n;
    seen.add(n);
  }
  return undefined;
}

const invalid = (message: string): Problem => ({ reason: Reason.Invalid, message });

function checkDataset(policy: SecurityPolicy, index: number): Problem | undefined {
  const ds = policy.spec.datasets[index];
  if (!ds) return undefined;
  const at = `spec.datasets[${index}]`;
  const dupColumn = duplicate(ds.columns.map((c) => c.name));
  if (dupColumn) return invalid(`${at}.columns: column ${dupColumn} is listed twice`);
  if (ds.rowKey && !ds.columns.some((c) => c.name === ds.rowKey)) {
    return invalid(`${at}.rowKey: ${ds.rowKey} is not one of the dataset's columns`);
  }
  for (const [ci, column] of ds.columns.entries()) {
    const problem = checkColumn(policy, { at, index: ci, column, rowKey: ds.rowKey });
    if (problem) return problem;
  }
  return undefined;
}

function checkColumn(policy: SecurityPolicy, c: { at: string; index: number; column: ColumnSpec; rowKey?: string }): Problem | undefined {
  const p = effectiveProtection(policy, c.column);
  const field = `${c.at}.columns[${c.index}].protection`;
  if (p?.encrypt && p.anonymize) return invalid(`${field}: encrypt and anonymize are mutually exclusive`);
  if (!p?.split) return undefined;
  if (!policy.spec.backends.includes(p.split.backend)) return invalid(`${field}.split.backend: ${p.split.backend} is not in spec.backends`);
  if (!c.rowKey) return invalid(`${c.at}.rowKey: required because column ${c.column.name} is split`);
  return undefined;
}

/** The first problem found, naming the field, or undefined when the policy is valid. */
export function checkPolicy(policy: SecurityPolicy): Problem | undefined {
  if (policy.spec.backends.length === 0) return invalid('spec.backends: at least one CloudBackend is required');
  const dupBackend = duplicate(policy.spec.backends);
  if (dupBackend) return invalid(`spec.backends: ${dupBackend} is listed twice`);
  const dupDataset = duplicate(policy.spec.datasets.map((d) => d.name));
  if (dupDataset) return invalid(`spec.datasets: dataset ${dupDataset} is listed twice`);
  const dupTable = duplicate(policy.spec.datasets.map((d) => d.table));
  if (dupTable) return invalid(`spec.datasets: table ${dupTable} is listed twice`);
  for (let i = 0; i < policy.spec.datasets.length; i++) {
    const problem = checkDataset(policy, i);
    if (problem) return problem;
  }
  return undefined;
}

/** Hash of the policy as the proxy applies it (attribute-type defaults resolved per column). */
export function policyHash(policy: SecurityPolicy): string {
  const datasets = policy.spec.datasets.map((ds) => ({
    ...ds,
    columns: ds.columns.map((c) => ({ name: c.name, attributeType: c.attributeType, protection: effectiveProtection(policy, c) ?? null })),
  }));
  return hashOf({ backends: policy.spec.backends, keyring: policy.spec.keyring, onUnsupported: policy.spec.onUnsupported ?? 'reject', datasets });
}
