// Splitting (issue 12): catalog introspection through the proxy shows the indexes and constraints
// of a split table's other fragment as the logical table's, on two real backends. An index and a
// UNIQUE / CHECK constraint made through the proxy (CREATE TABLE, CREATE INDEX) on a column stored on cloud-b go to cloud-b
// only; psql \d, pg_indexes, information_schema and ORM-style reads of pg_index / pg_constraint
// (SQLAlchemy's and Django's shapes) then show them with the logical column names and numbers,
// the row key's primary key once, as in an unsplit oracle (expression, partial, INCLUDE, hash and
// pattern-ops indexes too, in pg_class / pg_index with their access method, operator classes,
// collations and options); a read-only grant reads the same; no backend stores or logs a
// protected value in clear.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canariesInDump, USERS } from '../corpus/setup.ts';
import { PG_BIN, startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { startSplit } from './split-env.ts';
import type { SplitEnv } from './split-env.ts';

const run = promisify(execFile);
let env: SplitEnv;
let doc: pg.Client;
let oracle: pg.Client;
let oracleCluster: PgCluster;
const SECRETS = ['Ann Canary', '111-22-3333', 'flu-canary'];

async function psqlDescribe(url: string, table: string): Promise<string> {
  const { stdout } = await run(join(PG_BIN, 'psql'), [url, '-X', '-v', 'ON_ERROR_STOP=1', '-c', `\\d ${table}`], { env: { ...process.env, PGSSLMODE: 'disable', PGPASSWORD: '' } });
  return stdout;
}

/** SQLAlchemy's shape of reading a table's indexes (pg_index, pg_class, pg_am, pg_attribute). */
const IDX = `SELECT c.relname, i.indisunique, ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY k(n, o)
    JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o), pg_catalog.pg_get_indexdef(i.indexrelid), i.indoption::text
  FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid JOIN pg_catalog.pg_am am ON am.oid = c.relam
  WHERE i.indrelid = 'public.patient'::regclass AND NOT i.indisprimary AND am.amname = 'btree' ORDER BY 1`;
/** Django's shape of reading a table's constraints (pg_constraint, pg_class, pg_attribute). */
const CON = `SELECT c.conname, ARRAY(SELECT attname::text FROM unnest(c.conkey) WITH ORDINALITY cols(colid, arridx)
    JOIN pg_attribute AS ca ON cols.colid = ca.attnum WHERE ca.attrelid = c.conrelid ORDER BY cols.arridx), c.contype::text, pg_get_constraintdef(c.oid),
    c.conindid = 0 OR EXISTS (SELECT 1 FROM pg_class x WHERE x.oid = c.conindid)
  FROM pg_constraint AS c JOIN pg_class AS cl ON c.conrelid = cl.oid WHERE cl.relname = 'patient' AND pg_catalog.pg_table_is_visible(cl.oid) ORDER BY 1`;

/** Sequelize 6's showIndex (every attribute of the table aggregated; the index's own picked by indkey, as Sequelize does). */
const SHOW_INDEX = `SELECT i.relname AS name, ix.indisprimary AS primary, ix.indisunique AS unique, ix.indkey AS indkey, array_agg(a.attnum) as column_indexes,
  array_agg(a.attname) AS column_names, pg_get_indexdef(ix.indexrelid) AS definition FROM pg_class t, pg_class i, pg_index ix, pg_attribute a
  WHERE t.oid = ix.indrelid AND i.oid = ix.indexrelid AND a.attrelid = t.oid AND t.relkind = 'r' and t.relname = 'patient'
  GROUP BY i.relname, ix.indexrelid, ix.indisprimary, ix.indisunique, ix.indkey ORDER BY i.relname;`;

async function showIndex(c: pg.Client): Promise<unknown[]> {
  const got = (await c.query(SHOW_INDEX)).rows as Array<{ name: string; primary: boolean; unique: boolean; indkey: string; column_indexes: number[]; column_names: string; definition: string }>;
  return got.map((r) => {
    const keys = r.indkey.split(' ').map(Number);
    // name[] comes as its text form ({a,b}); these names need no quoting.
    const names = r.column_names.slice(1, -1).split(',');
    const fields = keys.map((k) => names[r.column_indexes.indexOf(k)]);
    return { name: r.name, primary: r.primary, unique: r.unique, fields, definition: r.definition };
  });
}

const rows = async (c: pg.Client, sql: string): Promise<unknown[][]> => (await c.query({ text: sql, rowMode: 'array' })).rows as unknown[][];

/** The DDL through the proxy, and into the unsplit oracle (its columns in the logical order: home, then cloud-b). */
const DDL = (cols: string) => [`CREATE TABLE patient (${cols}, CONSTRAINT patient_ward_key UNIQUE (ward), CONSTRAINT ward_len CHECK (length(ward) > 0))`,
  'CREATE INDEX patient_ward_idx ON patient (ward)', 'CREATE INDEX patient_age_idx ON patient (age)', 'CREATE INDEX patient_ssn_idx ON patient (pat_ssn)'];

beforeAll(async () => {
  env = await startSplit({ backends: 2 });
  doc = await env.client();
  // The oracle is a cluster of its own: the backends' logs and dumps must hold only what the proxy sent.
  oracleCluster = await startPostgres();
  oracle = new pg.Client({ connectionString: oracleCluster.url(), ssl: { ca: oracleCluster.caPem } });
  await oracle.connect();
  for (const sql of DDL('pat_id serial PRIMARY KEY, pat_name text NOT NULL, pat_ssn text, diagnosis text, ward varchar(20) NOT NULL, age int')) await doc.query(sql);
  for (const sql of DDL('pat_id serial PRIMARY KEY, pat_name text NOT NULL, age int, pat_ssn text, diagnosis text, ward varchar(20) NOT NULL')) await oracle.query(sql);
  await doc.query("INSERT INTO patient (pat_name, pat_ssn, diagnosis, ward, age) VALUES ('Ann Canary', '111-22-3333', 'flu-canary', 'W1', 30)");
}, 120_000);
afterAll(async () => {
  await oracle?.end().catch(() => undefined);
  await env?.close();
  await oracleCluster?.destroy();
});

describe('split table: the other fragment\'s indexes and constraints through the proxy', () => {
  it('the index and constraints went to cloud-b only (the premise)', async () => {
    const on = async (b: 'cloud-a' | 'cloud-b') => (await rows(env.backend(b), "SELECT indexname FROM pg_indexes WHERE tablename = 'patient' ORDER BY 1")).map((r) => r[0]);
    expect(await on('cloud-a')).toEqual(['patient_age_idx', 'patient_pkey']);
    expect(await on('cloud-b')).toEqual(['patient_pkey', 'patient_ssn_idx', 'patient_ward_idx', 'patient_ward_key']);
    // An encrypted column's index is on its blind index there.
    expect(await rows(env.backend('cloud-b'), "SELECT indexdef FROM pg_indexes WHERE indexname = 'patient_ssn_idx'")).toEqual([['CREATE INDEX patient_ssn_idx ON public.patient USING btree (pat_ssn__bidx)']]);
  });

  it('pg_indexes shows every index of the logical table, the primary key once', async () => {
    const got = await rows(doc, "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'patient' ORDER BY 1");
    expect(got).toEqual(await rows(oracle, "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'patient' ORDER BY 1"));
    expect(got).toEqual([
      ['patient_age_idx', 'CREATE INDEX patient_age_idx ON public.patient USING btree (age)'],
      ['patient_pkey', 'CREATE UNIQUE INDEX patient_pkey ON public.patient USING btree (pat_id)'],
      ['patient_ssn_idx', 'CREATE INDEX patient_ssn_idx ON public.patient USING btree (pat_ssn)'],
      ['patient_ward_idx', 'CREATE INDEX patient_ward_idx ON public.patient USING btree (ward)'],
      ['patient_ward_key', 'CREATE UNIQUE INDEX patient_ward_key ON public.patient USING btree (ward)'],
    ]);
  });

  it('psql \\d lists the indexes and the CHECK constraint of both fragments', async () => {
    const out = await psqlDescribe(env.proxy.url(USERS.doctor), 'patient');
    expect(out).toContain('"patient_pkey" PRIMARY KEY, btree (pat_id)');
    expect(out.split('patient_pkey').length).toBe(2);
    expect(out).toContain('"patient_age_idx" btree (age)');
    expect(out).toContain('"patient_ward_idx" btree (ward)');
    expect(out).toContain('"patient_ssn_idx" btree (pat_ssn)');
    expect(out).toContain('"patient_ward_key" UNIQUE CONSTRAINT, btree (ward)');
    expect(out).toMatch(/Check constraints:\n\s+"ward_len" CHECK \(length\(ward::text\) > 0\)/);
    expect(out).not.toMatch(/clarus:|__bidx/);
    expect(out).toBe(await psqlDescribe(oracleCluster.url(), 'patient'));
  });

  it('information_schema.table_constraints, key_column_usage and constraint_column_usage name the logical columns', async () => {
    const tc = await rows(doc, `SELECT constraint_name, constraint_type FROM information_schema.table_constraints
      WHERE table_schema = 'public' AND table_name = 'patient' AND constraint_name NOT LIKE '%_not_null' ORDER BY 1`);
    expect(tc).toEqual([['patient_pkey', 'PRIMARY KEY'], ['patient_ward_key', 'UNIQUE'], ['ward_len', 'CHECK']]);
    const same = async (sql: string) => expect(await rows(doc, sql)).toEqual(await rows(oracle, sql));
    await same(`SELECT constraint_name, constraint_type, is_deferrable, initially_deferred, enforced, nulls_distinct FROM information_schema.table_constraints
      WHERE table_schema = 'public' AND table_name = 'patient' AND constraint_name NOT LIKE '%_not_null' ORDER BY 1`);
    await same(`SELECT constraint_name, column_name, ordinal_position, position_in_unique_constraint FROM information_schema.key_column_usage
      WHERE table_schema = 'public' AND table_name = 'patient' ORDER BY 1, 3`);
    await same(`SELECT constraint_name, column_name FROM information_schema.constraint_column_usage WHERE table_schema = 'public' AND table_name = 'patient' ORDER BY 1, 2`);
    await same(`SELECT count(*), count(*) FILTER (WHERE constraint_type = 'CHECK') FROM information_schema.table_constraints WHERE table_name = 'patient'`);
    const kcu = await rows(doc, `SELECT constraint_name, column_name, ordinal_position FROM information_schema.key_column_usage
      WHERE table_schema = 'public' AND table_name = 'patient' ORDER BY 1, 3`);
    expect(kcu).toEqual([['patient_pkey', 'pat_id', 1], ['patient_ward_key', 'ward', 1]]);
    const ccu = await rows(doc, `SELECT constraint_name, column_name FROM information_schema.constraint_column_usage
      WHERE table_schema = 'public' AND table_name = 'patient' ORDER BY 1, 2`);
    expect(ccu).toEqual([['patient_pkey', 'pat_id'], ['patient_ward_key', 'ward'], ['ward_len', 'ward']]);
    const cc = await rows(doc, `SELECT x.constraint_name, x.check_clause FROM information_schema.check_constraints x
      JOIN information_schema.table_constraints t USING (constraint_schema, constraint_name) WHERE t.table_name = 'patient' ORDER BY 2`);
    const attnum = async (col: string) => (await rows(doc, `SELECT attnum FROM pg_attribute WHERE attrelid = 'public.patient'::regclass AND attname = '${col}'`))[0]?.[0];
    const oids = (await rows(doc, "SELECT relnamespace::int, oid::int FROM pg_class WHERE oid = 'public.patient'::regclass"))[0] as number[];
    const notNull = async (col: string) => `${oids[0]}_${oids[1]}_${String(await attnum(col))}_not_null`;
    expect(cc).toEqual([['ward_len', '((length((ward)::text) > 0))'], [await notNull('pat_id'), 'pat_id IS NOT NULL'],
      [await notNull('pat_name'), 'pat_name IS NOT NULL'], [await notNull('ward'), 'ward IS NOT NULL']]);
  });

  it('an ORM inspector reading pg_index / pg_constraint gets the logical attribute numbers (queries of SQLAlchemy, Django, Sequelize)', async () => {
    const idx = await rows(doc, IDX);
    expect(idx).toEqual(await rows(oracle, IDX));
    expect(idx).toEqual([
      ['patient_age_idx', false, ['age'], 'CREATE INDEX patient_age_idx ON public.patient USING btree (age)', '0'],
      ['patient_ssn_idx', false, ['pat_ssn'], 'CREATE INDEX patient_ssn_idx ON public.patient USING btree (pat_ssn)', '0'],
      ['patient_ward_idx', false, ['ward'], 'CREATE INDEX patient_ward_idx ON public.patient USING btree (ward)', '0'],
      ['patient_ward_key', true, ['ward'], 'CREATE UNIQUE INDEX patient_ward_key ON public.patient USING btree (ward)', '0'],
    ]);
    expect(await showIndex(doc)).toEqual(await showIndex(oracle));
    expect((await showIndex(doc)).length).toBe(5);
    const con = await rows(doc, CON);
    expect(con).toEqual(await rows(oracle, CON));
    expect(con).toEqual([
      ['patient_pkey', ['pat_id'], 'p', 'PRIMARY KEY (pat_id)', true],
      ['patient_ward_key', ['ward'], 'u', 'UNIQUE (ward)', true],
      ['ward_len', ['ward'], 'c', 'CHECK ((length((ward)::text) > 0))', true],
    ]);
  });

  it('a read-only grant reads the same catalog', async () => {
    const analyst = await env.client(USERS.analyst);
    const names = await rows(analyst, "SELECT indexname FROM pg_indexes WHERE tablename = 'patient' ORDER BY 1");
    expect(names.map((r) => r[0])).toEqual(['patient_age_idx', 'patient_pkey', 'patient_ssn_idx', 'patient_ward_idx', 'patient_ward_key']);
    const con = await rows(analyst, "SELECT conname, contype::text FROM pg_constraint WHERE conrelid = 'public.patient'::regclass AND conname NOT LIKE 'clarus:%' ORDER BY 1");
    expect(con).toEqual([['patient_pkey', 'p'], ['patient_ward_key', 'u'], ['ward_len', 'c']]);
    expect(await psqlDescribe(env.proxy.url(USERS.analyst), 'patient')).toContain('"patient_ward_idx" btree (ward)');
  });

  it('an expression, partial, INCLUDE, DESC, hash or pattern-ops index of the other fragment is in pg_class / pg_index and psql \\d as in the oracle', async () => {
    const more = ["CREATE INDEX patient_ward_lower ON patient (lower(ward)) WHERE ward <> ''", 'CREATE INDEX patient_ward_incl ON patient (ward DESC NULLS LAST) INCLUDE (diagnosis)',
      'CREATE INDEX patient_ward_hash ON patient USING hash (ward)', 'CREATE INDEX patient_ward_pat ON patient (ward COLLATE "C" varchar_pattern_ops, (upper(ward)))'];
    for (const sql of more) { await doc.query(sql); await oracle.query(sql); }
    const def = "CREATE INDEX patient_ward_lower ON public.patient USING btree (lower((ward)::text)) WHERE ((ward)::text <> ''::text)";
    expect(await rows(env.backend('cloud-b'), "SELECT indexdef FROM pg_indexes WHERE indexname = 'patient_ward_lower'")).toEqual([[def]]);
    expect(await rows(env.backend('cloud-a'), "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'patient_ward_%'")).toEqual([]);
    // Every field but the expression and predicate trees (indexprs, indpred: NULL through the proxy).
    const INDEX = `SELECT c.relname, am.amname, c.relnatts, i.indnatts, i.indnkeyatts, i.indkey::text, i.indclass::text, i.indcollation::text, i.indoption::text, i.indisunique,
        (i.indexprs IS NULL) AS no_exprs, pg_catalog.pg_get_indexdef(i.indexrelid), pg_catalog.pg_get_indexdef(i.indexrelid, 0, true)
      FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid JOIN pg_catalog.pg_am am ON am.oid = c.relam
      WHERE i.indrelid = 'public.patient'::regclass AND c.relname LIKE 'patient_ward_%' ORDER BY 1`;
    const got = await rows(doc, INDEX);
    expect(got.map((r) => r[0])).toEqual(['patient_ward_hash', 'patient_ward_idx', 'patient_ward_incl', 'patient_ward_key', 'patient_ward_lower', 'patient_ward_pat']);
    expect(got.map((r) => r.filter((_, k) => k !== 10))).toEqual((await rows(oracle, INDEX)).map((r) => r.filter((_, k) => k !== 10)));
    expect(await psqlDescribe(env.proxy.url(USERS.doctor), 'patient')).toBe(await psqlDescribe(oracleCluster.url(), 'patient'));
  });

  it('psql \\di and information_schema.table_constraints list the logical table\'s indexes and constraints as the oracle does', async () => {
    const psql = async (url: string, cmd: string) => (await run(join(PG_BIN, 'psql'), [url, '-X', '-v', 'ON_ERROR_STOP=1', '-c', cmd], { env: { ...process.env, PGSSLMODE: 'disable', PGPASSWORD: '' } })).stdout;
    const di = await psql(env.proxy.url(USERS.doctor), '\\di');
    expect(di).toContain('patient_ward_lower');
    expect(di).toBe(await psql(oracleCluster.url(), '\\di'));
    const tc = "SELECT constraint_name, constraint_type, is_deferrable, initially_deferred FROM information_schema.table_constraints WHERE table_name = 'patient' AND constraint_name NOT LIKE '%not_null' ORDER BY 1";
    expect(await rows(doc, tc)).toEqual(await rows(oracle, tc));
  });

  it('no backend stores or logs a protected value in clear', async () => {
    expect((await doc.query('SELECT pat_name, pat_ssn, diagnosis FROM patient')).rows).toEqual([{ pat_name: 'Ann Canary', pat_ssn: '111-22-3333', diagnosis: 'flu-canary' }]);
    for (const b of ['cloud-a', 'cloud-b'] as const) {
      expect(await canariesInDump(env.clusters.get(b) as PgCluster, SECRETS), `${b} pg_dump`).toEqual([]);
      const log = env.serverLog(b);
      for (const s of SECRETS) expect(log.includes(s), `${b} log holds ${s}`).toBe(false);
    }
  });
});
