// Splitting (issue 12): UPDATE … FROM, DELETE … USING (the joined table unsplit or split) and
// SET computed from columns of other fragments or protected ones, on three real backends. The
// proxy reads the rows by row key, computes in its engine and writes each value back to its
// fragment (encrypted there as its column says) in the write's transaction. Every answer and the
// final table are checked against an unsplit oracle cluster; each backend's pg_dump and
// log_statement = all log are scanned for the canaries; a read-only grant cannot write.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { canariesInDump, USERS } from '../corpus/setup.ts';
import { startSplit } from './split-env.ts';
import type { BackendName, SplitEnv } from './split-env.ts';

const CREATE = 'CREATE TABLE patient (pat_id int PRIMARY KEY, pat_name text NOT NULL, age int, pat_ssn text, diagnosis text, ward text)';
const CREATE_VISIT = 'CREATE TABLE visit (visit_id int PRIMARY KEY, reason text, pat_id int)';
const ROWS = [
  [1, 'Ann Canary', 41, '111-canary', 'flu-canary', 'ward-1'],
  [2, 'Bob Canary', 52, '222-canary', 'cold-canary', 'ward-2'],
  [3, 'Cy Canary', 63, '333-canary', 'flu-canary', 'ward-3'],
  [4, 'Di Canary', 74, '444-canary', 'gone-canary', 'ward-4'],
];
const VISITS = [[10, 'reason-a-canary', 1], [11, 'gone-reason-canary', 4], [12, 'reason-c-canary', 3]];
const TABLE = 'SELECT pat_id, pat_name, age, pat_ssn, diagnosis, ward FROM patient ORDER BY pat_id';

/** A read-write grant with the masked view: it may write, but never computes from values it cannot see. */
const CLERK = { name: 'clerk', password: 'clerk-pw', grants: [{ grant: 'g-clerk', datasets: ['patients', 'visits'], access: 'readWrite' as const, view: 'masked' as const }] };

let env: SplitEnv;
let doc: pg.Client;
let oracleCluster: PgCluster;
let oracle: pg.Client;

async function same(sql: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const got = await doc.query(sql, values);
  const want = await oracle.query(sql, values);
  expect(got.rows, sql).toEqual(want.rows);
  expect(got.rowCount, sql).toBe(want.rowCount);
  expect(got.command).toBe(want.command);
  return got;
}

/** Waits, through a client of its own to `cluster`, until a session there waits for a lock. */
async function waitingOn(cluster: PgCluster, waiting: (q: (sql: string) => Promise<pg.QueryResult>) => Promise<void>): Promise<void> {
  const c = new pg.Client({ connectionString: cluster.url(), ssl: { ca: cluster.caPem } });
  await c.connect();
  try { await waiting((sql) => c.query(sql)); } finally { await c.end(); }
}

async function idsOn(b: BackendName): Promise<number[]> {
  return (await env.backend(b).query<{ pat_id: number }>('SELECT pat_id FROM patient ORDER BY 1')).rows.map((r) => r.pat_id);
}

async function sameTable(): Promise<void> {
  expect((await doc.query(TABLE)).rows).toEqual((await oracle.query(TABLE)).rows);
  const home = await idsOn('cloud-a');
  expect(await idsOn('cloud-b')).toEqual(home);
  expect(await idsOn('cloud-c')).toEqual(home);
}

beforeAll(async () => {
  env = await startSplit({ users: [CLERK] });
  doc = await env.client();
  oracleCluster = await startPostgres();
  oracle = new pg.Client({ connectionString: oracleCluster.url(), ssl: { ca: oracleCluster.caPem } });
  await oracle.connect();
  for (const c of [doc, oracle]) {
    await c.query(CREATE);
    await c.query(CREATE_VISIT);
    for (const r of ROWS) await c.query('INSERT INTO patient (pat_id, pat_name, age, pat_ssn, diagnosis, ward) VALUES ($1, $2, $3, $4, $5, $6)', r);
    for (const v of VISITS) await c.query('INSERT INTO visit (visit_id, reason, pat_id) VALUES ($1, $2, $3)', v);
  }
}, 120_000);
afterAll(async () => {
  await oracle?.end().catch(() => undefined);
  await env?.close();
  await oracleCluster?.destroy();
});

describe('split table: computed writes', () => {
  it('SET from columns of other backends, some encrypted: the values are computed in the proxy and stored encrypted', async () => {
    await same("UPDATE patient SET diagnosis = pat_name || '/' || ward || '/' || age WHERE pat_id <= $1", [2]);
    await sameTable();
    // cloud-b stores the new diagnosis as ciphertext only.
    const stored = (await env.backend('cloud-b').query<{ d: string }>('SELECT diagnosis::text AS d FROM patient WHERE pat_id = 1')).rows[0]?.d ?? '';
    expect(stored).not.toContain('Canary');
    expect(stored).not.toContain('ward-1');
  });

  it('UPDATE … FROM an unsplit (encrypted) table, with RETURNING of home columns', async () => {
    await same('UPDATE patient p SET age = v.visit_id, diagnosis = v.reason FROM visit v WHERE v.pat_id = p.pat_id AND v.visit_id <> 11 RETURNING p.pat_id, p.age');
    await sameTable();
  });

  it('UPDATE … FROM the split table itself (another alias), and a row matched twice is changed once', async () => {
    await same('UPDATE patient p SET ward = q.ward, age = q.age + 1 FROM patient q WHERE q.pat_id = p.pat_id + 1');
    await same('UPDATE patient p SET age = 99 FROM visit v WHERE v.visit_id > 0 AND p.pat_id = 3');
    await sameTable();
  });

  it('DELETE … USING an unsplit table removes the row from every fragment', async () => {
    await same("DELETE FROM patient p USING visit v WHERE v.pat_id = p.pat_id AND v.reason = 'gone-reason-canary' RETURNING p.pat_id");
    await sameTable();
    for (const b of env.names) expect(await idsOn(b), b).not.toContain(4);
  });

  it('in a block, a computed UPDATE sees the block\'s split writes and is rolled back with it on every fragment', async () => {
    for (const c of [doc, oracle]) {
      await c.query('BEGIN');
      await c.query("INSERT INTO patient (pat_id, pat_name, age, diagnosis, ward) VALUES (5, 'Eve Canary', 30, 'blk-canary', 'ward-5')");
    }
    await same("UPDATE patient SET diagnosis = pat_name || ward WHERE pat_id = 5 RETURNING pat_id");
    await same('SELECT pat_id, diagnosis FROM patient WHERE pat_id = 5');
    for (const c of [doc, oracle]) await c.query('ROLLBACK');
    await sameTable();
    for (const b of env.names) expect(await idsOn(b), b).not.toContain(5);
  });

  it('no value the proxy computes lands in clear on a provider the policy keeps it from: protected sources and other backends\' columns into unprotected columns are refused', async () => {
    const before = (await doc.query(TABLE)).rows;
    // ward is stored in clear on cloud-c, age on cloud-a; pat_ssn, pat_name, diagnosis and visit.reason are encrypted.
    for (const sql of [
      'UPDATE patient SET ward = pat_ssn',
      'UPDATE patient SET ward = upper(pat_name) WHERE pat_id = 1',
      "UPDATE patient SET ward = CASE WHEN diagnosis LIKE 'flu%' THEN 'yes' ELSE 'no' END",
      'UPDATE patient SET age = length(pat_ssn)',
      'UPDATE patient SET ward = age::text',
      'UPDATE patient SET age = length(ward)',
      'UPDATE patient p SET ward = v.reason FROM visit v WHERE v.pat_id = p.pat_id',
      'UPDATE patient p SET ward = v.visit_id::text FROM visit v WHERE v.pat_id = p.pat_id',
      'UPDATE patient p SET ward = s.r FROM (SELECT pat_id, reason AS r FROM visit) s WHERE s.pat_id = p.pat_id',
      'UPDATE patient SET ward = (SELECT reason FROM visit LIMIT 1)',
      'UPDATE patient p SET ward = x.ward FROM (SELECT pat_id, pat_ssn AS ward FROM patient) x WHERE x.pat_id = p.pat_id',
      'INSERT INTO patient (pat_id, pat_name, ward) SELECT pat_id + 500, pat_name, pat_ssn FROM patient',
      'INSERT INTO patient (pat_id, pat_name, ward) WITH s AS (SELECT pat_id, diagnosis AS d FROM patient) SELECT pat_id + 500, \'x\', d FROM s',
      "INSERT INTO patient (pat_id, pat_name, ward) SELECT visit_id + 500, 'x', reason FROM visit",
      "INSERT INTO patient (pat_id, pat_name, age) SELECT pat_id + 500, 'x', length(diagnosis) FROM patient",
      "INSERT INTO patient (pat_id, pat_name, ward) SELECT pat_id + 500, 'x', age::text FROM patient",
      "INSERT INTO patient (pat_id, pat_name, ward) SELECT pat_id + 500, 'x', pat_ssn FROM patient UNION ALL SELECT 600, 'y', 'z'",
    ]) {
      await expect(doc.query(sql), sql).rejects.toMatchObject({ code: '0A000' });
    }
    expect((await doc.query(TABLE)).rows).toEqual(before);
    for (const b of env.names) {
      const log = env.serverLog(b);
      for (const canary of ['111-canary', 'flu-canary', 'reason-a-canary', 'Ann Canary']) expect(log, `${b} ${canary}`).not.toContain(canary);
    }
    // What stays on its provider passes: the same backend's unprotected columns, the row key, constants.
    await same("UPDATE patient p SET ward = q.ward || '-' || p.pat_id::text FROM patient q WHERE q.pat_id = p.pat_id AND p.pat_id = 2");
    await same("INSERT INTO patient (pat_id, pat_name, ward, age) WITH s AS (SELECT pat_id, ward AS w, age FROM patient) SELECT pat_id + 700, 'Copy Canary', w, age FROM s WHERE pat_id = 2");
    await sameTable();
  });

  it('a read-write grant without the plaintext view cannot have the proxy compute a write from what it cannot see (42501), split or not', async () => {
    const clerk = await env.client(CLERK);
    const before = (await doc.query(TABLE)).rows;
    for (const sql of ['UPDATE patient SET diagnosis = pat_name WHERE pat_id = 1', "UPDATE patient SET pat_name = 'Z' || ward WHERE pat_id = 1",
      "UPDATE patient SET ward = 'w' WHERE pat_ssn LIKE '1%'", "INSERT INTO patient (pat_id, pat_name) SELECT pat_id + 900, pat_name FROM patient",
      "UPDATE visit SET reason = upper(reason) WHERE visit_id = 10"]) {
      await expect(clerk.query(sql), sql).rejects.toMatchObject({ code: '42501' });
    }
    expect((await doc.query(TABLE)).rows).toEqual(before);
    expect((await doc.query('SELECT reason FROM visit WHERE visit_id = 10')).rows).toEqual([{ reason: 'reason-a-canary' }]);
    // Writes of its own values still work.
    expect((await clerk.query("UPDATE patient SET ward = 'ward-clerk' WHERE pat_id = 2")).rowCount).toBe(1);
    await oracle.query("UPDATE patient SET ward = 'ward-clerk' WHERE pat_id = 2");
    await sameTable();
  });

  it('a read-only grant cannot run a computed write', async () => {
    const ro = await env.client(USERS.analyst);
    const r = await ro.query("UPDATE patient p SET ward = 'x' FROM visit v WHERE v.pat_id = p.pat_id").then(() => 'ok', (e: { code?: string }) => e.code);
    expect(r).toBe('42501');
    const d = await ro.query('DELETE FROM patient p USING visit v WHERE v.pat_id = p.pat_id').then(() => 'ok', (e: { code?: string }) => e.code);
    expect(d).toBe('42501');
    await sameTable();
  });

  it('a computed UPDATE waits for a concurrent change of the rows it reads and computes from it, as PostgreSQL does (no lost update)', async () => {
    // Another session changes pat_name (home) in an open block; the computed UPDATE reads pat_name
    // to write diagnosis (cloud-b). PostgreSQL waits for the lock and computes from the committed
    // name; a read without a lock would compute from the old name and overwrite the change's effect.
    const waiting = async (q: (sql: string) => Promise<pg.QueryResult>): Promise<void> => {
      for (let i = 0; i < 200; i++) {
        const r = await q("SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'");
        if ((r.rows[0] as { n: number }).n > 0) return;
        await new Promise((res) => setTimeout(res, 50));
      }
      throw new Error('the computed UPDATE never waited for the lock');
    };
    const oracleOther = new pg.Client({ connectionString: oracleCluster.url(), ssl: { ca: oracleCluster.caPem } });
    await oracleOther.connect();
    const other = await env.client();
    try {
      const results: Array<{ rows: unknown[] }> = [];
      const waits: Array<[pg.Client, pg.Client, () => Promise<void>]> = [
        [oracle, oracleOther, () => waitingOn(oracleCluster, waiting)],
        [doc, other, () => waiting((sql) => env.backend('cloud-a').query(sql))]];
      for (const [a, b, untilWaiting] of waits) {
        await b.query('BEGIN');
        await b.query("UPDATE patient SET pat_name = 'Ann Locked-canary' WHERE pat_id = 1");
        const update = a.query("UPDATE patient SET diagnosis = pat_name || ' (rechecked)' WHERE pat_id = 1 RETURNING pat_id");
        await untilWaiting();
        await b.query('COMMIT');
        results.push(await update);
      }
      expect(results[1]?.rows).toEqual(results[0]?.rows);
      expect((await doc.query('SELECT diagnosis FROM patient WHERE pat_id = 1')).rows).toEqual([{ diagnosis: 'Ann Locked-canary (rechecked)' }]);
      await sameTable();
    } finally {
      await oracleOther.end();
      await other.end();
    }
  });

  it('no backend stores or logs plaintext of an encrypted column, and the clear ward only reaches cloud-c', async () => {
    const secret = ['Ann Canary', 'Ann Locked-canary', 'Bob Canary', 'Cy Canary', 'Di Canary', 'Eve Canary', '111-canary', 'flu-canary', 'cold-canary', 'gone-canary', 'reason-a-canary', 'gone-reason-canary', 'blk-canary'];
    for (const b of env.names) {
      expect(await canariesInDump(env.clusters.get(b) as PgCluster, secret), `${b} pg_dump`).toEqual([]);
      const log = env.serverLog(b);
      for (const s of secret) expect(log.includes(s), `${b} log holds ${s}`).toBe(false);
    }
    for (const b of ['cloud-a', 'cloud-b'] as const) expect(env.serverLog(b).includes('ward-3'), b).toBe(false);
  });
});
