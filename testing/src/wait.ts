// Waiting in tests and benches for a state another process or thread reaches in its own time, and
// whether a process still runs.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Resolves once `cond` holds, checked every `stepMs`; throws "timed out waiting for <what>" after `ms`. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 20_000, stepMs = 100): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(stepMs);
  }
}

/** A process's state letter from /proc ('' once it is gone). */
export function processState(pid: number): string {
  try { return /^\d+ \(.*\) (\S)/s.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1] ?? ''; } catch { return ''; }
}

/**
 * Whether a process still runs: not gone and not a zombie. A killed process whose parent is init
 * stays a zombie until init reaps it, which on this kind of machine takes a second or two (its
 * init reaps by polling), and `kill(pid, 0)` still succeeds on a zombie.
 */
export function processRunning(pid: number): boolean {
  return !/^Z?$/.test(processState(pid));
}
