// The native pass-through data path (sidecar/native/relay.c, io/native-relay.ts) through the real
// proxy process in front of a real PostgreSQL 15: a pass-through session between two plain TCP
// sockets is handed to the relay thread at a statement boundary, and comes back to the JavaScript
// relay (session/relay.ts) for everything but the plain relay. Each test checks what the client
// sees, what the backend has or stores, and where the session is (clarus_native_relay_sessions);
// the idle timeout and the varied session also run with CLARUS_NATIVE_RELAY=0, and must behave alike.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeConfig } from '@clarus/policy/runtime/config.ts';
import type { BackendMessage } from '@clarus/sidecar/protocol/backend.ts';
import { canariesInTable } from '../corpus/setup.ts';
import { Writer } from '../../src/protocol/codec.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { frontendBytes, RawClient, startProxyProcess, summarize, writeProxyConfig } from '@clarus/testing/proxy.ts';
import type { HarnessUser, ProxyConfigDir, ProxyConfigOptions, ProxyProcess, RunningProxy } from '@clarus/testing/proxy.ts';
import { TEST_KEY_FILES } from '@clarus/testing/rewriter.ts';
import { settled, until } from '@clarus/testing/wait.ts';

let cluster: PgCluster;
/** The proxy most tests use: pass-through configuration, native relay on (the default). */
let proxy: ProxyProcess;
const cleanups: Array<() => Promise<void> | void> = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A proxy child process with its own configuration directory, stopped and removed after the file. */
async function startProxy(opts: ProxyConfigOptions, env: NodeJS.ProcessEnv = {}): Promise<{ p: ProxyProcess; cfg: ProxyConfigDir }> {
  const cfg = writeProxyConfig(opts);
  cleanups.push(() => cfg.destroy());
  const p = await startProxyProcess(cfg.dir, [], env);
  cleanups.push(() => p.close());
  return { p, cfg };
}

beforeAll(async () => {
  cluster = await startPostgres();
  ({ p: proxy } = await startProxy({ backends: [{ cluster }] }));
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await cluster?.destroy();
});

async function metrics(p: RunningProxy): Promise<string> {
  return (await fetch(`http://127.0.0.1:${p.metricsPort}/metrics`)).text();
}

/** The value of one series (`name{labels}` exactly as exposed) in a scrape; 0 when absent. */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

async function nativeSessions(p: RunningProxy): Promise<number> {
  return sample(await metrics(p), 'clarus_native_relay_sessions');
}

/**
 * Polls clarus_native_relay_sessions until it is `want` (a session is handed over on the event-loop
 * turn after its boundary) or `ms` passed; returns the last value for the test to assert.
 */
async function onNative(p: RunningProxy, want: number, ms = 20_000): Promise<number> {
  return settled(() => nativeSessions(p), (n) => n === want, ms, 20);
}

type PgError = { code?: string; message: string; severity?: string };
/**
 * Server errors a client emitted outside a query (a FATAL from the proxy or the backend); pg also
 * emits 'Connection terminated unexpectedly' (no SQLSTATE) when the socket closes after one.
 */
const errorsOf = new WeakMap<pg.Client, PgError[]>();
const serverErrors = (c: pg.Client) => (errorsOf.get(c) ?? []).filter((e) => e.code !== undefined);

async function connect(url: string, applicationName?: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url, ...(applicationName ? { application_name: applicationName } : {}) });
  const errors: PgError[] = [];
  errorsOf.set(c, errors);
  c.on('error', (e: PgError) => errors.push(e));
  await c.connect();
  return c;
}

/** True once `c`'s connection has ended (its socket closed), false if it has not within `ms`. */
const ended = (c: pg.Client, ms = 5000) => new Promise<boolean>((r) => {
  const timer = setTimeout(() => r(false), ms);
  c.once('end', () => { clearTimeout(timer); r(true); });
});

/** Backend sessions with this application_name, polled until there are `want` (or 20 s passed). */
async function backends(applicationName: string, want: number): Promise<number> {
  const q = `select count(*) from pg_stat_activity where application_name = '${applicationName}'`;
  return settled(async () => Number(await cluster.psql(q)), (n) => n === want, 20_000, 50);
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

/** Deterministic text of `n` characters, multi-byte ones included, no quote. */
const text = (n: number, seed: number) => Array.from({ length: n }, (_, i) => 'abcdefghijklmnopqrstuvwxyzäöüé€ 0123456789'[(i * 7 + seed * 13 + (i >> 5)) % 42]).join('');

/** Waits until the backend runs `sql` (so a cancel cannot arrive before the query). */
async function running(sql: string): Promise<void> {
  const q = `select count(*) from pg_stat_activity where state = 'active' and query = '${sql.replace(/'/g, "''")}'`;
  await until(`the backend to run ${sql}`, async () => (await cluster.psql(q)) === '1\n', 20_000, 50);
}

// ---- one varied session, run straight against PostgreSQL and through the proxies ------------------

type Shape = { command: string; rowCount: number | null; fields: Array<[string, number]>; rows: unknown[] };
const shape = (r: pg.QueryResult): Shape => ({ command: r.command, rowCount: r.rowCount, fields: r.fields.map((f) => [f.name, f.dataTypeID]), rows: r.rows });

/** A statement's result (each result of a multi-statement query) or its error, as the client sees it. */
async function outcome(c: pg.Client, sql: string, values?: unknown[]): Promise<unknown> {
  try {
    const r = (await c.query(sql, values)) as pg.QueryResult | pg.QueryResult[];
    return Array.isArray(r) ? r.map(shape) : shape(r);
  } catch (e) {
    const err = e as PgError & { position?: string };
    return { error: err.code, message: err.message, severity: err.severity, position: err.position };
  }
}

const MANY_ROWS = 200_000;

/**
 * Simple and extended queries, a multi-statement query, errors with the session going on, ROLLBACK
 * and COMMIT (and a failed transaction), rows larger than the native relay's 32 KiB buffer, 200,000
 * rows, notices and LISTEN/NOTIFY between two sessions. `probe(n)` runs between steps (through the
 * native proxy: n sessions must be on the native path). Returns what the client saw, by step.
 */
async function variedSession(url: string, table: string, probe: (sessions: number) => Promise<void>): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const c = await connect(url);
  const notices: string[] = [];
  c.on('notice', (n) => notices.push(`${n.severity} ${n.code} ${n.message}`));
  try {
    out.simple = await outcome(c, "select 1 as one, 'x'::text as t, null::int as n, 1.5::numeric as d, now() is not null as ok");
    await probe(1);
    out.extended = await outcome(c, 'select $1::int + 1 as n, $2::text as t, $3::bytea as b, $4::text as nul', [41, 'héllo wörld', Buffer.from([0, 1, 2, 255]), null]);
    out.multi = await outcome(c, `create table ${table}(id int primary key, v text); insert into ${table} values (1, 'a'), (2, 'b');
      select * from ${table} order by id; update ${table} set v = v || '!' where id = 2`);
    out.empty = await outcome(c, ';');
    out.missing = await outcome(c, 'select * from nr_missing_table');
    out.afterMissing = await outcome(c, `select count(*)::int as n from ${table}`);
    out.multiMissing = await outcome(c, 'select 1 as a; select * from nr_missing_table; select 2 as b');
    out.extendedError = await outcome(c, 'select 1 / $1::int as q', [0]);
    out.afterExtendedError = await outcome(c, 'select $1::text as ok', ['after']);
    out.rollback = [await outcome(c, 'begin'), await outcome(c, `insert into ${table} values (3, 'rolled back')`),
      await outcome(c, `select count(*)::int as n from ${table}`), await outcome(c, 'rollback')];
    out.commit = [await outcome(c, 'begin'), await outcome(c, `insert into ${table} values (4, 'committed')`), await outcome(c, 'commit')];
    out.failedTx = [await outcome(c, 'begin'), await outcome(c, `insert into ${table} values (5, 'aborted')`),
      await outcome(c, 'select * from nr_missing_table'), await outcome(c, 'select 1'), await outcome(c, 'rollback')];
    await probe(1);
    out.bigRows = await outcome(c, 'select i, repeat(chr(64 + i), 40000 + i) as big from generate_series(1, 6) i');
    out.bigExtended = await outcome(c, 'select repeat($1::text, 30000) as big', ['xyz']);
    const many = await c.query<{ i: number; h: string }>(`select i, md5(i::text) as h from generate_series(1, ${MANY_ROWS}) i`);
    out.manyRows = { count: many.rowCount, md5: md5(many.rows.map((r) => `${r.i}:${r.h}`).join(',')), last: many.rows.at(-1) };
    await probe(1);
    await c.query("do $$ begin raise notice 'native notice %', 42; raise warning 'native warning'; end $$");
    out.notices = [...notices];
    const listener = await connect(url);
    try {
      await listener.query('listen nr_chan');
      await probe(2);
      const got = new Promise<pg.Notification>((r) => listener.once('notification', r));
      await c.query("select pg_notify('nr_chan', $1)", [`payload ${'p'.repeat(5000)}`]);
      const n = await got;
      out.notification = [n.channel, n.payload];
    } finally { await listener.end(); }
  } finally { await c.end(); }
  return out;
}

let direct: Record<string, unknown> | undefined;
/** The varied session straight against PostgreSQL (once). */
async function directTranscript(): Promise<Record<string, unknown>> {
  direct ??= await variedSession(cluster.url(), 'nr_varied_direct', async () => undefined);
  return direct;
}

describe('hand-over', () => {
  it('says it relays natively, and holds an idle pass-through session on the native thread until it disconnects', async () => {
    expect(String(proxy.logs.find((l) => l.msg === 'listening')?.relay)).toMatch(/^native/);
    expect(await onNative(proxy, 0)).toBe(0);
    const c = await connect(proxy.url());
    expect((await c.query('select 1 as n')).rows).toEqual([{ n: 1 }]);
    // Idle after a statement: on the native thread.
    expect(await onNative(proxy, 1)).toBe(1);
    expect(sample(await metrics(proxy), 'clarus_connections_active')).toBe(1);
    // And it still answers from there.
    expect((await c.query('select 2 as n')).rows).toEqual([{ n: 2 }]);
    await c.end();
    expect(await onNative(proxy, 0)).toBe(0);
    expect(await settled(async () => sample(await metrics(proxy), 'clarus_connections_active'), (n) => n === 0, 20_000, 20)).toBe(0);
  });
});

describe('results on the native path', () => {
  it('equal PostgreSQL for a varied session (queries, errors, transactions, large and many rows, notices, NOTIFY)', async () => {
    const want = await directTranscript();
    const got = await variedSession(proxy.url(), 'nr_varied_native', async (n) => { expect(await onNative(proxy, n)).toBe(n); });
    expect(got).toEqual(want);
    // Not vacuous: the transcript holds what each step is about.
    expect(got.simple).toMatchObject({ rows: [{ one: 1, t: 'x', n: null, d: '1.5', ok: true }] });
    expect(got.extended).toMatchObject({ rows: [{ n: 42, t: 'héllo wörld', b: Buffer.from([0, 1, 2, 255]), nul: null }] });
    expect(got.missing).toMatchObject({ error: '42P01' });
    expect(got.afterMissing).toMatchObject({ rows: [{ n: 2 }] });
    expect(got.multiMissing).toMatchObject({ error: '42P01' });
    expect(got.extendedError).toMatchObject({ error: '22012' });
    expect((got.failedTx as unknown[])[3]).toMatchObject({ error: '25P02' });
    expect((got.bigRows as Shape).rows.map((r) => (r as { big: string }).big.length)).toEqual([40001, 40002, 40003, 40004, 40005, 40006]);
    expect(got.manyRows).toMatchObject({ count: MANY_ROWS, last: { i: MANY_ROWS, h: md5(String(MANY_ROWS)) } });
    // The checksum PostgreSQL computes itself over the same rows.
    const server = await cluster.psql(`select md5(string_agg(i || ':' || md5(i::text), ',' order by i)) from generate_series(1, ${MANY_ROWS}) i`);
    expect((got.manyRows as { md5: string }).md5).toBe(server.trim());
    expect(got.notices).toEqual(['NOTICE 00000 native notice 42', 'WARNING 01000 native warning']);
    expect(got.notification).toEqual(['nr_chan', `payload ${'p'.repeat(5000)}`]);
    // The backend has the committed row and neither the rolled back nor the aborted one.
    expect(await cluster.psql('select id, v from nr_varied_native order by id')).toBe('1|a\n2|b!\n4|committed\n');
    expect(await onNative(proxy, 0)).toBe(0);
  });

  it('stores client messages longer than the native relay\'s 32 KiB buffer exactly, and the session is on the native path after them', async () => {
    await cluster.psql('create table nr_big(id int primary key, v text)');
    const hundredK = text(100_000, 1);
    const twoHundredK = text(200_000, 2);
    const inTx = text(50_000, 3);
    const c = await connect(proxy.url());
    try {
      await c.query('select 1');
      expect(await onNative(proxy, 1)).toBe(1);
      // A Query message of ~100 KB (simple protocol).
      expect((await c.query(`insert into nr_big values (1, '${hundredK}')`)).rowCount).toBe(1);
      expect(await onNative(proxy, 1)).toBe(1);
      // A Bind message of ~200 KB (extended protocol).
      expect((await c.query('insert into nr_big values ($1, $2)', [2, twoHundredK])).rowCount).toBe(1);
      expect(await onNative(proxy, 1)).toBe(1);
      // Inside a transaction: the transaction status survives it.
      await c.query('begin');
      expect(await onNative(proxy, 1)).toBe(1);
      await c.query(`insert into nr_big values (3, '${inTx}')`);
      await c.query('commit');
      // Read back through the proxy (large rows, native path again).
      expect(await onNative(proxy, 1)).toBe(1);
      const back = await c.query<{ id: number; v: string }>('select id, v from nr_big order by id');
      expect(back.rows.map((r) => [r.id, md5(r.v)])).toEqual([[1, md5(hundredK)], [2, md5(twoHundredK)], [3, md5(inTx)]]);
      expect(await onNative(proxy, 1)).toBe(1);
    } finally { await c.end(); }
    expect(await cluster.psql('select id, length(v), md5(v) from nr_big order by id'))
      .toBe(`1|100000|${md5(hundredK)}\n2|200000|${md5(twoHundredK)}\n3|50000|${md5(inTx)}\n`);
  });

  it('answers pipelined statements in order when a long one comes between short ones (one write, and postgres.js)', async () => {
    const raw = await RawClient.open(proxy.port);
    try {
      raw.socket.write(frontendBytes([{ type: 'Query', sql: 'select 1' }]));
      await raw.cycle();
      expect(await onNative(proxy, 1)).toBe(1);
      const long = text(100_000, 4);
      raw.socket.write(frontendBytes([{ type: 'Query', sql: "select 'first' as a" }, { type: 'Query', sql: `select md5('${long}') as a` },
        { type: 'Query', sql: "select 'third' as a" }]));
      const cycles = [await raw.cycle(), await raw.cycle(), await raw.cycle()];
      expect(cycles.map((c) => summarize(c, true))).toEqual([['RowDescription', 'D first', 'C SELECT 1', 'Z I'],
        ['RowDescription', `D ${md5(long)}`, 'C SELECT 1', 'Z I'], ['RowDescription', 'D third', 'C SELECT 1', 'Z I']]);
      expect(await onNative(proxy, 1)).toBe(1);
    } finally { raw.socket.destroy(); }
    expect(await onNative(proxy, 0)).toBe(0);
    // postgres.js pipelines its queries on one connection: every tenth carries a 40 KB parameter.
    const sql = postgres(proxy.url(), { max: 1 });
    try {
      await sql`create table nr_pipe(id int primary key, v text)`;
      const value = (i: number) => (i % 10 === 0 ? text(40_000 + i, i) : `v${i}`);
      const ids = await Promise.all(Array.from({ length: 60 }, (_, i) => sql`insert into nr_pipe values (${i}, ${value(i)}) returning id`));
      expect(ids.map((r) => r[0]?.id)).toEqual(Array.from({ length: 60 }, (_, i) => i));
      expect(await onNative(proxy, 1)).toBe(1);
      const all = Array.from({ length: 60 }, (_, i) => `${i}:${md5(value(i))}`).join(',');
      expect(await cluster.psql("select count(*), md5(string_agg(id || ':' || md5(v), ',' order by id)) from nr_pipe")).toBe(`60|${md5(all)}\n`);
    } finally { await sql.end(); }
  });

  it('cancels a statement running on the native path (57014), and the session goes on there', async () => {
    const c = await connect(proxy.url());
    try {
      await c.query('select 1');
      expect(await onNative(proxy, 1)).toBe(1);
      const q = c.query('select pg_sleep(30) as nr_cancel_me');
      await running('select pg_sleep(30) as nr_cancel_me');
      expect(await nativeSessions(proxy)).toBe(1);
      // pg's (untyped) cancel API: a second Client sends CancelRequest with c's BackendKeyData.
      const canceller = new pg.Client({ connectionString: proxy.url() }) as unknown as { cancel(c: pg.Client, q: unknown): void };
      canceller.cancel(c, (c as unknown as { activeQuery: unknown }).activeQuery);
      await expect(q).rejects.toMatchObject({ code: '57014' });
      expect((await c.query('select 1 as ok')).rows).toEqual([{ ok: 1 }]);
      expect(await onNative(proxy, 1)).toBe(1);
    } finally { await c.end(); }
  });

  it('round-trips 100,000 rows with COPY FROM STDIN (small and > 32 KiB CopyData) and COPY TO STDOUT', async () => {
    const ROWS = 100_000;
    const lines = Array.from({ length: ROWS }, (_, i) => `${i}\tv${i}-${'x'.repeat(i % 50)}\n`);
    // The first half as one CopyData per line, the rest in ~200 KB CopyData messages (longer than
    // the native relay's buffer, in the middle of the COPY).
    function* chunks(): Generator<string> {
      yield* lines.slice(0, ROWS / 2);
      for (let i = ROWS / 2; i < ROWS; i += 5000) yield lines.slice(i, i + 5000).join('');
    }
    const c = await connect(proxy.url());
    try {
      await c.query('create table nr_copy(id int, v text)');
      expect(await onNative(proxy, 1)).toBe(1);
      await pipeline(Readable.from(chunks()), c.query(copyFrom('copy nr_copy from stdin')));
      expect(await onNative(proxy, 1)).toBe(1);
      const expected = md5(lines.map((l) => l.slice(0, -1)).join('\n'));
      expect(await cluster.psql("select count(*), sum(id), md5(string_agg(id || E'\\t' || v, E'\\n' order by id)) from nr_copy"))
        .toBe(`${ROWS}|${(ROWS * (ROWS - 1)) / 2}|${expected}\n`);
      const parts: Buffer[] = [];
      await pipeline(c.query(copyTo('copy (select * from nr_copy order by id) to stdout')), new Writable({
        write(chunk: Buffer, _e, cb) { parts.push(chunk); cb(); },
      }));
      expect(Buffer.concat(parts).toString() === lines.join('')).toBe(true);
      expect(await onNative(proxy, 1)).toBe(1);
      expect((await c.query('select count(*)::int as n from nr_copy')).rows).toEqual([{ n: ROWS }]);
    } finally { await c.end(); }
  });
});

describe('metrics of native sessions', () => {
  it('counts exactly the statements, outcomes and durations of a session on the native path, and its bytes', async () => {
    const series = ['clarus_statements_total{type="simple",outcome="ok"}', 'clarus_statements_total{type="simple",outcome="error"}',
      'clarus_statements_total{type="extended",outcome="ok"}', 'clarus_statements_total{type="extended",outcome="error"}',
      'clarus_statement_duration_seconds_count{type="simple"}', 'clarus_statement_duration_seconds_count{type="extended"}'];
    const c = await connect(proxy.url());
    try {
      await c.query('select 1');
      expect(await onNative(proxy, 1)).toBe(1);
      const before = await metrics(proxy);
      for (let i = 0; i < 50; i++) await c.query(`select ${i} as n`);
      for (let i = 0; i < 30; i++) await c.query('select $1::int as n', [i]);
      await expect(c.query('select * from nr_missing_metrics')).rejects.toMatchObject({ code: '42P01' });
      await expect(c.query('select 1 / 0')).rejects.toMatchObject({ code: '22012' });
      await expect(c.query('select 1 / $1::int', [0])).rejects.toMatchObject({ code: '22012' });
      // One statement longer than the native relay's buffer: counted once, whichever relay forwards it.
      expect((await c.query(`select length('${'m'.repeat(40_000)}') as n`)).rows).toEqual([{ n: 40_000 }]);
      expect(await onNative(proxy, 1)).toBe(1);
      const after = await metrics(proxy);
      const delta = (s: string) => sample(after, s) - sample(before, s);
      expect(Object.fromEntries(series.map((s) => [s, delta(s)]))).toEqual({
        'clarus_statements_total{type="simple",outcome="ok"}': 51,
        'clarus_statements_total{type="simple",outcome="error"}': 2,
        'clarus_statements_total{type="extended",outcome="ok"}': 30,
        'clarus_statements_total{type="extended",outcome="error"}': 1,
        'clarus_statement_duration_seconds_count{type="simple"}': 53,
        'clarus_statement_duration_seconds_count{type="extended"}': 31,
      });
      // At least the messages sent (a Query of each short statement is over 14 bytes, a Bind over 20) and their answers.
      expect(delta('clarus_bytes_total{direction="client_to_proxy"}')).toBeGreaterThan(40_000 + 50 * 14 + 30 * 20);
      expect(delta('clarus_bytes_total{direction="backend_to_proxy"}')).toBeGreaterThan(84 * 20);
    } finally { await c.end(); }
  });
});

describe('fail-closed hand-backs', () => {
  /** A hand-driven session that ran one statement (naming its backend) and sits on the native path. */
  async function rawOnNative(applicationName: string): Promise<RawClient> {
    const raw = await RawClient.open(proxy.port);
    raw.socket.write(frontendBytes([{ type: 'Query', sql: `set application_name = '${applicationName}'` }]));
    expect((await raw.cycle()).at(-1)).toMatchObject({ type: 'ReadyForQuery', status: 'I' });
    expect(await onNative(proxy, 1)).toBe(1);
    expect(await backends(applicationName, 1)).toBe(1);
    return raw;
  }
  const codeOf = (m: BackendMessage) => (m.type === 'ErrorResponse' ? m.fields.C : m.type);

  it('answers an invalid message type, and a length below 4, with 08P01 and closes both sides', async () => {
    for (const [name, bytes] of [['nr-raw-tag', Buffer.from([0x7a, 0, 0, 0, 4])], ['nr-raw-short', Buffer.from([0x51, 0, 0, 0, 3])]] as const) {
      const raw = await rawOnNative(name);
      raw.socket.write(bytes);
      const err = await raw.until('ErrorResponse');
      expect(codeOf(err)).toBe('08P01');
      expect(err.type === 'ErrorResponse' ? err.fields.S : '').toBe('FATAL');
      expect(await raw.closedSoon()).toBe(true);
      expect(await backends(name, 0)).toBe(0);
      expect(await onNative(proxy, 0)).toBe(0);
    }
  });

  it('answers a message longer than limits.maxMessageBytes with 54000 and closes both sides', async () => {
    const raw = await rawOnNative('nr-raw-huge');
    // A Query declaring 2 GiB (the limit is 64 MiB), followed by a little of its text.
    raw.socket.write(Buffer.concat([Buffer.from([0x51, 0x7f, 0xff, 0xff, 0xf0]), Buffer.from('select 1')]));
    const err = await raw.until('ErrorResponse');
    expect(codeOf(err)).toBe('54000');
    expect(await raw.closedSoon()).toBe(true);
    expect(await backends('nr-raw-huge', 0)).toBe(0);
    expect(await onNative(proxy, 0)).toBe(0);
  });

  it('closes both sides cleanly on Terminate', async () => {
    const raw = await rawOnNative('nr-raw-terminate');
    raw.socket.write(new Writer().begin(0x58).end().finish());
    expect(await raw.closedSoon()).toBe(true);
    // Nothing was sent back: no error, no message.
    expect(raw.next()).toBeNull();
    expect(await backends('nr-raw-terminate', 0)).toBe(0);
    expect(await onNative(proxy, 0)).toBe(0);
  });

  it('passes pg_terminate_backend()\'s FATAL to a client idle on the native path as its only error; new sessions work', async () => {
    const c = await connect(proxy.url(), 'nr-terminated');
    await c.query('select 1');
    expect(await onNative(proxy, 1)).toBe(1);
    const done = ended(c);
    expect(await cluster.psql("select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'nr-terminated'")).toBe('t\n');
    expect(await done).toBe(true);
    expect(serverErrors(c).map((e) => e.code)).toEqual(['57P01']);
    expect(await onNative(proxy, 0)).toBe(0);
    const next = await connect(proxy.url());
    expect((await next.query('select 3 as n')).rows).toEqual([{ n: 3 }]);
    await next.end();
  });
});

describe('idle timeout', () => {
  // The same with the native relay off: the two paths time out alike.
  it.each([['native', {}, 3], ['javascript', { CLARUS_NATIVE_RELAY: '0' }, 0]] as const)('(%s relay) closes an idle session with 57P05 and an idle transaction with 25P03 after ~1 s, but not a running statement', async (relay, env, onThread) => {
    const { p } = await startProxy({ backends: [{ cluster }], limits: { idleTimeoutSeconds: 1 } }, env);
    const table = `nr_idle_${relay}`;
    await cluster.psql(`create table ${table}(id int)`);
    const idle = await connect(p.url(), `${table}-idle`);
    const inTx = await connect(p.url(), `${table}-tx`);
    const busy = await connect(p.url(), `${table}-busy`);
    const closed = [ended(idle), ended(inTx)];
    // Each session's last traffic is after t0: none may be closed less than a second after it.
    const t0 = Date.now();
    await idle.query('select 1');
    await inTx.query('begin');
    await inTx.query(`insert into ${table} values (1)`);
    await busy.query('select 1');
    expect(await onNative(p, onThread)).toBe(onThread);
    // A statement running longer than the timeout is not idle.
    expect((await busy.query('select pg_sleep(1.6) as slept')).rows).toEqual([{ slept: '' }]);
    expect(await Promise.all(closed)).toEqual([true, true]);
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(990);
    expect(elapsed).toBeLessThan(3500);
    expect(serverErrors(idle)).toMatchObject([{ code: '57P05', severity: 'FATAL', message: 'terminating connection due to idle-session timeout' }]);
    expect(serverErrors(inTx)).toMatchObject([{ code: '25P03', severity: 'FATAL', message: 'terminating connection due to idle-in-transaction timeout' }]);
    // Then the busy one, idle after its statement, goes too.
    expect(await ended(busy)).toBe(true);
    expect(serverErrors(busy)).toMatchObject([{ code: '57P05' }]);
    for (const name of ['idle', 'tx', 'busy']) expect(await backends(`${table}-${name}`, 0)).toBe(0);
    expect(await cluster.psql(`select count(*) from ${table}`)).toBe('0\n');
    expect(await onNative(p, 0)).toBe(0);
  });
});

describe('limits across a reload', () => {
  /** Writes `change(config)`, sends SIGHUP and waits for the proxy's next 'configuration reloaded'. */
  async function reload(p: ProxyProcess, cfg: ProxyConfigDir, limits: Partial<RuntimeConfig['limits']>): Promise<void> {
    const count = () => p.logs.filter((l) => l.msg === 'configuration reloaded').length;
    const before = count();
    cfg.write({ ...cfg.config, limits: { ...cfg.config.limits, ...limits } });
    p.child.kill('SIGHUP');
    await until('the configuration reloaded', () => count() > before, 20_000, 50);
  }

  // An open session keeps the limits it started with (docs/proxy.md), on either relay: a reload
  // that turns the idle timeout off must not leave the old one running on a statement the native
  // thread relays (it once closed such a session as idle mid-statement), one that turns it on must
  // not apply to it, and a larger message limit must not either.
  it.each([['native', {}], ['javascript', { CLARUS_NATIVE_RELAY: '0' }]] as const)('(%s relay) keeps a session\'s idle timeout and message limit through a reload', async (_relay, env) => {
    const timed = await startProxy({ backends: [{ cluster }], limits: { idleTimeoutSeconds: 1 } }, env);
    const a = await connect(timed.p.url());
    await a.query('select 1');
    await reload(timed.p, timed.cfg, { idleTimeoutSeconds: 0 });
    await a.query('select 1');
    expect((await a.query('select pg_sleep(1.6) as slept')).rows).toEqual([{ slept: '' }]);
    expect(await ended(a)).toBe(true);
    expect(serverErrors(a)).toMatchObject([{ code: '57P05' }]);

    const untimed = await startProxy({ backends: [{ cluster }], limits: { maxMessageBytes: 4096 } }, env);
    const b = await connect(untimed.p.url());
    await b.query('select 1');
    await reload(untimed.p, untimed.cfg, { idleTimeoutSeconds: 1, maxMessageBytes: 64 << 20 });
    await b.query('select 1');
    await sleep(1600);
    expect(serverErrors(b)).toEqual([]);
    expect((await b.query('select 2 as two')).rows).toEqual([{ two: 2 }]);
    const long = await b.query(`select length('${'q'.repeat(5000)}') as n`).then(() => 'ok', (e: PgError) => e.code);
    expect(long === '54000' || serverErrors(b).some((e) => e.code === '54000')).toBe(true);
  });
});

describe('configuration reload', () => {
  const USER: HarnessUser = { name: 'app', password: 'app-pw', grants: [{ grant: 'rw', datasets: ['*'], access: 'readWrite', view: 'plaintext' }] };
  let p: ProxyProcess;
  let cfg: ProxyConfigDir;
  let passThrough: RuntimeConfig;
  let protecting: RuntimeConfig;
  let backend: pg.Client;

  beforeAll(async () => {
    ({ p, cfg } = await startProxy({ backends: [{ cluster }], users: [USER] }));
    passThrough = cfg.config;
    const B = passThrough.backends[0]?.name ?? 'primary';
    protecting = { ...passThrough, policy: { ...passThrough.policy,
      keyring: { dir: 'secrets/keyring', keys: [{ name: 'default', versions: [1], current: 1 }] },
      datasets: [{ name: 'secrets', schema: 'public', table: 'nr_secret', rowKey: 'id', columns: [
        { name: 'id', attributeType: 'technicalIdentifier', backend: B },
        { name: 'name', attributeType: 'identifier', encrypt: { mode: 'randomized', searchable: false, keyName: 'default' }, backend: B },
      ] }] } };
    mkdirSync(join(cfg.dir, 'secrets/keyring'), { recursive: true });
    for (const [name, text] of TEST_KEY_FILES) writeFileSync(join(cfg.dir, 'secrets/keyring', name), text);
    backend = new pg.Client({ connectionString: cluster.url() });
    await backend.connect();
    cleanups.push(() => backend.end());
  });

  /** Writes `config`, sends SIGHUP and waits for the proxy's next 'configuration reloaded'. */
  async function reloadTo(config: RuntimeConfig): Promise<void> {
    const count = () => p.logs.filter((l) => l.msg === 'configuration reloaded').length;
    const before = count();
    cfg.write(config);
    p.child.kill('SIGHUP');
    await until('the configuration reloaded', () => count() > before, 20_000, 50);
  }

  it('protects the next statement of a session that was idle on the native path when the policy starts protecting', async () => {
    const s = await connect(p.url(USER));
    try {
      expect((await s.query('select 1 as n')).rows).toEqual([{ n: 1 }]);
      expect(await onNative(p, 1)).toBe(1);
      await reloadTo(protecting);
      // The table is created under the new policy (its protected column stored as bytea).
      const other = await connect(p.url(USER));
      await other.query('create table nr_secret (id int primary key, name text)');
      await other.end();
      expect((await backend.query("select data_type from information_schema.columns where table_name = 'nr_secret' and column_name = 'name'")).rows)
        .toEqual([{ data_type: 'bytea' }]);
      // The SAME session: had it stayed on the pass-through path, the text literal would be stored as its bytes.
      await s.query("insert into nr_secret (id, name) values (1, 'CanaryNativeReloadOne')");
      expect(await canariesInTable(backend, 'nr_secret', ['CanaryNativeReloadOne'])).toEqual([]);
      expect((await backend.query('select count(*)::int as n from nr_secret')).rows).toEqual([{ n: 1 }]);
      expect((await s.query('select name from nr_secret where id = 1')).rows).toEqual([{ name: 'CanaryNativeReloadOne' }]);
      // A protecting session is not handed to the native path.
      expect(await nativeSessions(p)).toBe(0);
    } finally { await s.end(); }
  });

  it('protects the next statement of a transaction that was open on the native path when the policy starts protecting', async () => {
    await reloadTo(passThrough);
    const t = await connect(p.url(USER));
    try {
      await t.query('begin');
      await t.query('select 1');
      expect(await onNative(p, 1)).toBe(1);
      await reloadTo(protecting);
      await t.query("insert into nr_secret (id, name) values (2, 'CanaryNativeReloadTwo')");
      await t.query('commit');
      expect(await canariesInTable(backend, 'nr_secret', ['CanaryNativeReloadOne', 'CanaryNativeReloadTwo'])).toEqual([]);
      expect((await backend.query('select count(*)::int as n from nr_secret')).rows).toEqual([{ n: 2 }]);
      const reader = await connect(p.url(USER));
      expect((await reader.query('select id, name from nr_secret order by id')).rows)
        .toEqual([{ id: 1, name: 'CanaryNativeReloadOne' }, { id: 2, name: 'CanaryNativeReloadTwo' }]);
      await reader.end();
    } finally { await t.end(); }
  });

  it('hands a protecting session to the native path at its first boundary after the policy stops protecting', async () => {
    await reloadTo(protecting);
    const s = await connect(p.url(USER));
    try {
      expect((await s.query('select count(*)::int as n from nr_secret')).rows).toEqual([{ n: 2 }]);
      expect(await onNative(p, 1, 500)).toBe(0);
      await reloadTo(passThrough);
      // Its next statement is the boundary where the new (pass-through) pipeline takes over.
      expect((await s.query('select 1 as n')).rows).toEqual([{ n: 1 }]);
      expect(await onNative(p, 1)).toBe(1);
      expect((await s.query('select 2 as n')).rows).toEqual([{ n: 2 }]);
    } finally { await s.end(); }
  });
});

describe('drain', () => {
  it('on SIGTERM lets a transaction open on the native path commit, then closes it with 57P01 and exits', async () => {
    const { p } = await startProxy({ backends: [{ cluster }], limits: { drainSeconds: 20 } });
    await cluster.psql('create table nr_drain(id int)');
    const inTx = await connect(p.url());
    const idle = await connect(p.url());
    await inTx.query('begin');
    await inTx.query('insert into nr_drain values (1)');
    await idle.query('select 1');
    expect(await onNative(p, 2)).toBe(2);
    const idleClosed = ended(idle);
    p.child.kill('SIGTERM');
    expect(await idleClosed).toBe(true);
    expect(serverErrors(idle).map((e) => e.code)).toEqual(['57P01']);
    // The open transaction came back from the native path at once (to end at its ReadyForQuery 'I').
    expect(await onNative(p, 0)).toBe(0);
    expect((await fetch(`http://127.0.0.1:${p.metricsPort}/readyz`)).status).toBe(503);
    await inTx.query('insert into nr_drain values (2)');
    const txClosed = ended(inTx);
    await inTx.query('commit');
    expect(await txClosed).toBe(true);
    expect(serverErrors(inTx).map((e) => e.code)).toEqual(['57P01']);
    expect(await p.exited).toBe(0);
    expect(await cluster.psql('select count(*) from nr_drain')).toBe('2\n');
  });
});

describe('CLARUS_NATIVE_RELAY=0', () => {
  it('relays the same session in JavaScript with the same results, and nothing on the native path', async () => {
    const { p } = await startProxy({ backends: [{ cluster }] }, { CLARUS_NATIVE_RELAY: '0' });
    expect(String(p.logs.find((l) => l.msg === 'listening')?.relay)).toMatch(/^javascript/);
    const got = await variedSession(p.url(), 'nr_varied_js', async () => { expect(await nativeSessions(p)).toBe(0); });
    expect(got).toEqual(await directTranscript());
    expect(await cluster.psql('select id, v from nr_varied_js order by id')).toBe('1|a\n2|b!\n4|committed\n');
    expect(await nativeSessions(p)).toBe(0);
  });
});
