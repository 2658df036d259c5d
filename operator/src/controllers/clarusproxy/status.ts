// Pure: the status of a ClarusProxy from what the reconcile observed.
import type { ClarusProxy, ClarusProxyStatus } from '@clarus/crds';
import { selectorString } from '../../specs/names.ts';
import { SIDECAR_LISTEN } from '../../specs/sidecar.ts';
import { servicePort } from '../../specs/workload.ts';
import type { ConditionInput } from '../conditions.ts';
import { ConditionType, FALSE, Reason, TRUE, UNKNOWN, setConditions } from '../conditions.ts';
import type { Problem } from '@clarus/policy/inputs.ts';

export interface DeploymentStatus {
  replicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
}

/** What a reconcile did, plus the Deployment status it saw (also when nothing new was applied: the
 * last good configuration keeps serving, and status says so). */
export type Observed = { deployment?: DeploymentStatus } & (
  | { kind: 'renderFailed'; problem: Problem }
  | { kind: 'applied'; policyHash: string }
  | { kind: 'applyFailed'; policyHash: string; message: string });

const isSidecar = (p: ClarusProxy): boolean => (p.spec.mode ?? 'Deployment') === 'Sidecar';

export function endpoint(proxy: ClarusProxy): string {
  if (isSidecar(proxy)) return SIDECAR_LISTEN;
  return `${proxy.metadata.name}.${proxy.metadata.namespace ?? 'default'}.svc:${servicePort(proxy)}`;
}

function availability(proxy: ClarusProxy, d: DeploymentStatus | undefined): ConditionInput {
  if (isSidecar(proxy)) {
    return { type: ConditionType.Available, status: TRUE, reason: Reason.SidecarMode, message: 'Injected into labelled pods; no Deployment' };
  }
  if (!d) return { type: ConditionType.Available, status: UNKNOWN, reason: Reason.DeploymentUnavailable, message: 'Deployment not observed yet' };
  return deploymentAvailability(d);
}

function deploymentAvailability(d: DeploymentStatus): ConditionInput {
  const available = d.conditions?.find((c) => c.type === 'Available');
  const count = d.availableReplicas ?? 0;
  if (available?.status === 'True' && count > 0) {
    return { type: ConditionType.Available, status: TRUE, reason: Reason.DeploymentAvailable, message: `${count} replica(s) available` };
  }
  return { type: ConditionType.Available, status: FALSE, reason: Reason.DeploymentUnavailable,
    message: available?.message ?? 'Deployment has no available replicas yet' };
}

function rendered(observed: Observed): ConditionInput {
  if (observed.kind === 'renderFailed') {
    const { reason, message } = observed.problem; // only these two: the CRD schema allows no other fields
    return { type: ConditionType.PolicyRendered, status: FALSE, reason, message };
  }
  return { type: ConditionType.PolicyRendered, status: TRUE, reason: Reason.Rendered, message: `Configuration ${observed.policyHash}` };
}

function ready(proxy: ClarusProxy, observed: Observed, avail: ConditionInput): ConditionInput {
  if (observed.kind === 'renderFailed') {
    return { type: ConditionType.Ready, status: FALSE, reason: observed.problem.reason, message: observed.problem.message };
  }
  if (observed.kind === 'applyFailed') {
    return { type: ConditionType.Ready, status: FALSE, reason: Reason.ApplyFailed, message: observed.message };
  }
  if (avail.status !== TRUE) return { type: ConditionType.Ready, status: FALSE, reason: avail.reason, message: avail.message };
  return { type: ConditionType.Ready, status: TRUE, reason: Reason.Ready, message: `Serving at ${endpoint(proxy)}` };
}

export function proxyStatus(proxy: ClarusProxy, observed: Observed, now: string): ClarusProxyStatus {
  const { deployment } = observed;
  const avail = availability(proxy, deployment);
  const gen = proxy.metadata.generation;
  const conditions = setConditions(proxy.status?.conditions, [rendered(observed), avail, ready(proxy, observed, avail)], gen, now);
  const policyHash = observed.kind === 'renderFailed' ? proxy.status?.policyHash : observed.policyHash;
  return {
    conditions,
    observedGeneration: gen,
    replicas: deployment?.replicas ?? 0,
    readyReplicas: deployment?.readyReplicas ?? 0,
    selector: selectorString(proxy),
    endpoint: endpoint(proxy),
    ...(policyHash ? { policyHash } : {}),
  };
}
