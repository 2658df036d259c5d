// Issue 13: the COMMIT that stores rows held for k-anonymity, in both protocols, answered message by
// message as PostgreSQL answers a COMMIT: through the extended protocol (Parse/Bind/Execute of
// COMMIT, as pgjdbc, pgx with a prepared COMMIT, node-postgres with a named COMMIT and psycopg in
// pipeline mode send it) the held rows are stored as one microaggregated batch, then committed; a
// COMMIT that fails (fewer than k rows, a constraint violated while storing the batch) ends the
// transaction as PostgreSQL ends one whose COMMIT failed: the error, then ReadyForQuery 'I', nothing
// stored. Checked on what the client sees (raw protocol messages, node-postgres), what the backend
// stores (the independent k checker), its pg_dump and its server log (log_statement = all).
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogWindow } from '@clarus/testing/log-scan.ts';
import type { FrontendMessage } from '@clarus/sidecar/protocol/frontend.ts';
import { achievedK } from '@clarus/testing/anonymity.ts';
import type { Row } from '@clarus/testing/anonymity.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { frontendBytes, RawClient, summarize } from '@clarus/testing/proxy.ts';
import { USERS, canariesInDump, startProtected } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';
import { EPISODE_COLUMNS as COLUMNS, EPISODE_QI as QI, EPISODE_TABLE_COLUMNS as TABLE_COLUMNS, episodeLines, episodePolicy, storedEpisodes } from './episodes.ts';

const TABLES = ['episode_x', 'episode_f', 'episode_c', 'episode_s', 'episode_p'];
const POLICY = episodePolicy('ehealth-commit', TABLES);
const records = episodeLines().slice(1);

/** A record whose age (a power of 3 no mean of 5 of them can give) and patient id are canaries. */
function canaryRecord(i: number): string[] {
  const f = (records[2000 + i] as string).split(',');
  f[1] = canaryAge(i);
  f[4] = (f[4] as string).replace(/\//g, '-');
  f[5] = (f[5] as string).replace(/\//g, '-');
  f[7] = `CANARY-PAT-${i}`;
  return f;
}
const canaryAge = (i: number): string => String(700_000 + 3 ** ((i % 12) + 1));
const canaries = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, j) => [canaryAge(from + j), `CANARY-PAT-${from + j}`]).flat();

const lit = (f: string[]): string => f.map((v, i) => (i === 1 || i === 2 || i === 6 ? v : `'${v}'`)).join(', ');
const insertConst = (table: string, f: string[]): string => `INSERT INTO ${table} (${COLUMNS}) VALUES (${lit(f)})`;
const insertParams = (table: string): string => `INSERT INTO ${table} (${COLUMNS}) VALUES (${COLUMNS.split(', ').map((_, i) => `$${i + 1}`).join(', ')})`;

const q = (sql: string): FrontendMessage => ({ type: 'Query', sql });
/** Parse/Bind/Execute of `sql` (unnamed unless `name`), text parameters. */
function pbe(sql: string, values: string[] = [], name = ''): FrontendMessage[] {
  return [
    { type: 'Parse', name, sql, paramTypes: [] },
    { type: 'Bind', portal: '', statement: name, paramFormats: [], values: values.map((v) => Buffer.from(v)), resultFormats: [] },
    { type: 'Execute', portal: '', maxRows: 0 },
  ];
}
const SYNC: FrontendMessage = { type: 'Sync' };

let cluster: PgCluster;
let env: ProtectedEnv;
let log: LogWindow;
const raws: RawClient[] = [];

async function raw(): Promise<RawClient> {
  const r = await RawClient.open(env.proxy.port, USERS.doctor);
  raws.push(r);
  return r;
}

async function send(r: RawClient, ms: FrontendMessage[]): Promise<string[]> {
  r.socket.write(frontendBytes(ms));
  return summarize(await r.cycle());
}

const storedRows = (table: string): Promise<Row[]> => storedEpisodes(env.backend, table);

const canariesInLog = (list: string[]): string[] => log.canaries(list);

/** Holds rows i ∈ [from, to) in a block opened by a simple BEGIN (answers checked). */
async function holdRows(r: RawClient, table: string, [from, to]: [number, number], edit?: (f: string[], i: number) => void): Promise<void> {
  expect(await send(r, [q('BEGIN')])).toEqual(['C BEGIN', 'Z T']);
  for (let i = from; i < to; i++) {
    const f = canaryRecord(i);
    edit?.(f, i);
    expect(await send(r, [q(insertConst(table, f))])).toEqual(['C INSERT 0 1', 'Z T']);
  }
}

beforeAll(async () => {
  cluster = await startPostgres();
  await cluster.psql("ALTER SYSTEM SET log_statement = 'all'");
  await cluster.psql('SELECT pg_reload_conf()');
  env = await startProtected(cluster, POLICY);
  for (const t of TABLES) await env.backend.query(`CREATE TABLE ${t} ${TABLE_COLUMNS}`);
  await env.backend.query("ALTER TABLE episode_c ADD CONSTRAINT no_bad CHECK (dis_id <> 'bad')");
  log = new LogWindow(join(cluster.dir, 'server.log'));
  log.mark();
});
afterAll(async () => {
  for (const r of raws) r.socket.end();
  await env?.close();
  await cluster?.destroy();
});

describe('COMMIT through the extended protocol with rows held', () => {
  it('stores them as one batch and answers ParseComplete, BindComplete, the batch NOTICE, COMMIT, ReadyForQuery I', async () => {
    const r = await raw();
    await holdRows(r, 'episode_x', [0, 6]);
    expect(await send(r, [...pbe('COMMIT'), SYNC])).toEqual(['ParseComplete', 'BindComplete', 'NoticeResponse', 'C COMMIT', 'Z I']);
    const rows = await storedRows('episode_x');
    expect(rows.length).toBe(6);
    expect(achievedK(rows, QI)).toBeGreaterThanOrEqual(5);
    expect(rows.every((row) => row[7] === null)).toBe(true);
    // The session goes on: the next block holds afresh, and a named COMMIT statement works too.
    await holdRows(r, 'episode_x', [6, 11]);
    expect(await send(r, [...pbe('COMMIT', [], 'my_commit'), SYNC])).toEqual(['ParseComplete', 'BindComplete', 'NoticeResponse', 'C COMMIT', 'Z I']);
    expect((await storedRows('episode_x')).length).toBe(11);
    expect(canariesInLog(canaries(0, 11))).toEqual([]);
    expect(await canariesInDump(cluster, canaries(0, 11))).toEqual([]);
  });

  it('stores rows whose stand-ins are pipelined with the COMMIT in one batch (psycopg pipeline mode, pgx.Batch)', async () => {
    const r = await raw();
    const ms: FrontendMessage[] = [...pbe('BEGIN')];
    for (let i = 20; i < 27; i++) ms.push(...pbe(insertParams('episode_p'), canaryRecord(i)));
    ms.push(...pbe('COMMIT'), SYNC);
    const seen = await send(r, ms);
    expect(seen).toEqual(['ParseComplete', 'BindComplete', 'C BEGIN',
      ...Array.from({ length: 7 }, () => ['ParseComplete', 'BindComplete', 'C INSERT 0 1']).flat(),
      'ParseComplete', 'BindComplete', 'NoticeResponse', 'C COMMIT', 'Z I']);
    const rows = await storedRows('episode_p');
    expect(rows.length).toBe(7);
    expect(achievedK(rows, QI)).toBeGreaterThanOrEqual(5);
    expect(canariesInLog(canaries(20, 27))).toEqual([]);
  });

  it('fails with 21000 for fewer than k rows and ends the transaction (ReadyForQuery I), storing nothing', async () => {
    const r = await raw();
    await holdRows(r, 'episode_f', [30, 33]);
    expect(await send(r, [...pbe('COMMIT'), SYNC])).toEqual(['ParseComplete', 'BindComplete', 'E 21000', 'Z I']);
    expect((await storedRows('episode_f')).length).toBe(0);
    // No block is open any more: a single-row INSERT is outside one (refused), a new block holds afresh.
    expect(await send(r, [q(insertConst('episode_f', canaryRecord(33)))])).toEqual(['E 21000', 'Z I']);
    await holdRows(r, 'episode_f', [34, 39]);
    expect(await send(r, [...pbe('COMMIT'), SYNC])).toEqual(['ParseComplete', 'BindComplete', 'NoticeResponse', 'C COMMIT', 'Z I']);
    expect((await storedRows('episode_f')).length).toBe(5);
    expect(canariesInLog(canaries(30, 39))).toEqual([]);
  });

  it('fails with the backend\'s error when storing the batch fails (CHECK), ends the transaction, stores nothing', async () => {
    const r = await raw();
    await holdRows(r, 'episode_c', [40, 46], (f, i) => { if (i === 43) f[3] = 'bad'; });
    expect(await send(r, [...pbe('COMMIT'), SYNC])).toEqual(['ParseComplete', 'BindComplete', 'E 23514', 'Z I']);
    expect((await storedRows('episode_c')).length).toBe(0);
    // The messages after the failed Execute up to Sync are skipped, as PostgreSQL skips them.
    await holdRows(r, 'episode_c', [46, 51]);
    expect(await send(r, [...pbe('COMMIT'), ...pbe('SELECT 1'), SYNC])).toEqual(['ParseComplete', 'BindComplete', 'NoticeResponse', 'C COMMIT', 'ParseComplete', 'BindComplete', 'DataRow', 'C SELECT 1', 'Z I']);
    expect((await storedRows('episode_c')).length).toBe(5);
    await holdRows(r, 'episode_c', [51, 53]);
    expect(await send(r, [...pbe('COMMIT'), ...pbe('SELECT 1'), SYNC])).toEqual(['ParseComplete', 'BindComplete', 'E 21000', 'Z I']);
    expect(await send(r, [q('SELECT 1')])).toEqual(['RowDescription', 'DataRow', 'C SELECT 1', 'Z I']);
    expect((await storedRows('episode_c')).length).toBe(5);
    expect(canariesInLog(canaries(40, 53))).toEqual([]);
  });
});

describe('COMMIT AND CHAIN with rows held', () => {
  it('stores them and holds the rows of the chained block for its own COMMIT (simple and extended)', async () => {
    const r = await raw();
    await holdRows(r, 'episode_x', [100, 105]);
    expect(await send(r, [q('COMMIT AND CHAIN')])).toEqual(['NoticeResponse', 'C COMMIT', 'Z T']);
    for (let i = 105; i < 110; i++) expect(await send(r, [q(insertConst('episode_x', canaryRecord(i)))])).toEqual(['C INSERT 0 1', 'Z T']);
    expect(await send(r, [...pbe('COMMIT AND CHAIN'), SYNC])).toEqual(['ParseComplete', 'BindComplete', 'NoticeResponse', 'C COMMIT', 'Z T']);
    for (let i = 110; i < 115; i++) expect(await send(r, [q(insertConst('episode_x', canaryRecord(i)))])).toEqual(['C INSERT 0 1', 'Z T']);
    expect(await send(r, [q('COMMIT')])).toEqual(['NoticeResponse', 'C COMMIT', 'Z I']);
    const ids = new Set(Array.from({ length: 15 }, (_, j) => canaryRecord(100 + j)[0]));
    const rows = (await storedRows('episode_x')).filter((row) => ids.has(row[0] as string));
    expect(rows.length).toBe(15);
    expect(achievedK(rows, QI)).toBeGreaterThanOrEqual(5);
    expect(canariesInLog(canaries(100, 115))).toEqual([]);
  });
});

describe('a failed COMMIT of held rows through the simple protocol', () => {
  it('answers the error and ReadyForQuery I (no ROLLBACK tag), as PostgreSQL answers a failed COMMIT; nothing stored', async () => {
    const r = await raw();
    await holdRows(r, 'episode_s', [60, 63]);
    expect(await send(r, [q('COMMIT')])).toEqual(['E 21000', 'Z I']);
    await holdRows(r, 'episode_c', [63, 69], (f, i) => { if (i === 65) f[3] = 'bad'; });
    const before = (await storedRows('episode_c')).length;
    expect(await send(r, [q('COMMIT')])).toEqual(['E 23514', 'Z I']);
    expect((await storedRows('episode_s')).length).toBe(0);
    expect((await storedRows('episode_c')).length).toBe(before);
    // And a good batch still commits with its NOTICE.
    await holdRows(r, 'episode_s', [70, 75]);
    expect(await send(r, [q('COMMIT')])).toEqual(['NoticeResponse', 'C COMMIT', 'Z I']);
    expect((await storedRows('episode_s')).length).toBe(5);
    expect(canariesInLog(canaries(60, 75))).toEqual([]);
  });
});

describe('node-postgres with a named COMMIT', () => {
  it('commits held rows through its prepared COMMIT, and a failed one leaves no transaction open', async () => {
    const c = new pg.Client({ connectionString: env.url(USERS.doctor) });
    c.on('error', () => undefined);
    await c.connect();
    try {
      const notices: string[] = [];
      c.on('notice', (n) => notices.push(n.message ?? ''));
      const before = (await storedRows('episode_p')).length;
      for (const range of [[80, 86], [86, 92]] as const) {
        await c.query('BEGIN');
        for (let i = range[0]; i < range[1]; i++) await c.query({ text: insertParams('episode_p'), values: canaryRecord(i), name: 'ins' });
        await c.query({ text: 'COMMIT', name: 'commit' });
      }
      expect((await storedRows('episode_p')).length).toBe(before + 12);
      expect(notices.filter((n) => n.startsWith('clarus: k-anonymity of public.episode_p: 6 records')).length).toBe(2);
      await c.query('BEGIN');
      for (let i = 92; i < 94; i++) await c.query({ text: insertParams('episode_p'), values: canaryRecord(i), name: 'ins' });
      await expect(c.query({ text: 'COMMIT', name: 'commit' })).rejects.toMatchObject({ code: '21000' });
      // Outside a block: the backend says so (a ROLLBACK now only warns).
      const warnings: string[] = [];
      c.on('notice', (n) => warnings.push(n.code ?? ''));
      await c.query('ROLLBACK');
      expect(warnings).toContain('25P01');
      expect((await storedRows('episode_p')).length).toBe(before + 12);
      expect(canariesInLog(canaries(80, 94))).toEqual([]);
      expect(await canariesInDump(cluster, canaries(80, 94))).toEqual([]);
    } finally {
      await c.end();
    }
  });
});
