// The SecurityPolicy's Valid condition and status figures. The rules themselves are the policy
// package's (the same ones render applies); this file only turns the first broken rule into a Problem.
import type { ColumnSpec, Protection, SecurityPolicy } from '@clarus/crds';
import { declaredProtection, policyIssues } from '@clarus/policy/rules/securitypolicy.ts';
import { hashOf } from '../../specs/hash.ts';
import type { Problem } from '@clarus/policy/inputs.ts';
import { Reason } from '../conditions.ts';

export function effectiveProtection(policy: SecurityPolicy, column: ColumnSpec): Protection | undefined {
  return declaredProtection(policy.spec, column);
}

const isProtected = (p: Protection | undefined): boolean => Boolean(p && (p.encrypt || p.anonymize || p.split));

export function protectedColumns(policy: SecurityPolicy): number {
  return policy.spec.datasets.reduce(
    (n, ds) => n + ds.columns.filter((c) => isProtected(effectiveProtection(policy, c))).length, 0);
}

/** The first broken rule, naming the field, or undefined when the policy is valid. */
export function checkPolicy(policy: SecurityPolicy): Problem | undefined {
  const first = policyIssues(policy.spec, policy.metadata)[0];
  return first ? { reason: Reason.Invalid, message: `${first.path}: ${first.message}` } : undefined;
}

/** Hash of the policy as the proxy applies it (attribute-type defaults resolved per column). */
export function policyHash(policy: SecurityPolicy): string {
  const datasets = policy.spec.datasets.map((ds) => ({
    ...ds,
    columns: ds.columns.map((c) => ({ name: c.name, attributeType: c.attributeType, protection: effectiveProtection(policy, c) ?? null })),
  }));
  return hashOf({ backends: policy.spec.backends, keyring: policy.spec.keyring, onUnsupported: policy.spec.onUnsupported ?? 'reject', datasets });
}
