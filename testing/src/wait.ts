// Waiting in tests and benches for a state another process or thread reaches in its own time.
import { setTimeout as sleep } from 'node:timers/promises';

/** Resolves once `cond` holds, checked every `stepMs`; throws "timed out waiting for <what>" after `ms`. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 20_000, stepMs = 100): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(stepMs);
  }
}
