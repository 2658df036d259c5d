// The declared length of an encrypted column (`varchar(n)`, `char(n)`) holds as in PostgreSQL: the
// backend stores bytea and cannot check it, so the proxy does, on every path a value is written —
// INSERT constants, Bind parameters (text and binary), COPY FROM, Django's UNNEST arrays, CASE in
// UPDATE — and answers exactly what a plain PostgreSQL answers (22001, trailing spaces cut).
// Comparisons are not assignments: a longer value in WHERE is no error, as in PostgreSQL.
// Each refused write stores nothing: checked in the backend table and pg_dump.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { canariesInDump, startProtected, USERS } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';

const B = 'cloud-a';
const enc = (mode: 'randomized' | 'deterministic', searchable = false) => ({ encrypt: { mode, searchable, keyName: 'default' } });
const POLICY: RuntimePolicy = {
  name: 'lengths', onUnsupported: 'reject', defaultBackend: B,
  keyring: { dir: 'secrets/keyring', keys: [{ name: 'default', versions: [1], current: 1 }] },
  datasets: [{
    name: 'people', schema: 'public', table: 'person', rowKey: 'id',
    columns: [
      { name: 'id', attributeType: 'technicalIdentifier', backend: B },
      { name: 'name', attributeType: 'identifier', ...enc('randomized'), backend: B },
      { name: 'email', attributeType: 'identifier', ...enc('randomized', true), backend: B },
      { name: 'code', attributeType: 'identifier', ...enc('deterministic'), backend: B },
    ],
  }],
};
const DDL = 'CREATE TABLE person (id int PRIMARY KEY, name varchar(5), email varchar(8), code char(4))';

let cluster: PgCluster;
let env: ProtectedEnv;
let app: pg.Client;
let oracle: pg.Client;
const canaries: string[] = [];
const long = (what: string): string => {
  const c = `Zq${what}${canaries.length}-overflowing`;
  canaries.push(c);
  return c;
};

interface Outcome { code: string; message: string }
async function outcome(p: Promise<unknown>): Promise<Outcome> {
  return p.then(() => ({ code: 'ok', message: '' }), (e: { code?: string; message: string }) => ({ code: e.code ?? '?', message: e.message }));
}
/** The same statement through the proxy and on the plain oracle: same SQLSTATE and message. */
async function same(sql: string, params?: unknown[]): Promise<Outcome> {
  const [a, b] = [await outcome(app.query(sql, params)), await outcome(oracle.query(sql, params))];
  expect(a).toEqual(b);
  return a;
}
async function copy(c: pg.Client, text: string): Promise<Outcome> {
  return outcome(pipeline(Readable.from([Buffer.from(text, 'utf8')]), c.query(copyFrom('COPY person (id, name, email, code) FROM STDIN'))));
}
async function stored(): Promise<number> {
  return Number((await env.backend.query('SELECT count(*) AS n FROM person')).rows[0].n);
}

beforeAll(async () => {
  cluster = await startPostgres();
  env = await startProtected(cluster, POLICY);
  await env.backend.query('CREATE DATABASE oracle');
  oracle = new pg.Client({ connectionString: cluster.url({ database: 'oracle' }), ssl: { ca: cluster.caPem } });
  await oracle.connect();
  app = new pg.Client({ connectionString: env.proxy.url(USERS.doctor) });
  app.on('error', () => undefined);
  await app.connect();
  await app.query(DDL);
  await oracle.query(DDL);
}, 120_000);
afterAll(async () => {
  await app?.end().catch(() => undefined);
  await oracle?.end().catch(() => undefined);
  await env?.close();
  await cluster?.destroy();
});

describe('declared lengths of encrypted columns (varchar(n), char(n))', () => {
  it('a constant too long is 22001 with PostgreSQL\'s message, for each kind of encryption; nothing is stored', async () => {
    expect(await same(`INSERT INTO person (id, name, email, code) VALUES (1, '${long('Name')}', 'a@b', 'abcd')`)).toMatchObject({ code: '22001', message: 'value too long for type character varying(5)' });
    expect(await same(`INSERT INTO person (id, name, email, code) VALUES (2, 'ok', '${long('Mail')}', 'abcd')`)).toMatchObject({ code: '22001', message: 'value too long for type character varying(8)' });
    expect(await same(`INSERT INTO person (id, name, email, code) VALUES (3, 'ok', 'a@b', '${long('Code')}')`)).toMatchObject({ code: '22001', message: 'value too long for type character(4)' });
    expect(await same(`UPDATE person SET name = '${long('Upd')}' WHERE id = 1`)).toMatchObject({ code: '22001' });
    expect(await stored()).toBe(0);
  });

  it('Bind parameters, text and binary format, and a CASE in UPDATE', async () => {
    expect(await same('INSERT INTO person (id, name) VALUES ($1, $2)', [4, long('Param')])).toMatchObject({ code: '22001' });
    expect(await same('INSERT INTO person (id, email) VALUES ($1, $2)', [5, long('PMail')])).toMatchObject({ code: '22001' });
    // Binary format: pg sends a Buffer parameter as binary bytes of type bytea unless typed; a
    // varchar parameter in binary format is its UTF-8 bytes.
    const bin = long('Bin');
    const raw = await outcome(app.query({ text: 'INSERT INTO person (id, name) VALUES ($1, $2)', values: [6, Buffer.from(bin)] }));
    const rawOracle = await outcome(oracle.query({ text: 'INSERT INTO person (id, name) VALUES ($1, $2)', values: [6, Buffer.from(bin)] }));
    expect(raw.code).toBe(rawOracle.code);
    expect(await same('INSERT INTO person (id, name) VALUES (7, \'ok\')')).toMatchObject({ code: 'ok' });
    expect(await same(`UPDATE person SET name = CASE WHEN id = 7 THEN '${long('Case')}' ELSE 'x' END WHERE id = 7`)).toMatchObject({ code: '22001' });
    expect((await app.query('SELECT name FROM person WHERE id = 7')).rows).toEqual([{ name: 'ok' }]);
  });

  it('trailing spaces beyond the length are cut, as PostgreSQL does; other values fit as they are', async () => {
    await same("INSERT INTO person (id, name, email, code) VALUES (10, 'abc     ', 'x@y     ', 'ab    ')");
    await same('INSERT INTO person (id, name, email, code) VALUES ($1, $2, $3, $4)', [11, 'éèàüö  ', 'a@b.c', 'wxyz ']);
    const q = 'SELECT id, name, email, code FROM person WHERE id IN (10, 11) ORDER BY id';
    const [a, b] = [(await app.query(q)).rows, (await oracle.query(q)).rows];
    // char(n) is padded by PostgreSQL and not by the proxy (documented): compare it trimmed.
    const norm = (rows: Array<Record<string, unknown>>) => rows.map((r) => ({ ...r, code: String(r.code).trimEnd() }));
    expect(norm(a)).toEqual(norm(b));
    expect(a.map((r) => r.name)).toEqual(['abc  ', 'éèàüö']);
  });

  it('a longer value compared in WHERE is no error (a comparison is not an assignment)', async () => {
    expect(await same(`SELECT id FROM person WHERE code = 'abcdefgh'`)).toMatchObject({ code: 'ok' });
    expect(await same('SELECT id FROM person WHERE email = $1', ['much-longer@example.org'])).toMatchObject({ code: 'ok' });
  });

  it('COPY FROM: a field too long fails the COPY with 22001 and nothing of it is stored', async () => {
    const before = await stored();
    const text = `20\tok\ta@b\tabcd\n21\t${long('Copy')}\ta@b\tabcd\n`;
    const [a, b] = [await copy(app, text), await copy(oracle, text)];
    expect(a.code).toBe('22001');
    expect(b.code).toBe('22001');
    expect(a.message).toContain('value too long for type character varying(5)');
    expect(await stored()).toBe(before);
  });

  it('Django bulk_create (UNNEST of arrays, parameters or constants) checks each element', async () => {
    const sql = 'INSERT INTO person (id, name) SELECT * FROM UNNEST($1::integer[], $2::varchar[])';
    expect(await same(sql, [[30, 31], ['ok', long('Arr')]])).toMatchObject({ code: '22001' });
    expect(await same(`INSERT INTO person (id, name) SELECT * FROM UNNEST(('{32,33}')::integer[], ('{ok,${long('Konst')}}')::varchar[])`)).toMatchObject({ code: '22001' });
    expect(Number((await env.backend.query('SELECT count(*) AS n FROM person WHERE id BETWEEN 30 AND 33')).rows[0].n)).toBe(0);
  });

  it('no refused value reached the backend', async () => {
    expect(await canariesInDump(cluster, canaries)).toEqual([]);
  });
});
