// Class 7 — views and set operations across datasets. `reader` sees patients masked but visits in
// plaintext, and patient.diag shares its deterministic key (`default`) with visit.reason: the same
// diagnosis encrypts to the same bytes in both columns, which is what makes UNION ALL and joins
// between them work — and what would let a statement whose output column the proxy attributes to
// visit.reason decrypt patient.diag values for reader in clear. The writer stores a secret canary
// in patient.diag; reader must never see it in clear (only ****<last four>), whatever the shape.
import { adversarialSuite, REFUSE_GRANT, REFUSE_OR_REWRITE } from './harness.ts';
import type { Attack, StepSpec } from './harness.ts';

const { attack } = adversarialSuite();

async function plant(t: Attack): Promise<string> {
  const s = t.secret();
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, name, diag) VALUES (701, 'n', '${s}')`, expect: 'ok' });
  return s;
}

const shapes: Array<[string, string, StepSpec['via']?]> = [
  ['UNION ALL, visit.reason first', 'SELECT reason FROM visit UNION ALL SELECT diag FROM patient'],
  ['UNION ALL, patient.diag first', 'SELECT diag FROM patient UNION ALL SELECT reason FROM visit'],
  ['UNION ALL inside a FROM subquery', 'SELECT x FROM (SELECT reason AS x FROM visit UNION ALL SELECT diag FROM patient) s'],
  ['UNION ALL inside a CTE', 'WITH u AS (SELECT reason FROM visit UNION ALL SELECT diag FROM patient) SELECT * FROM u'],
  ['an empty visit arm, then patient, then EXCEPT ALL of an empty set', 'SELECT reason FROM visit WHERE false UNION ALL SELECT diag FROM patient EXCEPT ALL SELECT reason FROM visit WHERE false'],
  ['UNION ALL in a LATERAL subquery correlated to visit', 'SELECT s.x FROM visit v, LATERAL (SELECT v.reason AS x UNION ALL SELECT diag FROM patient) s'],
  ['a scalar subquery of visit as the first arm', 'SELECT (SELECT reason FROM visit LIMIT 1) AS x UNION ALL SELECT diag FROM patient'],
  ['VALUES arm holding a scalar subquery of patient', 'SELECT reason FROM visit UNION ALL VALUES ((SELECT diag FROM patient WHERE id = 701))'],
  ['nested set operations with parentheses', '(SELECT reason FROM visit UNION ALL SELECT reason FROM visit) UNION ALL (SELECT diag FROM patient)'],
  ['UNION (duplicate elimination) on the shared key', 'SELECT reason FROM visit UNION SELECT diag FROM patient'],
  ['INTERSECT ALL of patient.diag with itself, visit first', 'SELECT reason FROM visit UNION ALL (SELECT diag FROM patient INTERSECT ALL SELECT diag FROM patient)'],
  ['UNION ALL through the extended protocol (postgres.js)', 'SELECT reason FROM visit UNION ALL SELECT diag FROM patient', 'postgresjs'],
  ['COPY (… UNION ALL …) TO STDOUT', 'COPY (SELECT reason FROM visit UNION ALL SELECT diag FROM patient) TO STDOUT', 'psql'],
  ['ARRAY(subquery) mixing both columns', 'SELECT ARRAY(SELECT reason FROM visit UNION ALL SELECT diag FROM patient) AS a'],
  ['row constructor over the union', 'SELECT ROW(x) FROM (SELECT reason AS x FROM visit UNION ALL SELECT diag FROM patient) s'],
  ['join on the shared key, selecting visit.reason for patient rows', 'SELECT v.reason FROM patient p LEFT JOIN visit v ON v.reason = p.diag UNION ALL SELECT p.diag FROM patient p'],
  ['a CTE named visit over patient.diag', 'WITH visit AS (SELECT diag AS reason FROM patient) SELECT reason FROM visit'],
  ['a FROM subquery aliased visit over patient.diag', 'SELECT visit.reason FROM (SELECT diag AS reason FROM patient) AS visit'],
  ['LATERAL (SELECT p.diag AS reason)', 'SELECT x.reason FROM patient p, LATERAL (SELECT p.diag AS reason) x'],
  ['FULL JOIN … USING (reason): the merged column takes patient values', 'SELECT reason FROM visit FULL JOIN (SELECT diag AS reason FROM patient) p USING (reason)'],
  ['NATURAL RIGHT JOIN with a patient subquery', 'SELECT reason FROM visit NATURAL RIGHT JOIN (SELECT diag AS reason FROM patient) p'],
];

for (const [what, sql, via] of shapes) {
  attack(`masked user reading patient.diag through ${what}`, async (t) => {
    await plant(t);
    await t.step({ user: 'reader', sql, ...(via ? { via } : {}), expect: REFUSE_OR_REWRITE });
  });
}

attack('masked user: the masked form of patient.diag is what UNION ALL returns, when it is allowed', async (t) => {
  const s = await plant(t);
  await t.step({ user: 'reader', sql: 'SELECT diag FROM patient WHERE id = 701 UNION ALL SELECT reason FROM visit WHERE visit_id = 10', expect: REFUSE_OR_REWRITE,
    check: (o) => {
      const vals = o.rows.map((r) => Object.values(r as Record<string, unknown>)[0]);
      return vals.includes(`****${s.slice(-4)}`) ? null : `expected the masked value ****${s.slice(-4)} among ${JSON.stringify(vals)}`;
    } });
});

attack('no-grant user: UNION ALL of a constant and patient.diag', async (t) => {
  await plant(t);
  await t.step({ user: 'nobody', sql: "SELECT 'x' UNION ALL SELECT diag FROM patient", expect: REFUSE_GRANT });
});
