// SecurityPolicy reconciler: Valid (the policy itself), Ready (valid and its backends and keyring exist).
import type { SecurityPolicy, SecurityPolicyStatus } from '@clarus/crds';
import type { Context } from '../context.ts';
import type { ConditionInput } from '../conditions.ts';
import { ConditionType, FALSE, Reason, TRUE, setConditions } from '../conditions.ts';
import type { Lookup } from '@clarus/policy/inputs.ts';
import { lookupFrom } from '../context.ts';
import { writeStatus } from '../status.ts';
import { checkPolicy, policyHash, protectedColumns } from './check.ts';

export function missingReference(policy: SecurityPolicy, lookup: Lookup): ConditionInput | undefined {
  const ns = policy.metadata.namespace ?? 'default';
  for (const name of policy.spec.backends) {
    if (!lookup.backend(ns, name)) {
      return { type: ConditionType.Ready, status: FALSE, reason: Reason.BackendNotFound, message: `CloudBackend ${ns}/${name} not found` };
    }
  }
  if (!lookup.secret(ns, policy.spec.keyring.secretName)) {
    return { type: ConditionType.Ready, status: FALSE, reason: Reason.SecretNotFound,
      message: `keyring Secret ${ns}/${policy.spec.keyring.secretName} not found` };
  }
  return undefined;
}

export function policyStatus(policy: SecurityPolicy, lookup: Lookup, now: string): SecurityPolicyStatus {
  const problem = checkPolicy(policy);
  const valid: ConditionInput = problem
    ? { type: ConditionType.Valid, status: FALSE, ...problem }
    : { type: ConditionType.Valid, status: TRUE, reason: Reason.Valid, message: 'Policy is valid' };
  const ready: ConditionInput = problem
    ? { type: ConditionType.Ready, status: FALSE, ...problem }
    : missingReference(policy, lookup) ?? { type: ConditionType.Ready, status: TRUE, reason: Reason.Ready, message: 'Policy is valid and its references exist' };
  return {
    conditions: setConditions(policy.status?.conditions, [valid, ready], policy.metadata.generation, now),
    observedGeneration: policy.metadata.generation,
    protectedColumns: protectedColumns(policy),
    hash: policyHash(policy),
  };
}

export async function reconcilePolicy(ctx: Context, namespace: string, name: string): Promise<void> {
  const policy = ctx.caches.policies.get(namespace, name);
  if (!policy) return;
  await writeStatus(ctx.client, policy, { ...policyStatus(policy, lookupFrom(ctx.caches), ctx.now().toISOString()) });
}
