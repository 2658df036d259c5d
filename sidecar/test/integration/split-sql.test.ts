// Splitting (issue 12), the SQL beyond the common statements, on three real backends: catalog
// introspection shows the one logical table, and the statement forms added after the first cut.
// Each answer is checked against an unsplit oracle (the same statements straight into a plain
// PostgreSQL cluster), and what each backend stores against the layout: its fragment
// only, no plaintext of an encrypted column in its tables, pg_dump or log_statement = all log.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canariesInDump, USERS } from '../corpus/setup.ts';
import { PG_BIN, startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { columnsOn, copyIn, copyOut, startSplit } from './split-env.ts';
import type { BackendName, SplitEnv } from './split-env.ts';

const run = promisify(execFile);
let env: SplitEnv;
let doc: pg.Client;
let oracle: pg.Client;
let oracleCluster: PgCluster;

/** The split table through the proxy; the oracle has its columns in the logical order (home, cloud-b, cloud-c). */
const CREATE = 'CREATE TABLE patient (pat_id serial PRIMARY KEY, pat_name text NOT NULL, age int, pat_ssn text, diagnosis text, ward varchar(20) NOT NULL)';

async function rowsOn(name: BackendName, sql: string): Promise<Array<Record<string, unknown>>> {
  return (await env.backend(name).query(sql)).rows;
}

async function both(sql: string, values: unknown[] = []): Promise<{ got: unknown[]; want: unknown[] }> {
  const got = (await doc.query({ text: sql, values, rowMode: 'array' })).rows;
  const want = (await oracle.query({ text: sql, values, rowMode: 'array' })).rows;
  return { got, want };
}

async function psqlDescribe(url: string, table: string): Promise<string> {
  const { stdout } = await run(join(PG_BIN, 'psql'), [url, '-X', '-v', 'ON_ERROR_STOP=1', '-c', `\\d ${table}`], { env: { ...process.env, PGSSLMODE: 'disable', PGPASSWORD: '' } });
  return stdout;
}

beforeAll(async () => {
  env = await startSplit();
  doc = await env.client();
  // The oracle is a cluster of its own: the backends' logs and dumps must hold only what the proxy sent.
  oracleCluster = await startPostgres();
  oracle = new pg.Client({ connectionString: oracleCluster.url(), ssl: { ca: oracleCluster.caPem } });
  await oracle.connect();
  await doc.query(CREATE);
  await oracle.query(CREATE);
}, 120_000);
afterAll(async () => {
  await oracle?.end().catch(() => undefined);
  await env?.close();
  await oracleCluster?.destroy();
});

describe('split table: catalog introspection shows the one logical table', () => {
  it('each backend stores its fragment only (the premise)', async () => {
    expect(await columnsOn(env.backend('cloud-a'), 'public.patient')).toEqual(['pat_id', 'pat_name', 'age']);
    expect(await columnsOn(env.backend('cloud-b'), 'public.patient')).toEqual(['pat_id', 'pat_ssn', 'diagnosis', 'pat_ssn__bidx']);
    expect(await columnsOn(env.backend('cloud-c'), 'public.patient')).toEqual(['pat_id', 'ward']);
  });

  it('information_schema.columns lists every logical column with its declared type, as the oracle does', async () => {
    const sql = `SELECT column_name, data_type, character_maximum_length, is_nullable, ordinal_position FROM information_schema.columns
      WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`;
    const { got, want } = await both(sql, ['patient']);
    const names = (r: unknown[]) => r.map((x) => (x as unknown[])[0]);
    expect(names(got)).toEqual(['pat_id', 'pat_name', 'age', 'pat_ssn', 'diagnosis', 'ward']);
    // Positions of the other fragments' columns come after the home fragment's (no gaps promised).
    const noPos = (r: unknown[]) => r.map((x) => (x as unknown[]).slice(0, 4));
    expect(noPos(got)).toEqual(noPos(want));
    const pos = got.map((x) => (x as unknown[])[4] as number);
    expect([...pos].sort((a, b) => a - b)).toEqual(pos);
    expect(new Set(pos).size).toBe(pos.length);
  });

  it('pg_attribute with format_type and attnotnull reads as in the oracle; encrypted columns show their declared type', async () => {
    const sql = `SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, a.atthasdef FROM pg_catalog.pg_attribute a
      WHERE a.attrelid = 'public.patient'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`;
    const { got, want } = await both(sql);
    expect(got).toEqual(want);
    expect(got).toContainEqual(['pat_ssn', 'text', false, false]);
    expect(got).toContainEqual(['ward', 'character varying(20)', true, false]);
  });

  it('psql \\d through the proxy reads as in the oracle database', async () => {
    const proxied = await psqlDescribe(env.proxy.url(USERS.doctor), 'patient');
    expect(proxied).toMatch(/diagnosis/);
    expect(proxied).toBe(await psqlDescribe(oracleCluster.url(), 'patient'));
  });

  it('a column added on another backend is shown after the next load; a table of the same name in another schema shows only its own', async () => {
    await doc.query('ALTER TABLE patient ADD COLUMN pat_ssn2 text');
    await env.backend('cloud-c').query('ALTER TABLE patient ADD COLUMN bed int');
    await env.backend('cloud-a').query('CREATE SCHEMA other; CREATE TABLE other.patient (x int)');
    await doc.query('ALTER TABLE patient ADD COLUMN note text');
    const cols = await doc.query("SELECT table_schema, column_name FROM information_schema.columns WHERE table_name = 'patient' ORDER BY table_schema, ordinal_position");
    expect(cols.rows.filter((r) => r.table_schema === 'public').map((r) => r.column_name)).toEqual(['pat_id', 'pat_name', 'age', 'pat_ssn2', 'note', 'pat_ssn', 'diagnosis', 'ward', 'bed']);
    expect(cols.rows.filter((r) => r.table_schema === 'other').map((r) => r.column_name)).toEqual(['x']);
    const attrs = await doc.query("SELECT attname FROM pg_attribute WHERE attrelid = 'other.patient'::regclass AND attnum > 0");
    expect(attrs.rows.map((r) => r.attname)).toEqual(['x']);
    await doc.query('ALTER TABLE patient DROP COLUMN pat_ssn2, DROP COLUMN note');
    await env.backend('cloud-c').query('ALTER TABLE patient DROP COLUMN bed');
    await env.backend('cloud-a').query('DROP SCHEMA other CASCADE');
  });
});

/** Rows of the split table on each backend, by key (what each stores). */
async function fragments(): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const b of ['cloud-a', 'cloud-b', 'cloud-c'] as const) out[b] = (await env.backend(b).query({ text: 'SELECT * FROM patient ORDER BY pat_id', rowMode: 'array' })).rows;
  return out;
}

describe('split table: COPY', () => {
  const data = [
    '1\tAnn Canary\t41\t111-22-3333\tflu-canary\tward-7',
    '2\tBob \\ Tab\\tCanary\t\\N\t222-33-4444\tcold\\ncanary\tward-7',
    '3\tCy Canary\t52\t\\N\tflu-canary\tward-9',
  ].join('\n') + '\n';
  const cols = '(pat_id, pat_name, age, pat_ssn, diagnosis, ward)';

  it('COPY FROM STDIN stores each column on its backend only, as the oracle stores the rows', async () => {
    expect(await copyIn(doc, `COPY patient ${cols} FROM STDIN`, data)).toBe(3);
    await copyIn(oracle, `COPY patient ${cols} FROM STDIN`, data);
    const { got, want } = await both('SELECT pat_id, pat_name, age, pat_ssn, diagnosis, ward FROM patient ORDER BY pat_id');
    expect(got).toEqual(want);
    expect(got[1]).toEqual([2, 'Bob  Tab\tCanary', null, '222-33-4444', 'cold\ncanary', 'ward-7']);
    const f = await fragments();
    expect(f['cloud-c']).toEqual([[1, 'ward-7'], [2, 'ward-7'], [3, 'ward-9']]);
    expect(f['cloud-a']?.map((r) => (r as unknown[]).length)).toEqual([3, 3, 3]);
    expect(JSON.stringify(f['cloud-a'])).not.toContain('ward-');
    expect((f['cloud-b'] as unknown[][]).map((r) => r[0])).toEqual([1, 2, 3]);
    expect((await rowsOn('cloud-a', 'SELECT gid FROM pg_prepared_xacts'))).toEqual([]);
  });

  it('COPY TO STDOUT (table, column list, CSV with header, a SELECT over the split table) prints what the oracle prints', async () => {
    for (const sql of ['COPY patient TO STDOUT', 'COPY patient (ward, pat_name) TO STDOUT', "COPY patient (pat_id, diagnosis, pat_name) TO STDOUT WITH (FORMAT csv, HEADER true)",
      "COPY (SELECT pat_name, upper(diagnosis) AS d FROM patient WHERE ward = 'ward-7' ORDER BY pat_id) TO STDOUT (FORMAT csv)"]) {
      const lines = (s: string) => s.split('\n').sort();
      const got = await copyOut(doc, sql);
      expect(lines(got), sql).toEqual(lines(await copyOut(oracle, sql)));
      expect(got.length, sql).toBeGreaterThan(10);
    }
  });

  it('a COPY FROM with a bad row, a duplicate key or a refused option stores nothing on any backend', async () => {
    const before = await fragments();
    const bad = await copyIn(doc, `COPY patient ${cols} FROM STDIN`, '7\tX Canary\t1\tx\ty\tz\n8\tonly-two\n').catch((e: { code?: string }) => e.code);
    expect(bad).toBe('22P04');
    const dup = await copyIn(doc, `COPY patient ${cols} FROM STDIN`, '9\tNine Canary\t1\tx\ty\tz\n1\tDup Canary\t1\tx\ty\tz\n').catch((e: { code?: string }) => e.code);
    expect(dup).toBe('23505');
    for (const sql of [`COPY patient ${cols} FROM STDIN (FORMAT binary)`, "COPY patient (ward) TO '/tmp/x'"]) {
      const r = await doc.query(sql).then(() => 'ok', (e: { code?: string }) => e.code);
      expect(r, sql).toBe('0A000');
    }
    expect(await fragments()).toEqual(before);
    expect((await rowsOn('cloud-a', 'SELECT gid FROM pg_prepared_xacts'))).toEqual([]);
  });

  it('COPY FROM in a block is part of it: ROLLBACK leaves nothing, COMMIT keeps every fragment', async () => {
    await doc.query('BEGIN');
    await copyIn(doc, 'COPY patient (pat_id, pat_name, ward, diagnosis) FROM STDIN (FORMAT csv)', '20,"Block, Canary",ward-b,block-canary\n');
    expect((await doc.query('SELECT pat_name, ward FROM patient WHERE pat_id = 20')).rows).toEqual([{ pat_name: 'Block, Canary', ward: 'ward-b' }]);
    await doc.query('ROLLBACK');
    for (const b of ['cloud-a', 'cloud-b', 'cloud-c'] as const) expect(await rowsOn(b, 'SELECT pat_id FROM patient WHERE pat_id = 20'), b).toEqual([]);
    await doc.query('BEGIN');
    await copyIn(doc, 'COPY patient (pat_id, pat_name, ward, diagnosis) FROM STDIN (FORMAT csv)', '21,"Block, Canary",ward-b,block-canary\n');
    await doc.query('COMMIT');
    for (const b of ['cloud-a', 'cloud-b', 'cloud-c'] as const) expect(await rowsOn(b, 'SELECT pat_id FROM patient WHERE pat_id = 21'), b).toEqual([{ pat_id: 21 }]);
    await doc.query('DELETE FROM patient WHERE pat_id = 21');
  });

  it('a read-only user cannot COPY FROM a split table', async () => {
    const analyst = await env.client(USERS.analyst);
    const r = await copyIn(analyst, 'COPY patient (pat_id, ward) FROM STDIN', '30\tward-x\n').catch((e: { code?: string }) => e.code);
    expect(r).toBe('42501');
    expect(await rowsOn('cloud-c', 'SELECT pat_id FROM patient WHERE pat_id = 30')).toEqual([]);
  });
});

describe('split table: SQL cursors in a block', () => {
  it('DECLARE / FETCH n / FETCH ALL / MOVE / CLOSE read the recomposed rows as the oracle reads its rows', async () => {
    await doc.query("INSERT INTO patient (pat_id, pat_name, age, pat_ssn, diagnosis, ward) VALUES (40, 'Cur Canary', 7, '400-00-0000', 'cur-canary', 'ward-c')");
    await oracle.query("INSERT INTO patient (pat_id, pat_name, age, pat_ssn, diagnosis, ward) VALUES (40, 'Cur Canary', 7, '400-00-0000', 'cur-canary', 'ward-c')");
    const script = ['BEGIN', "UPDATE patient SET diagnosis = 'in-block' WHERE pat_id = 40",
      'DECLARE c NO SCROLL CURSOR FOR SELECT pat_id, pat_name, diagnosis, ward FROM patient ORDER BY pat_id',
      'FETCH 2 FROM c', 'MOVE 1 IN c', 'FETCH NEXT FROM c', 'FETCH ALL FROM c', 'FETCH c', 'CLOSE c',
      'DECLARE d CURSOR WITHOUT HOLD FOR SELECT ward, count(*)::int FROM patient GROUP BY ward ORDER BY ward', 'FETCH ALL IN d', 'COMMIT'];
    for (const sql of script) {
      const got = await doc.query({ text: sql, rowMode: 'array' });
      const want = await oracle.query({ text: sql, rowMode: 'array' });
      expect({ sql, rows: got.rows, command: got.command, count: got.rowCount }).toEqual({ sql, rows: want.rows, command: want.command, count: want.rowCount });
    }
    expect(await rowsOn('cloud-b', 'SELECT count(*)::int AS n FROM patient WHERE pat_id = 40')).toEqual([{ n: 1 }]);
  });

  it('PostgreSQL\'s cursor rules hold: outside a block, a backward FETCH, a FETCH after the block, a duplicate name, WITH HOLD and SCROLL', async () => {
    const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: { code?: string }) => e.code);
    expect(await code(doc.query('DECLARE c CURSOR FOR SELECT ward FROM patient'))).toBe('25P01');
    await doc.query('BEGIN');
    await doc.query('DECLARE c CURSOR FOR SELECT ward FROM patient');
    expect(await code(doc.query('DECLARE c CURSOR FOR SELECT ward FROM patient'))).toBe('42P03');
    await doc.query('ROLLBACK');
    await doc.query('BEGIN');
    await doc.query('DECLARE c CURSOR FOR SELECT ward FROM patient');
    expect(await code(doc.query('FETCH BACKWARD 1 FROM c'))).toBe('0A000');
    await doc.query('ROLLBACK');
    await doc.query('BEGIN');
    await doc.query('DECLARE c CURSOR FOR SELECT ward FROM patient');
    expect((await doc.query('FETCH FORWARD 0 FROM c')).rowCount).toBe(0);
    await doc.query('FETCH 1 FROM c');
    expect(await code(doc.query('FETCH FORWARD 0 FROM c'))).toBe('55000');
    await doc.query('ROLLBACK');
    await doc.query('BEGIN');
    await doc.query('DECLARE c CURSOR FOR SELECT ward FROM patient');
    expect((await doc.query('FETCH 1 FROM c')).rowCount).toBe(1);
    await doc.query('COMMIT');
    expect(await code(doc.query('FETCH 1 FROM c'))).not.toBe('ok');
    await doc.query('BEGIN');
    expect(await code(doc.query('DECLARE h CURSOR WITH HOLD FOR SELECT ward FROM patient'))).toBe('0A000');
    await doc.query('ROLLBACK');
    await doc.query('BEGIN');
    expect(await code(doc.query('DECLARE s SCROLL CURSOR FOR SELECT ward FROM patient'))).toBe('0A000');
    await doc.query('ROLLBACK');
  });

  it('a user without a grant cannot DECLARE a cursor over the split table', async () => {
    const nobody = await env.client(USERS.nobody);
    await nobody.query('BEGIN');
    const r = await nobody.query('DECLARE c CURSOR FOR SELECT pat_name FROM patient').then(() => 'ok', (e: { code?: string }) => e.code);
    expect(r).toBe('42501');
    await nobody.query('ROLLBACK');
  });
});

describe('split table: INSERT … SELECT, ON CONFLICT, TRUNCATE', () => {
  async function same(sql: string, values: unknown[] = []): Promise<void> {
    const a = await doc.query({ text: sql, values, rowMode: 'array' });
    const b = await oracle.query({ text: sql, values, rowMode: 'array' });
    expect({ sql, rows: a.rows, n: a.rowCount, cmd: a.command }).toEqual({ sql, rows: b.rows, n: b.rowCount, cmd: b.command });
  }
  async function sameTable(): Promise<void> {
    const { got, want } = await both('SELECT pat_id, pat_name, age, pat_ssn, diagnosis, ward FROM patient ORDER BY pat_id');
    expect(got).toEqual(want);
  }
  const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: { code?: string }) => e.code);

  it('an INSERT that names the columns of some backends only still puts the row on every fragment (so it is shown)', async () => {
    await same("INSERT INTO patient (pat_id, pat_name, ward) VALUES (50, 'Half Canary', 'ward-h')");
    await sameTable();
    expect(await rowsOn('cloud-b', 'SELECT pat_id, diagnosis FROM patient WHERE pat_id = 50')).toEqual([{ pat_id: 50, diagnosis: null }]);
  });

  it('ON CONFLICT (row key) DO NOTHING and DO UPDATE (several rows, EXCLUDED, the target\'s columns on every backend, RETURNING) as the oracle', async () => {
    await same("INSERT INTO patient (pat_id, pat_name, ward) VALUES (50, 'Other Canary', 'ward-o') ON CONFLICT (pat_id) DO NOTHING");
    await same("INSERT INTO patient (pat_id, pat_name, ward) VALUES (51, 'New Canary', 'ward-n') ON CONFLICT (pat_id) DO NOTHING RETURNING pat_id");
    await same(`INSERT INTO patient AS p (pat_id, pat_name, diagnosis, ward) VALUES ($1, $2, $3, $4), (52, 'Up2 Canary', 'up-canary', 'ward-u')
      ON CONFLICT (pat_id) DO UPDATE SET diagnosis = EXCLUDED.diagnosis, ward = p.ward || '+', pat_name = EXCLUDED.pat_name RETURNING pat_id, pat_name`, [50, 'Up Canary', 'up-canary', 'ward-x']);
    await same("INSERT INTO patient (pat_id, pat_name, ward) VALUES (51, 'Again Canary', 'ward-a') ON CONFLICT (pat_id) DO UPDATE SET ward = EXCLUDED.ward");
    await sameTable();
    for (const sql of ["INSERT INTO patient (pat_id, pat_name, ward) VALUES (53, 'x', 'y') ON CONFLICT (ward) DO NOTHING",
      "INSERT INTO patient (pat_id, pat_name, ward) VALUES (53, 'x', 'y') ON CONFLICT (pat_id) DO UPDATE SET ward = EXCLUDED.pat_name",
      "INSERT INTO patient (pat_id, pat_name, ward) VALUES (53, 'x', 'y'), (54, 'x', 'y') ON CONFLICT (pat_id) DO NOTHING",
      "INSERT INTO patient (pat_id, pat_name, ward) VALUES (53, 'x', 'y') ON CONFLICT (pat_id) DO UPDATE SET ward = 'z' WHERE p.age > 1"]) {
      expect(await code(doc.query(sql)), sql).toBe('0A000');
    }
    expect(await rowsOn('cloud-c', 'SELECT pat_id FROM patient WHERE pat_id >= 53')).toEqual([]);
  });

  it('INSERT … SELECT from the split table itself and from an unsplit table, as the oracle', async () => {
    for (const c of [doc, oracle]) {
      await c.query('CREATE TABLE note (id int PRIMARY KEY, txt text)');
      await c.query("INSERT INTO note VALUES (60, 'Note Canary'), (61, 'Note2 Canary')");
    }
    await same("INSERT INTO patient (pat_id, pat_name, diagnosis, ward, age) SELECT pat_id + 100, upper(pat_name), diagnosis, ward, age FROM patient WHERE diagnosis = 'flu-canary'");
    await same("INSERT INTO patient (pat_id, pat_name, ward) SELECT id, txt, 'ward-n' FROM note WHERE id > $1 RETURNING pat_id, pat_name", [0]);
    await same("INSERT INTO patient (pat_id, pat_name, ward) SELECT id, txt, 'w' FROM note ON CONFLICT (pat_id) DO NOTHING");
    await sameTable();
    expect(await rowsOn('cloud-c', 'SELECT pat_id, ward FROM patient WHERE pat_id >= 100 ORDER BY 1')).toEqual([{ pat_id: 101, ward: 'ward-7' }, { pat_id: 103, ward: 'ward-9' }]);
    expect(await rowsOn('cloud-a', 'SELECT gid FROM pg_prepared_xacts')).toEqual([]);
  });

  it('WITH queries in a statement that reads the split table (other values under the same names, aggregates, recursive, in INSERT … SELECT) as the oracle', async () => {
    await same("WITH x AS (SELECT pat_id, upper(ward) AS ward FROM patient) SELECT pat_id FROM x WHERE ward = 'WARD-7' ORDER BY 1");
    await same('WITH w AS (SELECT ward, count(*) AS n FROM patient GROUP BY ward) SELECT p.pat_name, w.n FROM patient p JOIN w USING (ward) WHERE w.n > 1 ORDER BY p.pat_id');
    await same('WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT r.n, p.pat_name FROM r JOIN patient p ON p.pat_id = r.n ORDER BY 1');
    await same("INSERT INTO patient (pat_id, pat_name, ward) WITH s AS (SELECT pat_id FROM patient WHERE pat_id < 3) SELECT pat_id + 200, 'With Canary', 'ward-w' FROM s");
    await sameTable();
    expect(await code(doc.query('WITH d AS (DELETE FROM note RETURNING id) SELECT * FROM patient, d'))).toBe('0A000');
    expect(await code(doc.query('WITH patient AS (SELECT 1 AS pat_id) SELECT * FROM patient'))).toBe('0A000');
  });

  it('a subquery in FROM renames or swaps the split table\'s columns: the outer names are its outputs, never pushed to a fragment, as the oracle', async () => {
    // The outer WHERE's pat_name is the subquery's ward: a planner that took it for the table's
    // pat_name pushed it to the home fragment and lost every row; the outer list's x was looked
    // up as a column of the table (42703) and SELECT * gave the table's columns.
    await same("SELECT * FROM (SELECT pat_id, ward AS pat_name, pat_name AS ward FROM patient) s WHERE pat_name = 'ward-7' ORDER BY pat_id");
    expect((await doc.query("SELECT * FROM (SELECT pat_id, ward AS pat_name FROM patient) s WHERE pat_name = 'ward-7'")).rowCount).toBeGreaterThan(0);
    await same("SELECT * FROM (SELECT pat_id, ward AS pat_name FROM patient) patient WHERE patient.pat_name = 'ward-7' ORDER BY pat_id");
    await same('SELECT x FROM (SELECT pat_ssn AS x FROM patient) s ORDER BY 1');
    await same('SELECT * FROM (SELECT diagnosis AS x, pat_id FROM patient) s ORDER BY pat_id');
    await same("SELECT p.pat_id, g FROM patient p, LATERAL (SELECT p.age + 1 AS g) l WHERE g > 30 AND p.ward = 'ward-7' ORDER BY 1");
  });

  it('TRUNCATE empties every fragment in one transaction', async () => {
    await doc.query('BEGIN');
    await doc.query('TRUNCATE patient');
    expect((await doc.query('SELECT count(*)::int AS n FROM patient')).rows).toEqual([{ n: 0 }]);
    await doc.query('ROLLBACK');
    expect((await rowsOn('cloud-c', 'SELECT count(*)::int AS n FROM patient'))[0]?.n).toBeGreaterThan(0);
    await same('TRUNCATE patient');
    for (const b of ['cloud-a', 'cloud-b', 'cloud-c'] as const) expect(await rowsOn(b, 'SELECT count(*)::int AS n FROM patient'), b).toEqual([{ n: 0 }]);
    expect(await code(doc.query('TRUNCATE patient, note'))).toBe('0A000');
    await sameTable();
  });
});

describe('split table: cancel', () => {
  it('a client\'s CancelRequest cancels the statement running on a fragment connection: 57014, nothing written, no lock left', async () => {
    await doc.query("INSERT INTO patient (pat_id, pat_name, ward) VALUES (70, 'Cancel Canary', 'ward-before')");
    const locker = env.backend('cloud-c');
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE patient IN ACCESS EXCLUSIVE MODE');
    const sql = postgres(env.url(USERS.doctor), { max: 1, onnotice: () => undefined });
    try {
      const q = sql`UPDATE patient SET ward = ${'ward-after'} WHERE pat_id = ${70}`;
      const result = q.then(() => 'ok', (e: { code?: string }) => e.code);
      await new Promise((r) => setTimeout(r, 700));
      // The fragment statement waits on the lock: only a cancel sent to that connection ends it.
      expect((await locker.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE%'")).rows).toEqual([{ n: 1 }]);
      q.cancel();
      expect(await result).toBe('57014');
      await locker.query('ROLLBACK');
      expect(await rowsOn('cloud-c', 'SELECT ward FROM patient WHERE pat_id = 70')).toEqual([{ ward: 'ward-before' }]);
      expect((await locker.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'")).rows).toEqual([{ n: 0 }]);
      expect(await rowsOn('cloud-a', 'SELECT gid FROM pg_prepared_xacts')).toEqual([]);
      expect((await sql`SELECT ward FROM patient WHERE pat_id = ${70}`).map((r) => ({ ...r }))).toEqual([{ ward: 'ward-before' }]);
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
      await sql.end();
    }
  });
});

describe('split table: statement_timeout', () => {
  it('the client\'s statement_timeout ends a fragment statement that runs too long (57014, nothing written); RESET lifts it', async () => {
    const c = await env.client();
    const locker = env.backend('cloud-c');
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE patient IN ACCESS EXCLUSIVE MODE');
    try {
      await c.query("SET statement_timeout = '600ms'");
      const r = await c.query("UPDATE patient SET ward = 'ward-timeout' WHERE pat_id = 70").then(() => 'ok', (e: { code?: string }) => e.code);
      expect(r).toBe('57014');
      await c.query('RESET statement_timeout');
      const later = c.query("UPDATE patient SET ward = 'ward-later' WHERE pat_id = 70");
      await new Promise((res) => setTimeout(res, 1000));
      await locker.query('ROLLBACK');
      expect((await later).rowCount).toBe(1);
      expect(await rowsOn('cloud-c', 'SELECT ward FROM patient WHERE pat_id = 70')).toEqual([{ ward: 'ward-later' }]);
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
    }
  });
});

describe('split table: what each backend learns', () => {
  it('no backend stores or logs plaintext of an encrypted column', async () => {
    const secret = ['Ann Canary', 'Cy Canary', 'Tab', 'Block, Canary', 'Cur Canary', '111-22-3333', '222-33-4444', '400-00-0000', 'flu-canary', 'block-canary', 'cur-canary', 'in-block', 'Half Canary', 'Up Canary', 'up-canary'];
    for (const b of ['cloud-a', 'cloud-b', 'cloud-c'] as const) {
      expect(await canariesInDump(env.clusters.get(b) as PgCluster, secret), `${b} pg_dump`).toEqual([]);
      const log = env.serverLog(b);
      for (const s of secret) expect(log.includes(s), `${b} log holds ${s}`).toBe(false);
      expect(JSON.stringify(await rowsOn(b, 'SELECT * FROM patient')).includes('Canary'), `${b} table`).toBe(false);
      expect(env.serverLog(b).includes('CANARY'), `${b} log holds an upper-cased name`).toBe(false);
    }
    // The ward is split in clear: only its backend ever sees it.
    for (const b of ['cloud-a', 'cloud-b'] as const) expect(env.serverLog(b).includes('ward-7'), b).toBe(false);
    expect(env.serverLog('cloud-c').includes('ward-7')).toBe(true);
  });
});
