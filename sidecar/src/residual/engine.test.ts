// The engine against PGlite itself (no server): text-format answers with PostgreSQL's types,
// limits, errors with their SQLSTATE, and isolation between calls. One instance in a worker thread
// for most of the file, and a pool of two in this thread (starting one takes seconds).
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ResidualEngine, ResidualPool } from './engine.ts';
import { ResidualLimitError, ResidualQueryError } from './errors.ts';
import type { ResidualCall, ResidualRelation } from './types.ts';

let engine: ResidualEngine;
beforeAll(async () => { engine = await ResidualEngine.start({ locale: 'c', maxTables: 3, vacuumRows: 50 }); }, 180_000);
afterAll(async () => { await engine?.close(); });

const patient = (rows: Array<Array<string | null>>): ResidualRelation => ({
  name: 'patient',
  columns: [{ name: 'id', typeOid: 23 }, { name: 'name', typeOid: 25 }, { name: 'born', typeOid: 1082 }, { name: 'seen', typeOid: 1184 }, { name: 'w', typeOid: 701 }, { name: 'photo', typeOid: 17 }],
  rows,
});
const ROWS = [
  ['1', 'alice', '1980-02-29', '2024-01-01 10:00:00+00', '61.5', '\\x00ff'],
  ['2', 'Bob\twith\ttabs', '1975-12-31', null, '-0', null],
  ['3', 'ánne\\N', null, '2024-07-01 00:00:00+02', '0.1', '\\x'],
  ['4', null, '2000-01-01', null, 'NaN', null],
  ['5', '', '2000-01-01', null, '1e300', null],
];
const limits = { maxRows: 100, maxBytes: 10_000 };
const run = (sql: string, extra: Partial<ResidualCall> = {}) => engine.run({ relations: [patient(ROWS)], sql, limits, ...extra });
const failure = async (f: () => Promise<unknown>): Promise<unknown> => { try { await f(); } catch (e) { return e; } throw new Error('expected a failure'); };

describe('residual engine (PGlite)', () => {
  test('answers in text format with the result types PostgreSQL gives', async () => {
    const r = await run("SELECT upper(name) AS u, born + 1 AS next, w * 2 AS w2, photo, name IS NULL AS missing FROM patient WHERE name ILIKE 'a%' ORDER BY name");
    expect(r.fields.map((f) => [f.name, f.typeOid])).toEqual([['u', 25], ['next', 1082], ['w2', 701], ['photo', 17], ['missing', 16]]);
    expect(r.rows).toEqual([['ALICE', '1980-03-01', '123', '\\x00ff', 'f']]);
    expect(r).toMatchObject({ loadedRows: 5 });
  });

  test('values with tabs, backslashes, empty strings and NULL round-trip exactly', async () => {
    expect((await run('SELECT name FROM patient ORDER BY id')).rows).toEqual([['alice'], ['Bob\twith\ttabs'], ['ánne\\N'], [null], ['']]);
    expect((await run("SELECT E'\\uFEFFbom' || name AS x FROM patient WHERE id = 1")).rows).toEqual([['\uFEFFbomalice']]);
  });

  test('aggregates, GROUP BY/HAVING, windows, set operations', async () => {
    expect((await run('SELECT born, count(*) FROM patient GROUP BY born HAVING count(*) > 1')).rows).toEqual([['2000-01-01', '2']]);
    expect((await run('SELECT id, row_number() OVER (ORDER BY born DESC NULLS LAST, id) FROM patient ORDER BY id')).rows.map((r) => r[1])).toEqual(['3', '4', '5', '1', '2']);
    expect((await run("SELECT name FROM patient WHERE id < 3 UNION SELECT 'zed' ORDER BY 1")).rows).toEqual([['Bob\twith\ttabs'], ['alice'], ['zed']]);
    expect((await run('SELECT max(w), min(w), sum(w) FROM patient')).rows).toEqual([['NaN', '-0', 'NaN']]);
  });

  test('case mapping in the C engine is ASCII-only, like a C-locale backend', async () => {
    expect((await run('SELECT upper(name), lower(name) FROM patient WHERE id = 3')).rows).toEqual([['áNNE\\N', 'ánne\\n']]);
  });

  test('the session settings shape input and output', async () => {
    const r = await run('SELECT seen, w FROM patient WHERE id = 1', { settings: { timeZone: 'Europe/Madrid', extraFloatDigits: 0, dateStyle: 'SQL, DMY' } });
    expect(r.rows).toEqual([['01/01/2024 11:00:00 CET', '61.5']]);
    expect((await run('SELECT photo FROM patient WHERE id = 1', { settings: { byteaOutput: 'escape' } })).rows).toEqual([['\\000\\377']]);
  });

  test('limits: rows, bytes and result rows, each a 54000 naming the limit; the engine keeps working', async () => {
    expect(await failure(() => run('SELECT 1', { limits: { maxRows: 4, maxBytes: 10_000 } }))).toMatchObject({ code: '54000', limit: 'rows', max: 4 });
    expect(await failure(() => run('SELECT 1', { limits: { maxRows: 10, maxBytes: 20 } }))).toBeInstanceOf(ResidualLimitError);
    const e = await failure(() => run('SELECT * FROM patient', { limits: { maxRows: 10, maxBytes: 10_000, maxResultRows: 2 } }));
    expect(e).toMatchObject({ code: '54000', limit: 'resultRows' });
    expect((e as Error).message).toMatch(/more than 2 rows/);
    expect((await run('SELECT count(*) FROM patient')).rows).toEqual([['5']]);
  });

  test('a limit error on a new relation leaves the engine\'s tables as they were', async () => {
    const fresh = (rows: string[][]): ResidualCall => ({ relations: [{ name: 'fresh', columns: [{ name: 'x', typeOid: 23 }], rows }], sql: 'SELECT sum(x) FROM fresh', limits: { maxRows: 2, maxBytes: 100 } });
    expect(await failure(() => engine.run(fresh([['1'], ['2'], ['3']])))).toMatchObject({ code: '54000', limit: 'rows' });
    expect((await engine.run(fresh([['1'], ['2']]))).rows).toEqual([['3']]);
  });

  test('errors carry PostgreSQL\'s SQLSTATE and the stage', async () => {
    expect(await failure(() => run('SELECT id / 0 FROM patient'))).toMatchObject({ code: '22012', stage: 'query' });
    expect(await failure(() => run('SELECT nosuch FROM patient'))).toMatchObject({ code: '42703' });
    expect(await failure(() => run('SELECT 1; SELECT 2'))).toMatchObject({ code: '42601' });
    const bad = await failure(() => engine.run({ relations: [patient([['x', null, null, null, null, null]])], sql: 'SELECT 1', limits }));
    expect(bad).toBeInstanceOf(ResidualQueryError);
    expect(bad).toMatchObject({ code: '22P02', stage: 'load' });
    expect((bad as ResidualQueryError).fields.M).toMatch(/invalid input syntax for type integer/);
  });

  test('only queries run; anything else is refused (0A000) and rolled back', async () => {
    // The candidate tables are ordinary tables: the read-only transaction refuses writes to them (25006).
    expect(await failure(() => run("INSERT INTO patient (id) VALUES (9)"))).toMatchObject({ code: expect.stringMatching(/^(0A000|25006)$/) });
    expect(await failure(() => run('DROP TABLE patient'))).toMatchObject({ code: expect.stringMatching(/^(0A000|25006)$/) });
    expect((await run('SELECT count(*) FROM patient')).rows).toEqual([['5']]);
    expect(await failure(() => run("SELECT nextval('s')"))).toMatchObject({ code: '42P01' });
  });

  test('unsupported column types and bad names are refused before anything runs', async () => {
    const money: ResidualRelation = { name: 'm', columns: [{ name: 'x', typeOid: 790 }], rows: [] };
    expect(await failure(() => engine.run({ relations: [money], sql: 'SELECT 1', limits }))).toMatchObject({ code: '0A000' });
    expect(await failure(() => engine.run({ relations: [patient([]), patient([])], sql: 'SELECT 1', limits }))).toMatchObject({ code: '0A000' });
  });

  test('calls are isolated: each sees only its own rows, a relation may change shape, tables are reused and vacuumed', async () => {
    const before = { ...engine.stats };
    expect((await run('SELECT count(*) FROM patient')).rows).toEqual([['5']]);
    expect((await engine.run({ relations: [patient([ROWS[0] as string[]])], sql: 'SELECT count(*) FROM patient', limits })).rows).toEqual([['1']]);
    expect(engine.stats.tablesCreated).toBe(before.tablesCreated);
    const other: ResidualRelation = { name: 'patient', columns: [{ name: 'x', typeOid: 20 }], rows: [['9223372036854775807']] };
    expect((await engine.run({ relations: [other], sql: 'SELECT x FROM patient', limits })).rows).toEqual([['9223372036854775807']]);
    expect(engine.stats.tablesCreated).toBe(before.tablesCreated + 1);
    for (let i = 0; i < 12; i++) await run('SELECT 1');
    expect(engine.stats.vacuums).toBeGreaterThan(before.vacuums);
  });

  test('several relations: a join in the residual stage; least recently used tables are dropped', async () => {
    const visit: ResidualRelation = { name: 'visit', columns: [{ name: 'pid', typeOid: 23 }, { name: 'reason', typeOid: 1043 }], rows: [['1', 'flu'], ['1', 'check'], ['3', 'flu']] };
    const r = await engine.run({ relations: [patient(ROWS), visit], sql: 'SELECT p.name, string_agg(v.reason, \',\' ORDER BY v.reason) FROM patient p JOIN visit v ON v.pid = p.id GROUP BY 1 ORDER BY 1', limits });
    expect(r.rows).toEqual([['alice', 'check,flu'], ['ánne\\N', 'flu']]);
    for (const name of ['a', 'b', 'c']) await engine.run({ relations: [{ name, columns: [{ name: 'x', typeOid: 23 }], rows: [['1']] }], sql: `SELECT x FROM ${name}`, limits });
    expect(await failure(() => engine.run({ relations: [], sql: 'SELECT * FROM visit', limits }))).toMatchObject({ code: '42P01' });
  });
});

describe('residual pool (two engines in this thread)', () => {
  let pool: ResidualPool;
  let fetches = 0;
  beforeAll(async () => {
    // Everything the instance needs ships in the npm package: starting it fetches nothing.
    const realFetch = globalThis.fetch;
    globalThis.fetch = () => { fetches += 1; return Promise.reject(new Error('no network in this test')); };
    try { pool = await ResidualPool.start(2, { locale: 'c', thread: 'inline' }); } finally { globalThis.fetch = realFetch; }
  }, 180_000);
  afterAll(async () => { await pool?.close(); });

  test('starting an instance downloads nothing', () => { expect(fetches).toBe(0); });

  test('concurrent calls are spread over the engines and each answers its own call', async () => {
    const calls = [1, 2, 3, 4].map((k) => pool.run({ relations: [patient(ROWS.slice(0, k))], sql: 'SELECT count(*) FROM patient', limits }));
    expect((await Promise.all(calls)).map((r) => r.rows[0]?.[0])).toEqual(['1', '2', '3', '4']);
    await expect(pool.run({ relations: [], sql: 'SELECT 1/0', limits })).rejects.toMatchObject({ code: '22012' });
  });
});
