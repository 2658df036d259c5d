// Class 8 — read-only (`reader`) and no-grant (`nobody`) users must not change anything in the
// backend: schema and data, names, indexes, comments, privileges, physical storage (VACUUM FULL,
// CLUSTER, REINDEX change relfilenodes), row locks (SELECT … FOR UPDATE writes xmax), relation
// locks, row-level security, role settings. Each statement runs with a before/after fingerprint of
// the whole database taken with the superuser (see harness.ts) and must be refused by the proxy.
// The proxy's backend role here is the database owner for every user (the first wall alone: the
// read-only backend role of docs/operations.md is deliberately not configured).
import { adversarialSuite, REFUSE_ANY, REFUSE_GRANT } from './harness.ts';
import type { StepSpec, UserName } from './harness.ts';

const { attack } = adversarialSuite();

type Case = [string, string, StepSpec['expect']?];
const cases: Case[] = [
  ['DROP SCHEMA public CASCADE', 'DROP SCHEMA public CASCADE'],
  ['DROP SCHEMA archive CASCADE (the schema of a policy table)', 'DROP SCHEMA archive CASCADE'],
  ['DROP OWNED BY CURRENT_USER', 'DROP OWNED BY CURRENT_USER'],
  ['ALTER SCHEMA public RENAME', 'ALTER SCHEMA public RENAME TO x800'],
  ['ALTER SCHEMA archive RENAME', 'ALTER SCHEMA archive RENAME TO y800'],
  ['ALTER INDEX (an index of patient whose name does not say so) RENAME', 'ALTER INDEX diag_idx RENAME TO x801'],
  ['ALTER INDEX patient_pkey RENAME', 'ALTER INDEX patient_pkey RENAME TO x802'],
  ['DROP INDEX diag_idx', 'DROP INDEX diag_idx'],
  ['TRUNCATE patient', 'TRUNCATE patient', REFUSE_GRANT],
  ['TRUNCATE ONLY archive.patient', 'TRUNCATE ONLY archive.patient', REFUSE_GRANT],
  ['TRUNCATE scratch, visit', 'TRUNCATE scratch, visit', REFUSE_GRANT],
  ['DELETE FROM patient', 'DELETE FROM patient', REFUSE_GRANT],
  ['UPDATE patient SET note', "UPDATE patient SET note = 'x'", REFUSE_GRANT],
  ['COMMENT ON TABLE patient', "COMMENT ON TABLE patient IS 'x'"],
  ['COMMENT ON COLUMN patient.name', "COMMENT ON COLUMN patient.name IS 'x'"],
  ['COMMENT ON INDEX diag_idx', "COMMENT ON INDEX diag_idx IS 'x'"],
  ['COMMENT ON SCHEMA archive', "COMMENT ON SCHEMA archive IS 'x'"],
  ['GRANT SELECT ON patient TO PUBLIC', 'GRANT SELECT ON patient TO PUBLIC'],
  ['GRANT ALL ON ALL TABLES IN SCHEMA public TO PUBLIC', 'GRANT ALL ON ALL TABLES IN SCHEMA public TO PUBLIC'],
  ['ALTER DEFAULT PRIVILEGES … GRANT ALL ON TABLES TO PUBLIC', 'ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO PUBLIC'],
  ['VACUUM FULL patient', 'VACUUM FULL patient'],
  ['VACUUM FULL (every table)', 'VACUUM FULL'],
  ['CLUSTER patient USING patient_pkey', 'CLUSTER patient USING patient_pkey'],
  ['REINDEX TABLE patient', 'REINDEX TABLE patient'],
  ['REINDEX SCHEMA public', 'REINDEX SCHEMA public'],
  ['CREATE INDEX ON patient (id)', 'CREATE INDEX ON patient (id)'],
  ['CREATE INDEX … ON patient (note)', 'CREATE INDEX x803 ON patient (note)'],
  ['SELECT … FOR UPDATE', 'SELECT id FROM patient FOR UPDATE'],
  ['SELECT … FOR SHARE', 'SELECT id FROM patient FOR SHARE'],
  ['SELECT … FOR NO KEY UPDATE SKIP LOCKED', 'SELECT id FROM patient FOR NO KEY UPDATE SKIP LOCKED'],
  ['SELECT … FOR UPDATE OF p in a join', 'SELECT p.id FROM patient p JOIN visit v ON v.pat_id = p.id FOR UPDATE OF p'],
  ['FOR UPDATE inside an IN subquery', 'SELECT id FROM patient WHERE id IN (SELECT id FROM patient FOR UPDATE)'],
  ['FOR UPDATE inside a CTE', 'WITH l AS (SELECT id FROM patient FOR UPDATE) SELECT count(*) FROM l'],
  ['FOR KEY SHARE of visit', 'SELECT visit_id FROM visit FOR KEY SHARE'],
  ['ALTER TABLE patient SET (fillfactor = 50)', 'ALTER TABLE patient SET (fillfactor = 50)'],
  ['ALTER TABLE patient ENABLE ROW LEVEL SECURITY', 'ALTER TABLE patient ENABLE ROW LEVEL SECURITY'],
  ['CREATE POLICY on patient', 'CREATE POLICY hide804 ON patient USING (false)'],
  ['ALTER TABLE patient DISABLE TRIGGER ALL', 'ALTER TABLE patient DISABLE TRIGGER ALL'],
  ['ALTER TABLE patient RENAME', 'ALTER TABLE patient RENAME TO p805'],
  ['ALTER TABLE patient RENAME COLUMN note', 'ALTER TABLE patient RENAME COLUMN note TO n806'],
  ['ALTER TABLE patient ALTER COLUMN note TYPE varchar(3) USING left(note, 3)', 'ALTER TABLE patient ALTER COLUMN note TYPE varchar(3) USING left(note, 3)'],
  ['DO block deleting from patient', "DO $$ BEGIN EXECUTE 'DELETE FROM pat' || 'ient'; END $$"],
  ['SELECT … INTO a new table from patient', 'SELECT id, note INTO r807 FROM patient'],
  ['CREATE TABLE … AS SELECT from patient', 'CREATE TABLE r808 AS SELECT id FROM patient'],
  ['a write to an unprotected table (INSERT INTO scratch)', 'INSERT INTO scratch (id) VALUES (9)'],
  ['DDL outside the policy (CREATE TABLE)', 'CREATE TABLE r809 (x integer)'],
  ['ALTER ROLE CURRENT_USER SET (a role default every later session gets)', 'ALTER ROLE CURRENT_USER SET work_mem = 64'],
  ['ALTER DATABASE … SET', 'ALTER DATABASE adv SET work_mem = 64'],
];

for (const user of ['reader', 'nobody'] as UserName[]) {
  const who = user === 'reader' ? 'read-only user' : 'no-grant user';
  for (const [name, sql, expect] of cases) {
    attack(`${who}: ${name}`, async (t) => {
      await t.step({ user, sql, expect: expect ?? REFUSE_ANY });
    });
  }

  attack(`${who}: LOCK TABLE patient IN ACCESS EXCLUSIVE MODE inside a transaction`, async (t) => {
    await t.step({ user, sql: 'BEGIN', expect: 'ok', noFingerprint: true });
    await t.step({ user, sql: 'LOCK TABLE patient IN ACCESS EXCLUSIVE MODE', expect: REFUSE_ANY });
    await t.step({ user, sql: 'ROLLBACK', expect: 'safe', noFingerprint: true });
  });

  attack(`${who}: LOCK visit IN SHARE ROW EXCLUSIVE MODE NOWAIT inside a transaction`, async (t) => {
    await t.step({ user, sql: 'BEGIN', expect: 'ok', noFingerprint: true });
    await t.step({ user, sql: 'LOCK visit IN SHARE ROW EXCLUSIVE MODE NOWAIT', expect: REFUSE_ANY });
    await t.step({ user, sql: 'ROLLBACK', expect: 'safe', noFingerprint: true });
  });

  attack(`${who}: SELECT … FOR UPDATE held open in a transaction`, async (t) => {
    await t.step({ user, sql: 'BEGIN', expect: 'ok', noFingerprint: true });
    await t.step({ user, sql: 'SELECT id FROM patient WHERE id = 1 FOR UPDATE', expect: REFUSE_ANY });
    await t.step({ user, sql: 'ROLLBACK', expect: 'safe', noFingerprint: true });
  });

  attack(`${who}: PREPARE TRANSACTION keeping a read transaction (and its locks) alive past the session`, async (t) => {
    await t.step({ user, sql: 'BEGIN', expect: 'ok', noFingerprint: true });
    await t.step({ user, sql: 'SELECT count(*) FROM scratch', expect: 'ok', noFingerprint: true });
    await t.step({ user, sql: "PREPARE TRANSACTION 'adv810'", expect: REFUSE_ANY });
  });

  attack(`${who}: COPY patient FROM STDIN with data`, async (t) => {
    await t.step({ user, sql: 'COPY patient (id, note) FROM STDIN', copyIn: Buffer.from('811\tx\n'), expect: REFUSE_GRANT });
  });
}
