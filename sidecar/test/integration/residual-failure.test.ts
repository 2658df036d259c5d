// When the in-proxy stage's engine fails (its worker thread died), the statement that saw it gets a
// clear error (0A000), the engine is closed once and started again for the next statement, which
// gets the right answer; a statement that saw the failure later does not drop the engine started
// after it. The fault is injected: real engines wrapped by ResidualOptions.startPool so that a call
// fails as it does when the worker thread has died (the executor's "residual worker exited"), a
// fault that cannot be produced from outside the process. Everything else is real: PostgreSQL, the
// proxy, the engines.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { until } from '@clarus/testing/wait.ts';
import type { EnginePool } from '../../src/access/residual-setup.ts';
import { ResidualPool } from '../../src/residual/engine.ts';
import type { EngineOptions } from '../../src/residual/engine.ts';
import { residualStats } from '../../src/residual/stats.ts';
import { CREATE_PATIENT, USERS, startProtected } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';

// Computed in the engine (not the fast path): initcap over a decrypted column, ordered.
const COMPUTED = 'SELECT initcap(lower(pat_name)) AS u FROM patient ORDER BY 1';
const EXPECTED = [{ u: 'Ann Fault' }, { u: 'Bob Fault' }];

/** Pools started, with how often each was closed. */
const started: Array<{ closes: number }> = [];
/** The next calls' faults, in order: each waits for its promise, then fails as a dead worker does. */
const faults: Array<Promise<void>> = [];
let calls = 0;

async function faultyPool(n: number, opts: EngineOptions): Promise<EnginePool> {
  const real = await ResidualPool.start(n, opts);
  const rec = { closes: 0 };
  started.push(rec);
  return {
    run: async (call) => {
      calls++;
      const fault = faults.shift();
      if (!fault) return real.run(call);
      await fault;
      throw new Error('residual worker exited (1)');
    },
    close: async () => { rec.closes++; await real.close(); },
  };
}

let cluster: PgCluster;
let env: ProtectedEnv;
const clients: pg.Client[] = [];

async function client(): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: env.url(USERS.doctor) });
  await c.connect();
  clients.push(c);
  return c;
}

async function failure(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try { await p; } catch (e) { return e as { code?: string; message: string }; }
  throw new Error('the statement succeeded');
}

beforeAll(async () => {
  cluster = await startPostgres();
  env = await startProtected(cluster, undefined, undefined, { residual: { startPool: faultyPool }, limits: { computeIdleSeconds: 0 } });
  const c = await client();
  await c.query(CREATE_PATIENT);
  await c.query("INSERT INTO patient (pat_id, pat_name, pat_ssn) VALUES (1, 'BOB FAULT', '123-45-0001'), (2, 'ann fault', '123-45-0002')");
}, 60_000);

afterAll(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
  await env?.close();
  await cluster?.destroy();
});

describe('in-proxy stage engine failure', () => {
  it('fails the statement with 0A000, closes the engine once, and the next statement starts a new one', async () => {
    const c = clients[0] as pg.Client;
    expect((await c.query(COMPUTED)).rows).toEqual(EXPECTED);
    expect(started).toHaveLength(1);
    faults.push(Promise.resolve());
    const e = await failure(c.query(COMPUTED));
    expect(e.code).toBe('0A000');
    expect(e.message).toMatch(/in-proxy stage failed and is restarted: residual worker exited/);
    await until('the failed engine to be closed', () => started[0]?.closes === 1);
    // The session goes on; the next two-stage statement starts a new engine and gets the answer.
    expect((await c.query(COMPUTED)).rows).toEqual(EXPECTED);
    expect(started).toHaveLength(2);
    expect(started[0]?.closes).toBe(1);
    expect(started[1]?.closes).toBe(0);
    expect(residualStats.enginesRunning).toBe(1);
    // The backend holds the names encrypted whatever the engine does.
    const stored = await env.backend.query<{ t: string }>('SELECT t::text FROM patient t');
    expect(stored.rows.map((r) => r.t).join('\n')).not.toMatch(/fault/i);
  }, 60_000);

  it('a failure seen late by a second statement neither closes the failed engine twice nor drops the new one', async () => {
    const [a, b, d] = [clients[0] as pg.Client, await client(), await client()];
    const before = started.length;
    let release!: () => void;
    // b's call waits inside the failing engine; a's fails at once.
    faults.push(new Promise<void>((r) => { release = r; }), Promise.resolve());
    const seen = calls;
    const late = failure(b.query(COMPUTED));
    await until("b's call to reach the engine", () => calls === seen + 1);
    expect((await failure(a.query(COMPUTED))).code).toBe('0A000');
    // A new engine is started by d's statement while b's call is still in the failed one.
    expect((await d.query(COMPUTED)).rows).toEqual(EXPECTED);
    expect(started).toHaveLength(before + 1);
    release();
    expect((await late).code).toBe('0A000');
    // The failed engine was closed once; the new one is kept and answers the next statements.
    await until('the failed engine to be closed', () => started[before - 1]?.closes === 1);
    expect((await a.query(COMPUTED)).rows).toEqual(EXPECTED);
    expect((await b.query(COMPUTED)).rows).toEqual(EXPECTED);
    expect(started).toHaveLength(before + 1);
    expect(started[before - 1]?.closes).toBe(1);
    expect(started[before]?.closes).toBe(0);
    expect(residualStats.enginesRunning).toBe(1);
  }, 90_000);
});
