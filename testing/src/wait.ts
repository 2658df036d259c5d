// Waiting in tests and benches for a state another process or thread reaches in its own time, and
// whether a process still runs.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** How long and how often to poll, and what ends the wait early or explains a timeout. */
export interface PollOptions {
  /** Give up after this many milliseconds (default 20 s: a wait ends as soon as its state holds, so a generous bound costs nothing). */
  ms?: number;
  /** Poll every this many milliseconds (default 100). */
  stepMs?: number;
  /** Why waiting longer is pointless (e.g. the process that would reach the state exited), or undefined. */
  abort?: () => string | undefined;
  /** Appended to the message of a timeout or an abort (e.g. the tail of a log). */
  context?: () => string;
}

/**
 * The one waiting primitive of tests and benches: resolves with the first value `probe` returns
 * other than undefined. A probe that throws counts as "not yet" (a server still starting refuses
 * connections); the last error is in the timeout's message, "timed out waiting for <what>".
 */
export async function poll<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, opts: PollOptions = {}): Promise<T> {
  const end = Date.now() + (opts.ms ?? 20_000);
  const context = (): string => (opts.context ? `\n${opts.context()}` : '');
  let lastError = '';
  for (;;) {
    const aborted = opts.abort?.();
    if (aborted !== undefined) throw new Error(`${aborted} while waiting for ${what}${context()}`);
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (e) {
      lastError = e instanceof Error ? e.message : String(e);
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${lastError ? ` (last error: ${lastError})` : ''}${context()}`);
    await sleep(opts.stepMs ?? 100);
  }
}

/** Resolves once `cond` holds (poll's rules), checked every `stepMs`; throws "timed out waiting for <what>" after `ms`. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 20_000, stepMs = 100): Promise<void> {
  await poll(what, async () => ((await cond()) ? true : undefined), { ms, stepMs });
}

/**
 * Polls `probe` until its value is `ok` or `ms` passed, and returns its last value for the test to
 * assert (a failure then shows the value, not a timeout). For a state expected NOT to come, pass a
 * short `ms`: the wait lasts all of it.
 */
export async function settled<T>(probe: () => T | Promise<T>, ok: (v: T) => boolean, ms = 20_000, stepMs = 100): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (ok(v) || Date.now() > end) return v;
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
