// Bulk write forms of ORMs through the proxy. Django's bulk_update: `UPDATE … SET col = CASE WHEN <plain condition>
// THEN <value> … ELSE NULL END WHERE …` on encrypted columns (randomized, searchable), with
// constants and parameters. The proxy encrypts each result (and the blind index follows), the
// backend evaluates the conditions; compared with the oracle, and the backend holds no canary.
// Django's bulk_create (`INSERT … SELECT * FROM UNNEST(<constant arrays>)`) and SQLAlchemy's
// insertmanyvalues are written row by row like VALUES.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canariesInDump } from '../corpus/setup.ts';
import { startTwoStage } from './two-stage-env.ts';
import type { TwoStageEnv } from './two-stage-env.ts';

let t: TwoStageEnv;
beforeAll(async () => { t = await startTwoStage(1000); }, 120_000);
afterAll(async () => { await t?.close(); });

const UPDATES: Array<{ sql: string; params: unknown[] }> = [
  { sql: "UPDATE patient SET pat_name = CASE WHEN (patient.pat_id = 1) THEN 'bulk-one-canary'::varchar(100) WHEN (patient.pat_id = $1) THEN $2 ELSE NULL END WHERE patient.pat_id IN (1, $1)", params: [2, 'bulk-two-canary'] },
  { sql: "UPDATE patient SET pat_ssn = CASE pat_id WHEN 3 THEN '999-00-0003' WHEN 4 THEN $1 END WHERE pat_id IN (3, 4)", params: ['999-00-0004'] },
];

describe('bulk writes: UPDATE … CASE (Django bulk_update), INSERT … SELECT … FROM (VALUES …) (SQLAlchemy insertmanyvalues)', () => {
  it('writes encrypted values chosen by plain conditions, readable and searchable as PostgreSQL would store them', async () => {
    for (const u of UPDATES) {
      const a = await t.c.query(u.sql, u.params);
      const b = await t.oracle.query(u.sql, u.params);
      expect(a.rowCount).toBe(b.rowCount);
    }
    const q = 'SELECT pat_id, pat_name, pat_ssn FROM patient WHERE pat_id BETWEEN 1 AND 5 ORDER BY pat_id';
    expect((await t.c.query(q)).rows).toEqual((await t.oracle.query(q)).rows);
    // The blind index followed the new value.
    expect((await t.c.query("SELECT pat_id FROM patient WHERE pat_ssn = '999-00-0004'")).rows).toEqual([{ pat_id: 4 }]);
    expect(await canariesInDump(t.cluster, ['bulk-one-canary', 'bulk-two-canary', '999-00-000'])).toEqual([]);
    for (const canary of ['bulk-one-canary', 'bulk-two-canary', '999-00-000']) expect(t.serverLog().filter((l) => l.includes(canary)), canary).toEqual([]);
  });

  it("inserts SQLAlchemy's insertmanyvalues form (INSERT … SELECT … FROM (VALUES …) ORDER BY sen_counter RETURNING), values encrypted row by row", async () => {
    const sql = 'INSERT INTO patient (pat_id, pat_name, pat_ssn) SELECT p0::INTEGER, p1::VARCHAR, p2::VARCHAR FROM (VALUES ($1, $2, $3, 0), ($4, $5, $6, 1), ($7, $8, $9, 2)) '
      + 'AS imp_sen(p0, p1, p2, sen_counter) ORDER BY sen_counter RETURNING patient.pat_id, patient.pat_id AS pat_id__1';
    const params = [101, 'many-one-canary', '555-01-0101', 102, 'many-two-canary', null, 103, 'many-three-canary', '555-01-0103'];
    const a = await t.c.query(sql, params);
    const b = await t.oracle.query(sql, params);
    expect(a.rows).toEqual(b.rows);
    // SQLAlchemy 2.1 also casts each VALUES parameter: `VALUES ($1::VARCHAR, …)`.
    const sql21 = 'INSERT INTO patient (pat_id, pat_name, pat_ssn) SELECT p0::INTEGER, p1::VARCHAR, p2::VARCHAR FROM (VALUES ($1::INTEGER, $2::VARCHAR, $3::VARCHAR, 0), ($4::INTEGER, $5::VARCHAR, $6::VARCHAR, 1)) '
      + 'AS imp_sen(p0, p1, p2, sen_counter) ORDER BY sen_counter RETURNING patient.pat_id';
    const params21 = [104, 'many-four-canary', '555-01-0104', 105, 'many-five-canary', null];
    expect((await t.c.query(sql21, params21)).rows).toEqual((await t.oracle.query(sql21, params21)).rows);
    const q = 'SELECT pat_id, pat_name, pat_ssn FROM patient WHERE pat_id > 100 ORDER BY pat_id';
    expect((await t.c.query(q)).rows).toEqual((await t.oracle.query(q)).rows);
    expect((await t.c.query("SELECT pat_id FROM patient WHERE pat_ssn = '555-01-0103'")).rows).toEqual([{ pat_id: 103 }]);
    const canaries = ['many-one-canary', 'many-two-canary', 'many-three-canary', 'many-four-canary', 'many-five-canary', '555-01-01'];
    expect(await canariesInDump(t.cluster, canaries)).toEqual([]);
    for (const canary of canaries) expect(t.serverLog().filter((l) => l.includes(canary)), canary).toEqual([]);
    // A VALUES column read anywhere else than by its target is computed in two stages (issue 10).
    for (const text of ["INSERT INTO patient (pat_id, pat_name) SELECT p0, p1 FROM (VALUES (200, 'x-canary')) AS v(p0, p1) WHERE p1 <> 'z'",
      "INSERT INTO patient (pat_id, pat_name) SELECT p0, upper(p1) FROM (VALUES (201, 'xyzzy-canary')) AS v(p0, p1)"]) {
      const [x, y] = [await t.c.query(text), await t.oracle.query(text)];
      expect(x.rowCount, text).toBe(y.rowCount);
    }
    const computed = 'SELECT pat_id, pat_name FROM patient WHERE pat_id IN (200, 201) ORDER BY pat_id';
    expect((await t.c.query(computed)).rows).toEqual((await t.oracle.query(computed)).rows);
    expect(await canariesInDump(t.cluster, ['x-canary', 'xyzzy-canary', 'XYZZY-CANARY'])).toEqual([]);
    // A typmod cast as the value of a protected column would be converted by PostgreSQL: refused.
    expect(await t.c.query("INSERT INTO patient (pat_id, pat_name) SELECT p0, p1::varchar(3) FROM (VALUES (202, 'xyzzy')) AS v(p0, p1)").then(() => 'ok', (e: { code: string }) => e.code)).toBe('0A000');
  });

  it("inserts Django's bulk_create form (INSERT … SELECT * FROM UNNEST(<constant arrays>) RETURNING), each element encrypted as VALUES would be", async () => {
    // psycopg's client-side binding (Django's default): arrays as constants, quotes, escapes, NULL, a short array padded with NULL (pat_ssn).
    const sql = 'INSERT INTO patient (pat_id, pat_name, pat_ssn) SELECT * FROM UNNEST((\'{301,302,303,304}\'::int2[])::integer[], '
      + `(E'{unnest-one-canary,"unnest two canary","it''s \\\\"3\\\\" canary",unnest-four-canary}')::varchar[], ('{555-03-0301,NULL,555-03-0303}')::varchar[]) RETURNING patient.pat_id`;
    const a = await t.c.query(sql);
    const b = await t.oracle.query(sql);
    expect(a.rows).toEqual(b.rows);
    const q = 'SELECT pat_id, pat_name, pat_ssn FROM patient WHERE pat_id BETWEEN 301 AND 304 ORDER BY pat_id';
    const rows = (await t.c.query(q)).rows;
    expect(rows).toEqual((await t.oracle.query(q)).rows);
    expect(rows.map((r) => r.pat_name)).toEqual(['unnest-one-canary', 'unnest two canary', 'it\'s "3" canary', 'unnest-four-canary']);
    expect((await t.c.query("SELECT pat_id FROM patient WHERE pat_ssn = '555-03-0303'")).rows).toEqual([{ pat_id: 303 }]);
    const canaries = ['unnest-one-canary', 'unnest two canary', '"3" canary', 'unnest-four-canary', '555-03-03'];
    expect(await canariesInDump(t.cluster, canaries)).toEqual([]);
    for (const canary of canaries) expect(t.serverLog().filter((l) => l.includes(canary)), canary).toEqual([]);
    // Server-side binding: the arrays are parameters, encrypted element by element at Bind.
    const byParams = 'INSERT INTO patient (pat_id, pat_name, pat_ssn) SELECT * FROM UNNEST($1::integer[], $2::varchar[], $3::varchar[]) RETURNING patient.pat_id';
    const params = [[305, 306, 307], ['unnest-param-one-canary', 'unnest "param" two canary', 'unnest-param-three-canary'], ['555-03-0305', null, '555-03-0307']];
    expect((await t.c.query(byParams, params)).rows).toEqual((await t.oracle.query(byParams, params)).rows);
    const q2 = 'SELECT pat_id, pat_name, pat_ssn FROM patient WHERE pat_id BETWEEN 305 AND 307 ORDER BY pat_id';
    expect((await t.c.query(q2)).rows).toEqual((await t.oracle.query(q2)).rows);
    expect((await t.c.query("SELECT pat_id FROM patient WHERE pat_ssn = '555-03-0307'")).rows).toEqual([{ pat_id: 307 }]);
    const paramCanaries = ['unnest-param-one-canary', 'param" two canary', 'unnest-param-three-canary', '555-03-030'];
    expect(await canariesInDump(t.cluster, paramCanaries)).toEqual([]);
    for (const canary of paramCanaries) expect(t.serverLog().filter((l) => l.includes(canary)), canary).toEqual([]);
    // Constant arrays mixed with array parameters into protected columns cannot be read: refused by name.
    const err = await t.c.query("INSERT INTO patient (pat_id, pat_name) SELECT * FROM UNNEST($1::integer[], ('{unnest-mixed-canary}')::varchar[])", [[308]]).then(() => null, (e: { code: string; message: string }) => e);
    expect(err).toMatchObject({ code: '0A000', message: expect.stringMatching(/UNNEST.*column pat_id cannot be read/) });
    expect(t.serverLog().filter((l) => l.includes('unnest-mixed-canary'))).toEqual([]);
  });

  it('inserts array parameters into anonymized columns (asyncpg, Django server-side binding): each element anonymized at Bind as one value is', async () => {
    try {
      const byParams = 'INSERT INTO patient (pat_id, pat_name, pat_zip, pat_birth) SELECT * FROM UNNEST($1::integer[], $2::text[], $3::text[], $4::date[])';
      await t.c.query(byParams, [[311, 312, 313], ['anon-array-a', 'anon-array-b', 'anon-array-c'], ['Zq4821', null, 'Zr4091'], ['1937-03-29', '1941-11-02', null]]);
      // The same values one row at a time (VALUES with parameters): the stored forms must be the same.
      await t.c.query('INSERT INTO patient (pat_id, pat_name, pat_zip, pat_birth) VALUES ($1, $2, $3, $4)', [314, 'anon-array-d', 'Zq4821', '1937-03-29']);
      const q = 'SELECT pat_id, pat_zip, pat_birth AS born FROM patient WHERE pat_id BETWEEN 311 AND 314 ORDER BY pat_id';
      const rows = (await t.c.query(q)).rows;
      expect(rows).toEqual((await t.env.backend.query(q)).rows);
      expect(rows[0]).toEqual({ ...rows[3], pat_id: 311 });
      expect(rows[1]).toMatchObject({ pat_zip: null });
      expect(rows[2]).toMatchObject({ born: null });
      expect(rows.map((r: { pat_zip: string | null }) => r.pat_zip)).not.toContain('Zq4821');
      // Letters that no hex dump of ciphertext holds, and dates the truncation removes.
      const raw = ['Zq4821', 'Zr4091', '1937-03-29', '1941-11-02'];
      expect(await canariesInDump(t.cluster, raw)).toEqual([]);
      for (const v of raw) expect(t.serverLog().filter((l) => l.includes(v)), v).toEqual([]);
    } finally {
      // The later tests compare the whole table with the oracle, which has no such rows.
      await t.c.query('DELETE FROM patient WHERE pat_id BETWEEN 311 AND 314');
    }
  });

  it('creates tables from protected ones (CREATE TABLE AS, SELECT INTO) only with columns that carry no protected value', async () => {
    for (const sql of ["CREATE TABLE flu_ids AS SELECT pat_id FROM patient WHERE diagnosis = 'flu'", "SELECT pat_id INTO ssn_ids FROM patient WHERE pat_ssn = '123-45-1007'"]) {
      await t.c.query(sql);
      await t.oracle.query(sql);
    }
    for (const table of ['flu_ids', 'ssn_ids']) {
      const q = `SELECT pat_id FROM ${table} ORDER BY pat_id`;
      const rows = (await t.c.query(q)).rows;
      expect(rows.length).toBeGreaterThan(0);
      expect(rows).toEqual((await t.oracle.query(q)).rows);
    }
    const code = (text: string) => t.c.query(text).then(() => 'ok', (e: { code: string }) => e.code);
    expect(await code('CREATE TABLE leak1 AS SELECT pat_id, pat_name FROM patient')).toBe('0A000');
    expect(await code('CREATE TABLE leak2 AS SELECT * FROM patient')).toBe('0A000');
    expect(await code('SELECT pat_ssn INTO leak3 FROM patient')).toBe('0A000');
    expect(await code('CREATE TABLE leak4 AS SELECT pat_id, (SELECT notes FROM visit v WHERE v.pat_id = p.pat_id LIMIT 1) FROM patient p')).toBe('0A000');
    expect(await code('CREATE MATERIALIZED VIEW leak5 AS SELECT pat_id FROM patient')).toBe('0A000');
    expect((await t.env.backend.query("SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE 'leak%'")).rows).toEqual([{ n: 0 }]);
  });

  it('computes a CASE whose condition reads an encrypted value or whose result is an expression (a write in two stages), as PostgreSQL does', async () => {
    for (const sql of ["UPDATE patient SET pat_ssn = CASE WHEN pat_name = 'x' THEN '1' END WHERE pat_id < 3",
      "UPDATE patient SET pat_ssn = CASE WHEN pat_id = 1 THEN upper('cas-canary') END WHERE pat_id < 3",
      'UPDATE patient SET pat_ssn = CASE WHEN pat_id = 1 THEN left(pat_name, 5) END WHERE pat_id < 3']) {
      const [a, b] = [await t.c.query(sql), await t.oracle.query(sql)];
      expect(a.rowCount, sql).toBe(b.rowCount);
      const q = 'SELECT pat_id, pat_name, pat_ssn FROM patient ORDER BY pat_id';
      expect((await t.c.query(q)).rows, sql).toEqual((await t.oracle.query(q)).rows);
    }
    expect(await canariesInDump(t.cluster, ['CAS-CANARY'])).toEqual([]);
  });
});
