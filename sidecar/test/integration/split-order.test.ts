// Split tables keep the column order of the client's CREATE TABLE (issue 12, column-order.ts), on
// three and on two real backends against an unsplit PostgreSQL oracle made with the same DDL:
// SELECT *, TABLE, t.*, a whole-row reference, a cursor and COPY TO show the columns in that order
// (the home fragment holds pat_id, pat_name, age: its own order differs); INSERT and COPY FROM
// without a column list store each value in its column's fragment; ADD / DROP COLUMN (a column
// dropped and re-added, a name that needs quoting), DDL through another proxy replica and DDL
// rolled back keep the recorded order right; a recorded order the fragments disagree with fails
// closed (55000); a table without one keeps the home-first order and refuses INSERT / COPY FROM
// without a column list (0A000). No encrypted value reaches a backend's dump or log in clear.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canariesInDump, USERS } from '../corpus/setup.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { startProxyInProcess } from '@clarus/testing/proxy.ts';
import type { RunningProxy } from '@clarus/testing/proxy.ts';
import { protectionPipeline } from '../../src/access/setup.ts';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { copyIn, copyOut, CREATE_SPLIT_PATIENT, SPLIT2_POLICY, startSplit } from './split-env.ts';
import type { BackendName, SplitEnv } from './split-env.ts';

/** Encrypted on every backend: never in clear in a dump or a log. */
const SECRETS = ['Ann Canary', '111-22-3333', 'flu-canary', 'Copy Canary', '444-55-6666', 'copy-flu'];
const ORDER = ['pat_id', 'pat_name', 'pat_ssn', 'diagnosis', 'ward', 'age'];
const HOME_FIRST = ['pat_id', 'pat_name', 'age', 'pat_ssn', 'diagnosis', 'ward'];

const codeOf = (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (e: { code?: string }) => e.code ?? String(e));

for (const n of [3, 2] as const) {
  describe(`split table on ${n} backends: the column order of CREATE TABLE`, () => {
    let env: SplitEnv;
    let doc: pg.Client;
    let oracle: pg.Client;
    let oracleCluster: PgCluster;
    let replica: RunningProxy | undefined;

    /** The same statement through the proxy and on the oracle: field names and rows. */
    const both = async (sql: string, values?: unknown[]) => {
      const run = async (c: pg.Client) => { const r = await c.query({ text: sql, ...(values ? { values } : {}), rowMode: 'array' }); return { fields: r.fields.map((f) => f.name), rows: r.rows }; };
      return { got: await run(doc), want: await run(oracle) };
    };
    const same = async (sql: string, values?: unknown[]) => {
      const { got, want } = await both(sql, values);
      expect(got, sql).toEqual(want);
      return got;
    };
    const recorded = async (): Promise<string[] | null> => {
      const r = await env.backend('cloud-a').query("SELECT columns FROM clarus_split.columns WHERE schema_name = 'public' AND table_name = 'patient'");
      return (r.rows[0]?.columns as string[] | undefined) ?? null;
    };
    const onBoth = async (sql: string) => { await doc.query(sql); await oracle.query(sql); };

    beforeAll(async () => {
      env = await startSplit({ backends: n, readOnlyRole: true });
      doc = await env.client();
      oracleCluster = await startPostgres();
      oracle = new pg.Client({ connectionString: oracleCluster.url(), ssl: { ca: oracleCluster.caPem } });
      await oracle.connect();
      await onBoth(CREATE_SPLIT_PATIENT);
      await onBoth("INSERT INTO patient (pat_id, pat_name, pat_ssn, diagnosis, ward, age) VALUES (1, 'Ann Canary', '111-22-3333', 'flu-canary', 'ward-7', 41), (2, 'Bob', NULL, 'cold', 'ward-9', NULL)");
    }, 180_000);
    afterAll(async () => {
      await replica?.close().catch(() => undefined);
      await oracle?.end().catch(() => undefined);
      await env?.close();
      await oracleCluster?.destroy();
    });

    it('CREATE TABLE through the proxy records its order on the home backend (the home fragment has another)', async () => {
      expect(await recorded()).toEqual(ORDER);
      const home = await env.backend('cloud-a').query("SELECT attname FROM pg_attribute WHERE attrelid = 'public.patient'::regclass AND attnum > 0 ORDER BY attnum");
      expect(home.rows.map((r) => r.attname)).toEqual(['pat_id', 'pat_name', 'age']);
    });

    it('SELECT *, TABLE, t.*, a whole-row reference, a cursor and COPY TO show the CREATE TABLE order, as the oracle', async () => {
      const got = await same('SELECT * FROM patient ORDER BY pat_id');
      expect(got.fields).toEqual(ORDER);
      for (const sql of ['TABLE patient', 'SELECT * FROM patient WHERE pat_id = 1', 'SELECT p.* FROM patient p ORDER BY age DESC NULLS LAST',
        'SELECT row_to_json(p) AS j FROM patient p ORDER BY pat_id', 'SELECT p FROM patient p ORDER BY pat_id', 'SELECT pat_id, * FROM patient WHERE diagnosis = \'cold\'',
        "SELECT * FROM patient WHERE ward = 'ward-7'"]) await same(sql);
      // Extended protocol (Describe of the portal, then its rows).
      await same('SELECT * FROM patient WHERE pat_id = $1', [2]);
      await onBoth('BEGIN');
      await onBoth('DECLARE c CURSOR FOR SELECT * FROM patient ORDER BY pat_id');
      await same('FETCH 1 FROM c');
      await onBoth('COMMIT');
      expect(await copyOut(doc, 'COPY patient TO STDOUT (FORMAT csv, HEADER)')).toBe(await copyOut(oracle, 'COPY patient TO STDOUT (FORMAT csv, HEADER)'));
    });

    it('a user with a read grant (the backends\' read-only role) sees the same order', async () => {
      const analyst = await env.client(USERS.analyst);
      const got = await analyst.query({ text: 'SELECT * FROM patient ORDER BY pat_id', rowMode: 'array' });
      expect(got.fields.map((f) => f.name)).toEqual(ORDER);
      const role = await env.backend('cloud-a').query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = 'clarus_split_ro'");
      expect(role.rows[0]?.n).toBeGreaterThan(0);
    });

    it('INSERT without a column list stores each value in its column, on its fragment (constants, parameters, several rows, fewer values)', async () => {
      await onBoth("INSERT INTO patient VALUES (10, 'Ann Canary', '111-22-3333', 'flu-canary', 'ward-7', 41), (11, 'Cy', NULL, 'asthma', 'ward-8', 7)");
      const ins = 'INSERT INTO patient VALUES ($1, $2, $3, $4) RETURNING pat_id, pat_name';
      await same(ins, [12, 'Dee', '999-88-7777', 'fracture']);
      await same('SELECT * FROM patient ORDER BY pat_id');
      // Each column on its fragment: age on the home one, ward where the policy puts it.
      const home = await env.backend('cloud-a').query('SELECT pat_id, age FROM patient WHERE pat_id >= 10 ORDER BY pat_id');
      expect(home.rows).toEqual([{ pat_id: 10, age: 41 }, { pat_id: 11, age: 7 }, { pat_id: 12, age: null }]);
      const wardOn: BackendName = n === 3 ? 'cloud-c' : 'cloud-b';
      const wards = await env.backend(wardOn).query('SELECT pat_id, ward FROM patient WHERE pat_id >= 10 ORDER BY pat_id');
      expect(wards.rows).toEqual([{ pat_id: 10, ward: 'ward-7' }, { pat_id: 11, ward: 'ward-8' }, { pat_id: 12, ward: null }]);
      // More values than columns: PostgreSQL's error.
      const sql = "INSERT INTO patient VALUES (13, 'x', NULL, NULL, NULL, 1, 'extra')";
      expect(await codeOf(doc.query(sql))).toBe(await codeOf(oracle.query(sql)));
    });

    it('COPY FROM without a column list (text, CSV) stores the rows as the oracle does; a short row stores nothing', async () => {
      const text = '20\tCopy Canary\t444-55-6666\tcopy-flu\tward-7\t33\n21\tEve\t\\N\tcold\t\\N\t\\N\n';
      expect(await copyIn(doc, 'COPY patient FROM STDIN', text)).toBe(2);
      await copyIn(oracle, 'COPY patient FROM STDIN', text);
      const csv = '22,"Fay, Jr",,flu,ward-9,5\n';
      await copyIn(doc, 'COPY patient FROM STDIN (FORMAT csv)', csv);
      await copyIn(oracle, 'COPY patient FROM STDIN (FORMAT csv)', csv);
      await same('SELECT * FROM patient ORDER BY pat_id');
      const bad = '23\tGus\t\\N\tflu\n';
      expect(await codeOf(copyIn(doc, 'COPY patient FROM STDIN', bad))).toBe(await codeOf(copyIn(oracle, 'COPY patient FROM STDIN', bad)));
      await same('SELECT count(*) FROM patient');
    });

    it('DDL through another proxy replica is seen at once; concurrent ADD COLUMNs through both are both recorded', async () => {
      replica = await startProxyInProcess(env.configDir, { pipeline: await protectionPipeline({ configDir: env.configDir, residual: {} }), watch: false });
      const other = new pg.Client({ connectionString: replica.url(USERS.doctor) });
      await other.connect();
      try {
        // The ward (on another fragment) moves last through the other replica: this one reads the new order at once.
        await other.query('ALTER TABLE patient DROP COLUMN ward, ADD COLUMN ward text');
        await oracle.query('ALTER TABLE patient DROP COLUMN ward, ADD COLUMN ward text');
        expect((await same('SELECT * FROM patient ORDER BY pat_id')).fields).toEqual(['pat_id', 'pat_name', 'pat_ssn', 'diagnosis', 'age', 'ward']);
        await onBoth("INSERT INTO patient VALUES (31, 'Ivy', NULL, 'cold', 2, 'ward-2')");
        await same('SELECT * FROM patient ORDER BY pat_id');
        await Promise.all([doc.query('ALTER TABLE patient ADD COLUMN c1 int'), other.query('ALTER TABLE patient ADD COLUMN c2 int')]);
        const order = await recorded() as string[];
        expect(order.slice(0, -2)).toEqual(['pat_id', 'pat_name', 'pat_ssn', 'diagnosis', 'age', 'ward']);
        expect([...order.slice(-2)].sort()).toEqual(['c1', 'c2']);
        await doc.query('ALTER TABLE patient DROP COLUMN c1, DROP COLUMN c2');
        await same('SELECT * FROM patient ORDER BY pat_id');
      } finally {
        await other.end();
      }
    });

    it('ADD COLUMN appends (a name that needs quoting too), DROP COLUMN removes, a dropped and re-added column comes last', async () => {
      await onBoth('ALTER TABLE patient ADD COLUMN "Odd, ""col"" {x}" text');
      await onBoth('ALTER TABLE patient DROP COLUMN ward');
      await onBoth('ALTER TABLE patient ADD COLUMN ward text');
      expect(await recorded()).toEqual(['pat_id', 'pat_name', 'pat_ssn', 'diagnosis', 'age', 'Odd, "col" {x}', 'ward']);
      await onBoth("INSERT INTO patient VALUES (30, 'Hal', NULL, 'flu', 50, 'odd value', 'ward-1')");
      const got = await same('SELECT * FROM patient ORDER BY pat_id');
      expect(got.fields).toEqual(['pat_id', 'pat_name', 'pat_ssn', 'diagnosis', 'age', 'Odd, "col" {x}', 'ward']);
    });

    it('DDL rolled back leaves the order it found: a block sees its own new order, a rolled-back CREATE TABLE leaves none', async () => {
      const before = await recorded();
      await doc.query('BEGIN');
      try {
        await doc.query('ALTER TABLE patient DROP COLUMN pat_ssn, ADD COLUMN pat_ssn text');
        await doc.query("INSERT INTO patient VALUES (50, 'Block', 'flu', 3, 'odd', 'ward-5', '555-66-7777')");
        const inBlock = await doc.query({ text: 'SELECT * FROM patient WHERE pat_id = 50', rowMode: 'array' });
        expect(inBlock.fields.map((f) => f.name)).toEqual(['pat_id', 'pat_name', 'diagnosis', 'age', 'Odd, "col" {x}', 'ward', 'pat_ssn']);
        expect(inBlock.rows).toEqual([[50, 'Block', 'flu', 3, 'odd', 'ward-5', '555-66-7777']]);
      } finally {
        await doc.query('ROLLBACK');
      }
      expect(await recorded()).toEqual(before);
      await same('SELECT * FROM patient ORDER BY pat_id');
      // Dropped for good, then created in a block that rolls back: no order left behind.
      await onBoth('DROP TABLE patient');
      expect(await recorded()).toBeNull();
      await doc.query('BEGIN');
      try {
        await doc.query(CREATE_SPLIT_PATIENT);
      } finally {
        await doc.query('ROLLBACK');
      }
      expect(await recorded()).toBeNull();
      await onBoth(CREATE_SPLIT_PATIENT);
      await onBoth("INSERT INTO patient VALUES (1, 'Ann Canary', '111-22-3333', 'flu-canary', 'ward-7', 41)");
      expect(await recorded()).toEqual(ORDER);
      await same('SELECT * FROM patient ORDER BY pat_id');
    });

    it('a recorded order the fragments disagree with fails closed (55000); without one the home-first order stays and INSERT / COPY without columns are refused (0A000)', async () => {
      const home = env.backend('cloud-a');
      await home.query("UPDATE clarus_split.columns SET columns = array_remove(columns, 'age') WHERE table_name = 'patient'");
      for (const sql of ['SELECT * FROM patient', "INSERT INTO patient VALUES (40, 'Jo', NULL, NULL, NULL)"]) {
        const e = await doc.query(sql).then(() => null, (x: { code?: string; message: string }) => x);
        expect(e?.code, sql).toBe('55000');
        expect(e?.message).toMatch(/recorded column order of split table public\.patient/);
      }
      expect(await codeOf(copyIn(doc, 'COPY patient FROM STDIN', '41\tKay\t\\N\t\\N\t\\N\n'))).toBe('55000');
      // Named columns do not rest on the order.
      expect((await doc.query('SELECT pat_id, age FROM patient WHERE pat_id = 1')).rows).toEqual([{ pat_id: 1, age: 41 }]);
      await home.query("DELETE FROM clarus_split.columns WHERE table_name = 'patient'");
      expect((await doc.query('SELECT * FROM patient')).fields.map((f) => f.name)).toEqual(HOME_FIRST);
      for (const p of [doc.query("INSERT INTO patient VALUES (40, 'Jo')"), copyIn(doc, 'COPY patient FROM STDIN', '41\tKay\t\\N\t\\N\t\\N\t\\N\n')]) {
        const e = await p.then(() => null, (x: { code?: string; message: string }) => x);
        expect(e?.code).toBe('0A000');
        expect(e?.message).toMatch(/column order was not recorded/);
      }
      expect((await home.query('SELECT count(*)::int AS n FROM patient WHERE pat_id >= 40')).rows[0]?.n).toBe(0);
      await home.query(`INSERT INTO clarus_split.columns VALUES ('public', 'patient', $1)`, [ORDER]);
    });

    it('no encrypted value reaches a backend in clear (dump, server log); the ward only its own backend', async () => {
      for (const b of env.names) {
        const c = env.clusters.get(b) as PgCluster;
        expect(await canariesInDump(c, SECRETS), `${b} dump`).toEqual([]);
        const log = env.serverLog(b);
        for (const s of SECRETS) expect(log.includes(s), `${b} log holds ${s}`).toBe(false);
      }
      if (n === 3) for (const b of ['cloud-a', 'cloud-b'] as const) expect(env.serverLog(b).includes('ward-7'), b).toBe(false);
    });
  });
}

describe('split tables of the same name in two schemas: each keeps its own order', () => {
  let env: SplitEnv;
  let doc: pg.Client;
  const policy: RuntimePolicy = {
    ...SPLIT2_POLICY,
    name: 'two-schemas',
    datasets: [
      { name: 'a', schema: 'public', table: 'patient', rowKey: 'pat_id', columns: [
        { name: 'pat_id', attributeType: 'technicalIdentifier', backend: 'cloud-a' },
        { name: 'ward', attributeType: 'confidential', backend: 'cloud-b' }] },
      { name: 'b', schema: 'other', table: 'patient', rowKey: 'pat_id', columns: [
        { name: 'pat_id', attributeType: 'technicalIdentifier', backend: 'cloud-a' },
        { name: 'diagnosis', attributeType: 'confidential', encrypt: { mode: 'deterministic', searchable: false, keyName: 'default' }, backend: 'cloud-b' }] },
    ],
  };
  beforeAll(async () => {
    env = await startSplit({ backends: 2, policy });
    for (const b of env.names) await env.backend(b).query('CREATE SCHEMA other');
    doc = await env.client();
  }, 120_000);
  afterAll(async () => { await env?.close(); });

  it('CREATE, INSERT without a column list, SELECT * and DROP TABLE of one leave the other as it was', async () => {
    await doc.query('CREATE TABLE public.patient (ward text, pat_id int PRIMARY KEY, age int)');
    await doc.query('CREATE TABLE other.patient (age int, diagnosis text, pat_id int PRIMARY KEY)');
    await doc.query("INSERT INTO public.patient VALUES ('ward-1', 1, 30)");
    await doc.query("INSERT INTO other.patient VALUES (40, 'flu-canary', 1)");
    const pub = await doc.query({ text: 'SELECT * FROM public.patient', rowMode: 'array' });
    expect([pub.fields.map((f) => f.name), pub.rows]).toEqual([['ward', 'pat_id', 'age'], [['ward-1', 1, 30]]]);
    const oth = await doc.query({ text: 'SELECT * FROM other.patient', rowMode: 'array' });
    expect([oth.fields.map((f) => f.name), oth.rows]).toEqual([['age', 'diagnosis', 'pat_id'], [[40, 'flu-canary', 1]]]);
    await doc.query('DROP TABLE other.patient');
    const left = await env.backend('cloud-a').query('SELECT schema_name, columns FROM clarus_split.columns ORDER BY 1');
    expect(left.rows).toEqual([{ schema_name: 'public', columns: ['ward', 'pat_id', 'age'] }]);
    expect((await doc.query('SELECT * FROM public.patient')).fields.map((f) => f.name)).toEqual(['ward', 'pat_id', 'age']);
  });
});
