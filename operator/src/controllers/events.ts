// Kubernetes Events for status transitions, so `kubectl describe` and event exporters show what
// changed. Pure: events are derived from the previous and next status; only transitions emit.
import type { ClarusProxyStatus, CloudBackendStatus, Condition } from '@clarus/crds';
import { ConditionType, FALSE, TRUE } from './conditions.ts';

export interface EventSpec { type: 'Normal' | 'Warning'; reason: string; message: string }

const find = (list: Condition[] | undefined, type: string): Condition | undefined => list?.find((c) => c.type === type);

function renderEvent(prev: ClarusProxyStatus | undefined, next: ClarusProxyStatus): EventSpec[] {
  const before = find(prev?.conditions, ConditionType.PolicyRendered);
  const after = find(next.conditions, ConditionType.PolicyRendered);
  if (after?.status !== FALSE) return [];
  if (before?.status === FALSE && before.reason === after.reason) return [];
  return [{ type: 'Warning', reason: after.reason, message: after.message }];
}

function configEvent(prev: ClarusProxyStatus | undefined, next: ClarusProxyStatus): EventSpec[] {
  if (!next.policyHash || next.policyHash === prev?.policyHash) return [];
  if (!prev?.policyHash) return [{ type: 'Normal', reason: 'ConfigurationApplied', message: `Applied configuration ${next.policyHash}` }];
  return [{ type: 'Normal', reason: 'ConfigurationUpdated', message: `Rolling out configuration ${next.policyHash}` }];
}

function readyEvent(prev: ClarusProxyStatus | undefined, next: ClarusProxyStatus): EventSpec[] {
  const ready = find(next.conditions, ConditionType.Ready);
  if (ready?.status !== TRUE || find(prev?.conditions, ConditionType.Ready)?.status === TRUE) return [];
  return [{ type: 'Normal', reason: 'Ready', message: ready.message }];
}

export function proxyEvents(prev: ClarusProxyStatus | undefined, next: ClarusProxyStatus): EventSpec[] {
  return [...renderEvent(prev, next), ...configEvent(prev, next), ...readyEvent(prev, next)];
}

/** A CloudBackend that loses (or is created without) its read-only role: a Warning naming the backend. */
export function backendEvents(prev: CloudBackendStatus | undefined, next: CloudBackendStatus): EventSpec[] {
  const after = find(next.conditions, ConditionType.ReadOnlyRole);
  if (after?.status !== FALSE || find(prev?.conditions, ConditionType.ReadOnlyRole)?.status === FALSE) return [];
  return [{ type: 'Warning', reason: after.reason, message: after.message }];
}

export interface Involved { apiVersion: string; kind: string; name: string; namespace: string; uid?: string }

/** A core/v1 Event for `obj` (generateName: the API server picks a unique name). */
export interface EventObject { apiVersion: 'v1'; kind: 'Event'; metadata: { generateName: string; namespace: string }; [field: string]: unknown }

export function eventObject(obj: Involved, e: EventSpec, now: string): EventObject {
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { generateName: `${obj.name}.`, namespace: obj.namespace },
    involvedObject: obj,
    type: e.type,
    reason: e.reason,
    message: e.message.slice(0, 1024),
    source: { component: 'clarus-operator' },
    reportingComponent: 'clarus-operator',
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
  };
}
