import { describe, expect, it } from 'vitest';
import { CancelKeys, replicaIdFor, replicaOf } from './cancel.ts';

describe('cancel keys', () => {
  it('encodes the replica in the process id and maps keys back', () => {
    const r = replicaIdFor('pod-a/proxy');
    const keys = new CancelKeys<string>(r);
    const k = keys.issue('backend-1');
    expect(k.processId).toBeGreaterThan(0);
    expect(replicaOf(k.processId)).toBe(r);
    expect(keys.lookup(k.processId, k.secretKey)).toEqual({ kind: 'found', target: 'backend-1' });
    expect(keys.lookup(k.processId, k.secretKey ^ 1)).toEqual({ kind: 'unknown' });
    keys.release(k.processId);
    expect(keys.lookup(k.processId, k.secretKey)).toEqual({ kind: 'unknown' });
  });

  it('recognises keys issued by another replica', () => {
    const a = new CancelKeys<string>(1);
    const b = new CancelKeys<string>(2);
    const k = a.issue('x');
    expect(b.lookup(k.processId, k.secretKey)).toEqual({ kind: 'other-replica', replica: 1 });
  });

  it('issues distinct process ids', () => {
    const keys = new CancelKeys<number>(7);
    const ids = new Set(Array.from({ length: 1000 }, (_, i) => keys.issue(i).processId));
    expect(ids.size).toBe(1000);
  });
});
