// Splitting (issue 12): several split writes in one extended-protocol batch without BEGIN are one
// implicit transaction, as PostgreSQL makes a batch up to Sync: they commit together at the Sync
// (two-phase commit over the fragments), and a failure of any statement of the batch — the 2nd
// split write on the home or on another fragment, or an unsplit statement — rolls the earlier
// ones back on every fragment. Raw protocol messages, three real backends, and an unsplit oracle
// cluster that gets the same batches: same answers, same final table. Each backend's pg_dump and
// log_statement = all log are scanned for the canaries.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FrontendMessage } from '@clarus/sidecar/protocol/frontend.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { frontendBytes, RawClient, summarize } from '@clarus/testing/proxy.ts';
import type { HarnessUser } from '@clarus/testing/proxy.ts';
import { canariesInDump, USERS } from '../corpus/setup.ts';
import { columnsOn, startSplit } from './split-env.ts';
import type { BackendName, SplitEnv } from './split-env.ts';

// The ward CHECK goes to cloud-c's fragment: a 2nd write can fail there after the home fragment took it.
const CREATE = "CREATE TABLE patient (pat_id int PRIMARY KEY, pat_name text NOT NULL, age int, pat_ssn text, diagnosis text, ward text CHECK (ward <> 'bad-ward'))";
const INSERT = 'INSERT INTO patient (pat_id, pat_name, pat_ssn, diagnosis, ward) VALUES ($1, $2, $3, $4, $5)';
const ORACLE_USER: HarnessUser = { name: 'scram_user', password: 'scram-pw', grants: [] };

let env: SplitEnv;
let oracleCluster: PgCluster;
let oracle: pg.Client;
const raws: RawClient[] = [];

function pbe(sql: string, values: Array<string | null> = []): FrontendMessage[] {
  return [
    { type: 'Parse', name: '', sql, paramTypes: [] },
    { type: 'Bind', portal: '', statement: '', paramFormats: [], values: values.map((v) => (v === null ? null : Buffer.from(v))), resultFormats: [] },
    { type: 'Execute', portal: '', maxRows: 0 },
  ];
}
const SYNC: FrontendMessage = { type: 'Sync' };
const row = (id: number, tag: string, ward = `ward-${tag}`) => [String(id), `${tag} Canary`, `${id}-ssn-canary`, `${tag}-dx-canary`, ward];

async function send(r: RawClient, ms: FrontendMessage[]): Promise<string[]> {
  r.socket.write(frontendBytes(ms));
  return summarize(await r.cycle());
}

async function raw(user: HarnessUser = USERS.doctor, port = env.proxy.port): Promise<RawClient> {
  const r = await RawClient.open(port, user);
  raws.push(r);
  return r;
}

/** The same batch through the proxy and into the oracle: the client's answers. */
async function both(ms: FrontendMessage[]): Promise<{ got: string[]; want: string[] }> {
  const got = await send(await raw(), ms);
  const want = await send(await raw(ORACLE_USER, oracleCluster.port), ms);
  return { got, want };
}

async function idsOn(b: BackendName): Promise<number[]> {
  return (await env.backend(b).query<{ pat_id: number }>('SELECT pat_id FROM patient ORDER BY 1')).rows.map((r) => r.pat_id);
}

async function sameTable(): Promise<void> {
  const sql = 'SELECT pat_id, pat_name, pat_ssn, diagnosis, ward FROM patient ORDER BY pat_id';
  const doc = await env.client();
  expect((await doc.query(sql)).rows).toEqual((await oracle.query(sql)).rows);
  // Every row on all its fragments or none.
  const home = await idsOn('cloud-a');
  expect(await idsOn('cloud-b')).toEqual(home);
  expect(await idsOn('cloud-c')).toEqual(home);
}

beforeAll(async () => {
  env = await startSplit();
  oracleCluster = await startPostgres();
  oracle = new pg.Client({ connectionString: oracleCluster.url(), ssl: { ca: oracleCluster.caPem } });
  await oracle.connect();
  await (await env.client()).query(CREATE);
  await oracle.query(CREATE);
}, 120_000);
afterAll(async () => {
  for (const r of raws) r.socket.destroy();
  await oracle?.end().catch(() => undefined);
  await env?.close();
  await oracleCluster?.destroy();
});

describe('split writes in one extended batch without BEGIN: one implicit transaction', () => {
  it('each backend holds its fragment only (the premise)', async () => {
    expect(await columnsOn(env.backend('cloud-a'), 'public.patient')).toEqual(['pat_id', 'pat_name', 'age']);
    expect(await columnsOn(env.backend('cloud-b'), 'public.patient')).toEqual(['pat_id', 'pat_ssn', 'diagnosis', 'pat_ssn__bidx']);
    expect(await columnsOn(env.backend('cloud-c'), 'public.patient')).toEqual(['pat_id', 'ward']);
  });

  it('two INSERTs and an UPDATE up to Sync commit together, as in PostgreSQL', async () => {
    const { got, want } = await both([...pbe(INSERT, row(1, 'One')), ...pbe(INSERT, row(2, 'Two')),
      ...pbe("UPDATE patient SET ward = 'ward-upd', diagnosis = 'upd-dx-canary' WHERE pat_id = $1", ['1']), SYNC]);
    expect(got).toEqual(want);
    expect(got.filter((x) => x.startsWith('C '))).toEqual(['C INSERT 0 1', 'C INSERT 0 1', 'C UPDATE 1']);
    await sameTable();
    expect(await idsOn('cloud-a')).toEqual([1, 2]);
  });

  it('the 2nd INSERT failing on the home fragment (duplicate key) rolls the 1st back on every fragment', async () => {
    const { got, want } = await both([...pbe(INSERT, row(3, 'Three')), ...pbe(INSERT, row(1, 'Dup')), SYNC]);
    expect(got.slice(-2)).toEqual(['E 23505', 'Z I']);
    expect(want.slice(-2)).toEqual(['E 23505', 'Z I']);
    await sameTable();
    for (const b of env.names) expect(await idsOn(b), b).not.toContain(3);
  });

  it('the 2nd INSERT failing on another fragment (cloud-c CHECK) after its home row rolls both back everywhere', async () => {
    const { got, want } = await both([...pbe(INSERT, row(4, 'Four')), ...pbe(INSERT, row(5, 'Five', 'bad-ward')), SYNC]);
    expect(got.slice(-2)).toEqual(['E 23514', 'Z I']);
    expect(want.slice(-2)).toEqual(['E 23514', 'Z I']);
    await sameTable();
    for (const b of env.names) for (const id of [4, 5]) expect(await idsOn(b), `${b} ${id}`).not.toContain(id);
  });

  it('an unsplit statement failing after a split write in the batch rolls the split write back', async () => {
    const { got, want } = await both([...pbe(INSERT, row(6, 'Six')), ...pbe('SELECT 1 / 0'), SYNC]);
    expect(got.slice(-2)).toEqual(['E 22012', 'Z I']);
    expect(want.slice(-2)).toEqual(['E 22012', 'Z I']);
    await sameTable();
    for (const b of env.names) expect(await idsOn(b), b).not.toContain(6);
  });

  it('a DELETE and an INSERT of the batch see each other, and several batches in one write commit one by one', async () => {
    const ms = [...pbe('DELETE FROM patient WHERE pat_id = $1', ['2']), ...pbe(INSERT, row(2, 'TwoAgain')), ...pbe('SELECT pat_name FROM patient WHERE pat_id = 2'), SYNC,
      ...pbe(INSERT, row(7, 'Seven')), ...pbe(INSERT, row(7, 'SevenDup')), SYNC,
      ...pbe(INSERT, row(8, 'Eight')), SYNC];
    const r = await raw();
    r.socket.write(frontendBytes(ms));
    const got = [...summarize(await r.cycle(), true), ...summarize(await r.cycle()), ...summarize(await r.cycle())];
    const o = await raw(ORACLE_USER, oracleCluster.port);
    o.socket.write(frontendBytes(ms));
    const want = [...summarize(await o.cycle(), true), ...summarize(await o.cycle()), ...summarize(await o.cycle())];
    expect(got).toEqual(want);
    expect(got).toContain('D TwoAgain Canary');
    await sameTable();
    expect(await idsOn('cloud-a')).toEqual([1, 2, 8]);
  });

  it('nothing of the batch is visible to another session before its Sync commits it', async () => {
    const r = await raw();
    r.socket.write(frontendBytes([...pbe(INSERT, row(9, 'Nine')), { type: 'Flush' }]));
    // The INSERT has been answered (Flush), its Sync not sent: another session does not see it.
    expect((await r.until('CommandComplete')).type).toBe('CommandComplete');
    const other = await env.client();
    expect((await other.query('SELECT pat_id FROM patient WHERE pat_id = 9')).rows).toEqual([]);
    for (const b of env.names) expect(await idsOn(b), b).not.toContain(9);
    r.socket.write(frontendBytes([SYNC]));
    expect(summarize(await r.cycle()).at(-1)).toBe('Z I');
    expect((await other.query('SELECT pat_id FROM patient WHERE pat_id = 9')).rows).toEqual([{ pat_id: 9 }]);
    await oracle.query(INSERT, row(9, 'Nine'));
    await sameTable();
  });

  it('a fragment backend lost before the Sync: the batch fails at Sync (40000) and no fragment keeps its rows', async () => {
    const r = await raw();
    r.socket.write(frontendBytes([...pbe(INSERT, row(12, 'Twelve')), ...pbe(INSERT, row(13, 'Thirteen')), { type: 'Flush' }]));
    await r.until('CommandComplete');
    await r.until('CommandComplete');
    const c = env.clusters.get('cloud-c') as PgCluster;
    await c.kill();
    try {
      r.socket.write(frontendBytes([SYNC]));
      expect(summarize(await r.cycle()).slice(-2)).toEqual(['E 40000', 'Z I']);
    } finally {
      await c.start();
      await env.reconnect('cloud-c');
    }
    for (const b of env.names) for (const id of [12, 13]) expect(await idsOn(b), `${b} ${id}`).not.toContain(id);
    expect((await env.backend('cloud-a').query('SELECT count(*)::int AS n FROM pg_prepared_xacts')).rows).toEqual([{ n: 0 }]);
    await sameTable();
  });

  it('a read-only grant cannot write in a batch: refused, nothing stored', async () => {
    const r = await raw(USERS.analyst);
    const got = await send(r, [...pbe(INSERT, row(10, 'Ro')), ...pbe(INSERT, row(11, 'Ro2')), SYNC]);
    expect(got.slice(-2)).toEqual(['E 42501', 'Z I']);
    for (const b of env.names) expect(await idsOn(b), b).not.toContain(10);
    await sameTable();
  }, 30_000);
});

describe('split table: a fragment connection lost inside a block', () => {
  it('fails the statements that need it (08006) instead of starting over, and the block stores nothing', async () => {
    const c = await env.client();
    await c.query('BEGIN');
    await c.query(INSERT, row(20, 'Lost'));
    // A real fault: cloud-c ends the proxy's fragment connection of this block.
    await env.backend('cloud-c').query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'clarus-split' AND state = 'idle in transaction'");
    await new Promise((res) => setTimeout(res, 200));
    const r = await c.query('SELECT pat_id, ward FROM patient WHERE pat_id = 20').then(() => 'ok', (e: { code?: string }) => e.code);
    expect(r).toBe('08006');
    const done = await c.query('COMMIT').then((x) => x.command, (e: { code?: string }) => e.code);
    expect(done).toBe('ROLLBACK');
    for (const b of env.names) expect(await idsOn(b), b).not.toContain(20);
    expect((await env.backend('cloud-a').query('SELECT count(*)::int AS n FROM pg_prepared_xacts')).rows).toEqual([{ n: 0 }]);
    await sameTable();
  });
});

describe('split batches: what each backend learns', () => {
  it('no backend stores or logs plaintext of an encrypted column; the clear ward only on cloud-c', async () => {
    const secret = ['One Canary', 'Two Canary', 'Three Canary', 'Four Canary', 'Five Canary', 'Six Canary', 'TwoAgain Canary', 'Nine Canary', '1-ssn-canary', '4-ssn-canary', 'One-dx-canary', 'upd-dx-canary', 'Five-dx-canary'];
    for (const b of env.names) {
      expect(await canariesInDump(env.clusters.get(b) as PgCluster, secret), `${b} pg_dump`).toEqual([]);
      const log = env.serverLog(b);
      for (const s of secret) expect(log.includes(s), `${b} log holds ${s}`).toBe(false);
    }
    for (const b of ['cloud-a', 'cloud-b'] as const) expect(env.serverLog(b).includes('ward-upd'), b).toBe(false);
    expect(env.serverLog('cloud-c').includes('ward-upd')).toBe(true);
  });
});

describe('split table: SET LOCAL statement_timeout', () => {
  it('a SET LOCAL statement_timeout in a block ends a fragment statement blocked on a lock (57014, nothing written); the next block is not bound by it', async () => {
    const c = await env.client();
    const locker = env.backend('cloud-c');
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE patient IN ACCESS EXCLUSIVE MODE');
    try {
      await c.query('BEGIN');
      await c.query("SET LOCAL statement_timeout = '500ms'");
      const r = await c.query("UPDATE patient SET ward = 'ward-timeout' WHERE pat_id = 1").then(() => 'ok', (e: { code?: string }) => e.code);
      expect(r).toBe('57014');
      await c.query('ROLLBACK');
      await c.query('BEGIN');
      const later = c.query("UPDATE patient SET ward = 'ward-later' WHERE pat_id = 1");
      await new Promise((res) => setTimeout(res, 1200));
      // Still waiting on the lock past the earlier block's 500 ms: the SET LOCAL ended with its block.
      expect((await locker.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE%'")).rows).toEqual([{ n: 1 }]);
      await locker.query('ROLLBACK');
      expect((await later).rowCount).toBe(1);
      await c.query('COMMIT');
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
    }
    await oracle.query("UPDATE patient SET ward = 'ward-later' WHERE pat_id = 1");
    expect((await env.backend('cloud-c').query('SELECT ward FROM patient WHERE pat_id = 1')).rows).toEqual([{ ward: 'ward-later' }]);
    await sameTable();
  }, 30_000);
});
