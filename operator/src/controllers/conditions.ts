// metav1.Condition handling: set a condition, keeping lastTransitionTime when the status is unchanged.
import type { Condition } from '@clarus/crds';

export const TRUE = 'True';
export const FALSE = 'False';
export const UNKNOWN = 'Unknown';
export type ConditionStatus = Condition['status'];

/** Condition types (named constants, shared with docs/operator.md). */
export const ConditionType = {
  Ready: 'Ready',
  PolicyRendered: 'PolicyRendered',
  Available: 'Available',
  Valid: 'Valid',
  Reachable: 'Reachable',
  ReadOnlyRole: 'ReadOnlyRole',
} as const;

/** Reasons a condition can carry. */
export const Reason = {
  Rendered: 'Rendered',
  RenderFailed: 'RenderFailed',
  PolicyNotFound: 'PolicyNotFound',
  PolicyInvalid: 'PolicyInvalid',
  BackendNotFound: 'BackendNotFound',
  SecretNotFound: 'SecretNotFound',
  SecretKeyMissing: 'SecretKeyMissing',
  ProxyNotFound: 'ProxyNotFound',
  Expired: 'Expired',
  Valid: 'Valid',
  Invalid: 'Invalid',
  Reconciled: 'Reconciled',
  ApplyFailed: 'ApplyFailed',
  DeploymentAvailable: 'DeploymentAvailable',
  DeploymentUnavailable: 'DeploymentUnavailable',
  SidecarMode: 'SidecarMode',
  Reachable: 'Reachable',
  Unreachable: 'Unreachable',
  NotChecked: 'NotChecked',
  ReadOnlyRoleConfigured: 'ReadOnlyRoleConfigured',
  NoReadOnlyRole: 'NoReadOnlyRole',
  Ready: 'Ready',
  NotReady: 'NotReady',
} as const;

export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
}

/** Returns a new list with `input` set; lastTransitionTime changes only when the status flips. */
export function setCondition(
  existing: readonly Condition[] | undefined,
  input: ConditionInput,
  observedGeneration: number | undefined,
  now: string,
): Condition[] {
  const list = [...(existing ?? [])];
  const index = list.findIndex((c) => c.type === input.type);
  const previous = index >= 0 ? list[index] : undefined;
  const lastTransitionTime = previous && previous.status === input.status ? previous.lastTransitionTime : now;
  const next: Condition = { ...input, lastTransitionTime, ...(observedGeneration !== undefined ? { observedGeneration } : {}) };
  if (index >= 0) list[index] = next;
  else list.push(next);
  return list;
}

export function setConditions(
  existing: readonly Condition[] | undefined,
  inputs: readonly ConditionInput[],
  observedGeneration: number | undefined,
  now: string,
): Condition[] {
  return inputs.reduce<Condition[]>((acc, c) => setCondition(acc, c, observedGeneration, now), [...(existing ?? [])]);
}

export function findCondition(list: readonly Condition[] | undefined, type: string): Condition | undefined {
  return list?.find((c) => c.type === type);
}

/** Status equality ignoring lastTransitionTime noise, so unchanged status is not rewritten. */
export function sameConditions(a: readonly Condition[] | undefined, b: readonly Condition[] | undefined): boolean {
  const strip = (l: readonly Condition[] | undefined): string =>
    JSON.stringify([...(l ?? [])].sort((x, y) => x.type.localeCompare(y.type)));
  return strip(a) === strip(b);
}
