// Writes that compute, planned statement by statement: the backend stage locks what it reads (an
// UPDATE) and sends only ciphertext, blind indexes and plain values; the proxy computes the values;
// the write-back is by row key and goes through the rules. What cannot be written back stays refused.
import { beforeAll, describe, expect, it } from 'vitest';
import { EHEALTH_POLICY, TEST_KEY_FILES } from '@clarus/testing/rewriter.ts';
import { KeyDeriver } from '../../protection/encryption/derive.ts';
import { parseKeyring } from '../../protection/encryption/keyring.ts';
import { Catalog } from '../catalog.ts';
import { loadParser } from '../parser.ts';
import { KeyedRewriter as Rewriter } from '../../protection/keyed-rewriter.ts';
import { batchedWriteBack } from './write-batch.ts';

let rw: Rewriter;
beforeAll(async () => {
  await loadParser();
  const cat = new Catalog(EHEALTH_POLICY);
  for (const t of cat.all()) cat.learn(t.schema, t.table, undefined);
  rw = new Rewriter(cat, new KeyDeriver(parseKeyring(EHEALTH_POLICY.keyring.keys, TEST_KEY_FILES)), { twoStage: true });
});

function planned(sql: string): { backend: string; proxy: string; write: string; command: string } | string {
  const a = rw.analyze(sql);
  if (a.kind !== 'plan') return a.kind === 'refuse' ? a.code : a.kind;
  const s = a.statements[0];
  if (!s?.residual?.write) return 'no write';
  expect(a.write).toBe(true);
  return { backend: s.sql, proxy: s.residual.sql, write: s.residual.write.sql, command: s.residual.write.command };
}

describe('writes that compute', () => {
  it.each([
    ['UPDATE patient SET pat_name = upper(pat_name) WHERE pat_id = 1',
      'SELECT patient.tableoid AS c1, patient.ctid AS c2, pat_name AS c3 FROM patient WHERE pat_id = 1 FOR UPDATE OF patient',
      'SELECT clarus_candidates.c1 AS k1, clarus_candidates.c2 AS k2, (upper(clarus_candidates.c3))::text AS v1 FROM clarus_candidates',
      'UPDATE patient SET pat_name = $3 WHERE patient.tableoid = $1 AND patient.ctid = $2'],
    ["UPDATE patient p SET pat_name = p.pat_ssn, pat_id = pat_id + 1 WHERE p.pat_name LIKE 'A%'",
      'SELECT p.pat_name AS c1, p.tableoid AS c2, p.ctid AS c3, p.pat_ssn AS c4 FROM patient AS p FOR UPDATE OF p',
      "SELECT clarus_candidates.c2 AS k1, clarus_candidates.c3 AS k2, clarus_candidates.c4::text AS v1 FROM clarus_candidates WHERE clarus_candidates.c1 LIKE 'A%'",
      // The plain column's value is the backend's to compute, on the locked row.
      'UPDATE patient AS p SET pat_name = $3, pat_id = pat_id + 1 WHERE p.tableoid = $1 AND p.ctid = $2'],
    ['INSERT INTO visit (visit_id, pat_id, reason) SELECT pat_id + 100, pat_id, upper(pat_name) FROM patient WHERE pat_id > $1',
      'SELECT pat_id AS c1, pat_name AS c2 FROM patient WHERE pat_id > $1',
      'SELECT clarus_candidates.c1 + 100 AS v1, clarus_candidates.c1 AS pat_id, (upper(clarus_candidates.c2))::text AS upper FROM clarus_candidates',
      'INSERT INTO visit (visit_id, pat_id, reason) VALUES ($1, $2, $3)'],
    // Only the WHERE clause computes: the proxy selects the rows, the backend writes them by key.
    ["UPDATE patient SET pat_id = pat_id + 100 WHERE upper(pat_name) = 'ANN'",
      'SELECT pat_name AS c1, patient.tableoid AS c2, patient.ctid AS c3 FROM patient FOR UPDATE OF patient',
      "SELECT clarus_candidates.c2 AS k1, clarus_candidates.c3 AS k2 FROM clarus_candidates WHERE upper(clarus_candidates.c1) = 'ANN'",
      'UPDATE patient SET pat_id = pat_id + 100 WHERE patient.tableoid = $1 AND patient.ctid = $2'],
    ['DELETE FROM visit v WHERE v.notes ILIKE $1 AND v.visit_id > 3',
      'SELECT v.notes AS c1, v.tableoid AS c2, v.ctid AS c3, $1 AS p1 FROM visit AS v WHERE v.visit_id > 3 FOR UPDATE OF v',
      'SELECT clarus_candidates.c2 AS k1, clarus_candidates.c3 AS k2 FROM clarus_candidates WHERE clarus_candidates.c1 ILIKE $1',
      'DELETE FROM visit AS v WHERE v.tableoid = $1 AND v.ctid = $2'],
  ])('%s', (sql, backend, proxy, write) => {
    const p = planned(sql);
    expect(p).toMatchObject({ backend, proxy, write });
  });

  it('plans a cursor over a computed SELECT: the backend declares one of the same name and options over the row numbers; a read', () => {
    const a = rw.analyze("DECLARE c SCROLL CURSOR WITH HOLD FOR SELECT pat_id, upper(pat_name) FROM patient WHERE pat_name ILIKE $1 ORDER BY pat_name");
    if (a.kind !== 'plan') throw new Error(a.kind);
    const s = a.statements[0];
    expect(a.write).toBe(false);
    expect(s?.sql).toBe('SELECT pat_name AS c1, pat_id AS c2, $1 AS p1 FROM patient');
    expect(s?.residual?.write).toMatchObject({ command: 'DECLARE CURSOR', cursor: { name: 'c', hold: true },
      sql: 'DECLARE c SCROLL CURSOR WITH HOLD FOR SELECT clarus_row FROM generate_series(1, CAST($1 AS int4)) AS clarus_row' });
    // A BINARY cursor's rows would be the engine's binary forms: refused.
    expect(planned('DECLARE b BINARY CURSOR FOR SELECT upper(pat_name) FROM patient')).toBe('0A000');
  });

  it('refuses a view whose SELECT computes (the executor does not compute inside a subquery) and CREATE TABLE AS of protected values, with the workaround', () => {
    for (const [sql, words] of [
      ['CREATE VIEW v AS SELECT pat_id, upper(pat_name) AS n FROM patient', ['SELECT of this view cannot be computed', 'upper()']],
      ['CREATE TABLE t2 AS SELECT pat_id, upper(pat_name) AS n FROM patient', ['CREATE TABLE … AS of values computed', 'upper()', 'fill it with INSERT … SELECT']],
      ['CREATE TABLE t2 AS SELECT pat_id, pat_name FROM patient', ['CREATE TABLE … AS with a column that carries patient.pat_name', 'add the new table to the policy']],
    ] as const) {
      const a = rw.analyze(sql);
      expect(a.kind).toBe('refuse');
      for (const w of words) expect(a.kind === 'refuse' ? a.message : '').toContain(w);
    }
  });

  it('never sends a literal of a computed value or a search term to the backend', () => {
    const p = planned("UPDATE patient SET pat_ssn = 'zq-' || upper(pat_name) WHERE pat_ssn = '123-45-6789' AND pat_name ILIKE '%canary%'");
    if (typeof p === 'string') throw new Error(p);
    expect(p.backend).toMatch(/pat_ssn__bidx = /);
    for (const s of ['zq-', '123-45-6789', 'canary']) expect(p.backend).not.toContain(s);
    // Each row's values are encrypted for their columns at Bind (blind index included).
    expect(rw.analyze(p.write).kind).toBe('plan');
  });

  it.each([
    // The plaintext of an encrypted value would reach the backend in a plain column.
    'UPDATE visit SET pat_id = length(reason) WHERE visit_id = 1',
    'INSERT INTO visit (visit_id, pat_id) SELECT 900 + pat_id, length(pat_name) FROM patient',
    'INSERT INTO visit (visit_id, pat_id, reason) SELECT count(*), 1, max(pat_name) FROM patient GROUP BY pat_name',
    // Shapes the write-back does not reproduce.
    // RETURNING what the engine cannot compute from the target's row: a subquery, a parameter, an anonymized value, OLD/NEW.
    'UPDATE patient SET pat_name = upper(pat_name) WHERE pat_id = 1 RETURNING (SELECT 1)',
    'UPDATE patient SET pat_name = upper(pat_name) WHERE pat_id = 1 RETURNING pat_name || $1',
    'UPDATE patient SET pat_name = upper(pat_name) WHERE pat_id = 1 RETURNING *',
    'UPDATE patient SET pat_name = upper(pat_name) WHERE pat_id = 1 RETURNING old.pat_name',
    'UPDATE patient SET pat_name = upper(pat_name) WHERE pat_id = 1 RETURNING now()',
    // The write-back by row key has no FROM: a plain column's value may read only the target's row.
    'UPDATE patient p SET pat_name = upper(v.notes), pat_id = v.visit_id FROM visit v WHERE v.pat_id = p.pat_id',
    // ON CONFLICT stays with the write-back: a parameter in it would be renumbered, a computation there is the rules' to refuse.
    'INSERT INTO visit (visit_id, pat_id, reason) SELECT pat_id, pat_id, upper(pat_name) FROM patient ON CONFLICT (visit_id) DO UPDATE SET notes = $1',
    'INSERT INTO visit (visit_id, pat_id, reason) SELECT pat_id, pat_id, upper(pat_name) FROM patient ON CONFLICT (visit_id) DO UPDATE SET notes = upper(EXCLUDED.reason)',
    'UPDATE patient SET pat_name = upper(pat_name), pat_id = $1 WHERE pat_id = 2',
    "DELETE FROM patient WHERE upper(pat_name) = 'ANN' RETURNING pat_zip",
    "UPDATE patient p SET pat_name = upper(v.notes) FROM visit v WHERE v.pat_id = p.pat_id RETURNING v.notes",
    // An anonymized value is not the value: never computed on.
    'UPDATE patient SET pat_name = pat_zip || pat_name WHERE pat_id = 1',
  ])('refuses %s', (sql) => {
    expect(planned(sql)).toBe('0A000');
  });

  it.each([
    ['UPDATE patient p SET pat_name = upper(pat_name) WHERE pat_id = 1 RETURNING p.pat_id, lower(pat_name) AS l, pat_ssn',
      'UPDATE patient AS p SET pat_name = $3 WHERE p.tableoid = $1 AND p.ctid = $2 RETURNING p.pat_id, p.pat_name, p.pat_ssn',
      'SELECT pat_id, lower(pat_name) AS l, pat_ssn FROM clarus_candidates'],
    ["DELETE FROM visit WHERE notes LIKE '%x%' RETURNING *",
      'DELETE FROM visit WHERE visit.tableoid = $1 AND visit.ctid = $2 RETURNING visit.visit_id, visit.pat_id, visit.reason, visit.notes',
      'SELECT visit_id AS visit_id, pat_id AS pat_id, reason AS reason, notes AS notes FROM clarus_candidates'],
    ['INSERT INTO visit (visit_id, pat_id, reason) SELECT pat_id + 100, pat_id, upper(pat_name) FROM patient RETURNING 1',
      'INSERT INTO visit (visit_id, pat_id, reason) VALUES ($1, $2, $3) RETURNING visit.visit_id',
      'SELECT 1 FROM clarus_candidates'],
  ])('RETURNING: %s', (sql, writeBack, returning) => {
    const a = rw.analyze(sql);
    if (a.kind !== 'plan') throw new Error(a.kind === 'refuse' ? a.message : a.kind);
    const w = a.statements[0]?.residual?.write;
    // The write-back returns the target's columns as stored (the rules decrypt them), the engine computes the client's list.
    expect(w?.sql).toBe(writeBack);
    expect(w?.returning?.sql).toBe(returning);
    const back = rw.analyze(writeBack);
    expect(back.kind).toBe('plan');
  });

  it('decides on the target of a computed INSERT too (its grant, its view): not only the tables the SELECT reads', () => {
    const a = rw.analyze('INSERT INTO visit (visit_id, pat_id, reason) SELECT pat_id + 100, pat_id, upper(pat_name) FROM patient');
    expect(a.kind).toBe('plan');
    expect([...(a.kind === 'plan' ? a.datasets.keys() : [])].sort()).toEqual(['patients', 'visits']);
  });

  it.each([
    ['UPDATE patient p SET pat_name = upper(v.notes) FROM visit v WHERE v.pat_id = p.pat_id',
      'SELECT p.tableoid AS c1, p.ctid AS c2, v.notes AS c3 FROM patient AS p, visit AS v WHERE v.pat_id = p.pat_id FOR UPDATE OF p',
      'UPDATE patient AS p SET pat_name = $3 WHERE p.tableoid = $1 AND p.ctid = $2'],
    ["DELETE FROM patient p USING visit v WHERE v.pat_id = p.pat_id AND upper(p.pat_name) = 'ANN'",
      'SELECT p.pat_name AS c1, p.tableoid AS c2, p.ctid AS c3 FROM patient AS p, visit AS v WHERE v.pat_id = p.pat_id FOR UPDATE OF p',
      'DELETE FROM patient AS p WHERE p.tableoid = $1 AND p.ctid = $2'],
  ])('FROM / USING: %s', (sql, backend, writeBack) => {
    const p = planned(sql);
    if (typeof p === 'string') throw new Error(p);
    // The other tables join in the backend stage (only the target locked); the write-back is by the target's row key.
    expect(p.backend).toBe(backend);
    expect(p.write).toBe(writeBack);
  });

  it('INSERT … SELECT … ON CONFLICT: the clause goes with the write-back, batched (two rows of a batch on one key fail as in PostgreSQL)', () => {
    const p = planned('INSERT INTO visit (visit_id, pat_id, reason) SELECT pat_id, pat_id, upper(pat_name) FROM patient ON CONFLICT (visit_id) DO UPDATE SET reason = EXCLUDED.reason');
    if (typeof p === 'string') throw new Error(p);
    expect(p.write).toBe('INSERT INTO visit (visit_id, pat_id, reason) VALUES ($1, $2, $3) ON CONFLICT (visit_id) DO UPDATE SET reason = excluded.reason');
    const back = rw.analyze(p.write);
    if (back.kind !== 'plan') throw new Error(back.kind);
    expect(batchedWriteBack(back.statements[0]?.sql ?? '', ['int4', 'int4', 'bytea'])).toMatch(/^INSERT INTO visit \(visit_id, pat_id, reason\) SELECT clarus_wb\.clarus_wb_1, .* FROM unnest\(.*\) AS clarus_wb\(.*\) ON CONFLICT \(visit_id\) DO UPDATE SET reason = excluded\.reason$/);
  });
});
