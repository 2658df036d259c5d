// Splitting (issue 12): DDL of the indexes of a split table's other fragment through the proxy, on
// two real backends. DROP INDEX of an index cloud-b holds goes to cloud-b (several names over both
// backends in one write, all or nothing; IF EXISTS as PostgreSQL); ALTER INDEX … RENAME of it goes
// there too; other ALTER INDEX forms and DROP INDEX CONCURRENTLY of it are refused (0A000). An index
// or named UNIQUE constraint whose name another fragment's relation has fails with 42P07 and
// stores nothing; a read-only grant cannot drop an index. REINDEX INDEX and COMMENT ON INDEX of it
// go to cloud-b. Unnamed indexes get the names an unsplit PostgreSQL (an oracle database) gives
// them, unique over both backends, and CREATE INDEX IF NOT EXISTS skips with its notice as the oracle does.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USERS } from '../corpus/setup.ts';
import { startSplit } from './split-env.ts';
import type { SplitEnv } from './split-env.ts';

let env: SplitEnv;
let doc: pg.Client;

const CREATE = 'CREATE TABLE patient (pat_id serial PRIMARY KEY, pat_name text NOT NULL, pat_ssn text, diagnosis text, ward varchar(20) NOT NULL, age int';

/** The index names of table patient on a backend. */
async function on(b: 'cloud-a' | 'cloud-b'): Promise<string[]> {
  return (await env.backend(b).query("SELECT indexname FROM pg_indexes WHERE tablename = 'patient' ORDER BY 1")).rows.map((r: { indexname: string }) => r.indexname);
}

async function shown(): Promise<string[]> {
  return (await doc.query("SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'patient' ORDER BY 1")).rows.map((r: { indexname: string }) => r.indexname);
}

async function codeOf(c: pg.Client, sql: string): Promise<string | undefined> {
  try {
    await c.query(sql);
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code;
  }
}

beforeAll(async () => {
  env = await startSplit({ backends: 2 });
  doc = await env.client();
  await doc.query(`${CREATE}, CONSTRAINT patient_ward_key UNIQUE (ward))`);
  await doc.query('CREATE INDEX patient_ward_idx ON patient (ward)');
  await doc.query('CREATE INDEX patient_age_idx ON patient (age)');
  await doc.query('CREATE INDEX patient_ssn_idx ON patient (pat_ssn)');
  await doc.query("INSERT INTO patient (pat_name, pat_ssn, diagnosis, ward, age) VALUES ('Ann Canary', '111-22-3333', 'flu-canary', 'W1', 30)");
}, 120_000);
afterAll(async () => {
  await env?.close();
});

describe('split table: DDL of the other fragment\'s indexes through the proxy', () => {
  it('the indexes are where their columns are (the premise)', async () => {
    expect(await on('cloud-a')).toEqual(['patient_age_idx', 'patient_pkey']);
    expect(await on('cloud-b')).toEqual(['patient_pkey', 'patient_ssn_idx', 'patient_ward_idx', 'patient_ward_key']);
    expect(await shown()).toEqual(['patient_age_idx', 'patient_pkey', 'patient_ssn_idx', 'patient_ward_idx', 'patient_ward_key']);
  });

  it('CREATE INDEX with a name another fragment\'s relation has fails with 42P07 and stores nothing', async () => {
    expect(await codeOf(doc, 'CREATE INDEX patient_age_idx ON patient (ward)')).toBe('42P07');
    expect(await codeOf(doc, 'CREATE INDEX patient_ward_idx ON patient (age)')).toBe('42P07');
    expect(await codeOf(doc, 'CREATE UNIQUE INDEX patient_ward_key ON patient (pat_name)')).toBe('42P07');
    // The name of a table (the home fragment's relation) too.
    expect(await codeOf(doc, 'CREATE INDEX patient ON patient (ward)')).toBe('42P07');
    expect(await on('cloud-a')).toEqual(['patient_age_idx', 'patient_pkey']);
    expect(await on('cloud-b')).toEqual(['patient_pkey', 'patient_ssn_idx', 'patient_ward_idx', 'patient_ward_key']);
    expect(await shown()).toEqual(['patient_age_idx', 'patient_pkey', 'patient_ssn_idx', 'patient_ward_idx', 'patient_ward_key']);
  });

  it('a read-only grant cannot DROP INDEX: refused, nothing changed', async () => {
    const analyst = await env.client(USERS.analyst);
    try {
      const code = await codeOf(analyst, 'DROP INDEX patient_ward_idx');
      expect(code).toBe('42501');
    } finally {
      await analyst.end();
    }
    expect(await on('cloud-b')).toContain('patient_ward_idx');
  });

  it('REINDEX INDEX and COMMENT ON INDEX of an index cloud-b holds go to cloud-b; REINDEX CONCURRENTLY of it is refused', async () => {
    const there = async (name: string) => (await env.backend('cloud-b').query("SELECT relfilenode::text AS f, obj_description(oid, 'pg_class') AS d FROM pg_class WHERE relname = $1", [name])).rows[0] as { f: string; d: string | null };
    const before = await there('patient_ward_idx');
    expect((await doc.query('REINDEX INDEX patient_ward_idx')).command).toBe('REINDEX');
    expect((await there('patient_ward_idx')).f).not.toBe(before.f);
    expect((await doc.query("COMMENT ON INDEX public.patient_ward_idx IS 'by ward'")).command).toBe('COMMENT');
    expect((await there('patient_ward_idx')).d).toBe('by ward');
    await doc.query('COMMENT ON INDEX patient_ward_idx IS NULL');
    expect((await there('patient_ward_idx')).d).toBeNull();
    expect(await codeOf(doc, 'REINDEX INDEX CONCURRENTLY patient_ward_idx')).toBe('0A000');
    // The home fragment's index stays the home backend's.
    await doc.query("COMMENT ON INDEX patient_age_idx IS 'by age'");
    expect((await env.backend('cloud-a').query("SELECT obj_description('patient_age_idx'::regclass, 'pg_class') AS d")).rows).toEqual([{ d: 'by age' }]);
    expect(await codeOf(doc, 'REINDEX INDEX no_such_idx')).toBe('42P01');
  });

  it('DROP INDEX of an index cloud-b holds drops it there; pg_indexes through the proxy no longer shows it', async () => {
    const r = await doc.query('DROP INDEX patient_ward_idx');
    expect(r.command).toBe('DROP');
    expect(await on('cloud-b')).toEqual(['patient_pkey', 'patient_ssn_idx', 'patient_ward_key']);
    expect(await on('cloud-a')).toEqual(['patient_age_idx', 'patient_pkey']);
    expect(await shown()).toEqual(['patient_age_idx', 'patient_pkey', 'patient_ssn_idx', 'patient_ward_key']);
  });

  it('DROP INDEX IF EXISTS of a missing name succeeds; without IF EXISTS it fails with 42704', async () => {
    await doc.query('DROP INDEX IF EXISTS patient_ward_idx');
    await doc.query('DROP INDEX IF EXISTS no_such_idx');
    expect(await codeOf(doc, 'DROP INDEX patient_ward_idx')).toBe('42704');
    expect(await codeOf(doc, 'DROP INDEX patient_ssn_idx, no_such_idx')).toBe('42704');
    expect(await on('cloud-b')).toContain('patient_ssn_idx');
  });

  it('ALTER INDEX … RENAME of an index cloud-b holds renames it there; to a name taken on cloud-a fails with 42P07', async () => {
    await doc.query('ALTER INDEX patient_ssn_idx RENAME TO patient_ssn_i2');
    expect(await on('cloud-b')).toEqual(['patient_pkey', 'patient_ssn_i2', 'patient_ward_key']);
    expect(await shown()).toContain('patient_ssn_i2');
    expect(await codeOf(doc, 'ALTER INDEX patient_ssn_i2 RENAME TO patient_age_idx')).toBe('42P07');
    expect(await on('cloud-b')).toEqual(['patient_pkey', 'patient_ssn_i2', 'patient_ward_key']);
    expect(await codeOf(doc, 'ALTER INDEX patient_ssn_i2 SET (fillfactor = 50)')).toBe('0A000');
    expect(await codeOf(doc, 'DROP INDEX CONCURRENTLY patient_ssn_i2')).toBe('0A000');
  });

  it('DROP INDEX in the client\'s block is undone by its ROLLBACK; a prepared DROP INDEX (extended protocol) is routed too', async () => {
    await doc.query('CREATE INDEX patient_w3 ON patient (ward)');
    expect(await on('cloud-b')).toContain('patient_w3');
    await doc.query('BEGIN');
    await doc.query('DROP INDEX patient_w3');
    await doc.query('ROLLBACK');
    expect(await on('cloud-b')).toContain('patient_w3');
    await doc.query({ name: 'drop_w3', text: 'DROP INDEX patient_w3' });
    expect(await on('cloud-b')).not.toContain('patient_w3');
    expect(await shown()).not.toContain('patient_w3');
  });

  it('DROP INDEX of names on both backends drops them together, or neither', async () => {
    // patient_ward_key backs a constraint: cloud-b refuses to drop it (2BP01), cloud-a's drop is undone.
    expect(await codeOf(doc, 'DROP INDEX patient_age_idx, patient_ward_key')).toBe('2BP01');
    expect(await on('cloud-a')).toEqual(['patient_age_idx', 'patient_pkey']);
    await doc.query('DROP INDEX IF EXISTS patient_age_idx, public.patient_ssn_i2, no_such_idx');
    expect(await on('cloud-a')).toEqual(['patient_pkey']);
    expect(await on('cloud-b')).toEqual(['patient_pkey', 'patient_ward_key']);
    expect(await shown()).toEqual(['patient_pkey', 'patient_ward_key']);
  });

  it('a named UNIQUE constraint of CREATE TABLE whose name a relation on another backend has fails with 42P07 and stores nothing', async () => {
    await doc.query('CREATE TABLE taken_name (x int)');
    await doc.query('DROP TABLE patient');
    expect(await codeOf(doc, `${CREATE}, CONSTRAINT taken_name UNIQUE (ward))`)).toBe('42P07');
    for (const b of ['cloud-a', 'cloud-b'] as const) expect((await env.backend(b).query("SELECT to_regclass('public.patient') AS r")).rows).toEqual([{ r: null }]);
    await doc.query(`${CREATE}, CONSTRAINT patient_ward_key UNIQUE (ward))`);
    expect(await on('cloud-b')).toEqual(['patient_pkey', 'patient_ward_key']);
  });
});

describe('split table: index names as an unsplit PostgreSQL gives them (an oracle database)', () => {
  let oracle: pg.Client;
  const notices = new Map<pg.Client, string[]>();

  /** Code (or 'ok') and notices of `sql` on `c`. */
  async function outcome(c: pg.Client, sql: string): Promise<{ code: string; notices: string[] }> {
    notices.set(c, []);
    const code = (await codeOf(c, sql)) ?? 'ok';
    return { code, notices: notices.get(c) ?? [] };
  }

  beforeAll(async () => {
    await env.backend('cloud-a').query('CREATE DATABASE clarus_oracle');
    const a = env.clusters.get('cloud-a');
    oracle = new pg.Client({ connectionString: a?.url({ database: 'clarus_oracle' }), ssl: { ca: a?.caPem } });
    await oracle.connect();
    await oracle.query(`${CREATE}, CONSTRAINT patient_ward_key UNIQUE (ward))`);
    for (const c of [doc, oracle]) c.on('notice', (n) => notices.get(c)?.push(`${n.code}: ${n.message}`));
  });
  afterAll(async () => {
    await oracle?.end().catch(() => undefined);
  });

  it('unnamed CREATE INDEX, and CREATE INDEX IF NOT EXISTS, name and skip as the oracle does', async () => {
    const unnamed = [
      'CREATE INDEX ON patient (ward)',
      'CREATE INDEX ON patient (lower(age::text))',
      // cloud-b would name it patient_lower_idx too: the home fragment's index has that name.
      'CREATE INDEX ON patient (lower(ward))',
      'CREATE INDEX ON patient (ward)',
      // A relation of the home backend (an unsplit table) has the name cloud-b would give.
      'CREATE TABLE patient_ssn_idx (x int)',
      'CREATE INDEX ON patient (pat_ssn)',
      'CREATE UNIQUE INDEX ON patient (diagnosis, ward)',
      'CREATE INDEX ON patient (ward) INCLUDE (diagnosis)',
      "CREATE INDEX ON patient ((ward || 'x'), coalesce(ward, 'x'), ward, (ward::text))",
      'CREATE INDEX ON patient (age) WHERE age > 3',
    ];
    const names = async (c: pg.Client) => (await c.query("SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'patient' ORDER BY 1")).rows;
    for (const sql of unnamed) expect({ sql, ...(await outcome(doc, sql)) }).toEqual({ sql, ...(await outcome(oracle, sql)) });
    expect(await names(doc)).toEqual(await names(oracle));
    const skipped = [
      // IF NOT EXISTS: a name the home fragment's index has, the table's own, a new one (then again).
      'CREATE INDEX IF NOT EXISTS patient_lower_idx ON patient (ward)',
      'CREATE INDEX IF NOT EXISTS patient ON patient (ward)',
      'CREATE INDEX IF NOT EXISTS patient_w_ine ON patient (ward)',
      'CREATE INDEX IF NOT EXISTS patient_w_ine ON patient (diagnosis)',
      'CREATE INDEX IF NOT EXISTS patient_ssn_idx ON patient (ward)',
    ];
    for (const sql of skipped) expect({ sql, ...(await outcome(doc, sql)) }).toEqual({ sql, ...(await outcome(oracle, sql)) });
    expect(await names(doc)).toEqual(await names(oracle));
    // Each name on one backend only.
    const all = [...await on('cloud-a'), ...await on('cloud-b')].filter((n) => n !== 'patient_pkey');
    expect(new Set(all).size).toBe(all.length);
    expect(await on('cloud-b')).toContain('patient_lower_idx1');
  });

  it('CREATE INDEX IF NOT EXISTS in a block sees the block\'s own index and is undone by ROLLBACK', async () => {
    await doc.query('BEGIN');
    await doc.query('CREATE INDEX IF NOT EXISTS patient_blk ON patient (ward)');
    expect((await outcome(doc, 'CREATE INDEX IF NOT EXISTS patient_blk ON patient (pat_name)')).notices).toEqual(['42P07: relation "patient_blk" already exists, skipping']);
    // The extended protocol too.
    notices.set(doc, []);
    expect((await doc.query({ name: 'ine_blk', text: 'CREATE INDEX IF NOT EXISTS patient_blk ON patient (age)' })).command).toBe('CREATE');
    expect(notices.get(doc)).toEqual(['42P07: relation "patient_blk" already exists, skipping']);
    await doc.query('ROLLBACK');
    expect(await on('cloud-b')).not.toContain('patient_blk');
    expect(await on('cloud-a')).not.toContain('patient_blk');
  });
});
