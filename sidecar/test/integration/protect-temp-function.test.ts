// Temporary PL/pgSQL functions through the proxy (issue 11, Sequelize's findOrCreate): the text
// Sequelize sends (CREATE OR REPLACE FUNCTION pg_temp.testfunc … INSERT … RETURNING * INTO
// response; EXCEPTION WHEN unique_violation …; SELECT (testfunc.response)."col", … FROM
// pg_temp.testfunc(); DROP FUNCTION …) against a real PostgreSQL 15, compared with an oracle
// server that runs it directly. The backend must hold only ciphertext: the CREATE FUNCTION text is
// itself logged (log_statement = all), so the canaries are looked for in the server log and in
// pg_dump. What the proxy cannot rewrite is refused before anything reaches the backend.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USERS } from '../corpus/setup.ts';
import { canariesInDump } from '../corpus/setup.ts';
import { startTwoStage } from './two-stage-env.ts';
import type { TwoStageEnv } from './two-stage-env.ts';

let t: TwoStageEnv;
beforeAll(async () => { t = await startTwoStage(1000); }, 120_000);
afterAll(async () => { await t?.close(); });

// pat_zip is anonymized (generalized) when written, so it is left NULL: the oracle would not generalize it.
const COLUMNS = ['pat_id', 'pat_name', 'pat_ssn', 'pat_zip', 'diagnosis'];

/** Sequelize 6's findOrCreate text (query-generator.js insertQuery with `exception: true`). */
function findOrCreate(id: number, name: string, ssn: string, select = COLUMNS.map((c) => `(testfunc.response)."${c}"`).join(', ')): string {
  return 'CREATE OR REPLACE FUNCTION pg_temp.testfunc(OUT response "patient", OUT sequelize_caught_exception text) RETURNS RECORD AS $func_8d1e0c1b2a3f$ '
    + `BEGIN INSERT INTO "patient" ("pat_id","pat_name","pat_ssn","pat_zip","diagnosis") VALUES (${id},'${name}','${ssn}',NULL,'flu') RETURNING * INTO response; `
    + 'EXCEPTION WHEN unique_violation THEN GET STACKED DIAGNOSTICS sequelize_caught_exception = PG_EXCEPTION_DETAIL; END $func_8d1e0c1b2a3f$ LANGUAGE plpgsql; '
    + `SELECT ${select}, testfunc.sequelize_caught_exception FROM pg_temp.testfunc(); DROP FUNCTION IF EXISTS pg_temp.testfunc();`;
}

/** The rows of the text's SELECT (node-postgres answers a multi-statement text with one result per statement). */
async function selected(c: pg.Client, sql: string): Promise<unknown[]> {
  const r = (await c.query(sql)) as unknown as pg.QueryResult[];
  return (r[1] as pg.QueryResult).rows;
}

/** The text in a transaction (as Sequelize sends it) through the proxy and on the oracle: the same rows. */
async function both(sql: string): Promise<unknown[]> {
  const run = async (c: pg.Client) => {
    await c.query('BEGIN');
    try {
      return await selected(c, sql);
    } finally {
      await c.query('COMMIT');
    }
  };
  const got = await run(t.c);
  expect(got).toEqual(await run(t.oracle));
  return got;
}

const errorOf = (p: Promise<unknown>): Promise<{ code?: string; message?: string } | null> => p.then(() => null, (e: { code?: string; message?: string }) => e);

function leaks(canaries: string[]): string[] {
  return canaries.filter((c) => t.serverLog().some((l) => l.includes(c)));
}

describe('temporary PL/pgSQL function (Sequelize findOrCreate)', () => {
  it('creates the row with its values encrypted and returns the logical row decrypted, as PostgreSQL does', async () => {
    const rows = await both(findOrCreate(501, 'Plpgsql Onecanary', '777-01-0501'));
    expect(rows).toEqual([{ pat_id: 501, pat_name: 'Plpgsql Onecanary', pat_ssn: '777-01-0501', pat_zip: null, diagnosis: 'flu', sequelize_caught_exception: null }]);
    // Stored as the proxy stores an INSERT: readable and searchable through the proxy, ciphertext in the backend.
    const q = "SELECT pat_id, pat_name, pat_ssn, pat_zip, diagnosis FROM patient WHERE pat_ssn = '777-01-0501'";
    expect((await t.c.query(q)).rows).toEqual((await t.oracle.query(q)).rows);
    const stored = (await t.env.backend.query('SELECT pat_name, pat_ssn, pat_ssn__bidx FROM patient WHERE pat_id = 501')).rows[0];
    expect(Buffer.isBuffer(stored.pat_name) && Buffer.isBuffer(stored.pat_ssn) && Buffer.isBuffer(stored.pat_ssn__bidx)).toBe(true);
    const canaries = ['Onecanary', '777-01-0501'];
    expect(await canariesInDump(t.cluster, canaries)).toEqual([]);
    expect(leaks(canaries)).toEqual([]);
    // The function the backend received holds the rewritten INSERT (the log shows the CREATE text).
    expect(t.serverLog().some((l) => l.includes('CREATE OR REPLACE FUNCTION pg_temp.testfunc') && l.includes('pat_ssn__bidx') && l.includes('::bytea'))).toBe(true);
  });

  it('called twice: the second create meets the unique violation, caught as PostgreSQL catches it; two calls in one text too', async () => {
    const again = await both(findOrCreate(501, 'Plpgsql Twocanary', '777-01-0502'));
    expect(again).toEqual([{ pat_id: null, pat_name: null, pat_ssn: null, pat_zip: null, diagnosis: null, sequelize_caught_exception: 'Key (pat_id)=(501) already exists.' }]);
    const twice = findOrCreate(502, 'Plpgsql Threecanary', '777-01-0503').replace('DROP FUNCTION', 'SELECT (testfunc.response).pat_name AS second, testfunc.sequelize_caught_exception FROM pg_temp.testfunc(); DROP FUNCTION');
    const all = async (c: pg.Client) => ((await c.query(twice)) as unknown as pg.QueryResult[]).slice(1, 3).map((r) => r.rows);
    const [got, want] = [await all(t.c), await all(t.oracle)];
    expect(got).toEqual(want);
    expect(got).toEqual([[expect.objectContaining({ pat_id: 502, pat_name: 'Plpgsql Threecanary' })], [{ second: null, sequelize_caught_exception: 'Key (pat_id)=(502) already exists.' }]]);
    expect(leaks(['Twocanary', 'Threecanary', '777-01-0502', '777-01-0503'])).toEqual([]);
    expect(await canariesInDump(t.cluster, ['Threecanary', '777-01-0503'])).toEqual([]);
  });

  it('(f.response).* is the logical row: no hidden column, values decrypted', async () => {
    const rows = await both(findOrCreate(503, 'Plpgsql Starcanary', '777-01-0504', '(testfunc.response).*'));
    expect(rows).toEqual([{ pat_id: 503, pat_name: 'Plpgsql Starcanary', pat_ssn: '777-01-0504', pat_zip: null, pat_birth: null, diagnosis: 'flu', sequelize_caught_exception: null }]);
    expect(leaks(['Starcanary', '777-01-0504'])).toEqual([]);
  });

  it('DROP FUNCTION works; a call in a later text is refused (the proxy cannot know which definition the session holds)', async () => {
    const create = findOrCreate(504, 'Plpgsql Dropcanary', '777-01-0505').replace(/SELECT .*$/, '');
    await t.c.query(create);
    const err = await errorOf(t.c.query('SELECT (testfunc.response).pat_name FROM pg_temp.testfunc()'));
    expect(err).toMatchObject({ code: '0A000', message: expect.stringMatching(/pg_temp\.testfunc/) });
    await t.c.query('DROP FUNCTION pg_temp.testfunc()');
    expect((await t.c.query("SELECT count(*)::int AS n FROM patient WHERE pat_id = 504")).rows).toEqual([{ n: 0 }]);
    expect(leaks(['Dropcanary', '777-01-0505'])).toEqual([]);
  });

  it('refuses what it cannot rewrite, by name, before anything reaches the backend', async () => {
    const body = (b: string, header = 'pg_temp.refused(OUT response "patient", OUT detail text) RETURNS RECORD') => `CREATE OR REPLACE FUNCTION ${header} AS $f$ BEGIN ${b} END $f$ LANGUAGE plpgsql`;
    const cases: Array<[string, RegExp]> = [
      [body("INSERT INTO patient (pat_id, pat_name) VALUES (600, 'Refused Permcanary') RETURNING * INTO response;", 'public.refused(OUT response "patient", OUT detail text) RETURNS RECORD'), /not in the temporary schema pg_temp/],
      [body("EXECUTE 'INSERT INTO pati' || 'ent (pat_id, pat_name) VALUES (601, ''Refused Dyncanary'')';"), /EXECUTE of dynamic SQL/],
      [body("UPDATE patient SET pat_name = upper(pat_name) || 'Refused Updcanary' WHERE pat_id = 1;"), /encrypted column patient\.pat_name/],
      [body("SELECT pat_name INTO detail FROM patient WHERE pat_id = 1; INSERT INTO visit (visit_id, pat_id, reason) VALUES (602, 1, 'Refused Selcanary');"), /SELECT … INTO over a protected table/],
      [body("INSERT INTO patient (pat_id, pat_name) VALUES (603, detail || 'Refused Varcanary');"), /reads detail, a PL\/pgSQL variable/],
      [body("RAISE NOTICE 'Refused Raisecanary %', 1;"), /RAISE/],
      [body("FOR response IN SELECT * FROM patient LOOP detail := 'Refused Loopcanary'; END LOOP;"), /FOR … IN <query>/],
    ];
    for (const [sql, why] of cases) {
      expect(await errorOf(t.c.query(sql)), sql).toMatchObject({ code: '0A000', message: expect.stringMatching(why) });
    }
    expect(leaks(['Refused', 'Permcanary', 'Dyncanary', 'Updcanary', 'Selcanary', 'Varcanary', 'Raisecanary', 'Loopcanary'])).toEqual([]);
    // The call may only read fields of the OUT row: the whole stored row is refused.
    const whole = findOrCreate(605, 'Refused Wholecanary', '777-01-0605', '(testfunc.response)::text AS r');
    expect(await errorOf(t.c.query(whole))).toMatchObject({ code: '0A000', message: expect.stringMatching(/call of a temporary PL\/pgSQL function/) });
    expect(leaks(['Wholecanary', '777-01-0605'])).toEqual([]);
  });

  it('a user without a read-write grant cannot create such a function, nor can a user without a grant', async () => {
    for (const user of [USERS.analyst, USERS.nobody]) {
      const c = new pg.Client({ connectionString: t.env.url(user) });
      await c.connect();
      try {
        const err = await errorOf(c.query(findOrCreate(700, 'Plpgsql Readercanary', '777-01-0700')));
        expect(err, user.name).toMatchObject({ code: '42501' });
      } finally {
        await c.end();
      }
    }
    expect((await t.env.backend.query('SELECT count(*)::int AS n FROM patient WHERE pat_id = 700')).rows).toEqual([{ n: 0 }]);
    expect(leaks(['Readercanary', '777-01-0700'])).toEqual([]);
  });
});
