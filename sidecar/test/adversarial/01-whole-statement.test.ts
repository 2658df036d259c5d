// Class 1 — statements the proxy must analyse as a whole: data-modifying WITH attached to a
// top-level INSERT/UPDATE/DELETE (or nested in INSERT … SELECT), COPY (DML … RETURNING) TO STDOUT,
// EXPLAIN ANALYZE of DML, MERGE. Each either is refused (0A000) or is rewritten so that it works:
// the writer then reads the canary back in clear through the proxy, and the backend never saw it.
import { adversarialSuite, readsBack, REFUSE_ANY, REFUSE_GRANT, REFUSE_OR_REWRITE, REFUSE_UNSUPPORTED } from './harness.ts';

const { attack } = adversarialSuite();

attack('WITH … INSERT INTO patient … RETURNING, attached to DELETE FROM scratch', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `WITH w AS (INSERT INTO patient (id, name) VALUES (101, '${c}') RETURNING 1) DELETE FROM scratch WHERE false`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT name FROM patient WHERE id = 101', [{ name: c }]) });
});

attack('WITH … UPDATE patient SET name, attached to INSERT INTO scratch … SELECT', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `WITH u AS (UPDATE patient SET name = '${c}' WHERE id = 1 RETURNING id) INSERT INTO scratch (id) SELECT id FROM u`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT name FROM patient WHERE id = 1', [{ name: c }]) });
});

attack('WITH … DELETE FROM patient WHERE diag = canary, attached to UPDATE scratch', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `WITH d AS (DELETE FROM patient WHERE diag = '${c}' RETURNING id) UPDATE scratch SET t = 'x' WHERE false`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT count(*)::int AS n FROM patient', [{ n: 2 }]) });
});

attack('INSERT INTO scratch WITH … INSERT INTO patient (searchable ssn) … SELECT', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `INSERT INTO scratch (id) WITH w AS (INSERT INTO patient (id, name, ssn) VALUES (104, 'n', '${c}') RETURNING id) SELECT id FROM w`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, `SELECT id FROM patient WHERE ssn = '${c}'`, [{ id: 104 }]) });
});

attack('WITH … INSERT … RETURNING name copied into a plain table (needs plaintext in the database): refused', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `WITH w AS (INSERT INTO patient (id, name) VALUES (105, '${c}') RETURNING name) INSERT INTO scratch (id, t) SELECT 105, name FROM w`,
    expect: REFUSE_UNSUPPORTED });
});

attack('WITH … INSERT … ON CONFLICT DO UPDATE SET name = canary, attached to DELETE', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `WITH w AS (INSERT INTO patient (id, name) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET name = '${c}' RETURNING 1) DELETE FROM scratch WHERE false`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT name FROM patient WHERE id = 1', [{ name: c }]) });
});

attack('WITH … INSERT … RETURNING under a top-level SELECT', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `WITH w AS (INSERT INTO patient (id, name, diag) VALUES (106, 'n', '${c}') RETURNING id) SELECT id FROM w`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, `SELECT id FROM patient WHERE diag = '${c}'`, [{ id: 106 }]) });
});

attack('COPY (INSERT INTO patient … RETURNING id) TO STDOUT', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', via: 'psql', sql: `COPY (INSERT INTO patient (id, name) VALUES (107, '${c}') RETURNING id) TO STDOUT`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT name FROM patient WHERE id = 107', [{ name: c }]) });
});

attack('COPY (UPDATE patient SET ssn = canary … RETURNING id) TO STDOUT', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', via: 'psql', sql: `COPY (UPDATE patient SET ssn = '${c}' WHERE id = 2 RETURNING id) TO STDOUT`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, `SELECT id FROM patient WHERE ssn = '${c}'`, [{ id: 2 }]) });
});

attack('COPY (DELETE FROM patient WHERE ssn = canary RETURNING id) TO STDOUT', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', via: 'psql', sql: `COPY (DELETE FROM patient WHERE ssn = '${c}' RETURNING id) TO STDOUT`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT count(*)::int AS n FROM patient', [{ n: 2 }]) });
});

attack('COPY (INSERT … RETURNING name) TO STDOUT through the extended protocol (postgres.js)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', via: 'postgresjs', sql: `COPY (INSERT INTO patient (id, name) VALUES (108, '${c}') RETURNING name) TO STDOUT`,
    expect: 'safe' });
});

attack('EXPLAIN ANALYZE INSERT INTO patient … VALUES (canary)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `EXPLAIN ANALYZE INSERT INTO patient (id, name) VALUES (111, '${c}')`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT name FROM patient WHERE id = 111', [{ name: c }]) });
});

attack('EXPLAIN (ANALYZE, VERBOSE) UPDATE patient SET name = canary', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `EXPLAIN (ANALYZE, VERBOSE) UPDATE patient SET name = '${c}' WHERE id = 1`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT name FROM patient WHERE id = 1', [{ name: c }]) });
});

attack('EXPLAIN ANALYZE of a data-modifying WITH attached to DELETE FROM scratch', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `EXPLAIN ANALYZE WITH w AS (INSERT INTO patient (id, name) VALUES (113, '${c}') RETURNING 1) DELETE FROM scratch WHERE false`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT name FROM patient WHERE id = 113', [{ name: c }]) });
});

attack('EXPLAIN (ANALYZE) through the extended protocol with the canary as a parameter', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'EXPLAIN ANALYZE INSERT INTO patient (id, name) VALUES (114, $1)', params: [c],
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT name FROM patient WHERE id = 114', [{ name: c }]) });
});

attack('MERGE INTO patient … WHEN NOT MATCHED THEN INSERT (PostgreSQL 15 syntax)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `MERGE INTO patient p USING (SELECT 117 AS id) s ON p.id = s.id WHEN NOT MATCHED THEN INSERT (id, name) VALUES (s.id, '${c}')`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT name FROM patient WHERE id = 117', [{ name: c }]) });
});

attack('MERGE INTO patient … WHEN MATCHED THEN UPDATE SET diag = canary', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `MERGE INTO patient p USING (SELECT 1 AS id) s ON p.id = s.id WHEN MATCHED THEN UPDATE SET diag = '${c}'`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, `SELECT id FROM patient WHERE diag = '${c}'`, [{ id: 1 }]) });
});

attack('two statements in one Query: the second one writes patient', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `INSERT INTO scratch (id) VALUES (118); INSERT INTO patient (id, name) VALUES (118, '${c}')`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT name FROM patient WHERE id = 118', [{ name: c }]) });
});

attack('read-only user: EXPLAIN ANALYZE DELETE FROM patient', async (t) => {
  await t.step({ user: 'reader', sql: 'EXPLAIN ANALYZE DELETE FROM patient', expect: REFUSE_GRANT });
});

attack('read-only user: WITH d AS (DELETE FROM patient RETURNING id) SELECT count(*) FROM d', async (t) => {
  await t.step({ user: 'reader', sql: 'WITH d AS (DELETE FROM patient RETURNING id) SELECT count(*) FROM d', expect: REFUSE_ANY });
});

attack('read-only user: data-modifying WITH hidden under a SELECT over an unprotected table', async (t) => {
  await t.step({ user: 'reader', sql: 'WITH d AS (UPDATE patient SET note = note RETURNING id) SELECT count(*) FROM scratch', expect: REFUSE_ANY });
});

attack('read-only user: COPY (DELETE FROM patient RETURNING id) TO STDOUT', async (t) => {
  await t.step({ user: 'reader', via: 'psql', sql: 'COPY (DELETE FROM patient RETURNING id) TO STDOUT', expect: REFUSE_ANY });
});

attack('no-grant user: MERGE INTO patient … DELETE', async (t) => {
  await t.step({ user: 'nobody', sql: 'MERGE INTO patient p USING (SELECT 1 AS id) s ON p.id = s.id WHEN MATCHED THEN DELETE', expect: REFUSE_ANY });
});
