// Issue 11 (item 10): a test runner's databases through a protecting proxy whose application
// database is `app`. The maintenance database `postgres` (which no backend entry maps) serves
// CREATE/DROP DATABASE of `test_app…` only — nothing in it is readable —, the test database is
// served with the policy, and no other name reaches the server.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { protectionPipeline } from '../../src/access/setup.ts';
import { EHEALTH_POLICY, TEST_KEY_FILES } from '@clarus/testing/rewriter.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { startProxyInProcess, writeProxyConfig } from '@clarus/testing/proxy.ts';
import type { HarnessUser, RunningProxy } from '@clarus/testing/proxy.ts';
import { USERS } from '../corpus/setup.ts';

let cluster: PgCluster;
let proxy: RunningProxy;
let destroy: () => void;
const clients: pg.Client[] = [];

async function connect(user: HarnessUser, database: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: proxy.url(user, database) });
  c.on('error', () => undefined);
  await c.connect();
  clients.push(c);
  return c;
}

async function fails(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  return p.then(() => ({ code: 'none', message: 'succeeded' }), (e: { code?: string; message: string }) => e);
}

async function databases(): Promise<string[]> {
  return (await cluster.psql("SELECT datname FROM pg_database WHERE datname LIKE 'test%' ORDER BY 1")).split('\n').filter(Boolean);
}

beforeAll(async () => {
  cluster = await startPostgres();
  await cluster.psql('CREATE DATABASE app');
  await cluster.psql('CREATE TABLE maintenance_secret (v text); INSERT INTO maintenance_secret VALUES (\'postgres-only\')');
  const cfg = writeProxyConfig({ backends: [{ cluster, database: 'app' }], users: Object.values(USERS) });
  cfg.write({ ...cfg.config, policy: { ...structuredClone(EHEALTH_POLICY), defaultBackend: cfg.config.backends[0]?.name ?? 'primary',
    datasets: structuredClone(EHEALTH_POLICY.datasets).map((d) => ({ ...d, columns: d.columns.map((c) => ({ ...c, backend: cfg.config.backends[0]?.name ?? 'primary' })) })) } });
  mkdirSync(join(cfg.dir, 'secrets/keyring'), { recursive: true });
  for (const [name, text] of TEST_KEY_FILES) writeFileSync(join(cfg.dir, 'secrets/keyring', name), text);
  proxy = await startProxyInProcess(cfg.dir, { pipeline: await protectionPipeline({ configDir: cfg.dir }), watch: false });
  destroy = () => cfg.destroy();
}, 120_000);
afterAll(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
  await proxy?.close();
  destroy?.();
  await cluster?.destroy();
});

describe('test databases through a protecting proxy', () => {
  it('the maintenance database postgres reads nothing: its tables, catalogs and writes are refused', async () => {
    const m = await connect(USERS.doctor, 'postgres');
    expect((await m.query('SELECT current_database() AS d')).rows).toEqual([{ d: 'postgres' }]);
    for (const sql of ['SELECT * FROM maintenance_secret', 'SELECT (SELECT v FROM maintenance_secret)', 'SELECT relname FROM pg_class', 'CREATE TABLE t (a int)', 'DELETE FROM maintenance_secret', 'SELECT 1 INTO t2']) {
      expect(await fails(m.query(sql))).toMatchObject({ code: '0A000', message: expect.stringMatching(/serves database "postgres" only to create and drop test databases/) });
    }
    // Extended protocol too.
    expect(await fails(m.query({ text: 'SELECT v FROM maintenance_secret WHERE v <> $1', values: ['x'] }))).toMatchObject({ code: '0A000' });
    expect(await fails(m.query('CREATE DATABASE other'))).toMatchObject({ code: '0A000', message: expect.stringMatching(/CREATE DATABASE other through the proxy is refused/) });
    expect(await fails(m.query('DROP DATABASE app'))).toMatchObject({ code: '0A000' });
    expect(await cluster.psql('SELECT count(*) FROM maintenance_secret')).toBe('1\n');
  });

  it('other names are refused (3D000) before anything reaches the server', async () => {
    for (const name of ['template1', 'test_other', 'app_test', 'test_app_x-y']) {
      expect(await fails(connect(USERS.doctor, name))).toMatchObject({ code: '3D000', message: expect.stringMatching(/this proxy serves "app", "postgres \(CREATE\/DROP DATABASE only\)", "primary", "test_app\[_<suffix>\]"/) });
    }
  });

  it('a user who may not write every dataset cannot create a test database', async () => {
    const m = await connect(USERS.analyst, 'postgres');
    expect(await fails(m.query('CREATE DATABASE test_app'))).toMatchObject({ code: '42501' });
    expect(await databases()).toEqual([]);
  });

  it("a test runner's life: CREATE DATABASE from postgres, the test database protected, DROP DATABASE from postgres", async () => {
    const m = await connect(USERS.doctor, 'postgres');
    await m.query('CREATE DATABASE "test_app"');
    await m.query('CREATE DATABASE "test_app_1" WITH TEMPLATE "test_app"');
    expect(await databases()).toEqual(['test_app', 'test_app_1']);
    const t = await connect(USERS.doctor, 'test_app_1');
    await t.query('CREATE TABLE patient (pat_id int PRIMARY KEY, pat_name text, pat_ssn text, diagnosis text, pat_zip text, pat_birth date)');
    await t.query("INSERT INTO patient (pat_id, pat_name, pat_ssn, diagnosis) VALUES (1, 'CanaryTestDbName', '123-45-6789', 'flu')");
    expect((await t.query("SELECT pat_name FROM patient WHERE pat_ssn = '123-45-6789'")).rows).toEqual([{ pat_name: 'CanaryTestDbName' }]);
    const stored = await cluster.psql("SELECT pg_typeof(pat_name)::text || ' ' || (p::text LIKE '%CanaryTestDbName%')::text FROM patient p", 'test_app_1');
    expect(stored).toBe('bytea false\n');
    await t.end();
    await m.query('DROP DATABASE "test_app_1"');
    await m.query('DROP DATABASE IF EXISTS "test_app"');
    expect(await databases()).toEqual([]);
    expect(await cluster.psql("SELECT count(*) FROM pg_class WHERE relname = 'patient'", 'app')).toBe('0\n');
  });
});
