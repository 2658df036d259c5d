import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { poll, processRunning, processState, settled, until } from './wait.ts';

describe('processRunning', () => {
  it('is true for a running process and false once it is gone', async () => {
    expect(processRunning(process.pid)).toBe(true);
    const child = spawn('true');
    const pid = child.pid as number;
    await once(child, 'exit');
    await until('the child to be reaped', () => processState(pid) === '', 5_000, 10);
    expect(processRunning(pid)).toBe(false);
  });

  it('is false for a zombie, which kill(pid, 0) still finds', async () => {
    // `true` ends at once; its parent becomes `sleep` (exec), which never reaps it.
    const parent = spawn('sh', ['-c', 'true & echo $!; exec sleep 5'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const [line] = await once(parent.stdout, 'data') as [Buffer];
      const zombie = Number(line.toString().trim());
      await until('the child to end', () => processState(zombie) === 'Z', 5_000, 10);
      expect(() => process.kill(zombie, 0)).not.toThrow();
      expect(processRunning(zombie)).toBe(false);
    } finally {
      parent.kill('SIGKILL');
    }
  });
});

describe('poll', () => {
  it('resolves with the first value; an error counts as not yet', async () => {
    let n = 0;
    const v = await poll('the third try', () => { n++; if (n < 2) throw new Error('refused'); return n < 3 ? undefined : `try ${n}`; }, { stepMs: 1 });
    expect(v).toBe('try 3');
  });

  it('times out naming what it waited for, the last error and the context', async () => {
    await expect(poll('a server', () => { throw new Error('ECONNREFUSED'); }, { ms: 30, stepMs: 5, context: () => 'log tail' }))
      .rejects.toThrow('timed out waiting for a server (last error: ECONNREFUSED)\nlog tail');
  });

  it('stops at once when waiting is pointless', async () => {
    const started = Date.now();
    let probes = 0;
    await expect(poll('the ready line', () => { probes++; return undefined; }, { ms: 10_000, abort: () => (probes >= 2 ? 'the process exited' : undefined), context: () => 'its log' }))
      .rejects.toThrow('the process exited while waiting for the ready line\nits log');
    expect(probes).toBe(2);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('until is poll over a condition', async () => {
    let n = 0;
    await until('n to reach 3', () => ++n >= 3, 1_000, 1);
    expect(n).toBe(3);
    await expect(until('never', () => false, 20, 5)).rejects.toThrow('timed out waiting for never');
  });
});

describe('settled', () => {
  it('returns the first value that is ok, or the last one when the time is up', async () => {
    let n = 0;
    expect(await settled(() => ++n, (v) => v === 4, 1_000, 1)).toBe(4);
    n = 0;
    const last = await settled(() => ++n, () => false, 30, 5);
    expect(last).toBe(n);
    expect(last).toBeGreaterThan(1);
  });
});
