// Split datasets fail closed: with `diagnosis` placed on cloud-b, every statement kind naming
// `patient` is refused with 0A000 naming the dataset, the split column and its backend, while
// statements on the whole dataset `visit` are planned exactly as under the unsplit policy.
import { beforeAll, describe, expect, it } from 'vitest';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { loadParser } from './parser.ts';
import type { Analysis } from './rewriter.ts';
import { EHEALTH_POLICY, EHEALTH_SPLIT_POLICY, testRewriter } from '@clarus/testing/rewriter.ts';

const SPLIT_MESSAGE = /dataset patients \(public\.patient\) places column\(s\) diagnosis → backend cloud-b; splitting .* not supported by this proxy version/;

const ON_PATIENT = [
  'CREATE TABLE patient (pat_id int PRIMARY KEY, pat_name text, pat_ssn text, pat_zip text, pat_birth date, diagnosis text)',
  'CREATE TABLE IF NOT EXISTS public.patient (pat_id int)',
  'CREATE INDEX ON patient (pat_id)',
  'ALTER TABLE patient ADD COLUMN extra text',
  'DROP TABLE patient',
  'DROP TABLE IF EXISTS ward, patient',
  'TRUNCATE patient',
  "INSERT INTO patient (pat_id, pat_zip) VALUES (1, '08001')",
  'INSERT INTO patient (pat_id) VALUES ($1)',
  "UPDATE patient SET pat_zip = '1' WHERE pat_id = 1",
  'DELETE FROM patient WHERE pat_id = 1',
  'SELECT * FROM patient',
  'SELECT pat_id FROM patient',
  'SELECT count(*) FROM "patient"',
  'SELECT v.reason FROM visit v JOIN patient p USING (pat_id)',
  'SELECT 1 FROM visit WHERE pat_id IN (SELECT pat_id FROM patient)',
  'WITH d AS (SELECT * FROM patient) SELECT * FROM d',
  'EXPLAIN SELECT * FROM patient',
  'COPY patient FROM STDIN',
  'COPY patient TO STDOUT (FORMAT csv)',
  'COPY (SELECT pat_id FROM patient) TO STDOUT',
  'CREATE VIEW pv AS SELECT pat_id FROM patient',
  'PREPARE q AS SELECT pat_id FROM patient',
  'LOCK TABLE patient',
  'SELECT 1; SELECT pat_id FROM patient',
];

function refused(a: Analysis): { code: string; message: string } {
  if (a.kind !== 'refuse') throw new Error(`expected a refusal, got ${a.kind}`);
  return a;
}

beforeAll(async () => {
  await loadParser();
});

describe('split datasets are refused', () => {
  it.each(ON_PATIENT)('%s', (sql) => {
    const a = refused(testRewriter(EHEALTH_SPLIT_POLICY).analyze(sql));
    expect(a.code).toBe('0A000');
    expect(a.message).toMatch(SPLIT_MESSAGE);
  });

  it('records the split dataset for the audit log', () => {
    const a = testRewriter(EHEALTH_SPLIT_POLICY).analyze('SELECT * FROM patient');
    expect(a.kind === 'refuse' && [...a.datasets.keys()]).toEqual(['patients']);
  });

  it('learns nothing from a refused CREATE TABLE', () => {
    const rw = testRewriter(EHEALTH_SPLIT_POLICY);
    rw.analyze('CREATE TABLE patient (pat_id int, pat_birth date)');
    expect(rw.catalog.lookup(undefined, 'patient')?.byName.get('pat_birth')?.typeOid).toBe(25);
  });

  it('names every split column and every split dataset of the statement', () => {
    const policy: RuntimePolicy = {
      ...EHEALTH_POLICY,
      datasets: EHEALTH_POLICY.datasets.map((d) => ({ ...d, columns: d.columns.map((c) => (c.name === 'pat_name' || c.name === 'notes' ? { ...c, backend: 'cloud-c' } : c.name === 'pat_ssn' ? { ...c, backend: 'cloud-b' } : c)) })),
    };
    const a = refused(testRewriter(policy).analyze('SELECT p.pat_id FROM patient p, visit v'));
    expect(a.message).toContain('dataset patients (public.patient) places column(s) pat_name → backend cloud-c, pat_ssn → backend cloud-b; dataset visits (public.visit) places column(s) notes → backend cloud-c;');
  });

  it('a split dataset in another schema is refused under its unqualified name too', () => {
    const policy: RuntimePolicy = { ...EHEALTH_SPLIT_POLICY, datasets: EHEALTH_SPLIT_POLICY.datasets.map((d) => ({ ...d, schema: 'hospital' })) };
    expect(refused(testRewriter(policy).analyze('SELECT pat_id FROM patient')).message).toMatch(/dataset patients \(hospital\.patient\)/);
  });
});

describe('datasets that are not split work as before', () => {
  const ON_VISIT = [
    'CREATE TABLE visit (visit_id int PRIMARY KEY, pat_id int, reason text, notes text)',
    "INSERT INTO visit (visit_id, pat_id, reason) VALUES (1, 2, 'flu')",
    "SELECT * FROM visit WHERE reason = 'flu'",
    'UPDATE visit SET reason = $1 WHERE visit_id = 1',
    'DELETE FROM visit WHERE visit_id = 1',
    'COPY visit TO STDOUT',
    "SELECT visit_id FROM visit WHERE notes = 'x'",
    'SELECT 1',
    'SELECT * FROM ward',
  ];
  it.each(ON_VISIT)('%s', (sql) => {
    const whole = testRewriter(EHEALTH_POLICY).analyze(sql);
    const split = testRewriter(EHEALTH_SPLIT_POLICY).analyze(sql);
    expect(split.kind).toBe(whole.kind);
    if (whole.kind === 'refuse' && split.kind === 'refuse') expect(split.message).toBe(whole.message);
    if (whole.kind === 'plan' && split.kind === 'plan') {
      // Randomized ciphertext differs per call: compare the shape with the hex literals removed.
      const shape = (a: typeof whole) => a.statements.map((s) => s.sql.replace(/'\\x[0-9a-f]+'/g, 'X')).join(';');
      expect(shape(split)).toBe(shape(whole));
      expect([...split.params]).toEqual([...whole.params].map(([n, r]) => [n, expect.objectContaining({ kind: r.kind })]));
    }
  });
});
