// Splitting (issue 12) through the real proxy on three real backends: each backend holds only its
// fragment (the row key plus its columns, encrypted as the policy says), statements over the
// logical table answer as one table would, writes are atomic across backends (two-phase commit),
// and no plaintext of an encrypted column reaches any backend (tables, pg_dump, server logs).
import pg from 'pg';
import postgres from 'postgres';
import Cursor from 'pg-cursor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canariesInDump, USERS } from '../corpus/setup.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { loadBackend } from '../../src/config/load.ts';
import { loadConfig } from '../../src/config/load.ts';
import { recoverOnce } from '../../src/split/recovery.ts';
import { columnsOn, CREATE_SPLIT_PATIENT, startSplit } from './split-env.ts';
import type { BackendName, SplitEnv } from './split-env.ts';

let env: SplitEnv;
let doc: pg.Client;

async function refusal(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try { await p; } catch (e) { return { code: (e as { code?: string }).code, message: (e as Error).message }; }
  throw new Error('the statement was not refused');
}

async function rowsOn(name: BackendName, sql: string): Promise<Array<Record<string, unknown>>> {
  return (await env.backend(name).query(sql)).rows;
}

async function prepared(): Promise<string[]> {
  const out: string[] = [];
  for (const b of ['cloud-a', 'cloud-b', 'cloud-c'] as const) out.push(...(await rowsOn(b, 'SELECT gid FROM pg_prepared_xacts')).map((r) => `${b}:${String(r.gid)}`));
  return out;
}

beforeAll(async () => {
  env = await startSplit();
  doc = await env.client();
}, 120_000);
afterAll(async () => { await env?.close(); });

describe('split table: DDL fans out to the fragments', () => {
  it('CREATE TABLE puts the row key and each backend\'s columns on that backend', async () => {
    await doc.query(CREATE_SPLIT_PATIENT);
    expect(await columnsOn(env.backend('cloud-a'), 'public.patient')).toEqual(expect.arrayContaining(['pat_id', 'pat_name', 'age']));
    expect(await columnsOn(env.backend('cloud-a'), 'public.patient')).not.toEqual(expect.arrayContaining(['diagnosis']));
    const b = await columnsOn(env.backend('cloud-b'), 'public.patient');
    expect(b[0]).toBe('pat_id');
    expect(b).toEqual(expect.arrayContaining(['pat_ssn', 'diagnosis']));
    expect(b).not.toContain('pat_name');
    expect(b).not.toContain('ward');
    expect(await columnsOn(env.backend('cloud-c'), 'public.patient')).toEqual(['pat_id', 'ward']);
  });
});

describe('split table: later migrations', () => {
  it('ALTER TABLE and CREATE INDEX go to the backend that stores the columns they name', async () => {
    await doc.query('ALTER TABLE patient ADD COLUMN note text, ALTER COLUMN ward SET DEFAULT \'none\'');
    await doc.query('CREATE INDEX patient_ward ON patient (ward)');
    expect(await columnsOn(env.backend('cloud-a'), 'public.patient')).toContain('note');
    expect(await columnsOn(env.backend('cloud-c'), 'public.patient')).not.toContain('note');
    expect((await rowsOn('cloud-c', "SELECT indexname FROM pg_indexes WHERE tablename = 'patient' AND indexname = 'patient_ward'"))).toEqual([{ indexname: 'patient_ward' }]);
    expect((await rowsOn('cloud-a', "SELECT indexname FROM pg_indexes WHERE indexname = 'patient_ward'"))).toEqual([]);
    await doc.query('ALTER TABLE patient DROP COLUMN note');
    expect(await columnsOn(env.backend('cloud-a'), 'public.patient')).not.toContain('note');
  });
});

describe('split table: writes and reads', () => {
  it('INSERT (constants, parameters, RETURNING a serial key) stores each column on its backend only', async () => {
    const r = await doc.query("INSERT INTO patient (pat_name, pat_ssn, diagnosis, ward, age) VALUES ('Ann Canary', '111-22-3333', 'flu-canary', 'ward-7-canary', 41) RETURNING pat_id");
    expect(r.rows).toEqual([{ pat_id: 1 }]);
    expect(r.rowCount).toBe(1);
    const r2 = await doc.query('INSERT INTO patient (pat_name, pat_ssn, diagnosis, ward, age) VALUES ($1, $2, $3, $4, $5), ($6, $7, $8, $9, $10)',
      ['Bob Canary', '222-33-4444', 'cold-canary', 'ward-7-canary', 35, 'Cy Canary', '333-44-5555', 'flu-canary', 'ward-9-canary', 52]);
    expect(r2.rowCount).toBe(2);
    expect(await rowsOn('cloud-c', 'SELECT pat_id, ward FROM patient ORDER BY pat_id')).toEqual([
      { pat_id: 1, ward: 'ward-7-canary' }, { pat_id: 2, ward: 'ward-7-canary' }, { pat_id: 3, ward: 'ward-9-canary' }]);
    expect((await rowsOn('cloud-b', 'SELECT pat_id FROM patient ORDER BY pat_id')).map((x) => x.pat_id)).toEqual([1, 2, 3]);
    expect(await prepared()).toEqual([]);
  });

  it('SELECT recomposes rows: *, by key, by a column of another backend, ordering and grouping', async () => {
    expect((await doc.query('SELECT pat_id, pat_name, pat_ssn, diagnosis, ward, age FROM patient ORDER BY pat_id')).rows).toEqual([
      { pat_id: 1, pat_name: 'Ann Canary', pat_ssn: '111-22-3333', diagnosis: 'flu-canary', ward: 'ward-7-canary', age: 41 },
      { pat_id: 2, pat_name: 'Bob Canary', pat_ssn: '222-33-4444', diagnosis: 'cold-canary', ward: 'ward-7-canary', age: 35 },
      { pat_id: 3, pat_name: 'Cy Canary', pat_ssn: '333-44-5555', diagnosis: 'flu-canary', ward: 'ward-9-canary', age: 52 },
    ]);
    expect((await doc.query('SELECT pat_name, ward FROM patient WHERE pat_id = $1', [2])).rows).toEqual([{ pat_name: 'Bob Canary', ward: 'ward-7-canary' }]);
    expect((await doc.query("SELECT pat_name FROM patient WHERE diagnosis = 'flu-canary' AND ward LIKE 'ward-9%'")).rows).toEqual([{ pat_name: 'Cy Canary' }]);
    expect((await doc.query('SELECT ward, count(*)::int AS n, max(age) AS oldest FROM patient GROUP BY ward ORDER BY ward')).rows).toEqual([
      { ward: 'ward-7-canary', n: 2, oldest: 41 }, { ward: 'ward-9-canary', n: 1, oldest: 52 }]);
    const star = await doc.query('SELECT * FROM patient WHERE pat_id = 1');
    expect(star.rows[0]).toMatchObject({ pat_id: 1, pat_name: 'Ann Canary', diagnosis: 'flu-canary', ward: 'ward-7-canary', age: 41 });
  });

  it('UPDATE and DELETE change every fragment of the rows they select, wherever the condition is', async () => {
    const u = await doc.query('UPDATE patient SET diagnosis = $1, age = age + 1 WHERE pat_id = $2', ['asthma-canary', 2]);
    expect(u.rowCount).toBe(1);
    const u2 = await doc.query("UPDATE patient SET ward = 'ward-1-canary' WHERE diagnosis = 'flu-canary' RETURNING pat_id");
    expect(u2.rows.map((r) => r.pat_id).sort()).toEqual([1, 3]);
    expect((await doc.query('SELECT pat_id, diagnosis, ward, age FROM patient ORDER BY pat_id')).rows).toEqual([
      { pat_id: 1, diagnosis: 'flu-canary', ward: 'ward-1-canary', age: 41 },
      { pat_id: 2, diagnosis: 'asthma-canary', ward: 'ward-7-canary', age: 36 },
      { pat_id: 3, diagnosis: 'flu-canary', ward: 'ward-1-canary', age: 52 },
    ]);
    const d = await doc.query("DELETE FROM patient WHERE ward = 'ward-7-canary'");
    expect(d.rowCount).toBe(1);
    for (const b of ['cloud-a', 'cloud-b', 'cloud-c'] as const) {
      expect((await rowsOn(b, 'SELECT pat_id FROM patient ORDER BY pat_id')).map((x) => x.pat_id), b).toEqual([1, 3]);
    }
    expect(await prepared()).toEqual([]);
  });

  it('an INSERT that gives no column of a fragment still stores the row there (its key): reads and later writes find it', async () => {
    const r = await doc.query("INSERT INTO patient (pat_name, age) VALUES ('Dee Canary', 60) RETURNING pat_id");
    const id = Number(r.rows[0].pat_id);
    for (const b of ['cloud-a', 'cloud-b', 'cloud-c'] as const) {
      expect((await rowsOn(b, `SELECT pat_id FROM patient WHERE pat_id = ${id}`)).length, b).toBe(1);
    }
    expect((await doc.query('SELECT pat_name, diagnosis, ward, age FROM patient WHERE pat_id = $1', [id])).rows).toEqual([
      { pat_name: 'Dee Canary', diagnosis: null, ward: 'none', age: 60 }]); // ward's DEFAULT, on its fragment
    expect((await doc.query("UPDATE patient SET ward = 'ward-2-canary' WHERE pat_id = $1", [id])).rowCount).toBe(1);
    expect((await doc.query('SELECT ward FROM patient WHERE pat_id = $1', [id])).rows).toEqual([{ ward: 'ward-2-canary' }]);
    expect((await doc.query('DELETE FROM patient WHERE pat_id = $1', [id])).rowCount).toBe(1);
    expect(await prepared()).toEqual([]);
  });

  it('a transaction block: ROLLBACK leaves no fragment; COMMIT stores every fragment; savepoints roll back fragments too', async () => {
    await doc.query('BEGIN');
    await doc.query("INSERT INTO patient (pat_id, pat_name, pat_ssn, diagnosis, ward, age) VALUES (10, 'Tx Canary', '999-00-1111', 'tx-canary', 'ward-tx', 1)");
    expect((await doc.query('SELECT ward FROM patient WHERE pat_id = 10')).rows).toEqual([{ ward: 'ward-tx' }]);
    await doc.query('ROLLBACK');
    for (const b of ['cloud-a', 'cloud-b', 'cloud-c'] as const) expect(await rowsOn(b, 'SELECT pat_id FROM patient WHERE pat_id = 10'), b).toEqual([]);

    await doc.query('BEGIN');
    await doc.query("INSERT INTO patient (pat_id, pat_name, diagnosis, ward) VALUES (11, 'Keep Canary', 'keep-canary', 'ward-k')");
    await doc.query('SAVEPOINT s1');
    await doc.query("INSERT INTO patient (pat_id, pat_name, diagnosis, ward) VALUES (12, 'Drop Canary', 'drop-canary', 'ward-d')");
    await doc.query('ROLLBACK TO SAVEPOINT s1');
    await doc.query("UPDATE patient SET ward = 'ward-k2' WHERE pat_id = 11");
    const c = await doc.query('COMMIT');
    expect(c.command).toBe('COMMIT');
    for (const b of ['cloud-a', 'cloud-b', 'cloud-c'] as const) expect((await rowsOn(b, 'SELECT pat_id FROM patient WHERE pat_id >= 10 ORDER BY 1')).map((x) => x.pat_id), b).toEqual([11]);
    expect(await rowsOn('cloud-c', 'SELECT ward FROM patient WHERE pat_id = 11')).toEqual([{ ward: 'ward-k2' }]);
    expect(await prepared()).toEqual([]);
    expect((await env.backend('cloud-a').query("SELECT outcome FROM clarus_split.decisions")).rows.map((r) => r.outcome)).toContain('commit');
  });

  it('transaction control behind comments or among other statements in one Query keeps the fragments in step', async () => {
    await doc.query('/* app */ BEGIN');
    await doc.query("INSERT INTO patient (pat_id, pat_name, diagnosis, ward) VALUES (13, 'Comment Canary', 'comment-canary', 'ward-c')");
    await doc.query('/* app */ ROLLBACK');
    for (const b of ['cloud-a', 'cloud-b', 'cloud-c'] as const) expect(await rowsOn(b, 'SELECT pat_id FROM patient WHERE pat_id = 13'), b).toEqual([]);
    await doc.query('SELECT 1; BEGIN');
    await doc.query("INSERT INTO patient (pat_id, pat_name, diagnosis, ward) VALUES (14, 'Multi Canary', 'multi-canary', 'ward-m')");
    await doc.query('SELECT 2; COMMIT');
    for (const b of ['cloud-a', 'cloud-b', 'cloud-c'] as const) expect(await rowsOn(b, 'SELECT pat_id FROM patient WHERE pat_id = 14'), b).toEqual([{ pat_id: 14 }]);
    await doc.query('DELETE FROM patient WHERE pat_id = 14');
    expect(await prepared()).toEqual([]);
  });

  it('fragments read and print values with the client\'s TimeZone and DateStyle', async () => {
    const c = await env.client();
    await c.query('ALTER TABLE patient ADD COLUMN seen timestamptz, ADD COLUMN born date');
    await c.query("SET TimeZone = 'Asia/Tokyo'");
    await c.query("SET DateStyle = 'SQL, DMY'");
    await c.query("INSERT INTO patient (pat_id, pat_name, diagnosis, ward, seen, born) VALUES (15, 'Tz Canary', 'tz-canary', 'ward-t', '2026-01-02 10:00', '03/04/1990')");
    expect(await rowsOn('cloud-a', "SELECT to_char(seen AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS utc, born::text AS born FROM patient WHERE pat_id = 15")).toEqual([{ utc: '2026-01-02 01:00', born: '1990-04-03' }]);
    const r = await c.query({ text: 'SELECT seen::text AS seen, born::text AS born, ward FROM patient WHERE pat_id = 15', rowMode: 'array' });
    expect(r.rows).toEqual([['02/01/2026 10:00:00 JST', '03/04/1990', 'ward-t']]);
    const direct = await c.query({ text: 'SELECT seen, born FROM patient WHERE pat_id = 15', types: { getTypeParser: () => (v: string) => v } });
    expect(direct.rows).toEqual([{ seen: '02/01/2026 10:00:00 JST', born: '03/04/1990' }]);
    await c.query('DELETE FROM patient WHERE pat_id = 15');
    await c.query('ALTER TABLE patient DROP COLUMN seen, DROP COLUMN born');
  });

  it('a failing statement in a block aborts the whole block on every backend', async () => {
    await doc.query('BEGIN');
    await doc.query("INSERT INTO patient (pat_id, pat_name, diagnosis, ward) VALUES (20, 'Fail Canary', 'fail-canary', 'ward-f')");
    const r = await refusal(doc.query("INSERT INTO patient (pat_id, pat_name, diagnosis, ward) VALUES (20, 'Dup Canary', 'dup-canary', 'ward-x')"));
    expect(r.code).toBe('23505');
    const after = await refusal(doc.query('SELECT 1'));
    expect(after.code).toBe('25P02');
    const c = await doc.query('COMMIT');
    expect(c.command).toBe('ROLLBACK');
    for (const b of ['cloud-a', 'cloud-b', 'cloud-c'] as const) expect(await rowsOn(b, 'SELECT pat_id FROM patient WHERE pat_id = 20'), b).toEqual([]);
    expect(await prepared()).toEqual([]);
  });
});

describe('split table: other clients and protocol paths', () => {
  it('postgres.js: named prepared statements, parameters of several types, a transaction with rollback on error', async () => {
    const sql = postgres(env.url(USERS.doctor), { max: 1, onnotice: () => undefined });
    try {
      await sql`INSERT INTO patient (pat_id, pat_name, pat_ssn, diagnosis, ward, age) VALUES (${50}, ${'Pjs Canary'}, ${'500-00-5000'}, ${'pjs-canary'}, ${'ward-p'}, ${33})`;
      for (let i = 0; i < 3; i++) {
        const rows = await sql`SELECT pat_name, diagnosis, age FROM patient WHERE pat_id = ${50}`;
        expect(rows.map((r) => ({ ...r }))).toEqual([{ pat_name: 'Pjs Canary', diagnosis: 'pjs-canary', age: 33 }]);
      }
      await expect(sql.begin(async (tx) => {
        await tx`UPDATE patient SET ward = ${'ward-rolled-back'} WHERE pat_id = ${50}`;
        await tx`INSERT INTO patient (pat_id, pat_name) VALUES (${50}, ${'duplicate'})`;
      })).rejects.toMatchObject({ code: '23505' });
      const [row] = await sql`SELECT ward FROM patient WHERE pat_id = ${50}`;
      expect(row?.ward).toBe('ward-p');
      await sql.begin(async (tx) => { await tx`DELETE FROM patient WHERE pat_id = ${50}`; });
      for (const b of ['cloud-a', 'cloud-b', 'cloud-c'] as const) expect(await rowsOn(b, 'SELECT pat_id FROM patient WHERE pat_id = 50'), b).toEqual([]);
    } finally {
      await sql.end();
    }
  });
});

describe('split table: portals read in chunks', () => {
  it('an Execute with a row limit (node-postgres cursor) gets the rows in chunks, engine or not', async () => {
    for (const sql of ['SELECT pat_id, ward FROM patient', 'SELECT pat_id, upper(ward) AS w FROM patient ORDER BY pat_id']) {
      const all = (await doc.query(sql)).rows;
      expect(all.length, sql).toBeGreaterThanOrEqual(2);
      const c = await env.client();
      const cursor = c.query(new Cursor(sql));
      const got: unknown[] = [];
      for (;;) {
        const rows = await cursor.read(1);
        expect(rows.length, sql).toBeLessThanOrEqual(1);
        if (rows.length === 0) break;
        got.push(...rows);
      }
      await cursor.close();
      expect(got.length, sql).toBe(all.length);
      expect(new Set(got.map((r) => JSON.stringify(r))), sql).toEqual(new Set(all.map((r) => JSON.stringify(r))));
    }
  });
});

describe('split table: what each backend learns', () => {
  it('no backend stores or logs plaintext of an encrypted column; the clear split column is only on its backend', async () => {
    const secret = ['Ann Canary', 'Cy Canary', 'Keep Canary', '111-22-3333', 'flu-canary', 'asthma-canary', 'keep-canary', 'tx-canary'];
    for (const b of ['cloud-a', 'cloud-b', 'cloud-c'] as const) {
      expect(await canariesInDump(env.clusters.get(b) as PgCluster, secret), `${b} pg_dump`).toEqual([]);
      const dump = JSON.stringify(await rowsOn(b, 'SELECT * FROM patient'));
      const log = env.serverLog(b);
      for (const s of secret) {
        expect(dump.includes(s), `${b} table holds ${s}`).toBe(false);
        expect(log.includes(s), `${b} log holds ${s}`).toBe(false);
      }
    }
    for (const b of ['cloud-a', 'cloud-b'] as const) {
      expect(env.serverLog(b).includes('ward-1-canary'), `${b} saw the ward`).toBe(false);
      expect(JSON.stringify(await rowsOn(b, 'SELECT * FROM patient')).includes('ward-1-canary')).toBe(false);
    }
    expect(env.serverLog('cloud-c').includes('ward-1-canary')).toBe(true);
  });
});

describe('split table: access control and failures', () => {
  it('a user with a read grant cannot write; one without a grant cannot read', async () => {
    const analyst = await env.client(USERS.analyst);
    const w = await refusal(analyst.query("UPDATE patient SET ward = 'x' WHERE pat_id = 1"));
    expect(w.code).toBe('42501');
    const nobody = await env.client(USERS.nobody);
    const r = await refusal(nobody.query('SELECT * FROM patient'));
    expect(r.code).toBe('42501');
    expect(await rowsOn('cloud-c', 'SELECT ward FROM patient WHERE pat_id = 1')).toEqual([{ ward: 'ward-1-canary' }]);
  });

  it('joins and subqueries with other (protected) tables are computed over the recomposed rows', async () => {
    await doc.query('CREATE TABLE IF NOT EXISTS visit (visit_id int PRIMARY KEY, reason text)');
    await doc.query("INSERT INTO visit (visit_id, reason) VALUES (1, 'reason-canary-1'), (3, 'reason-canary-3'), (5, 'reason-canary-5')");
    expect((await doc.query('SELECT p.pat_name, p.ward, v.reason FROM patient p JOIN visit v ON v.visit_id = p.pat_id WHERE p.pat_id < $1 ORDER BY p.pat_id', [10])).rows).toEqual([
      { pat_name: 'Ann Canary', ward: 'ward-1-canary', reason: 'reason-canary-1' }, { pat_name: 'Cy Canary', ward: 'ward-1-canary', reason: 'reason-canary-3' }]);
    expect((await doc.query("SELECT count(*)::int AS n FROM visit v LEFT JOIN patient p ON p.pat_id = v.visit_id WHERE p.diagnosis IS NULL")).rows).toEqual([{ n: 1 }]);
    expect((await doc.query("SELECT pat_name FROM patient WHERE pat_id IN (SELECT visit_id FROM visit WHERE reason = 'reason-canary-3')")).rows).toEqual([{ pat_name: 'Cy Canary' }]);
    const analyst = await env.client(USERS.auditor);
    const masked = await refusal(analyst.query('SELECT p.pat_name, v.reason FROM patient p JOIN visit v ON v.visit_id = p.pat_id'));
    expect(masked.code).toBe('42501');
    expect(JSON.stringify(await rowsOn('cloud-a', 'SELECT * FROM visit'))).not.toContain('reason-canary');
    await doc.query('DROP TABLE visit');
  });

  it('statement forms the proxy cannot plan are refused by name', async () => {
    // UPDATE … FROM and a SET over other backends' columns are served (split-computed.test.ts).
    for (const sql of ['UPDATE patient SET pat_id = 2', 'INSERT INTO visit (visit_id) SELECT pat_id FROM patient',
      "UPDATE patient SET ward = 'x' WHERE diagnosis = ward", 'ALTER TABLE patient RENAME COLUMN ward TO w', 'COPY patient TO STDOUT (FORMAT binary)']) {
      const r = await refusal(doc.query(sql));
      expect(r.code, sql).toBe('0A000');
      expect(r.message, sql).toMatch(/split table public\.patient|split/);
    }
  });
});

describe('split table: a backend that is down, in-doubt transactions', () => {
  it('statements that need a stopped backend fail with a connection SQLSTATE naming it; other datasets keep working; nothing half-written', async () => {
    await doc.query('CREATE TABLE IF NOT EXISTS visit (visit_id int PRIMARY KEY, reason text)');
    const c = env.clusters.get('cloud-c') as PgCluster;
    await c.kill();
    try {
      const fresh = await env.client();
      const r = await refusal(fresh.query('SELECT ward FROM patient WHERE pat_id = 1'));
      expect(r.code).toMatch(/^08/);
      expect(r.message).toContain('cloud-c');
      const w = await refusal(fresh.query("INSERT INTO patient (pat_id, pat_name, diagnosis, ward) VALUES (30, 'Down Canary', 'down-canary', 'ward-down')"));
      expect(w.code).toMatch(/^08/);
      expect(w.message).toContain('cloud-c');
      for (const b of ['cloud-a', 'cloud-b'] as const) expect(await rowsOn(b, 'SELECT pat_id FROM patient WHERE pat_id = 30'), b).toEqual([]);
      await fresh.query("INSERT INTO visit (visit_id, reason) VALUES (1, 'still-works')");
      expect((await fresh.query('SELECT reason FROM visit')).rows).toEqual([{ reason: 'still-works' }]);
    } finally {
      await c.start();
      await env.reconnect('cloud-c');
    }
    const again = await env.client();
    expect((await again.query('SELECT ward FROM patient WHERE pat_id = 1')).rows).toEqual([{ ward: 'ward-1-canary' }]);
  });

  it('recovery commits what was decided, rolls back what was not (after the grace period), and leaves young ones alone', async () => {
    const snap = loadConfig(env.configDir);
    const backends = snap.config.backends.map((b) => loadBackend(env.configDir, b));
    const prepare = async (b: BackendName, gid: string, id: number) => {
      const c = new pg.Client({ connectionString: (env.clusters.get(b) as PgCluster).url(), ssl: { ca: (env.clusters.get(b) as PgCluster).caPem } });
      await c.connect();
      await c.query('BEGIN');
      await c.query(b === 'cloud-c' ? 'INSERT INTO patient (pat_id, ward) VALUES ($1, $2)' : 'INSERT INTO patient (pat_id) VALUES ($1)', b === 'cloud-c' ? [id, 'in-doubt'] : [id]);
      await c.query(`PREPARE TRANSACTION '${gid}'`);
      await c.end();
    };
    await prepare('cloud-c', 'clarus:test:decided:cloud-c', 40);
    await env.backend('cloud-a').query("INSERT INTO clarus_split.decisions (gid, outcome) VALUES ('clarus:test:decided', 'commit')");
    await prepare('cloud-c', 'clarus:test:undecided:cloud-c', 41);
    await prepare('cloud-b', 'clarus:test:young:cloud-b', 42);
    const young = await recoverOnce({ home: 'cloud-a', backends, graceSeconds: 3600, connectTimeoutMs: 5000 });
    expect(young).toMatchObject({ committed: 1, rolledBack: 0, waiting: 2 });
    expect(await rowsOn('cloud-c', 'SELECT pat_id FROM patient WHERE pat_id >= 40 ORDER BY 1')).toEqual([{ pat_id: 40 }]);
    const old = await recoverOnce({ home: 'cloud-a', backends, graceSeconds: 0, connectTimeoutMs: 5000 });
    expect(old).toMatchObject({ committed: 0, rolledBack: 2, waiting: 0, unreachable: [] });
    expect(await prepared()).toEqual([]);
    expect((await rowsOn('cloud-a', "SELECT gid, outcome FROM clarus_split.decisions WHERE gid LIKE 'clarus:test:%' ORDER BY gid"))).toEqual([
      { gid: 'clarus:test:decided', outcome: 'commit' }, { gid: 'clarus:test:undecided', outcome: 'abort' }, { gid: 'clarus:test:young', outcome: 'abort' }]);
    await env.backend('cloud-c').query('DELETE FROM patient WHERE pat_id = 40');
  });
});
