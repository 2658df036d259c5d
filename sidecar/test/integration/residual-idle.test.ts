// The in-proxy stage's engine (a worker thread holding ~200 MiB of WebAssembly memory) is stopped
// after ClarusProxy limits.computeIdleSeconds without a two-stage statement, and started again by
// the next one, which gets the same answer; 0 keeps it. The configuration's setting wins over the
// process's (CLARUS_RESIDUAL_IDLE_SECONDS, default 600).
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { until } from '@clarus/testing/wait.ts';
import { residualStats } from '../../src/residual/stats.ts';
import { CREATE_PATIENT, USERS, startProtected } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';

let cluster: PgCluster;
let env: ProtectedEnv;
let c: pg.Client;

/** This process's threads (the engine's worker thread is one of them while it runs). */
function threads(): number {
  return Number(/^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);
}

// Computed in the engine (not the fast path): initcap over a decrypted column, ordered.
const COMPUTED = 'SELECT initcap(lower(pat_name)) AS u FROM patient ORDER BY 1';
const EXPECTED = [{ u: 'Ann Idle' }, { u: 'Bob Idle' }];

beforeAll(async () => {
  cluster = await startPostgres();
  env = await startProtected(cluster, undefined, undefined, { residual: {}, limits: { computeIdleSeconds: 1 } });
  c = new pg.Client({ connectionString: env.url(USERS.doctor) });
  await c.connect();
  await c.query(CREATE_PATIENT);
  await c.query("INSERT INTO patient (pat_id, pat_name, pat_ssn) VALUES (1, 'BOB IDLE', '123-45-0001'), (2, 'ann idle', '123-45-0002')");
}, 60_000);

afterAll(async () => {
  await c?.end().catch(() => undefined);
  await env?.close();
  await cluster?.destroy();
});

describe('in-proxy stage engine, idle stop', () => {
  it('is stopped after limits.computeIdleSeconds without a two-stage statement, its thread gone', async () => {
    const started = residualStats.engineStarts;
    expect((await c.query(COMPUTED)).rows).toEqual(EXPECTED);
    expect(residualStats.engineStarts - started).toBe(1);
    expect(residualStats.enginesRunning).toBe(1);
    const running = threads();
    await until('the idle stop', () => residualStats.engineStops === 1);
    await until('the worker thread to exit', () => threads() < running);
    await until('the gauge to follow', () => residualStats.enginesRunning === 0);
    // The backend holds the names encrypted whatever the engine does (nothing in clear).
    const stored = await env.backend.query<{ t: string }>('SELECT t::text FROM patient t');
    expect(stored.rows.map((r) => r.t).join('\n')).not.toMatch(/idle/i);
  }, 60_000);

  it('is started again by the next two-stage statement, which gets the same answer', async () => {
    const started = residualStats.engineStarts;
    expect((await c.query(COMPUTED)).rows).toEqual(EXPECTED);
    expect(residualStats.engineStarts - started).toBe(1);
    expect(residualStats.enginesRunning).toBe(1);
    // Statements that do not compute in the proxy neither start it nor keep it.
    await until('the second idle stop', () => residualStats.engineStops === 2);
    expect((await c.query('SELECT pat_name FROM patient WHERE pat_id = 1')).rows).toEqual([{ pat_name: 'BOB IDLE' }]);
    expect(residualStats.engineStarts - started).toBe(1);
  }, 60_000);

  it('is kept while the proxy runs with computeIdleSeconds 0 (a reload changes it)', async () => {
    expect(env.reload((cfg) => { cfg.limits.computeIdleSeconds = 0; })).toBe(true);
    const stops = residualStats.engineStops;
    expect((await c.query(COMPUTED)).rows).toEqual(EXPECTED);
    await sleep(3000);
    expect(residualStats.engineStops).toBe(stops);
    expect((await c.query(COMPUTED)).rows).toEqual(EXPECTED);
  }, 60_000);
});
