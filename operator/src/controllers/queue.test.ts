import { describe, expect, it } from 'vitest';
import type { Timers } from './queue.ts';
import { WorkQueue, backoffDelay } from './queue.ts';

/** Manual timers: the test decides when delayed adds fire. */
function manualTimers(): Timers & { pending: Array<{ fn: () => void; ms: number }>; fireAll(): void } {
  const pending: Array<{ fn: () => void; ms: number }> = [];
  return {
    pending,
    setTimeout: (fn, ms) => {
      const t = { fn, ms };
      pending.push(t);
      return t;
    },
    clearTimeout: (h) => {
      const i = pending.indexOf(h as { fn: () => void; ms: number });
      if (i >= 0) pending.splice(i, 1);
    },
    fireAll() {
      for (const t of pending.splice(0)) t.fn();
    },
  };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('backoffDelay', () => {
  it.each([[0, 0], [1, 100], [2, 200], [3, 400], [5, 1600], [10, 5000], [100, 5000]])('%d failures -> %d ms', (n, ms) => {
    expect(backoffDelay(n, 100, 5000)).toBe(ms);
  });
});

describe('WorkQueue', () => {
  it('deduplicates keys that are waiting', async () => {
    const seen: string[] = [];
    const gate = deferred();
    const q = new WorkQueue(async (k) => {
      seen.push(k);
      if (k === 'block') await gate.promise;
    }, { concurrency: 1, baseDelayMs: 10, maxDelayMs: 100, timers: manualTimers() });
    q.add('block');
    q.add('a');
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.depth()).toBe(2);
    gate.resolve();
    await q.idle();
    expect(seen).toEqual(['block', 'a', 'b']);
  });

  it('never runs the same key twice at once, and re-runs it when added during processing', async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    const gate = deferred();
    const q = new WorkQueue(async () => {
      running++;
      runs++;
      maxRunning = Math.max(maxRunning, running);
      if (runs === 1) await gate.promise;
      running--;
    }, { concurrency: 4, baseDelayMs: 10, maxDelayMs: 100, timers: manualTimers() });
    q.add('k');
    await Promise.resolve();
    q.add('k');
    q.add('k');
    gate.resolve();
    await q.idle();
    await q.idle();
    expect(maxRunning).toBe(1);
    expect(runs).toBe(2);
  });

  it('bounds concurrency across keys', async () => {
    let running = 0;
    let maxRunning = 0;
    const gates = Array.from({ length: 6 }, deferred);
    const q = new WorkQueue(async (k) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await gates[Number(k)]!.promise;
      running--;
    }, { concurrency: 2, baseDelayMs: 10, maxDelayMs: 100, timers: manualTimers() });
    for (let i = 0; i < 6; i++) q.add(String(i));
    expect(q.depth()).toBe(4);
    gates.forEach((g) => g.resolve());
    await q.idle();
    expect(maxRunning).toBe(2);
  });

  it('retries failures with exponential backoff and forgets them after success', async () => {
    const timers = manualTimers();
    let calls = 0;
    const outcomes: string[] = [];
    const q = new WorkQueue(async () => {
      calls++;
      if (calls <= 3) throw new Error('boom');
    }, { concurrency: 1, baseDelayMs: 100, maxDelayMs: 1000, timers, onDone: (_k, o) => outcomes.push(o) });
    q.add('k');
    const delays: number[] = [];
    for (let i = 0; i < 3; i++) {
      await q.idle();
      delays.push(...timers.pending.map((t) => t.ms));
      timers.fireAll();
    }
    await q.idle();
    expect(delays).toEqual([100, 200, 400]);
    expect(outcomes).toEqual(['error', 'error', 'error', 'success']);
    expect(q.failures('k')).toBe(0);
    expect(timers.pending).toEqual([]);
  });

  it('honours requeueAfterMs from the handler (periodic re-checks)', async () => {
    const timers = manualTimers();
    const q = new WorkQueue(async () => ({ requeueAfterMs: 5000 }), { concurrency: 1, baseDelayMs: 1, maxDelayMs: 1, timers });
    q.add('k');
    await q.idle();
    expect(timers.pending.map((t) => t.ms)).toEqual([5000]);
  });

  it('stop() drops waiting keys and pending retries', async () => {
    const timers = manualTimers();
    const q = new WorkQueue(async () => ({ requeueAfterMs: 10 }), { concurrency: 1, baseDelayMs: 1, maxDelayMs: 1, timers });
    q.add('k');
    await q.idle();
    q.stop();
    expect(timers.pending).toEqual([]);
    q.add('x');
    expect(q.depth()).toBe(0);
  });
});
