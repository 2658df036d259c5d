// Views over protected tables (issue 10) against a real PostgreSQL 15: the proxy keeps the view's
// SELECT inside a stand-in view on the backend and expands it into every statement naming the view.
// Adversarial first: a view is not a grant bypass, canaries of the rows and of a refused definition
// never reach the backend (pg_dump, server log with log_statement = all), the stand-in returns no
// row to someone reading the backend directly, a view cannot shadow a protected table, and a view
// of the same name in another schema is not taken for the proxy's. Then what users expect: reads
// equal to the SELECT, computing over the view, views over views, \dv / pg_views /
// information_schema, DROP / RENAME, writes refused, and a second proxy process that sees the views.
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CREATE_PATIENT, CREATE_VISIT, USERS, canariesInDump, startProtected } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';
import { PG_BIN, startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { startProxyProcess } from '@clarus/testing/proxy.ts';
import type { ProxyProcess } from '@clarus/testing/proxy.ts';

const ROW_CANARIES = ['Quintanilla-vcanary', 'Brontë-vcanary', '987-65-'];
const DEF_CANARY = 'DEFvcanary';
const NAMES = ['Zoë Quintanilla-vcanary', 'Émile Brontë-vcanary', 'bob', 'ann lee'];
const DIAG = ['flu', 'asthma', 'flu', 'covid'];

let cluster: PgCluster;
let a: ProtectedEnv;
let b: ProxyProcess;
const clients: pg.Client[] = [];

async function client(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  clients.push(c);
  return c;
}
const doctorA = (): Promise<pg.Client> => client(a.url(USERS.doctor));
const rows = async (c: pg.Client, sql: string, params: unknown[] = []): Promise<unknown[]> => (await c.query(sql, params)).rows;
const serverLog = (): string => readFileSync(join(cluster.dir, 'server.log'), 'utf8');

beforeAll(async () => {
  cluster = await startPostgres();
  appendFileSync(join(cluster.dir, 'data', 'postgresql.conf'), "\nlog_statement = 'all'\nlog_min_error_statement = 'info'\nlog_parameter_max_length = -1\n");
  a = await startProtected(cluster, undefined, undefined, { residual: {} });
  await a.backend.query('SELECT pg_reload_conf()');
  const c = await doctorA();
  await c.query(CREATE_PATIENT);
  await c.query(CREATE_VISIT);
  for (let i = 0; i < 12; i++) {
    await c.query('INSERT INTO patient (pat_id, pat_name, pat_ssn, pat_zip, pat_birth, diagnosis) VALUES ($1, $2, $3, $4, $5, $6)',
      [i, `${NAMES[i % NAMES.length]} ${i}`, `987-65-${1000 + i}`, `0${8000 + i}`, `19${50 + i}-01-1${i % 9}`, DIAG[i % DIAG.length]]);
    await c.query('INSERT INTO visit (visit_id, pat_id, reason, notes) VALUES ($1, $2, $3, $4)', [i, i, ['check', 'fever'][i % 2], `note ${i}`]);
  }
  await c.query('CREATE VIEW pv AS SELECT pat_id, pat_name, pat_ssn, diagnosis FROM patient WHERE pat_id > 1');
  await c.query('CREATE VIEW pvisit AS SELECT p.pat_id, p.pat_name, v.reason FROM patient p JOIN visit v ON v.pat_id = p.pat_id');
}, 180_000);

afterAll(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
  await b?.close();
  await a?.close();
  await cluster?.destroy();
});

describe('adversarial: a view is no grant bypass and stores no plaintext', () => {
  it('a user without a grant is refused through the view exactly as through its SELECT', async () => {
    const nobody = await client(a.url(USERS.nobody));
    const direct = await nobody.query('SELECT pat_name FROM patient WHERE pat_id > 1').catch((e: { code: string }) => e.code);
    const through = await nobody.query('SELECT pat_name FROM pv').catch((e: { code: string }) => e.code);
    expect(direct).toBe('42501');
    expect(through).toBe(direct);
    // The auditor may read patients but not visits: a view joining both is refused like the join.
    const auditor = await client(a.url(USERS.auditor));
    const join = await auditor.query('SELECT p.pat_name, v.reason FROM patient p JOIN visit v ON v.pat_id = p.pat_id').catch((e: { code: string }) => e.code);
    expect(join).toBe('42501');
    expect(await auditor.query('SELECT pat_name, reason FROM pvisit').catch((e: { code: string }) => e.code)).toBe(join);
  });

  it('a masked or protected view of a column shows through the view exactly as through the SELECT', async () => {
    for (const user of [USERS.analyst, USERS.auditor]) {
      const c = await client(a.url(user));
      const direct = await rows(c, 'SELECT pat_id, pat_name, pat_ssn, diagnosis FROM patient WHERE pat_id > 1 ORDER BY pat_id');
      const through = await rows(c, 'SELECT * FROM pv ORDER BY pat_id');
      expect(through).toEqual(direct);
      expect(JSON.stringify(through)).not.toContain('Quintanilla-vcanary');
    }
  });

  it('refuses a definition holding a constant next to a protected column; the canary reaches neither the log nor the dump', async () => {
    const c = await doctorA();
    for (const sql of [
      `CREATE VIEW flu AS SELECT pat_id FROM patient WHERE diagnosis = '${DEF_CANARY}'`,
      `CREATE VIEW flu AS SELECT pat_id FROM patient WHERE pat_name LIKE '%${DEF_CANARY}%'`,
      `CREATE VIEW flu AS SELECT CASE WHEN pat_ssn = '${DEF_CANARY}' THEN 1 END AS x FROM patient`,
      `CREATE VIEW flu AS SELECT pat_name FROM pv WHERE pat_ssn IN ('${DEF_CANARY}')`,
    ]) await expect(c.query(sql)).rejects.toMatchObject({ code: '0A000', message: expect.stringContaining('may not hold a constant') });
    expect((await a.backend.query("SELECT count(*)::int AS n FROM pg_class WHERE relname = 'flu'")).rows[0].n).toBe(0);
  });

  it('the stand-in reads no stored value and returns no row to a reader of the backend', async () => {
    await expect(a.backend.query('SELECT * FROM pv')).rejects.toMatchObject({ code: '22P02', message: expect.stringContaining('clarus-stale-schema: view public.pv is kept by the Clarus proxy') });
    const def = (await a.backend.query("SELECT pg_get_viewdef('public.pv'::regclass) AS d")).rows[0].d as string;
    expect(def).toMatch(/NULL::text AS pat_name/);
    expect(def).not.toMatch(/__bidx/);
    // The stand-in depends on the table, as a view would: DROP TABLE without CASCADE is refused by the backend.
    await expect((await doctorA()).query('DROP TABLE visit')).rejects.toMatchObject({ code: '2BP01' });
  });

  it('a view cannot take or be renamed to the name of a protected table', async () => {
    const c = await doctorA();
    await c.query('CREATE SCHEMA IF NOT EXISTS other');
    await expect(c.query('CREATE VIEW other.patient AS SELECT pat_id FROM public.patient')).rejects.toMatchObject({ code: '0A000' });
    await expect(c.query('ALTER VIEW pv RENAME TO visit')).rejects.toMatchObject({ code: '0A000' });
  });

  it('a view made directly on the backend in another schema is not the proxy\'s view of that name', async () => {
    await a.backend.query('CREATE SCHEMA IF NOT EXISTS other; CREATE VIEW other.pv AS SELECT 42 AS pat_id');
    const c = await doctorA();
    expect(await rows(c, 'SELECT * FROM other.pv')).toEqual([{ pat_id: 42 }]);
    expect((await rows(c, 'SELECT pat_id FROM public.pv ORDER BY pat_id')).length).toBe(10);
    // A WITH query of that name is the WITH query.
    expect(await rows(c, 'WITH pv AS (SELECT 7 AS x) SELECT * FROM pv')).toEqual([{ x: 7 }]);
  });

  it('writing into the view is refused (0A000) and nothing reaches the backend', async () => {
    const c = await doctorA();
    for (const sql of [
      "INSERT INTO pv (pat_id, pat_name) VALUES (99, 'Quintanilla-vcanary write')",
      "UPDATE pv SET pat_name = 'Quintanilla-vcanary write' WHERE pat_id = 2",
      'DELETE FROM pv WHERE pat_id = 2',
    ]) await expect(c.query(sql)).rejects.toMatchObject({ code: '0A000', message: expect.stringContaining('view public.pv') });
    expect(serverLog()).not.toContain('vcanary write');
  });
});

describe('reading through the view', () => {
  it('gives the rows of its SELECT, with parameters pushed to the blind index', async () => {
    const c = await doctorA();
    expect(await rows(c, 'SELECT * FROM pv ORDER BY pat_id')).toEqual(await rows(c, 'SELECT pat_id, pat_name, pat_ssn, diagnosis FROM patient WHERE pat_id > 1 ORDER BY pat_id'));
    expect(await rows(c, 'SELECT pat_name FROM pv WHERE pat_ssn = $1', ['987-65-1005'])).toEqual([{ pat_name: 'Émile Brontë-vcanary 5' }]);
    expect(await rows(c, 'SELECT count(*)::int AS n FROM pv WHERE diagnosis = $1', ['flu'])).toEqual([{ n: 5 }]);
    const r = await c.query('SELECT * FROM pv LIMIT 1');
    expect(r.fields.map((f) => f.dataTypeID)).toEqual([23, 25, 1043, 25]);
  });

  it('computes over the view in the proxy (ORDER BY an encrypted column, functions)', async () => {
    const c = await doctorA();
    expect(await rows(c, 'SELECT upper(pat_name) AS u FROM pv ORDER BY pat_name LIMIT 3'))
      .toEqual(await rows(c, 'SELECT upper(pat_name) AS u FROM patient WHERE pat_id > 1 ORDER BY pat_name LIMIT 3'));
  });

  it('views over views, joins with tables and column aliases', async () => {
    const c = await doctorA();
    await c.query('CREATE VIEW pv2 (who, ill) AS SELECT pat_name, diagnosis FROM pv WHERE pat_id < 6');
    expect(await rows(c, 'SELECT who FROM pv2 WHERE ill = $1 ORDER BY who', ['flu'])).toEqual([{ who: 'Zoë Quintanilla-vcanary 4' }, { who: 'bob 2' }]);
    expect(await rows(c, 'SELECT x.n, v.reason FROM pv AS x(i, n) JOIN visit v ON v.pat_id = x.i WHERE x.i = 3')).toEqual([{ n: 'ann lee 3', reason: 'fever' }]);
    await expect(c.query('DROP VIEW pv')).rejects.toMatchObject({ code: '2BP01' });
  });

  it('psql \\dv, pg_views, information_schema.views and .columns show the view as declared', async () => {
    const c = await doctorA();
    const listed = await rows(c, "SELECT table_name, view_definition FROM information_schema.views WHERE table_schema = 'public' ORDER BY 1");
    expect(listed).toContainEqual({ table_name: 'pv', view_definition: 'SELECT pat_id, pat_name, pat_ssn, diagnosis FROM patient WHERE pat_id > 1' });
    expect(await rows(c, "SELECT definition FROM pg_views WHERE viewname = 'pv2'")).toEqual([{ definition: 'SELECT pat_name, diagnosis FROM pv WHERE pat_id < 6' }]);
    // psql \d+ pv reads pg_get_viewdef; a statement that names the view and a catalog relation still reads the view.
    expect(await rows(c, "SELECT pg_catalog.pg_get_viewdef('pv'::regclass, true) AS d")).toEqual([{ d: 'SELECT pat_id, pat_name, pat_ssn, diagnosis FROM patient WHERE pat_id > 1' }]);
    expect(await rows(c, "SELECT count(*)::int AS n FROM pv WHERE pat_id IN (SELECT 3 FROM pg_views WHERE viewname = 'pv')")).toEqual([{ n: 1 }]);
    expect(await rows(c, "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'pv' ORDER BY ordinal_position")).toEqual([
      { column_name: 'pat_id', data_type: 'integer' }, { column_name: 'pat_name', data_type: 'text' },
      { column_name: 'pat_ssn', data_type: 'character varying' }, { column_name: 'diagnosis', data_type: 'text' }]);
    // Asynchronously: the proxy runs in this process.
    const { stdout: out } = await promisify(execFile)(join(PG_BIN, 'psql'), [a.url(USERS.doctor), '-X', '-A', '-t', '-c', '\\dv'], { encoding: 'utf8', timeout: 60_000 });
    expect(out).toMatch(/public\|pv\|view\|/);
    expect(out).toMatch(/public\|pv2\|view\|/);
  });

  it('ALTER VIEW … RENAME is the backend\'s, and the proxy follows it', async () => {
    const c = await doctorA();
    await c.query('CREATE VIEW pv_tmp AS SELECT pat_id FROM patient WHERE pat_id < 3');
    await c.query('ALTER VIEW pv_tmp RENAME TO pv_renamed');
    expect(await rows(c, 'SELECT * FROM pv_renamed ORDER BY 1')).toEqual([{ pat_id: 0 }, { pat_id: 1 }, { pat_id: 2 }]);
    await c.query('DROP VIEW IF EXISTS pv_renamed CASCADE');
    await expect(c.query('SELECT * FROM pv_renamed')).rejects.toMatchObject({ code: '42P01' });
  });
});

describe('a second proxy process on the same backend', () => {
  it('sees the views the first made, and one made later once it has loaded it again', async () => {
    b = await startProxyProcess(a.configDir);
    const cb = await client(b.url(USERS.doctor));
    const ca = await doctorA();
    expect(await rows(cb, 'SELECT pat_id, pat_name FROM pv ORDER BY pat_id')).toEqual(await rows(ca, 'SELECT pat_id, pat_name FROM pv ORDER BY pat_id'));
    await ca.query('CREATE VIEW pv_late AS SELECT pat_id, diagnosis FROM patient WHERE pat_id < 2');
    // B does not know pv_late yet: the stand-in refuses to answer and B loads the views again.
    const first = await cb.query('SELECT * FROM pv_late ORDER BY pat_id').then((r) => r.rows, (e: { code: string; message: string }) => e);
    if (!Array.isArray(first)) expect(first).toMatchObject({ code: '22P02', message: expect.stringContaining('run the statement again') });
    expect(await rows(cb, 'SELECT * FROM pv_late ORDER BY pat_id')).toEqual([{ pat_id: 0, diagnosis: 'flu' }, { pat_id: 1, diagnosis: 'asthma' }]);
    // Dropped through A: B's expansion checks that the stand-in is still the one it loaded, fails once, loads again.
    await ca.query('DROP VIEW pv_late');
    await expect(cb.query('SELECT * FROM pv_late')).rejects.toMatchObject({ code: '22P02', message: expect.stringContaining('view public.pv_late changed on the backend') });
    await expect(cb.query('SELECT * FROM pv_late')).rejects.toMatchObject({ code: '42P01' });
    // Redefined through A (CREATE OR REPLACE) after B loaded the views (any statement after the 42P01 loads them):
    // B's expansion finds a stand-in that is not the one it loaded, fails once, then answers with the new definition.
    expect(await rows(cb, 'SELECT count(*)::int AS n FROM pv')).toEqual([{ n: 10 }]);
    await ca.query('CREATE OR REPLACE VIEW pv AS SELECT pat_id, pat_name, pat_ssn, diagnosis FROM patient WHERE pat_id > 2');
    await expect(cb.query('SELECT count(*)::int AS n FROM pv')).rejects.toMatchObject({ code: '22P02' });
    expect(await rows(cb, 'SELECT count(*)::int AS n FROM pv')).toEqual([{ n: 9 }]);
    expect(await rows(ca, 'SELECT count(*)::int AS n FROM pv')).toEqual([{ n: 9 }]);
  });
});

describe('the backend', () => {
  it('holds no canary of the rows or of a refused definition: pg_dump and the server log', async () => {
    const all = [...ROW_CANARIES, DEF_CANARY];
    expect(await canariesInDump(cluster, all)).toEqual([]);
    const log = serverLog();
    expect(all.filter((x) => log.includes(x))).toEqual([]);
    expect(log).toContain('clarus-view:');
  });
});
