import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { processRunning, processState, until } from './wait.ts';

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
