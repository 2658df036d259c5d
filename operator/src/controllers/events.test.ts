import { describe, expect, it } from 'vitest';
import type { ClarusProxyStatus, CloudBackendStatus } from '@clarus/crds';
import { backendEvents, eventObject, proxyEvents } from './events.ts';

const T = '2026-11-29T12:00:00Z';
const status = (rendered: 'True' | 'False', ready: 'True' | 'False', hash?: string, reason = 'Rendered'): ClarusProxyStatus => ({
  conditions: [
    { type: 'PolicyRendered', status: rendered, reason, message: `m-${reason}`, lastTransitionTime: T },
    { type: 'Ready', status: ready, reason: ready === 'True' ? 'Ready' : reason, message: 'serving', lastTransitionTime: T },
  ],
  ...(hash ? { policyHash: hash } : {}),
});

describe('proxyEvents', () => {
  it.each([
    ['first apply, not ready yet', undefined, status('True', 'False', 'h1'), ['Normal/ConfigurationApplied']],
    ['becomes ready', status('True', 'False', 'h1'), status('True', 'True', 'h1'), ['Normal/Ready']],
    ['nothing changed', status('True', 'True', 'h1'), status('True', 'True', 'h1'), []],
    ['policy edit rolls', status('True', 'True', 'h1'), status('True', 'True', 'h2'), ['Normal/ConfigurationUpdated']],
    ['render breaks (hash kept)', status('True', 'True', 'h1'), status('False', 'False', 'h1', 'BackendNotFound'), ['Warning/BackendNotFound']],
    ['still broken, same reason', status('False', 'False', 'h1', 'BackendNotFound'), status('False', 'False', 'h1', 'BackendNotFound'), []],
    ['broken for another reason', status('False', 'False', 'h1', 'BackendNotFound'), status('False', 'False', 'h1', 'SecretNotFound'), ['Warning/SecretNotFound']],
  ])('%s', (_n, prev, next, want) => {
    expect(proxyEvents(prev, next).map((e) => `${e.type}/${e.reason}`)).toEqual(want);
  });
});

describe('backendEvents', () => {
  const backend = (readOnly: 'True' | 'False'): CloudBackendStatus => ({
    conditions: [{ type: 'ReadOnlyRole', status: readOnly, reason: readOnly === 'True' ? 'ReadOnlyRoleConfigured' : 'NoReadOnlyRole', message: `m-${readOnly}`, lastTransitionTime: T }],
  });
  it.each([
    ['created without a read-only role', undefined, backend('False'), ['Warning/NoReadOnlyRole/m-False']],
    ['read-only role removed', backend('True'), backend('False'), ['Warning/NoReadOnlyRole/m-False']],
    ['still without', backend('False'), backend('False'), []],
    ['created with one', undefined, backend('True'), []],
    ['read-only role added', backend('False'), backend('True'), []],
  ])('%s', (_n, prev, next, want) => {
    expect(backendEvents(prev, next).map((e) => `${e.type}/${e.reason}/${e.message}`)).toEqual(want);
  });
});

describe('eventObject', () => {
  it('builds a core/v1 Event about the object', () => {
    const e = eventObject({ apiVersion: 'clarus.io/v1alpha1', kind: 'ClarusProxy', name: 'p', namespace: 'ns', uid: 'u' },
      { type: 'Warning', reason: 'X', message: 'y'.repeat(2000) }, T);
    expect(e).toMatchObject({ metadata: { generateName: 'p.', namespace: 'ns' }, involvedObject: { kind: 'ClarusProxy', uid: 'u' }, type: 'Warning', reason: 'X', count: 1 });
    expect((e.message as string).length).toBe(1024);
  });
});
