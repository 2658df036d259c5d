// Splitting (issue 12): DDL of the indexes of a split table's other fragment through the proxy, on
// two real backends. DROP INDEX of an index cloud-b holds goes to cloud-b (several names over both
// backends in one write, all or nothing; IF EXISTS as PostgreSQL); ALTER INDEX … RENAME of it goes
// there too; other ALTER INDEX forms and DROP INDEX CONCURRENTLY of it are refused (0A000). An index
// or named UNIQUE constraint whose name another fragment's relation has fails with 42P07 and
// stores nothing; a read-only grant cannot drop an index.
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
