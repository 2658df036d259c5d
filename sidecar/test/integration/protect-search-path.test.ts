// Issue 11 (Flyway): the statements Flyway sends around every migration — `SHOW search_path`, then
// `SELECT set_config('search_path', $1, false)` with `"public","$user", public` and with the
// original value — go through the proxy, as do `SET search_path` to the pinned schemas however
// spelled; any other value is refused by the proxy (0A000) and never reaches the backend, whose
// search_path stays the pinned one. Real PostgreSQL 15, the real proxy, node-postgres (the
// parameterized call is sent with Parse/Bind, as pgjdbc sends it).
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlstate } from '@clarus/testing/outcome.ts';
import { CREATE_PATIENT, USERS, startProtected } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';

let cluster: PgCluster;
let env: ProtectedEnv;
let doc: pg.Client;


const searchPath = async (): Promise<string> => ((await doc.query<{ search_path: string }>('SHOW search_path')).rows[0] as { search_path: string }).search_path;

beforeAll(async () => {
  cluster = await startPostgres();
  env = await startProtected(cluster);
  doc = new pg.Client({ connectionString: env.url(USERS.doctor) });
  doc.on('error', () => undefined);
  await doc.connect();
  await doc.query(CREATE_PATIENT);
});
afterAll(async () => {
  await doc?.end().catch(() => undefined);
  await env?.close();
  await cluster?.destroy();
});

describe("Flyway's search_path statements through the proxy", () => {
  it('accepts the pinned schemas however spelled, at Bind and in SET; refuses others before the backend', async () => {
    const original = await searchPath();
    expect(original).toBe('"$user", public');
    await doc.query("SELECT set_config('search_path', $1, false)", ['"public","$user", public']);
    expect(await searchPath()).toBe('"public","$user", public');
    await doc.query("INSERT INTO patient (pat_id, pat_name) VALUES (1, 'Flyway Canary')");
    await doc.query("SELECT set_config('search_path', $1, false)", [original]);
    expect(await searchPath()).toBe(original);
    await doc.query('SET search_path TO public, "$user"');
    await doc.query('SET search_path = "$user", public');
    expect(await sqlstate(doc.query("SELECT set_config('search_path', $1, false)", ['evil, public']))).toBe('0A000');
    expect(await sqlstate(doc.query('SET search_path = evil, public'))).toBe('0A000');
    expect(await sqlstate(doc.query("SELECT set_config('search_path', 'evil', false)"))).toBe('0A000');
    expect(await searchPath()).toBe('"$user", public');
    expect((await doc.query('SELECT pat_name FROM patient WHERE pat_id = 1')).rows).toEqual([{ pat_name: 'Flyway Canary' }]);
    const stored = await env.backend.query<{ t: string }>('SELECT pat_name::text AS t FROM patient');
    expect(stored.rows.every((r) => !r.t.includes('Flyway'))).toBe(true);
  });
});
