import { describe, expect, it } from 'vitest';
import { decide, microTime, nextSpec } from './lease.ts';

const now = Date.parse('2026-11-29T12:00:00.000Z');
const ago = (s: number): string => microTime(now - s * 1000);

describe('lease decisions', () => {
  it.each([
    ['no lease', undefined, 'acquire'],
    ['released lease', { holderIdentity: '' }, 'acquire'],
    ['ours', { holderIdentity: 'me', renewTime: ago(1), leaseDurationSeconds: 15 }, 'renew'],
    ['theirs, fresh', { holderIdentity: 'other', renewTime: ago(5), leaseDurationSeconds: 15 }, 'wait'],
    ['theirs, expired', { holderIdentity: 'other', renewTime: ago(20), leaseDurationSeconds: 15 }, 'acquire'],
    ['theirs, unreadable time', { holderIdentity: 'other', renewTime: 'garbage' }, 'acquire'],
  ] as const)('%s -> %s', (_n, spec, want) => expect(decide(spec, 'me', now)).toBe(want));

  it('formats MicroTime with six fractional digits', () => {
    expect(microTime(now)).toBe('2026-11-29T12:00:00.000000Z');
  });

  it('counts transitions on takeover but not on renewal', () => {
    const theirs = { holderIdentity: 'other', renewTime: ago(30), leaseDurationSeconds: 15, leaseTransitions: 2 };
    expect(nextSpec(theirs, 'acquire', { identity: 'me', nowMs: now, durationSeconds: 15 })).toMatchObject({ holderIdentity: 'me', leaseTransitions: 3 });
    expect(nextSpec({ holderIdentity: '', leaseTransitions: 3 }, 'acquire', { identity: 'me', nowMs: now, durationSeconds: 15 }).leaseTransitions).toBe(4);
    expect(nextSpec(undefined, 'acquire', { identity: 'me', nowMs: now, durationSeconds: 15 }).leaseTransitions).toBe(0);
    const ours = { holderIdentity: 'me', renewTime: ago(2), leaseDurationSeconds: 15, leaseTransitions: 3, acquireTime: ago(60) };
    expect(nextSpec(ours, 'renew', { identity: 'me', nowMs: now, durationSeconds: 15 })).toMatchObject({ holderIdentity: 'me', leaseTransitions: 3, acquireTime: ago(60), renewTime: microTime(now) });
  });
});
