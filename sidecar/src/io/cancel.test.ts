import { describe, expect, it } from 'vitest';
import { CancelKeys, replicaIdFor, replicaOf, workerOf } from './cancel.ts';

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

describe('cancel keys of worker processes', () => {
  it('each worker issues only its own residue class, and knows which worker holds a key', () => {
    const w = [0, 1, 2].map((index) => new CancelKeys<number>(5, { index, count: 3 }));
    for (const [i, keys] of w.entries()) {
      for (let n = 0; n < 50; n++) {
        const k = keys.issue(n);
        expect(workerOf(k.processId, 3)).toBe(i);
        expect(replicaOf(k.processId)).toBe(5);
        for (const [j, other] of w.entries()) {
          expect(other.lookup(k.processId, k.secretKey)).toEqual(j === i ? { kind: 'found', target: n } : { kind: 'other-worker', worker: i });
        }
      }
    }
  });

  it('wraps its counter within its residue class without reusing a live id', () => {
    const keys = new CancelKeys<number>(0, { index: 1, count: 2 });
    const live: number[] = [];
    const seen = new Set<number>();
    // Past the 2^20 ids of this worker's class: the counter wraps; the 10 live ids are never reissued.
    for (let n = 0; n < (1 << 20) + 10; n++) {
      const k = keys.issue(n);
      if (k.processId % 2 !== 1 || live.includes(k.processId)) throw new Error(`bad id ${k.processId} at ${n}`);
      seen.add(k.processId);
      live.push(k.processId);
      if (live.length > 10) keys.release(live.shift() as number);
    }
    expect(seen.size).toBe(1 << 20);
  }, 60_000);
});
