// Class 6 — the proxy's learned schema (the column list it uses for INSERT without a column list
// and for SELECT *) poisoned by DDL that never took effect: refused (42501) for a read-only user,
// rolled back, skipped (IF NOT EXISTS), failed at the backend, or made for a temporary table; and
// kept stale by columns dropped in a rolled-back transaction or by a migration outside the proxy.
// After each, reads and writes must behave per the real catalog: PostgreSQL's column order is
// (id, name, ssn, diag, zip, phone, note), so `INSERT INTO patient VALUES (id, <canary>, …)` puts
// the canary in name (encrypted), never in the plain `note`. The proxy refuses INSERT/COPY FROM
// without a column list on protected tables (it never relies on the column order), and takes
// declared types only from the backend's committed catalog — the last tests check that part.
import { adversarialSuite, readsBack, REFUSE_GRANT, REFUSE_OR_REWRITE } from './harness.ts';
import type { Attack } from './harness.ts';

const { attack } = adversarialSuite();

/** The same columns in another order: note (plain) where name (encrypted) really is. */
const REORDERED = '(id integer PRIMARY KEY, note text, name text NOT NULL, ssn text, diag text, zip text, phone text)';
const CLINIC = 'CREATE TABLE clinic (id integer PRIMARY KEY, info text, secret text, zipc text)';

async function insertInRealOrder(t: Attack, id: number): Promise<void> {
  const c = t.canary();
  await t.step({ user: 'writer', session: 'writer-after', sql: `INSERT INTO patient VALUES (${id}, '${c}', NULL, NULL, NULL, NULL, 'plain note')`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, `SELECT name, note FROM patient WHERE id = ${id}`, [{ name: c, note: 'plain note' }]) });
}

attack('a read-only user\'s CREATE TABLE patient (refused, 42501) with another column order', async (t) => {
  await t.step({ user: 'reader', sql: `CREATE TABLE patient ${REORDERED}`, expect: REFUSE_GRANT });
  await insertInRealOrder(t, 601);
});

attack('a no-grant user\'s CREATE TABLE patient (refused) with another column order', async (t) => {
  await t.step({ user: 'nobody', sql: `CREATE TABLE IF NOT EXISTS patient ${REORDERED}`, expect: { refuse: ['42501', '0A000'] } });
  await insertInRealOrder(t, 602);
});

attack('BEGIN; DROP TABLE patient; CREATE TABLE patient (other order); ROLLBACK', async (t) => {
  await t.step({ user: 'writer', sql: 'BEGIN', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'DROP TABLE patient', expect: 'safe' });
  await t.step({ user: 'writer', sql: `CREATE TABLE patient ${REORDERED}`, expect: 'safe' });
  await t.step({ user: 'writer', sql: 'ROLLBACK', expect: 'safe' });
  await insertInRealOrder(t, 603);
});

attack('CREATE TABLE IF NOT EXISTS patient (other order): skipped by the backend', async (t) => {
  await t.step({ user: 'writer', sql: `CREATE TABLE IF NOT EXISTS patient ${REORDERED}`, expect: 'safe' });
  await insertInRealOrder(t, 604);
});

attack('CREATE TABLE patient (other order) failing at the backend (relation exists)', async (t) => {
  await t.step({ user: 'writer', sql: `CREATE TABLE patient ${REORDERED}`, expect: 'safe' });
  await insertInRealOrder(t, 605);
});

attack('CREATE TEMP TABLE patient (other order) in one session, INSERT … VALUES in another', async (t) => {
  await t.step({ user: 'writer', sql: `CREATE TEMP TABLE patient ${REORDERED}`, expect: 'safe' });
  await insertInRealOrder(t, 606);
});

attack('a read-only user\'s refused CREATE TABLE, then SELECT * by that user (masked columns in the right places)', async (t) => {
  const s = t.secret();
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, name, note) VALUES (607, '${s}', 'plain note')`, expect: 'ok' });
  await t.step({ user: 'reader', sql: `CREATE TABLE patient ${REORDERED}`, expect: REFUSE_GRANT });
  await t.step({ user: 'reader', sql: 'SELECT * FROM patient WHERE id = 607', expect: 'ok',
    check: (o) => {
      const r = o.rows[0] as Record<string, unknown> | undefined;
      return r && r.note === 'plain note' && r.name === `****${s.slice(-4)}` ? null : `SELECT * shows ${JSON.stringify(o.rows)}`;
    } });
});

attack('clinic: DROP COLUMN info (plain), then INSERT INTO clinic VALUES in the new order', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: CLINIC, expect: 'ok' });
  await t.step({ user: 'writer', sql: 'ALTER TABLE clinic DROP COLUMN info', expect: 'safe', stopIfRefused: true });
  await t.step({ user: 'writer', sql: `INSERT INTO clinic VALUES (608, '${c}', '75011')`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT secret, zipc FROM clinic WHERE id = 608', [{ secret: c, zipc: '750' }]) });
});

attack('clinic: BEGIN; DROP COLUMN info; ROLLBACK, then INSERT INTO clinic VALUES in the real order', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: CLINIC, expect: 'ok' });
  await t.step({ user: 'writer', sql: 'BEGIN', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'ALTER TABLE clinic DROP COLUMN info', expect: 'safe' });
  await t.step({ user: 'writer', sql: 'ROLLBACK', expect: 'safe' });
  await t.step({ user: 'writer', sql: `INSERT INTO clinic VALUES (609, 'i', '${c}', '75011')`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT info, secret FROM clinic WHERE id = 609', [{ info: 'i', secret: c }]) });
});

attack('clinic: a read-only user\'s refused DROP COLUMN info, then INSERT INTO clinic VALUES', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: CLINIC, expect: 'ok' });
  await t.step({ user: 'reader', sql: 'ALTER TABLE clinic DROP COLUMN info', expect: REFUSE_GRANT });
  await t.step({ user: 'writer', sql: `INSERT INTO clinic VALUES (610, 'i', '${c}', '75011')`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT info, secret FROM clinic WHERE id = 610', [{ info: 'i', secret: c }]) });
});

attack('clinic: a migration outside the proxy drops and re-adds info (column order changes)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: CLINIC, expect: 'ok' });
  await t.step({ user: 'writer', sql: "INSERT INTO clinic (id, info, secret, zipc) VALUES (1, 'i', 's', '75011')", expect: 'ok' });
  await t.env.admin!.query('ALTER TABLE clinic DROP COLUMN info; ALTER TABLE clinic ADD COLUMN info text');
  // Real order now (id, secret, zipc, info).
  await t.step({ user: 'writer', sql: `INSERT INTO clinic VALUES (611, '${c}', '75011', 'i')`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT secret, info FROM clinic WHERE id = 611', [{ secret: c, info: 'i' }]) });
});

attack('patient: a migration outside the proxy drops the plain note column, INSERT … VALUES with six values', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'SELECT count(*) FROM patient', expect: 'ok' });
  await t.env.admin!.query('ALTER TABLE patient DROP COLUMN note');
  await t.step({ user: 'writer', sql: `INSERT INTO patient VALUES (612, '${c}', NULL, NULL, NULL, NULL)`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT name FROM patient WHERE id = 612', [{ name: c }]) });
});

const TYPED_CLINIC = 'CREATE TABLE clinic (id integer PRIMARY KEY, info text, secret integer, zipc text)';

attack('clinic: a rolled-back re-creation declaring secret integer does not change its type', async (t) => {
  await t.step({ user: 'writer', sql: CLINIC, expect: 'ok' });
  await t.step({ user: 'writer', sql: 'BEGIN', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'DROP TABLE clinic', expect: 'safe' });
  await t.step({ user: 'writer', sql: TYPED_CLINIC, expect: 'safe' });
  await t.step({ user: 'writer', sql: 'ROLLBACK', expect: 'safe' });
  // secret is still text: a value that is no integer is stored (encrypted) and read back as text.
  await t.step({ user: 'writer', sql: "INSERT INTO clinic (id, secret) VALUES (613, 'not a number')", expect: 'ok',
    check: readsBack(t, 'SELECT secret FROM clinic WHERE id = 613', [{ secret: 'not a number' }]) });
});

attack('clinic: a committed re-creation declaring secret integer is what the proxy uses next', async (t) => {
  await t.step({ user: 'writer', sql: CLINIC, expect: 'ok' });
  await t.step({ user: 'writer', sql: 'DROP TABLE clinic', expect: 'ok' });
  await t.step({ user: 'writer', sql: TYPED_CLINIC, expect: 'ok' });
  // The integer is encrypted from its canonical form and shown to the client as int4 again.
  await t.step({ user: 'writer', sql: "INSERT INTO clinic (id, secret) VALUES (614, '042')", expect: 'ok',
    check: readsBack(t, 'SELECT secret FROM clinic WHERE id = 614', [{ secret: 42 }]) });
});

attack('patient: SELECT * after a rolled-back re-creation in another column order follows the real order', async (t) => {
  const s = t.secret();
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, name, note) VALUES (615, '${s}', 'plain note')`, expect: 'ok' });
  await t.step({ user: 'writer', sql: 'BEGIN', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'DROP TABLE patient', expect: 'safe' });
  await t.step({ user: 'writer', sql: `CREATE TABLE patient ${REORDERED}`, expect: 'safe' });
  await t.step({ user: 'writer', sql: 'ROLLBACK', expect: 'safe' });
  await t.step({ user: 'writer', sql: 'SELECT * FROM patient WHERE id = 615', expect: 'ok',
    check: (o) => {
      const keys = Object.keys((o.rows[0] as Record<string, unknown> | undefined) ?? {});
      const r = o.rows[0] as Record<string, unknown> | undefined;
      return keys.join(',') === 'id,name,ssn,diag,zip,phone,note' && r?.name === s && r.note === 'plain note' ? null : `SELECT * shows ${JSON.stringify(o.rows)}`;
    } });
});

for (const [what, ddl] of [
  ['a DEFAULT', "zipc text DEFAULT '75011-default-zip'"],
  ['a GENERATED expression', "zipc text GENERATED ALWAYS AS (info || '-generated') STORED"],
  ['a domain type', 'zipc clinic_zip'],
]) {
  attack(`clinic made outside the proxy with ${what} on the anonymized zipc: refused, nothing stored`, async (t) => {
    await t.env.admin!.query(`CREATE DOMAIN clinic_zip AS text DEFAULT '75011-domain-zip'; CREATE TABLE clinic (id integer PRIMARY KEY, info text, secret bytea, ${ddl})`);
    await t.step({ user: 'writer', sql: "INSERT INTO clinic (id, info) VALUES (616, 'i')", expect: { refuse: ['0A000'] } });
    await t.step({ user: 'reader', sql: 'SELECT zipc FROM clinic', expect: { refuse: ['0A000'] } });
    const n = await t.env.admin!.query('SELECT count(*)::int AS n FROM clinic');
    if ((n.rows[0] as { n: number }).n !== 0) t.fail(`a row was stored in clinic with ${what} on zipc`);
  });
}
