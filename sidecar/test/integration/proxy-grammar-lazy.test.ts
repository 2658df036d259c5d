// The backend's grammar loads with the first session of its major (issue 15, goal 5: the proxy no
// longer loads the WebAssembly parsers of every supported major at start): before any session the
// PostgreSQL 15 grammar is not loaded, the first session through a protecting proxy loads it before
// its first statement, and the grammar check then applies (a PostgreSQL 17 statement is refused,
// named as the backend's grammar's refusal, never as a grammar that is missing). Real PostgreSQL 15.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grammarLoaded } from '../../src/rewrite/grammar.ts';
import { USERS, startProtected } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';

let cluster: PgCluster;
let env: ProtectedEnv;

beforeAll(async () => {
  cluster = await startPostgres();
  env = await startProtected(cluster);
});
afterAll(async () => {
  await env?.close();
  await cluster?.destroy();
});

describe('backend grammar loaded on demand', () => {
  it('loads the PostgreSQL 15 grammar with the first session and checks statements with it', async () => {
    expect(grammarLoaded(15)).toBe(false);
    const c = await env.client(USERS.doctor);
    expect(grammarLoaded(15)).toBe(true);
    expect([16, 17].map((m) => grammarLoaded(m as 16 | 17))).toEqual([false, false]);
    expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    const err = await c.query(`SELECT * FROM JSON_TABLE('[]'::jsonb, '$[*]' COLUMNS (a int PATH '$')) j`).then(() => null, (e: Error) => e);
    expect(err?.message).toMatch(/PostgreSQL 15/);
    expect(err?.message).not.toMatch(/not loaded/);
    // Later sessions do not wait for it again and are served alike.
    const d = await env.client(USERS.doctor);
    expect((await d.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
  });
});
