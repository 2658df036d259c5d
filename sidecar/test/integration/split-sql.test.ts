// Splitting (issue 12), the SQL beyond the common statements, on three real backends: catalog
// introspection shows the one logical table, and the statement forms added after the first cut.
// Each answer is checked against an unsplit oracle (the same statements straight into a plain
// database on the home cluster), and what each backend stores against the layout: its fragment
// only, no plaintext of an encrypted column in its tables, pg_dump or log_statement = all log.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canariesInDump, USERS } from '../corpus/setup.ts';
import { PG_BIN } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { columnsOn, startSplit } from './split-env.ts';
import type { BackendName, SplitEnv } from './split-env.ts';

const run = promisify(execFile);
let env: SplitEnv;
let doc: pg.Client;
let oracle: pg.Client;

/** The split table through the proxy; the oracle has its columns in the logical order (home, cloud-b, cloud-c). */
const CREATE = 'CREATE TABLE patient (pat_id serial PRIMARY KEY, pat_name text NOT NULL, age int, pat_ssn text, diagnosis text, ward varchar(20) NOT NULL)';

async function rowsOn(name: BackendName, sql: string): Promise<Array<Record<string, unknown>>> {
  return (await env.backend(name).query(sql)).rows;
}

async function both(sql: string, values: unknown[] = []): Promise<{ got: unknown[]; want: unknown[] }> {
  const got = (await doc.query({ text: sql, values, rowMode: 'array' })).rows;
  const want = (await oracle.query({ text: sql, values, rowMode: 'array' })).rows;
  return { got, want };
}

async function psqlDescribe(url: string, table: string): Promise<string> {
  const { stdout } = await run(join(PG_BIN, 'psql'), [url, '-X', '-v', 'ON_ERROR_STOP=1', '-c', `\\d ${table}`], { env: { ...process.env, PGSSLMODE: 'disable', PGPASSWORD: '' } });
  return stdout;
}

beforeAll(async () => {
  env = await startSplit();
  doc = await env.client();
  const home = env.clusters.get('cloud-a') as PgCluster;
  await env.backend('cloud-a').query('CREATE DATABASE oracle');
  oracle = new pg.Client({ connectionString: home.url({ database: 'oracle' }), ssl: { ca: home.caPem } });
  await oracle.connect();
  await doc.query(CREATE);
  await oracle.query(CREATE);
}, 120_000);
afterAll(async () => {
  await oracle?.end().catch(() => undefined);
  await env?.close();
});

describe('split table: catalog introspection shows the one logical table', () => {
  it('each backend stores its fragment only (the premise)', async () => {
    expect(await columnsOn(env.backend('cloud-a'), 'public.patient')).toEqual(['pat_id', 'pat_name', 'age']);
    expect(await columnsOn(env.backend('cloud-b'), 'public.patient')).toEqual(['pat_id', 'pat_ssn', 'diagnosis', 'pat_ssn__bidx']);
    expect(await columnsOn(env.backend('cloud-c'), 'public.patient')).toEqual(['pat_id', 'ward']);
  });

  it('information_schema.columns lists every logical column with its declared type, as the oracle does', async () => {
    const sql = `SELECT column_name, data_type, character_maximum_length, is_nullable, ordinal_position FROM information_schema.columns
      WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`;
    const { got, want } = await both(sql, ['patient']);
    const names = (r: unknown[]) => r.map((x) => (x as unknown[])[0]);
    expect(names(got)).toEqual(['pat_id', 'pat_name', 'age', 'pat_ssn', 'diagnosis', 'ward']);
    // Positions of the other fragments' columns come after the home fragment's (no gaps promised).
    const noPos = (r: unknown[]) => r.map((x) => (x as unknown[]).slice(0, 4));
    expect(noPos(got)).toEqual(noPos(want));
    const pos = got.map((x) => (x as unknown[])[4] as number);
    expect([...pos].sort((a, b) => a - b)).toEqual(pos);
    expect(new Set(pos).size).toBe(pos.length);
  });

  it('pg_attribute with format_type and attnotnull reads as in the oracle; encrypted columns show their declared type', async () => {
    const sql = `SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, a.atthasdef FROM pg_catalog.pg_attribute a
      WHERE a.attrelid = 'public.patient'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`;
    const { got, want } = await both(sql);
    expect(got).toEqual(want);
    expect(got).toContainEqual(['pat_ssn', 'text', false, false]);
    expect(got).toContainEqual(['ward', 'character varying(20)', true, false]);
  });

  it('psql \\d through the proxy reads as in the oracle database', async () => {
    const proxied = await psqlDescribe(env.proxy.url(USERS.doctor), 'patient');
    expect(proxied).toMatch(/diagnosis/);
    expect(proxied).toBe(await psqlDescribe((env.clusters.get('cloud-a') as PgCluster).url({ database: 'oracle' }), 'patient'));
  });

  it('a column added on another backend is shown after the next load; a table of the same name in another schema shows only its own', async () => {
    await doc.query('ALTER TABLE patient ADD COLUMN pat_ssn2 text');
    await env.backend('cloud-c').query('ALTER TABLE patient ADD COLUMN bed int');
    await env.backend('cloud-a').query('CREATE SCHEMA other; CREATE TABLE other.patient (x int)');
    await doc.query('ALTER TABLE patient ADD COLUMN note text');
    const cols = await doc.query("SELECT table_schema, column_name FROM information_schema.columns WHERE table_name = 'patient' ORDER BY table_schema, ordinal_position");
    expect(cols.rows.filter((r) => r.table_schema === 'public').map((r) => r.column_name)).toEqual(['pat_id', 'pat_name', 'age', 'pat_ssn2', 'note', 'pat_ssn', 'diagnosis', 'ward', 'bed']);
    expect(cols.rows.filter((r) => r.table_schema === 'other').map((r) => r.column_name)).toEqual(['x']);
    const attrs = await doc.query("SELECT attname FROM pg_attribute WHERE attrelid = 'other.patient'::regclass AND attnum > 0");
    expect(attrs.rows.map((r) => r.attname)).toEqual(['x']);
    await doc.query('ALTER TABLE patient DROP COLUMN pat_ssn2, DROP COLUMN note');
    await env.backend('cloud-c').query('ALTER TABLE patient DROP COLUMN bed');
    await env.backend('cloud-a').query('DROP SCHEMA other CASCADE');
  });
});

describe('split table: what each backend learns', () => {
  it('no backend stores or logs plaintext of an encrypted column', async () => {
    const secret = ['Ann Canary', '111-22-3333', 'flu-canary'];
    for (const b of ['cloud-a', 'cloud-b', 'cloud-c'] as const) {
      expect(await canariesInDump(env.clusters.get(b) as PgCluster, secret), `${b} pg_dump`).toEqual([]);
      const log = env.serverLog(b);
      for (const s of secret) expect(log.includes(s), `${b} log holds ${s}`).toBe(false);
    }
    void rowsOn;
  });
});
