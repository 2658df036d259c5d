// Issue 11, item 6: two proxy processes (`clarus proxy`, replicas of one ClarusProxy) in front of
// one PostgreSQL; schema changes made through one replica, or straight to the backend, while the
// other has the table's columns loaded. The other replica must never return a row shape
// PostgreSQL would not (a `SELECT *` expanded from stale columns is checked in the backend and
// fails with a clear message, the catalog is loaded again, the statement run again is right), a
// column dropped around it costs one backend error (42703) and a reload, and a protected column
// added around it is written encrypted and read decrypted. The backend never holds the plaintext.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { canariesInDump } from '../corpus/setup.ts';
import { TEST_KEY_FILES } from '@clarus/testing/rewriter.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { startProxyProcess, writeProxyConfig } from '@clarus/testing/proxy.ts';
import type { ProxyConfigDir, ProxyProcess } from '@clarus/testing/proxy.ts';

const USER = { name: 'app', password: 'app-pw', grants: [{ grant: 'rw', datasets: ['*'], access: 'readWrite' as const, view: 'plaintext' as const }] };
const enc = (mode: 'randomized' | 'deterministic', searchable = false) => ({ encrypt: { mode, searchable, keyName: 'default' } });

let cluster: PgCluster;
let cfg: ProxyConfigDir;
let a: ProxyProcess;
let b: ProxyProcess;
let viaA: pg.Client;
let viaB: pg.Client;
let backend: pg.Client;

async function fails(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  return p.then(() => ({ code: 'none', message: 'succeeded' }), (e: { code?: string; message: string }) => e);
}

/** Column names of a `SELECT *` through a client, or its error. */
async function starColumns(c: pg.Client): Promise<string[] | { code?: string; message: string }> {
  return c.query('SELECT * FROM customer ORDER BY id').then((r) => r.fields.map((f) => f.name), (e: { code?: string; message: string }) => e);
}

beforeAll(async () => {
  cluster = await startPostgres();
  cfg = writeProxyConfig({ backends: [{ cluster }], users: [USER] });
  const B = cfg.config.backends[0]?.name ?? 'primary';
  const policy: RuntimePolicy = {
    name: 'replicas', onUnsupported: 'reject', defaultBackend: B,
    keyring: { dir: 'secrets/keyring', keys: [{ name: 'default', versions: [1], current: 1 }] },
    datasets: [{ name: 'customers', schema: 'public', table: 'customer', rowKey: 'id', columns: [
      { name: 'id', attributeType: 'technicalIdentifier', backend: B },
      { name: 'name', attributeType: 'identifier', ...enc('randomized'), backend: B },
      { name: 'tax_id', attributeType: 'identifier', ...enc('randomized', true), backend: B },
    ] }],
  };
  cfg.write({ ...cfg.config, policy });
  mkdirSync(join(cfg.dir, 'secrets/keyring'), { recursive: true });
  for (const [name, text] of TEST_KEY_FILES) writeFileSync(join(cfg.dir, 'secrets/keyring', name), text);
  [a, b] = await Promise.all([startProxyProcess(cfg.dir), startProxyProcess(cfg.dir)]);
  viaA = new pg.Client({ connectionString: a.url(USER) });
  viaB = new pg.Client({ connectionString: b.url(USER) });
  backend = new pg.Client({ connectionString: cluster.url(), ssl: { ca: cluster.caPem } });
  await Promise.all([viaA.connect(), viaB.connect(), backend.connect()]);
  await backend.query("ALTER SYSTEM SET log_statement = 'all'");
  await backend.query('SELECT pg_reload_conf()');
}, 120_000);
afterAll(async () => {
  for (const c of [viaA, viaB, backend]) await c?.end().catch(() => undefined);
  await a?.close();
  await b?.close();
  cfg?.destroy();
  await cluster?.destroy();
});

describe('schema changes through another replica (issue 11, item 6)', () => {
  it('replica B adds a column while A has the table loaded: A never returns the old row shape', async () => {
    await viaA.query('CREATE TABLE customer (id int PRIMARY KEY, name text)');
    await viaA.query("INSERT INTO customer (id, name) VALUES (1, 'CanaryReplicaOne')");
    expect(await starColumns(viaA)).toEqual(['id', 'name']);
    await viaB.query('ALTER TABLE customer ADD COLUMN nickname text');
    // A's first SELECT * after the change fails (or, had A reloaded already, is right); never the old shape.
    const first = await starColumns(viaA);
    if (!Array.isArray(first)) expect(first).toMatchObject({ code: '22P02', message: expect.stringMatching(/columns of public\.customer changed since this proxy loaded them .*run the statement again/) });
    else expect(first).toEqual(['id', 'name', 'nickname']);
    expect(await starColumns(viaA)).toEqual(['id', 'name', 'nickname']);
    expect((await viaA.query('SELECT * FROM customer')).rows).toEqual([{ id: 1, name: 'CanaryReplicaOne', nickname: null }]);
  });

  it('a column dropped straight in the backend costs A one 42703, then A has the new columns', async () => {
    await backend.query('ALTER TABLE customer DROP COLUMN nickname');
    expect(await fails(viaA.query('SELECT nickname FROM customer'))).toMatchObject({ code: '42703' });
    expect(await starColumns(viaA)).toEqual(['id', 'name']);
  });

  it("a protected column added through B is written encrypted through A and read decrypted; A's SELECT * shows it", async () => {
    await viaB.query('ALTER TABLE customer ADD COLUMN tax_id varchar(20)');
    await viaA.query("INSERT INTO customer (id, name, tax_id) VALUES (2, 'CanaryReplicaTwo', 'CanaryTaxTwo')");
    expect((await viaA.query("SELECT id FROM customer WHERE tax_id = 'CanaryTaxTwo'")).rows).toEqual([{ id: 2 }]);
    let r = await fails(viaA.query('SELECT * FROM customer ORDER BY id'));
    if ('code' in r) expect(r.code).toBe('22P02');
    const rows = (await viaA.query('SELECT * FROM customer ORDER BY id')).rows;
    expect(rows).toEqual([{ id: 1, name: 'CanaryReplicaOne', tax_id: null }, { id: 2, name: 'CanaryReplicaTwo', tax_id: 'CanaryTaxTwo' }]);
    r = await fails(viaB.query('SELECT * FROM customer ORDER BY id'));
    expect(r).toMatchObject({ code: 'none' });
    const stored = (await backend.query("SELECT column_name || ':' || data_type AS c FROM information_schema.columns WHERE table_name = 'customer' ORDER BY ordinal_position")).rows.map((x) => x.c);
    expect(stored).toEqual(['id:integer', 'name:bytea', 'tax_id:bytea', 'tax_id__bidx:bytea']);
  });

  it('the backend never held a plaintext value written through either replica (pg_dump, server log)', async () => {
    const canaries = ['CanaryReplicaOne', 'CanaryReplicaTwo', 'CanaryTaxTwo'];
    expect(await canariesInDump(cluster, canaries)).toEqual([]);
    const log = readFileSync(join(cluster.dir, 'server.log'), 'utf8');
    expect(log).toMatch(/clarus-stale-schema/);
    expect(canaries.filter((c) => log.includes(c))).toEqual([]);
  });
});
