// Real clients through the proxy against a real PostgreSQL 15: psql, pgbench, node-postgres and
// postgres.js. Each test checks what the client sees and what the backend actually stores.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import Cursor from 'pg-cursor';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPassThrough } from '@clarus/testing/pass-through.ts';
import type { PassThrough } from '@clarus/testing/pass-through.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import type { ProxyProcess } from '@clarus/testing/proxy.ts';
import { until } from '@clarus/testing/wait.ts';

const run = promisify(execFile);
let cluster: PgCluster;
let env: PassThrough;
let proxy: ProxyProcess;
const tmp = mkdtempSync(join(tmpdir(), 'clarus-clients-'));

beforeAll(async () => {
  env = await startPassThrough();
  ({ cluster, proxy } = env);
});

afterAll(async () => {
  await env?.close();
});

/** Waits until the backend runs `text` (so a cancel cannot arrive before the query). */
async function running(text: string): Promise<void> {
  const q = `select count(*) from pg_stat_activity where state = 'active' and query = '${text.replace(/'/g, "''")}'`;
  await until(`the backend to run ${text}`, async () => (await cluster.psql(q)) === '1\n', 20_000, 50);
}

const psql = async (args: string[]) => (await run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-At', proxy.url(), ...args])).stdout;

describe('psql', () => {
  it('runs queries, multi-statement text and transactions', async () => {
    expect(await psql(['-c', 'select 40 + 2'])).toBe('42\n');
    expect(await psql(['-c', 'create table t_psql(id int primary key, name text); insert into t_psql values (1, $$a$$), (2, NULL); select count(*) from t_psql'])).toBe('2\n');
    expect(await cluster.psql('select id, coalesce(name, \'<null>\') from t_psql order by id')).toBe('1|a\n2|<null>\n');
  });

  it('describes tables with \\d (catalog queries) and reports errors with their SQLSTATE', async () => {
    const d = (await run('psql', ['-X', proxy.url(), '-c', '\\d t_psql'])).stdout;
    expect(d).toContain('name');
    expect(d).toContain('t_psql_pkey');
    const err = await run('psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-v', 'VERBOSITY=verbose', proxy.url(), '-c', 'select * from missing_table']).catch((e: { stderr: string }) => e.stderr);
    expect(String(err)).toContain('42P01');
  });

  it('copies data in and out with \\copy', async () => {
    const file = join(tmp, 'in.csv');
    writeFileSync(file, Array.from({ length: 500 }, (_, i) => `${i},row ${i}`).join('\n') + '\n');
    await psql(['-c', 'create table t_copy(id int, v text)', '-c', `\\copy t_copy from '${file}' csv`]);
    expect(await cluster.psql('select count(*), sum(id) from t_copy')).toBe('500|124750\n');
    const out = join(tmp, 'out.csv');
    await psql(['-c', `\\copy (select * from t_copy order by id) to '${out}' csv`]);
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(file, 'utf8'));
  });
});

describe('psql large objects (FunctionCall)', () => {
  it('imports and exports a large object with \\lo_import / \\lo_export, which libpq sends as FunctionCall', async () => {
    const src = join(tmp, 'blob.bin');
    const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) & 0xff));
    writeFileSync(src, data);
    const oid = (await psql(['-c', `\\lo_import '${src}'`, '-c', '\\echo :LASTOID'])).trim();
    expect(oid).toMatch(/^\d+$/);
    expect(await cluster.psql(`select sum(length(data)) from pg_largeobject where loid = ${oid}`)).toBe('300000\n');
    const dst = join(tmp, 'blob.out');
    await psql(['-c', `\\lo_export ${oid} '${dst}'`]);
    expect(readFileSync(dst)).toEqual(data);
  });
});

describe('pgbench', () => {
  const env = () => ({ ...process.env, PGPASSWORD: 'app-pw' });
  const bench = (args: string[]) => run('pgbench', ['-h', proxy.host, '-p', String(proxy.port), '-U', 'app', ...args, 'postgres'], { env: env() });

  it('initializes through the proxy', async () => {
    await bench(['-i', '-s', '1', '-q']);
    expect(await cluster.psql('select count(*) from pgbench_accounts')).toBe('100000\n');
  });

  it.each(['simple', 'extended', 'prepared'])('runs tpcb-like transactions with -M %s', async (mode) => {
    const before = Number(await cluster.psql('select count(*) from pgbench_history'));
    const { stdout } = await bench(['-M', mode, '-c', '4', '-j', '2', '-t', '50', '-n']);
    expect(stdout).toMatch(/number of transactions actually processed: 200\/200/);
    expect(Number(await cluster.psql('select count(*) from pgbench_history'))).toBe(before + 200);
  });
});

describe('node-postgres', () => {
  const client = async () => { const c = new pg.Client({ connectionString: proxy.url() }); await c.connect(); return c; };

  it('runs parameterized queries in text and binary form with NULL and empty values', async () => {
    const c = await client();
    try {
      const r = await c.query('select $1::text as a, $2::text as b, $3::int + 1 as n', ['', null, 41]);
      expect(r.rows).toEqual([{ a: '', b: null, n: 42 }]);
      const binary: pg.QueryConfig & { binary: boolean } = { text: 'select $1::int4 as n, length($2::bytea) as len', values: [7, Buffer.from([0, 1, 2])], binary: true };
      const bin = await c.query(binary);
      expect(bin.rows[0].n).toBe(7);
      expect((await c.query('select $1::bytea as b', [Buffer.from([0, 1, 2])])).rows[0].b).toEqual(Buffer.from([0, 1, 2]));
      await c.query({ name: 'named_stmt', text: 'select $1::int * 2 as d', values: [21] });
      expect((await c.query({ name: 'named_stmt', text: 'select $1::int * 2 as d', values: [5] })).rows).toEqual([{ d: 10 }]);
    } finally { await c.end(); }
  });

  it('recovers from an error inside an extended-protocol batch', async () => {
    const c = await client();
    try {
      await expect(c.query('select 1/$1::int', [0])).rejects.toMatchObject({ code: '22012' });
      expect((await c.query('select $1::int as v', [3])).rows).toEqual([{ v: 3 }]);
    } finally { await c.end(); }
  });

  it('reads with cursors', async () => {
    const c = await client();
    try {
      await c.query('begin');
      const cur = c.query(new Cursor<{ g: number }>('select g from generate_series(1, 250) g'));
      let total = 0;
      for (let rows = await cur.read(100); rows.length > 0; rows = await cur.read(100)) total += rows.length;
      await cur.close();
      await c.query('commit');
      expect(total).toBe(250);
    } finally { await c.end(); }
  });

  it('streams COPY FROM STDIN and COPY TO STDOUT', async () => {
    const c = await client();
    try {
      await c.query('create table t_stream(id int, v text)');
      const lines = Array.from({ length: 2000 }, (_, i) => `${i}\tv${i}\n`);
      await pipeline(Readable.from(lines), c.query(copyFrom('copy t_stream from stdin')));
      expect(await cluster.psql('select count(*), max(id) from t_stream')).toBe('2000|1999\n');
      const chunks: Buffer[] = [];
      await pipeline(c.query(copyTo('copy (select * from t_stream order by id) to stdout')), new Writable({
        write(chunk: Buffer, _e, cb) { chunks.push(chunk); cb(); },
      }));
      expect(Buffer.concat(chunks).toString()).toBe(lines.join(''));
    } finally { await c.end(); }
  });

  it('rejects a failed COPY (CopyFail) and stores nothing', async () => {
    const c = await client();
    try {
      await c.query('create table t_fail(id int)');
      const stream = c.query(copyFrom('copy t_fail from stdin'));
      const done = new Promise((resolve) => { stream.on('error', resolve); });
      stream.write('1\n');
      stream.destroy(new Error('client gave up'));
      expect(String(await done)).toMatch(/gave up|COPY/);
      expect((await c.query('select count(*)::int as n from t_fail')).rows).toEqual([{ n: 0 }]);
    } finally { await c.end(); }
  });

  it('passes notices and ParameterStatus changes to the client', async () => {
    const c = await client();
    try {
      const notice = new Promise<{ message?: string }>((resolve) => c.once('notice', resolve));
      await c.query("do $$ begin raise notice 'hello from plpgsql'; end $$");
      expect((await notice).message).toBe('hello from plpgsql');
      await c.query("set application_name = 'clarus-test'");
      expect((await c.query('show application_name')).rows).toEqual([{ application_name: 'clarus-test' }]);
      expect(await cluster.psql("select count(*) from pg_stat_activity where application_name = 'clarus-test'")).toBe('1\n');
    } finally { await c.end(); }
  });

  it('delivers LISTEN/NOTIFY between sessions', async () => {
    const a = await client();
    const b = await client();
    try {
      await a.query('listen clarus_chan');
      const got = new Promise<pg.Notification>((resolve) => a.once('notification', resolve));
      await b.query("notify clarus_chan, 'hello'");
      const n = await got;
      expect(n.channel).toBe('clarus_chan');
      expect(n.payload).toBe('hello');
    } finally { await a.end(); await b.end(); }
  });

  it('cancels a running query through the proxy', async () => {
    const c = await client();
    try {
      const q = c.query('select pg_sleep(30) as pg_cancel_me');
      await running('select pg_sleep(30) as pg_cancel_me');
      // pg's (untyped) cancel API: a second Client sends CancelRequest with c's BackendKeyData.
      const canceller = new pg.Client({ connectionString: proxy.url() }) as unknown as { cancel(c: pg.Client, q: unknown): void };
      canceller.cancel(c, (c as unknown as { activeQuery: unknown }).activeQuery);
      await expect(q).rejects.toMatchObject({ code: '57014' });
      expect((await c.query('select 1 as ok')).rows).toEqual([{ ok: 1 }]);
    } finally { await c.end(); }
  });
});

describe('postgres.js', () => {
  it('pipelines many queries on one connection', async () => {
    const sql = postgres(proxy.url(), { max: 1 });
    try {
      await sql`create table t_pipe(id int primary key, v text)`;
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => sql`insert into t_pipe values (${i}, ${`v${i}`}) returning id`));
      expect(results.map((r) => r[0]?.id)).toEqual(Array.from({ length: 100 }, (_, i) => i));
      expect(await cluster.psql('select count(*) from t_pipe')).toBe('100\n');
      const rows = await sql`select v from t_pipe where id = ${42}`;
      expect(rows[0]?.v).toBe('v42');
    } finally { await sql.end(); }
  });

  it('copies with COPY streams', async () => {
    const sql = postgres(proxy.url(), { max: 1 });
    try {
      await sql`create table t_pjcopy(id int, v text)`;
      const w = await sql`copy t_pjcopy from stdin`.writable();
      await pipeline(Readable.from(Array.from({ length: 300 }, (_, i) => `${i}\tx${i}\n`)), w);
      expect(await cluster.psql('select count(*) from t_pjcopy')).toBe('300\n');
      const r = await sql`copy (select id from t_pjcopy where id < 3 order by id) to stdout`.readable();
      const parts: Buffer[] = [];
      for await (const chunk of r) parts.push(chunk as Buffer);
      expect(Buffer.concat(parts).toString()).toBe('0\n1\n2\n');
    } finally { await sql.end(); }
  });

  it('cancels a running query', async () => {
    const sql = postgres(proxy.url(), { max: 1 });
    try {
      const q = sql`select pg_sleep(30) as pj_cancel_me`;
      const p = q.execute();
      await running('select pg_sleep(30) as pj_cancel_me');
      await q.cancel();
      await expect(p).rejects.toMatchObject({ code: '57014' });
    } finally { await sql.end(); }
  });
});
