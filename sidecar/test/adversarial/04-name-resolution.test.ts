// Class 4 — name resolution that may differ from PostgreSQL's: CTE scopes (a CTE named patient,
// sibling subqueries, forward references), unqualified columns resolved in an outer query
// (LATERAL, correlated subqueries, joins), schema/table/column renames, inheritance and
// partitions, SELECT INTO / CREATE TABLE AS a policy table's name, pg_temp, search_path (SET,
// ALTER ROLE by a read-only user, ALTER DATABASE, startup), quoted and escaped identifiers.
//
// archive.patient is a second policy table named patient whose `note` is encrypted, while
// public.patient.note is plain: whenever the backend resolves `patient` to archive.patient but the
// proxy thinks public.patient, `INSERT INTO patient (id, note)` stores a protected value in clear.
import { adversarialSuite, readsBack, REFUSE_ANY, REFUSE_OR_REWRITE, REFUSE_UNSUPPORTED } from './harness.ts';
import { wire } from './raw.ts';
import type { RawSession } from './raw.ts';

const { attack } = adversarialSuite();
const blocked = { expect: REFUSE_UNSUPPORTED, stopIfRefused: true } as const;
const setupOrBlock = { expect: 'safe', stopIfRefused: true } as const;

// ---- CTE scopes -----------------------------------------------------------------------------

attack('WITH patient AS (…) INSERT INTO patient: the INSERT target is the real table, not the CTE', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `WITH patient AS (SELECT 1 AS x) INSERT INTO patient (id, name) VALUES (401, '${c}')`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT name FROM patient WHERE id = 401', [{ name: c }]) });
});

attack('WITH patient AS (…) UPDATE patient SET ssn: the UPDATE target is the real table', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `WITH patient AS (SELECT 1 AS id) UPDATE patient SET ssn = '${c}' WHERE id = 1`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, `SELECT id FROM patient WHERE ssn = '${c}'`, [{ id: 1 }]) });
});

attack('a CTE named patient inside one FROM subquery does not cover a sibling subquery', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `SELECT a.id FROM (WITH patient AS (SELECT 1 AS id, 'a'::text AS diag) SELECT id FROM patient) a, (SELECT id FROM patient WHERE diag = '${c}') b`,
    expect: REFUSE_OR_REWRITE });
});

attack('a CTE named patient in one UNION arm does not cover the other arm', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `(WITH patient AS (SELECT 1 AS id, 'a'::text AS diag) SELECT id FROM patient) UNION ALL (SELECT id FROM patient WHERE diag = '${c}')`,
    expect: REFUSE_OR_REWRITE });
});

attack('a non-recursive WITH: an earlier CTE does not see a later CTE named patient', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `WITH a AS (SELECT id FROM patient WHERE diag = '${c}'), patient AS (SELECT 1 AS id, 'x'::text AS diag) SELECT a.id FROM a`,
    expect: REFUSE_OR_REWRITE });
});

attack('WITH patient AS (… FROM patient …): inside its own body the name is the real table', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `WITH patient AS (SELECT id, diag FROM patient WHERE ssn = '${c}') SELECT s.id FROM (SELECT id FROM patient) s`,
    expect: REFUSE_OR_REWRITE });
});

attack('a CTE named patient used in a FROM subquery, next to public.patient (qualified, the real table)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `WITH patient AS (SELECT 1 AS id) SELECT * FROM (SELECT p.id FROM public.patient p WHERE p.ssn = '${c}') s, (SELECT id FROM patient) q`,
    expect: REFUSE_OR_REWRITE });
});

attack('a CTE named patient in a scalar subquery of the WHERE clause', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `SELECT id FROM patient WHERE diag = '${c}' AND id IN (WITH patient AS (SELECT 1 AS id) SELECT id FROM patient)`,
    expect: REFUSE_OR_REWRITE });
});

// ---- unqualified columns resolved in an outer query -----------------------------------------

attack('LATERAL subquery: an unqualified column missing from its own FROM is the outer patient.diag', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `SELECT x.one FROM patient p, LATERAL (SELECT 1 AS one FROM scratch s WHERE diag = '${c}') x`, expect: REFUSE_OR_REWRITE });
});

attack('correlated EXISTS subquery: unqualified ssn is the outer patient.ssn', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `SELECT id FROM patient WHERE EXISTS (SELECT 1 FROM scratch WHERE ssn = '${c}')`, expect: REFUSE_OR_REWRITE });
});

attack('JOIN … ON with an unqualified protected column', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `SELECT 1 FROM scratch JOIN patient ON diag = '${c}'`, expect: REFUSE_OR_REWRITE });
});

attack('UPDATE scratch … FROM patient WHERE unqualified ssn = canary', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `UPDATE scratch SET t = 'x' FROM patient WHERE ssn = '${c}'`, expect: REFUSE_OR_REWRITE });
});

attack('DELETE FROM scratch USING patient WHERE unqualified diag = canary', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `DELETE FROM scratch USING patient WHERE diag = '${c}'`, expect: REFUSE_OR_REWRITE });
});

attack('an unqualified column both scratch and patient have (name): ambiguous, must not be forwarded', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `SELECT 1 FROM scratch s, patient p WHERE name = '${c}'`, expect: { refuse: ['0A000', '42702'] } });
});

attack('a subquery column alias that hides a protected column name (SELECT … AS ssn FROM scratch)', async (t) => {
  // The outer ssn is the subquery's (plain) column: the value may go through in clear only because
  // it is compared to a plain column; the proxy must not encrypt it nor confuse it with patient.ssn.
  await t.step({ user: 'writer', sql: "SELECT s.ssn FROM (SELECT t AS ssn FROM scratch) s, patient p WHERE s.ssn = 'scratch one' AND p.id = 1",
    expect: REFUSE_OR_REWRITE, check: (o) => (o.rows.length === 1 ? null : `expected one row, got ${JSON.stringify(o.rows)}`) });
});

// ---- renames --------------------------------------------------------------------------------

attack('ALTER SCHEMA public RENAME TO x, then INSERT INTO x.patient', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'ALTER SCHEMA public RENAME TO x412', ...blocked });
  await t.step({ user: 'writer', sql: `INSERT INTO x412.patient (id, name) VALUES (412, '${c}')`, expect: 'safe' });
});

attack('ALTER SCHEMA archive RENAME TO public2, then INSERT INTO public2.patient (id, note)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'ALTER SCHEMA archive RENAME TO public2', ...blocked });
  await t.step({ user: 'writer', sql: `INSERT INTO public2.patient (id, note) VALUES (413, '${c}')`, expect: 'safe' });
});

attack('ALTER TABLE patient RENAME TO patient_old, then INSERT INTO patient_old', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'ALTER TABLE patient RENAME TO patient_old', ...blocked });
  await t.step({ user: 'writer', sql: `INSERT INTO patient_old (id, name) VALUES (414, '${c}')`, expect: 'safe' });
});

attack('ALTER TABLE patient RENAME COLUMN name TO nm, then INSERT INTO patient (id, nm)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'ALTER TABLE patient RENAME COLUMN name TO nm', ...blocked });
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, nm) VALUES (415, '${c}')`, expect: 'safe' });
});

attack('swap a plain and an encrypted column by renames, then write the "plain" one', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'ALTER TABLE patient RENAME COLUMN note TO note_old', ...setupOrBlock });
  await t.step({ user: 'writer', sql: 'ALTER TABLE patient RENAME COLUMN name TO note', ...blocked });
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, note, note_old) VALUES (416, '${c}', 'x')`, expect: 'safe' });
});

attack('ALTER TABLE … RENAME of the policy table through ALTER TABLE IF EXISTS ONLY / quoted names', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'ALTER TABLE IF EXISTS ONLY "public"."patient" RENAME TO "p_old"', ...blocked });
  await t.step({ user: 'writer', sql: `INSERT INTO p_old (id, ssn, name) VALUES (417, '${c}', 'n')`, expect: 'safe' });
});

attack('rename the real patient away, then SELECT … INTO patient (a new plain table under the policy name)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'ALTER TABLE patient RENAME TO p_away', ...blocked });
  await t.step({ user: 'writer', sql: `SELECT 418 AS id, '${c}'::text AS name INTO patient`, expect: 'safe' });
});

attack('CREATE TABLE IF NOT EXISTS patient AS SELECT … (a policy table name, the value in clear)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `CREATE TABLE IF NOT EXISTS patient AS SELECT 419 AS id, '${c}'::text AS name`, expect: REFUSE_UNSUPPORTED });
});

attack('CREATE TABLE clinic AS SELECT … (a policy table not created yet)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `CREATE TABLE clinic AS SELECT 420 AS id, '${c}'::text AS secret`, expect: REFUSE_UNSUPPORTED });
});

// ---- inheritance and partitions -------------------------------------------------------------

attack('CREATE TABLE child () INHERITS (patient), then INSERT INTO child', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'CREATE TABLE child421 () INHERITS (patient)', ...blocked });
  await t.step({ user: 'writer', sql: `INSERT INTO child421 (id, name) VALUES (421, '${c}')`, expect: 'safe' });
});

attack('ALTER TABLE patient INHERIT parent, then UPDATE parent (reaches patient rows)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'CREATE TABLE parent422 (id integer, name bytea)', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'ALTER TABLE patient INHERIT parent422', ...blocked });
  await t.step({ user: 'writer', sql: `UPDATE parent422 SET name = convert_to('${c}', 'UTF8') WHERE id = 1`, expect: 'safe' });
});

attack('ALTER TABLE parent ATTACH PARTITION patient (parent made by a migration), then UPDATE the parent', async (t) => {
  const c = t.canary();
  const cols = await t.env.admin!.query<{ d: string }>(
    "SELECT string_agg(format('%I %s%s', attname, format_type(atttypid, atttypmod), CASE WHEN attnotnull THEN ' NOT NULL' ELSE '' END), ', ' ORDER BY attnum) AS d FROM pg_attribute WHERE attrelid = 'public.patient'::regclass AND attnum > 0 AND NOT attisdropped");
  // The partitioned parent is created by the database owner (a migration), outside the proxy.
  await t.env.admin!.query(`CREATE TABLE pp423 (${cols.rows[0]!.d}) PARTITION BY RANGE (id); ALTER TABLE pp423 OWNER TO clarus_owner`);
  await t.step({ user: 'writer', sql: 'ALTER TABLE pp423 ATTACH PARTITION patient FOR VALUES FROM (0) TO (1000000)', ...blocked });
  await t.step({ user: 'writer', sql: `UPDATE pp423 SET name = convert_to('${c}', 'UTF8') WHERE id = 2`, expect: 'safe' });
});

// ---- temporary tables -----------------------------------------------------------------------

attack('CREATE TEMP TABLE patient, then INSERT INTO pg_temp.patient', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'CREATE TEMP TABLE patient (id integer, name text)', ...setupOrBlock });
  await t.step({ user: 'writer', sql: `INSERT INTO pg_temp.patient (id, name) VALUES (424, '${c}')`, expect: 'safe' });
});

attack('CREATE TEMP TABLE patient (LIKE scratch): the unqualified name now resolves to the temp table', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'CREATE TEMP TABLE patient (LIKE scratch)', ...setupOrBlock });
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, name) VALUES (425, '${c}')`, expect: 'safe' });
  await t.step({ user: 'writer', sql: `SELECT id FROM patient WHERE name = '${c}'`, expect: 'safe' });
});

// ---- search_path --------------------------------------------------------------------------

attack('read-only user: ALTER ROLE CURRENT_USER SET search_path = archive, public; then a NEW writer session', async (t) => {
  const c = t.canary();
  await t.step({ user: 'reader', sql: 'ALTER ROLE CURRENT_USER SET search_path = archive, public', expect: REFUSE_ANY, stopIfRefused: true });
  await t.step({ user: 'writer', session: 'writer-new', sql: `INSERT INTO patient (id, note) VALUES (427, '${c}')`, expect: 'safe' });
});

attack('SET search_path = archive, public; then INSERT INTO patient (id, note)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'SET search_path = archive, public', ...setupOrBlock });
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, note) VALUES (428, '${c}')`, expect: 'safe' });
});

attack('SET SESSION search_path TO archive (one schema, no public)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'SET SESSION search_path TO archive', ...setupOrBlock });
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, note) VALUES (429, '${c}')`, expect: 'safe' });
});

attack('BEGIN; SET LOCAL search_path = archive; INSERT …; COMMIT', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'BEGIN', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'SET LOCAL search_path = archive', ...setupOrBlock });
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, note) VALUES (430, '${c}')`, expect: 'safe' });
  await t.step({ user: 'writer', sql: 'COMMIT', expect: 'safe' });
});

attack('ALTER DATABASE … SET search_path = archive, public; then a NEW session', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'ALTER DATABASE adv SET search_path = archive, public', ...setupOrBlock });
  await t.step({ user: 'writer', session: 'writer-new', sql: `INSERT INTO patient (id, note) VALUES (431, '${c}')`, expect: 'safe' });
});

attack('ALTER ROLE … IN DATABASE … SET search_path by the writer, then a NEW session', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'ALTER ROLE CURRENT_USER IN DATABASE adv SET search_path = archive', ...setupOrBlock });
  await t.step({ user: 'writer', session: 'writer-new', sql: `INSERT INTO patient (id, note) VALUES (432, '${c}')`, expect: 'safe' });
});

attack('StartupMessage options=-c search_path=archive,public', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', startup: { options: '-c search_path=archive,public' }, sql: `INSERT INTO patient (id, note) VALUES (433, '${c}')`, expect: 'safe' });
});

attack('StartupMessage parameter search_path=archive', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', startup: { search_path: 'archive' }, sql: `INSERT INTO patient (id, note) VALUES (434, '${c}')`, expect: 'safe' });
});

attack('read-only user: SET search_path = archive, then reads patient (archive has no plaintext view for it either)', async (t) => {
  const s = t.secret();
  await t.step({ user: 'writer', sql: `INSERT INTO archive.patient (id, note) VALUES (435, '${s}')`, expect: 'ok' });
  await t.step({ user: 'reader', sql: 'SET search_path = archive', ...setupOrBlock });
  await t.step({ user: 'reader', sql: 'SELECT id, note FROM patient', expect: 'safe' });
});

// ---- quoted and escaped identifiers ---------------------------------------------------------

const spellings: Array<[string, string]> = [
  ['"patient" ("id", "name")', 'quoted table and columns'],
  ['public."patient" (id, name)', 'qualified, quoted table'],
  ['"public".patient (id, "name")', 'quoted schema'],
  ['PUBLIC.PATIENT (ID, NAME)', 'upper case'],
  ['U&"\\0070atient" (id, U&"n\\0061me")', 'Unicode-escaped identifiers'],
  ['U&"!0070atient" UESCAPE \'!\' (id, name)', 'Unicode escapes with UESCAPE'],
  ['adv.public.patient (id, name)', 'catalog-qualified (database.schema.table)'],
  ['"public" . "patient" (id, name)', 'spaces around the dot'],
];
for (const [target, what] of spellings) {
  attack(`INSERT INTO ${target} — ${what}`, async (t) => {
    const c = t.canary();
    await t.step({ user: 'writer', sql: `INSERT INTO ${target} VALUES (440, '${c}')`,
      expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT name FROM patient WHERE id = 440', [{ name: c }]) });
  });
}

attack('"Patient" (capitalised) is another, unprotected table: the proxy must not treat it as patient', async (t) => {
  await t.step({ user: 'writer', sql: 'CREATE TABLE "Patient" (id integer, name text)', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'INSERT INTO "Patient" VALUES (1, \'visible\')', expect: 'ok' });
  await t.step({ user: 'reader', sql: 'SELECT name FROM "Patient"', expect: 'ok', noFingerprint: true,
    check: (o) => (JSON.stringify(o.rows) === JSON.stringify([{ name: 'visible' }]) ? null : `read ${JSON.stringify(o.rows)}`) });
});

attack("Flyway's set_config('search_path', $1, false): another schema at Bind is refused, the pinned schemas in another order are accepted", async (t) => {
  const bind = (value: string) => async (raw: RawSession) => {
    raw.send(wire.parse('', "SELECT set_config('search_path', $1, false)"), wire.bind('', '', [value]), wire.execute(), wire.sync());
    return raw.collect();
  };
  const shows = (expected: string) => (o: { rows: unknown[] }) => (JSON.stringify(o.rows) === JSON.stringify([[expected]]) ? null : `search_path is ${JSON.stringify(o.rows)}, expected ${expected}`);
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: "Parse set_config('search_path', $1) + Bind 'archive, public'", expect: 'safe', action: bind('archive, public') });
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: 'SHOW search_path', expect: 'ok', check: shows('"$user", public') });
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: "Parse set_config('search_path', $1) + Bind '\"public\",\"$user\", public'", expect: 'ok', action: bind('"public","$user", public') });
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: 'SHOW search_path', expect: 'ok', check: shows('"public","$user", public') });
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: 'SET search_path TO archive, "$user"', expect: REFUSE_UNSUPPORTED });
});
