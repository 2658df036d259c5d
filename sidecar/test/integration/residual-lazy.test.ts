// The in-proxy stage's engine (~300 MiB) starts with the first two-stage statement, not with the
// first session (issue 15, memory at rest): a protecting proxy whose statements never compute in
// the proxy never starts it, nor one whose statements all take the fast path (fast-path.ts).
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { residualStats } from '../../src/residual/stats.ts';
import { CREATE_PATIENT, USERS, startProtected } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';

let cluster: PgCluster;
let env: ProtectedEnv;
let c: pg.Client;

beforeAll(async () => {
  cluster = await startPostgres();
  env = await startProtected(cluster, undefined, undefined, { residual: {} });
  c = new pg.Client({ connectionString: env.url(USERS.doctor) });
  await c.connect();
}, 60_000);

afterAll(async () => {
  await c?.end().catch(() => undefined);
  await env?.close();
  await cluster?.destroy();
});

describe('in-proxy stage engine', () => {
  it('is not started by sessions and statements that do not compute in the proxy', async () => {
    // Counted per process (this file's): nothing may have started it since the proxy started.
    await c.query(CREATE_PATIENT);
    await c.query("INSERT INTO patient (pat_id, pat_name, pat_ssn) VALUES (1, 'Ann Lazy', '123-45-0001')");
    expect((await c.query('SELECT pat_name FROM patient WHERE pat_id = 1')).rows).toEqual([{ pat_name: 'Ann Lazy' }]);
    // An eager start would have begun with the session (it reads the backend's locale first).
    await sleep(1500);
    expect(residualStats.engineStarts).toBe(0);
  });

  it('is not started by two-stage statements the fast path computes (they read the backend locale only)', async () => {
    const fast = residualStats.fastRows;
    expect((await c.query('SELECT upper(pat_name) AS u FROM patient WHERE pat_id = 1')).rows).toEqual([{ u: 'ANN LAZY' }]);
    expect(residualStats.fastRows - fast).toBe(1);
    expect(residualStats.engineStarts).toBe(0);
  }, 120_000);

  it('starts with the first two-stage statement that needs it, which waits for it', async () => {
    expect((await c.query('SELECT initcap(lower(pat_name)) AS u FROM patient WHERE pat_id = 1')).rows).toEqual([{ u: 'Ann Lazy' }]);
    expect((await c.query('SELECT lower(pat_name) AS l FROM patient WHERE pat_id = 1 ORDER BY 1')).rows).toEqual([{ l: 'ann lazy' }]);
    expect(residualStats.engineStarts).toBe(1);
  }, 120_000);
});
