// The decoding path of the session with a real (test) pipeline plugged in, as issue 4's rewriter
// will: rewrites with result/parameter/COPY transformers, refusals in the simple and extended
// protocol (including inside pipelined batches), and asynchronous decisions. Checked on both sides.
import { readFileSync } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CopyHooks, Pipeline, PipelineFactory, ResultTransformer, SessionInfo, WireValue } from '../../src/session/pipeline.ts';
import { formatAt, pass } from '../../src/session/pipeline.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { RawClient, startProxyInProcess, writeProxyConfig } from '@clarus/testing/proxy.ts';
import { encodeFrontend } from '../../src/protocol/frontend.ts';
import type { FrontendMessage } from '../../src/protocol/frontend.ts';
import type { ProxyConfigDir, RunningProxy } from '@clarus/testing/proxy.ts';

const up = (v: WireValue): WireValue => (v === null ? null : Buffer.from(Buffer.from(v).toString().toUpperCase()));

/** Upper-cases text values and column names. */
const upper: ResultTransformer = {
  fields: (fs) => fs.map((f) => ({ ...f, name: f.name.toUpperCase() })),
  row: (values, formats) => values.map((v, i) => (formatAt(formats, i) === 0 ? up(v) : v)),
};

const upperCopy: CopyHooks = {
  in: { data: (c) => [Buffer.from(Buffer.from(c).toString().toUpperCase())] },
  out: { data: (c) => [Buffer.from(Buffer.from(c).toString().toUpperCase())] },
};

const sessions: SessionInfo[] = [];

const testPipeline: PipelineFactory = (info) => {
  sessions.push(info);
  const p: Pipeline = {
    passthrough: false,
    query: (sql) => {
      if (sql.includes('forbidden')) return { kind: 'refuse', code: '42501', message: 'refused by test pipeline' };
      if (sql.includes('/*upper*/')) return { kind: 'rewrite', sql, results: [upper, upper, upper] };
      if (sql.includes('/*copy*/')) return { kind: 'rewrite', sql, copy: [upperCopy] };
      return pass;
    },
    parse: (sql) => {
      if (sql.includes('forbidden')) return { kind: 'refuse', code: '42501', message: 'refused by test pipeline' };
      if (sql.includes('/*slow*/')) return new Promise((r) => setTimeout(() => r(pass), 20));
      if (sql.includes('/*upper*/')) {
        return { kind: 'rewrite', sql: sql.replace('/*upper*/', '/*rewritten*/'), result: upper,
          params: (values) => values.map((v) => (v === null ? null : Buffer.concat([v, Buffer.from('!')]))) };
      }
      return pass;
    },
  };
  return p;
};

let cluster: PgCluster;
let cfg: ProxyConfigDir;
let proxy: RunningProxy;

beforeAll(async () => {
  cluster = await startPostgres();
  await cluster.psql("alter system set log_statement = 'all'");
  await cluster.psql('select pg_reload_conf()');
  cfg = writeProxyConfig({ backends: [{ cluster }], users: [{ name: 'app', password: 'app-pw', grants: [{ grant: 'g1', datasets: ['d'], access: 'read', view: 'plaintext' }] }] });
  proxy = await startProxyInProcess(cfg.dir, { pipeline: testPipeline });
});
afterAll(async () => {
  await proxy?.close();
  await cluster?.destroy();
  cfg?.destroy();
});

async function withClient<T>(f: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: proxy.url() });
  await c.connect();
  try { return await f(c); } finally { await c.end(); }
}

describe('pipeline: simple protocol', () => {
  it('gives the pipeline the session info with the user grants', async () => {
    await withClient((c) => c.query('select 1'));
    expect(sessions.at(-1)).toMatchObject({ user: 'app', database: 'postgres', backend: 'primary', grants: [{ grant: 'g1' }] });
  });

  it('transforms every result set of a multi-statement query with its own transformer', async () => {
    const r = await withClient((c) => c.query("/*upper*/ select 'a' as x, null::text as n; select 'b' as y, '' as e") as unknown as Promise<pg.QueryResult[]>);
    expect(r.map((x) => x.rows)).toEqual([[{ X: 'A', N: null }], [{ Y: 'B', E: '' }]]);
  });

  it('refuses with the pipeline SQLSTATE and keeps PostgreSQL transaction semantics', async () => {
    await cluster.psql('create table t_ref(id int)');
    await withClient(async (c) => {
      // Outside a transaction block: nothing else is affected.
      await expect(c.query('insert into t_ref values (0) /* forbidden */')).rejects.toMatchObject({ code: '42501' });
      await c.query('insert into t_ref values (1)');
      // Inside one: the block is aborted as by any failed statement, and COMMIT rolls back.
      await c.query('begin');
      await c.query('insert into t_ref values (2)');
      await expect(c.query('insert into t_ref values (3) /* forbidden */')).rejects.toMatchObject({ code: '42501', message: 'refused by test pipeline' });
      await expect(c.query('select 1')).rejects.toMatchObject({ code: '25P02' });
      expect((await c.query('commit')).command).toBe('ROLLBACK');
      expect((await c.query('select 4 as n')).rows).toEqual([{ n: 4 }]);
    });
    expect(await cluster.psql('select array_agg(id) from t_ref')).toBe('{1}\n');
    // The backend logs every statement it receives: the refused ones never arrived.
    const log = readFileSync(`${cluster.dir}/server.log`, 'utf8');
    expect(log).toContain('insert into t_ref values (1)');
    expect(log).not.toContain('forbidden');
    const metrics = await (await fetch(`http://127.0.0.1:${proxy.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/clarus_statements_total\{type="simple",outcome="refused"\} 2/);
  });

  it('rolls back the implicit transaction of an extended batch that holds a refusal', async () => {
    await cluster.psql('create table t_batch(id int)');
    const raw = await RawClient.open(proxy.port);
    raw.socket.write(Buffer.concat(([
      { type: 'Parse', name: '', sql: 'insert into t_batch values (1)', paramTypes: [] },
      { type: 'Bind', portal: '', statement: '', paramFormats: [], values: [], resultFormats: [] },
      { type: 'Execute', portal: '', maxRows: 0 },
      { type: 'Parse', name: '', sql: 'insert into t_batch values (2) /* forbidden */', paramTypes: [] },
      { type: 'Bind', portal: '', statement: '', paramFormats: [], values: [], resultFormats: [] },
      { type: 'Execute', portal: '', maxRows: 0 },
      { type: 'Sync' },
    ] as FrontendMessage[]).map((m) => encodeFrontend(m).finish())));
    const err = await raw.until('ErrorResponse');
    expect(err.type === 'ErrorResponse' ? err.fields.C : '').toBe('42501');
    await raw.until('ReadyForQuery');
    raw.socket.destroy();
    expect(await cluster.psql('select count(*) from t_batch')).toBe('0\n');
  });

  it('transforms COPY data in both directions', async () => {
    await withClient(async (c) => {
      await c.query('create table t_pcopy(v text)');
      await pipeline(Readable.from(['abc\n', 'def\n']), c.query(copyFrom('/*copy*/ copy t_pcopy from stdin')));
      expect(await cluster.psql('select string_agg(v, \',\' order by v) from t_pcopy')).toBe('ABC,DEF\n');
      await c.query("insert into t_pcopy values ('low')");
      const parts: Buffer[] = [];
      await pipeline(c.query(copyTo("/*copy*/ copy (select v from t_pcopy where v = 'low') to stdout")), new Writable({
        write(chunk: Buffer, _e, cb) { parts.push(chunk); cb(); },
      }));
      expect(Buffer.concat(parts).toString()).toBe('LOW\n');
    });
  });
});

describe('pipeline: FunctionCall', () => {
  it('relays FunctionCall (psql large objects) on the decoding path', async () => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const { mkdtempSync, writeFileSync, readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'clarus-lo-'));
    const data = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 13) & 0xff));
    writeFileSync(join(dir, 'in'), data);
    const run = promisify(execFile);
    const { stdout } = await run('psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=1', proxy.url(), '-c', `\\lo_import '${join(dir, 'in')}'`, '-c', '\\echo :LASTOID']);
    const oid = stdout.trim().split('\n').at(-1) ?? '';
    await run('psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=1', proxy.url(), '-c', `\\lo_export ${oid} '${join(dir, 'out')}'`]);
    expect(readFileSync(join(dir, 'out'))).toEqual(data);
    expect(await cluster.psql(`select sum(length(data)) from pg_largeobject where loid = ${oid}`)).toBe('100000\n');
  });
});

describe('pipeline: extended protocol', () => {
  it('rewrites Parse, transforms Bind parameters and the rows and fields of Describe/Execute', async () => {
    const r = await withClient((c) => c.query('/*upper*/ select $1::text as v, $2::text as n, current_query() as q', ['hi', null]));
    expect(r.fields.map((f) => f.name)).toEqual(['V', 'N', 'Q']);
    expect(r.rows[0]).toMatchObject({ V: 'HI!', N: null });
    expect(String(r.rows[0].Q)).toContain('/*REWRITTEN*/');
  });

  it('keeps the rewrite with a named prepared statement', async () => {
    await withClient(async (c) => {
      for (const word of ['one', 'two']) {
        const r = await c.query({ name: 'up_stmt', text: '/*upper*/ select $1::text as w', values: [word] });
        expect(r.rows).toEqual([{ W: `${word.toUpperCase()}!` }]);
      }
    });
  });

  it('refuses a Parse with its SQLSTATE, discards until Sync and recovers', async () => {
    await withClient(async (c) => {
      await expect(c.query('select $1::int /* forbidden */', [1])).rejects.toMatchObject({ code: '42501', message: 'refused by test pipeline' });
      expect((await c.query('select $1::int + 1 as n', [1])).rows).toEqual([{ n: 2 }]);
    });
  });

  it('answers each statement of a pipelined batch in order, the refused one with its error', async () => {
    const sql = postgres(proxy.url(), { max: 1 });
    try {
      const results = await Promise.allSettled([
        sql`select ${1}::int as a`,
        sql`select ${2}::int as b /* forbidden */`,
        sql`select ${3}::int as c`,
        sql`select ${'x'}::text as d /*slow*/`,
      ]);
      expect(results[0]).toMatchObject({ status: 'fulfilled', value: [{ a: 1 }] });
      expect(results[1]).toMatchObject({ status: 'rejected', reason: { code: '42501' } });
      expect(results[2]).toMatchObject({ status: 'fulfilled', value: [{ c: 3 }] });
      expect(results[3]).toMatchObject({ status: 'fulfilled', value: [{ d: 'x' }] });
    } finally { await sql.end(); }
  });

  it('does not show a refusal that follows a backend error in the same batch (one Sync)', async () => {
    const raw = await RawClient.open(proxy.port);
    const batch: FrontendMessage[] = [
      { type: 'Parse', name: '', sql: 'select 1/0', paramTypes: [] },
      { type: 'Bind', portal: '', statement: '', paramFormats: [], values: [], resultFormats: [] },
      { type: 'Execute', portal: '', maxRows: 0 },
      { type: 'Parse', name: '', sql: 'select 2 /* forbidden */', paramTypes: [] },
      { type: 'Bind', portal: '', statement: '', paramFormats: [], values: [], resultFormats: [] },
      { type: 'Execute', portal: '', maxRows: 0 },
      { type: 'Sync' },
      { type: 'Parse', name: '', sql: 'select 3 /* forbidden */', paramTypes: [] },
      { type: 'Sync' },
      { type: 'Query', sql: "select 'after'" },
    ];
    raw.socket.write(Buffer.concat(batch.map((m) => encodeFrontend(m).finish())));
    const seen: string[] = [];
    while (seen.filter((x) => x === 'Z').length < 3) {
      const m = await raw.read();
      if (m.type === 'ErrorResponse') seen.push(`E:${m.fields.C}`);
      else if (m.type === 'ReadyForQuery') seen.push('Z');
      else if (m.type === 'DataRow') seen.push('DataRow');
    }
    expect(seen).toEqual(['E:22012', 'Z', 'E:42501', 'Z', 'DataRow', 'Z']);
    raw.socket.destroy();
  });
});
