// A held two-stage result served as PostgreSQL serves a portal: `max` rows per Execute,
// suspended whenever `max` rows were taken (even the last ones), then a short or empty chunk.
import { describe, expect, it } from 'vitest';
import { ComputedPortals } from './computed-portals.ts';

const rows = (n: number) => Array.from({ length: n }, (_, i) => [Buffer.from(String(i))]);
const texts = (c: { rows: Array<Array<Uint8Array | null>> }) => c.rows.map((r) => Buffer.from(r[0] as Uint8Array).toString());

describe('ComputedPortals', () => {
  it('serves chunks of max rows, suspended while max rows were taken', () => {
    const p = new ComputedPortals();
    p.begin('c');
    p.store('c', rows(5));
    const a = p.take('c', 2);
    expect([texts(a), a.suspended]).toEqual([['0', '1'], true]);
    const b = p.take('c', 2);
    expect([texts(b), b.suspended]).toEqual([['2', '3'], true]);
    const c = p.take('c', 2);
    expect([texts(c), c.suspended]).toEqual([['4'], false]);
    expect(p.take('c', 2)).toEqual({ rows: [], suspended: false });
  });

  it('suspends after exactly the last rows, as PostgreSQL does, and serves all with 0', () => {
    const p = new ComputedPortals();
    p.store('c', rows(4));
    expect(p.take('c', 4).suspended).toBe(true);
    expect(p.take('c', 4)).toEqual({ rows: [], suspended: false });
    p.store('d', rows(3));
    const all = p.take('d', 0);
    expect([all.rows.length, all.suspended]).toEqual([3, false]);
  });

  it('forgets a portal bound again or closed, and all of them at the end of a transaction', () => {
    const p = new ComputedPortals();
    p.begin('a');
    p.begin('b');
    p.forget('a');
    expect([p.has('a'), p.has('b')]).toEqual([false, true]);
    p.clear();
    expect(p.has('b')).toBe(false);
  });
});
