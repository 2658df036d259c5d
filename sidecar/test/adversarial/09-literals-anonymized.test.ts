// Class 9 — smaller leaks:
//  - anonymized columns (zip: generalized to 3 characters, phone: masked to the last 2) are stored
//    anonymized, but a comparison value in WHERE must not reach the backend in full either;
//  - DEFAULT / GENERATED expressions and domain defaults on protected columns (a value the backend
//    would store un-encrypted or un-anonymized, and that the DDL itself shows);
//  - every literal form: B'…' and X'…' bit strings, E'' escapes, U&'' escapes, dollar quotes,
//    string continuation across lines — each must be encrypted as the value PostgreSQL would see;
//  - comments.
//
// Comments: a comment is not a value of a protected column, and the proxy's contract is about
// column values (docs/security-model.md: statement shapes are visible to the provider). So a
// canary written inside a comment is NOT counted as a leak here (it is not registered with the
// scan); the comment tests only check that comments do not change how the real value next to them
// is protected.
import { adversarialSuite, bitsOf, hexOf, readsBack, rev, REFUSE_OR_REWRITE, REFUSE_UNSUPPORTED } from './harness.ts';

const { attack } = adversarialSuite();
const blocked = { expect: REFUSE_UNSUPPORTED, stopIfRefused: true } as const;

// ---- comparisons on anonymized columns ------------------------------------------------------

const comparisons: Array<[string, (c: string) => string, unknown[]?]> = [
  ["SELECT … WHERE zip = '75011 <canary>' (generalized column)", (c) => `SELECT id FROM patient WHERE zip = '75011 ${c}'`],
  ["SELECT … WHERE phone = '<canary>' (masked column)", (c) => `SELECT id FROM patient WHERE phone = '06${c}'`],
  ['SELECT … WHERE zip IN (…)', (c) => `SELECT id FROM patient WHERE zip IN ('${c}', '75011')`],
  ["SELECT … WHERE zip LIKE '<canary>%'", (c) => `SELECT id FROM patient WHERE zip LIKE '${c}%'`],
  ['UPDATE … WHERE zip = <canary>', (c) => `UPDATE patient SET note = 'x' WHERE zip = '${c}'`],
  ['DELETE … WHERE phone = <canary>', (c) => `DELETE FROM patient WHERE phone = '${c}'`],
  ['SELECT … WHERE zip = $1 (parameter)', () => 'SELECT id FROM patient WHERE zip = $1', ['CANARY']],
  ['JOIN … ON zip = <canary>', (c) => `SELECT v.visit_id FROM visit v JOIN patient p ON p.id = v.pat_id AND p.zip = '${c}'`],
  ['zip compared in a CASE of the select list', (c) => `SELECT CASE WHEN zip = '${c}' THEN 1 ELSE 0 END AS hit FROM patient`],
];
for (const [name, sql, params] of comparisons) {
  attack(`anonymized column compared in WHERE: ${name}`, async (t) => {
    const c = t.canary();
    await t.step({ user: 'writer', sql: sql(c), ...(params ? { params: [c] } : {}), expect: REFUSE_OR_REWRITE });
  });
}

// The same class through every other shape: each either refused (0A000) or rewritten so that
// only the anonymized form reaches the backend.
const shapes: Array<[string, (c: string) => string, unknown[]?]> = [
  ['zip <> <canary>', (c) => `SELECT id FROM patient WHERE zip <> '${c}'`],
  ['zip NOT IN (…)', (c) => `SELECT id FROM patient WHERE zip NOT IN ('${c}')`],
  ['<canary> = zip (commuted)', (c) => `SELECT id FROM patient WHERE '${c}' = zip`],
  ['zip IS NOT DISTINCT FROM <canary>', (c) => `SELECT id FROM patient WHERE zip IS NOT DISTINCT FROM '${c}'`],
  ['zip IS DISTINCT FROM $1', () => 'SELECT id FROM patient WHERE zip IS DISTINCT FROM $1', ['CANARY']],
  ['zip IN ($1, <canary>)', (c) => `SELECT id FROM patient WHERE zip IN ($1, '${c}')`, ['CANARY']],
  ['zip = <canary>::text', (c) => `SELECT id FROM patient WHERE zip = '${c}'::text`],
  ['CASE zip WHEN <canary> (simple CASE)', (c) => `SELECT CASE zip WHEN '${c}' THEN 1 ELSE 0 END AS hit FROM patient`],
  ['CASE phone WHEN $1', () => 'SELECT CASE phone WHEN $1 THEN 1 ELSE 0 END AS hit FROM patient', ['CANARY']],
  ['zip > <canary> (range)', (c) => `SELECT id FROM patient WHERE zip > '${c}'`],
  ['zip BETWEEN <canary> AND …', (c) => `SELECT id FROM patient WHERE zip BETWEEN '${c}' AND 'ZZZ'`],
  ['zip LIKE $1', () => 'SELECT id FROM patient WHERE zip LIKE $1', ['CANARY']],
  ['upper(zip) = <canary>', (c) => `SELECT id FROM patient WHERE upper(zip) = '${c}'`],
  ["zip || 'x' = <canary>", (c) => `SELECT id FROM patient WHERE zip || 'x' = '${c}'`],
  ['zip::text = <canary> (cast on the column)', (c) => `SELECT id FROM patient WHERE zip::text = '${c}'`],
  ['zip = ANY (ARRAY[<canary>])', (c) => `SELECT id FROM patient WHERE zip = ANY (ARRAY['${c}'])`],
  ['(zip, id) = (<canary>, 1)', (c) => `SELECT id FROM patient WHERE (zip, id) = ('${c}', 1)`],
  ['zip = (SELECT <canary>)', (c) => `SELECT id FROM patient WHERE zip = (SELECT '${c}')`],
  ['zip IN (SELECT <canary>)', (c) => `SELECT id FROM patient WHERE zip IN (SELECT '${c}')`],
  ['zip = x.v from VALUES (<canary>)', (c) => `SELECT * FROM (VALUES ('${c}')) x(v) WHERE EXISTS (SELECT 1 FROM patient tt WHERE tt.zip = x.v)`],
  ['NULLIF(zip, <canary>)', (c) => `SELECT NULLIF(zip, '${c}') AS z FROM patient`],
  ['COALESCE(zip, <canary>) in the select list', (c) => `SELECT COALESCE(zip, '${c}') AS z FROM patient`],
  ['GREATEST(zip, <canary>)', (c) => `SELECT GREATEST(zip, '${c}') AS z FROM patient`],
  ['zip compared in a WITH query', (c) => `WITH c AS (SELECT id, zip AS v FROM patient) SELECT id FROM c WHERE v = '${c}'`],
  ['zip compared through a FROM subquery', (c) => `SELECT s.id FROM (SELECT id, zip FROM patient) s WHERE s.zip = '${c}'`],
  ['zip compared through a FROM subquery with renamed columns', (c) => `SELECT s.i FROM (SELECT id, zip FROM patient) s(i, z) WHERE s.z LIKE '${c}%'`],
  ['zip through an aliased column list of the table', (c) => `SELECT p.a FROM patient p(a, b, c, d, e) WHERE p.e LIKE '${c}%'`],
  ['zip IN (subquery of the table) with a LIKE', (c) => `SELECT id FROM patient WHERE zip IN (SELECT zip FROM patient WHERE zip LIKE '${c}%')`],
  ['HAVING zip = <canary>', (c) => `SELECT count(*) AS n FROM patient GROUP BY zip HAVING zip = '${c}'`],
  ['HAVING with a LIKE', (c) => `SELECT count(*) AS n FROM patient GROUP BY zip HAVING zip LIKE '${c}%'`],
  ['count(*) FILTER (WHERE zip LIKE <canary>)', (c) => `SELECT count(*) FILTER (WHERE zip LIKE '${c}%') AS n FROM patient`],
  ['ORDER BY a function of zip and a constant', (c) => `SELECT id FROM patient ORDER BY strpos(zip, '${c}')`],
  ['a LATERAL subquery comparing the outer zip', (c) => `SELECT l.one FROM patient tt, LATERAL (SELECT 1 AS one FROM scratch sc WHERE tt.zip LIKE '${c}%') l`],
  ['UPDATE … SET note = zip || <canary>', (c) => `UPDATE patient SET note = zip || '${c}' WHERE id = 1`],
  ['UPDATE … WHERE phone LIKE <canary>', (c) => `UPDATE patient SET note = 'x' WHERE phone LIKE '%${c}'`],
  ['DELETE … WHERE zip IN (…) OR phone = $1', (c) => `DELETE FROM patient WHERE zip IN ('${c}') OR phone = $1`, ['CANARY']],
  ['INSERT … ON CONFLICT DO UPDATE … WHERE zip LIKE', (c) => `INSERT INTO patient (id, name) VALUES (1, 'n') ON CONFLICT (id) DO UPDATE SET note = 'x' WHERE patient.zip LIKE '${c}%'`],
];
for (const [name, sql, params] of shapes) {
  attack(`anonymized column with a value: ${name}`, async (t) => {
    const c = t.canary();
    await t.step({ user: 'writer', sql: sql(c), ...(params ? { params: params.map(() => c) } : {}), expect: REFUSE_OR_REWRITE });
  });
}

attack('anonymized equality finds the rows whose anonymized value matches', async (t) => {
  await t.step({ user: 'writer', sql: "SELECT id FROM patient WHERE zip = '08012' ORDER BY id", expect: 'ok',
    check: (o) => (JSON.stringify(o.rows) === '[{"id":1}]' ? null : `found ${JSON.stringify(o.rows)} instead of [{"id":1}] (080** = anonymized 08012)`) });
  await t.step({ user: 'writer', sql: 'SELECT id FROM patient WHERE phone IN ($1) ORDER BY id', params: ['9999999955'], expect: 'ok',
    check: (o) => (JSON.stringify(o.rows) === '[{"id":2}]' ? null : `found ${JSON.stringify(o.rows)} instead of [{"id":2}] (masked phone ending in 55)`) });
});

const elsewhere: Array<[string, (c: string) => string]> = [
  ['INSERT … ON CONFLICT (id) WHERE diag = <canary> (index inference)', (c) => `INSERT INTO patient (id, name) VALUES (1, 'n') ON CONFLICT (id) WHERE diag = '${c}' DO NOTHING`],
  ['INSERT … ON CONFLICT ((zip || <canary>))', (c) => `INSERT INTO patient (id, name) VALUES (1, 'n') ON CONFLICT ((zip || '${c}')) DO NOTHING`],
  ['INSERT INTO scratch … ON CONFLICT DO UPDATE SET t = (SELECT … WHERE zip LIKE <canary>)', (c) => `INSERT INTO scratch (id, t) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET t = (SELECT max(note) FROM patient WHERE zip LIKE '${c}%')`],
  ['CREATE INDEX ON patient ((zip || <canary>))', (c) => `CREATE INDEX zc ON patient ((zip || '${c}'))`],
  ['SELECT DISTINCT ON (diag = <canary>)', (c) => `SELECT DISTINCT ON (diag = '${c}') id FROM patient`],
  ['SELECT DISTINCT ON (zip LIKE <canary>)', (c) => `SELECT DISTINCT ON (zip LIKE '${c}%') id FROM patient`],
];
for (const [name, sql] of elsewhere) {
  attack(`a value next to a protected column elsewhere in a statement: ${name}`, async (t) => {
    const c = t.canary();
    await t.step({ user: 'writer', sql: sql(c), expect: REFUSE_OR_REWRITE });
  });
}

attack('an encrypted column against ALL (subquery of a constant)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `SELECT id FROM patient WHERE name <> ALL (SELECT '${c}')`, expect: REFUSE_OR_REWRITE });
});

attack('an encrypted column in an aggregate FILTER', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `SELECT count(*) FILTER (WHERE diag = '${c}') AS n FROM patient`, expect: REFUSE_OR_REWRITE });
});

attack('anonymized column compared by the read-only user', async (t) => {
  const c = t.canary();
  await t.step({ user: 'reader', sql: `SELECT id FROM patient WHERE zip = '${c}'`, expect: REFUSE_OR_REWRITE });
});

attack('INSERT into anonymized columns stores only the anonymized form', async (t) => {
  const c = t.canary();
  const p = t.canary();
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, name, zip, phone) VALUES (901, 'n', '${c}', '${p}')`, expect: 'ok',
    check: readsBack(t, 'SELECT zip, phone FROM patient WHERE id = 901', [{ zip: `${c.slice(0, 3)}${'*'.repeat(c.length - 3)}`, phone: `${'*'.repeat(p.length - 2)}${p.slice(-2)}` }]) });
});

attack('UPDATE of an anonymized column from an expression over another column', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `UPDATE patient SET zip = note || '${c}' WHERE id = 1`, expect: REFUSE_UNSUPPORTED });
});

// ---- DEFAULT, GENERATED, domains ------------------------------------------------------------

attack('ALTER TABLE patient ALTER COLUMN zip SET DEFAULT <canary> (anonymized)', async (t) => {
  const c = t.canary();
  // Stored anonymized (issue 11), as an INSERT of the constant would store it; or refused.
  await t.step({ user: 'writer', sql: `ALTER TABLE patient ALTER COLUMN zip SET DEFAULT '75011 ${c}'`, expect: REFUSE_OR_REWRITE, stopIfRefused: true });
  await t.step({ user: 'writer', sql: "INSERT INTO patient (id, name) VALUES (1101, 'n')", expect: 'ok',
    check: readsBack(t, 'SELECT zip FROM patient WHERE id = 1101', [{ zip: `750${'*'.repeat(`75011 ${c}`.length - 3)}` }]) });
});

attack('ALTER TABLE patient ALTER COLUMN name SET DEFAULT <canary> (encrypted)', async (t) => {
  const c = t.canary();
  // Stored encrypted (issue 11), as an INSERT of the constant would store it; or refused.
  await t.step({ user: 'writer', sql: `ALTER TABLE patient ALTER COLUMN name SET DEFAULT '${c}'`, expect: REFUSE_OR_REWRITE, stopIfRefused: true });
  await t.step({ user: 'writer', sql: 'INSERT INTO patient (id) VALUES (1102)', expect: 'ok',
    check: readsBack(t, 'SELECT name FROM patient WHERE id = 1102', [{ name: c }]) });
});

attack('CREATE TABLE clinic (… secret text DEFAULT <canary>) (encrypted)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `CREATE TABLE clinic (id integer PRIMARY KEY, info text, secret text DEFAULT '${c}', zipc text)`, expect: REFUSE_UNSUPPORTED });
});

attack('CREATE TABLE clinic (… zipc text DEFAULT <canary>) (generalized), then a row using the default', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `CREATE TABLE clinic (id integer PRIMARY KEY, info text, secret text, zipc text DEFAULT '75011 ${c}')`, expect: REFUSE_OR_REWRITE });
  await t.step({ user: 'writer', sql: 'INSERT INTO clinic (id, info) VALUES (902, \'i\')', expect: 'safe' });
});

attack('CREATE TABLE clinic (… zipc GENERATED ALWAYS AS (reverse(info)) STORED)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'CREATE TABLE clinic (id integer PRIMARY KEY, info text, secret text, zipc text GENERATED ALWAYS AS (reverse(info)) STORED)', ...blocked });
  await t.step({ user: 'writer', sql: `INSERT INTO clinic (id, info) VALUES (903, '${rev(c)}')`, expect: 'safe' });
});

attack('CREATE TABLE clinic (… secret GENERATED ALWAYS AS (reverse(info)) STORED) (encrypted)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'CREATE TABLE clinic (id integer PRIMARY KEY, info text, secret text GENERATED ALWAYS AS (reverse(info)) STORED, zipc text)', ...blocked });
  await t.step({ user: 'writer', sql: `INSERT INTO clinic (id, info) VALUES (904, '${rev(c)}')`, expect: 'safe' });
});

attack('ALTER TABLE patient ADD COLUMN … GENERATED from an encrypted column', async (t) => {
  await t.step({ user: 'writer', sql: 'ALTER TABLE patient ADD COLUMN name_copy bytea GENERATED ALWAYS AS (name) STORED', expect: REFUSE_UNSUPPORTED });
});

attack('a domain with a DEFAULT as the type of an anonymized column', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `CREATE DOMAIN zipdom905 AS text DEFAULT reverse('${rev(c)}')`, ...{ expect: 'safe', stopIfRefused: true } });
  await t.step({ user: 'writer', sql: 'CREATE TABLE clinic (id integer PRIMARY KEY, info text, secret text, zipc zipdom905)', expect: 'safe', stopIfRefused: true });
  await t.step({ user: 'writer', sql: "INSERT INTO clinic (id, info) VALUES (905, 'i')", expect: 'safe' });
});

attack('ALTER DOMAIN … SET DEFAULT after the table uses it', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'CREATE DOMAIN zipdom906 AS text', expect: 'safe', stopIfRefused: true });
  await t.step({ user: 'writer', sql: 'CREATE TABLE clinic (id integer PRIMARY KEY, info text, secret text, zipc zipdom906)', expect: 'safe', stopIfRefused: true });
  await t.step({ user: 'writer', sql: `ALTER DOMAIN zipdom906 SET DEFAULT reverse('${rev(c)}')`, expect: 'safe', stopIfRefused: true });
  await t.step({ user: 'writer', sql: "INSERT INTO clinic (id, info) VALUES (906, 'i')", expect: 'safe' });
});

attack('CREATE TABLE clinic (… zipc text DEFAULT NULL) is allowed (stores nothing)', async (t) => {
  await t.step({ user: 'writer', sql: 'CREATE TABLE clinic (id integer PRIMARY KEY, info text, secret text DEFAULT NULL, zipc text DEFAULT NULL::text)', expect: 'ok' });
});

const ddlShapes: Array<[string, (c: string) => string]> = [
  ['CREATE TABLE clinic (… zipc CHECK (zipc <> <canary>))', (c) => `CREATE TABLE clinic (id integer PRIMARY KEY, info text, secret text, zipc text CHECK (zipc <> '${c}'))`],
  ['CREATE TABLE clinic (…, CHECK (zipc <> <canary>)) (table constraint)', (c) => `CREATE TABLE clinic (id integer PRIMARY KEY, info text, secret text, zipc text, CHECK (zipc <> '${c}'))`],
  ['CREATE TABLE clinic (… zipc text GENERATED ALWAYS AS (<canary>) STORED)', (c) => `CREATE TABLE clinic (id integer PRIMARY KEY, info text, secret text, zipc text GENERATED ALWAYS AS ('${c}') STORED)`],
  ['CREATE TABLE clinic (… zipc text DEFAULT <canary>::text)', (c) => `CREATE TABLE clinic (id integer PRIMARY KEY, info text, secret text, zipc text DEFAULT '${c}'::text)`],
  ['CREATE TABLE clinic (… zipc public.text) (a domain named like a built-in)', () => 'CREATE TABLE clinic (id integer PRIMARY KEY, info text, secret text, zipc public.text)'],
  ['ALTER TABLE patient ADD COLUMN … GENERATED from an anonymized column and a constant', (c) => `ALTER TABLE patient ADD COLUMN zip2 text GENERATED ALWAYS AS (zip || '${c}') STORED`],
  ['ALTER TABLE patient ADD CONSTRAINT … CHECK (zip <> <canary>)', (c) => `ALTER TABLE patient ADD CONSTRAINT zc CHECK (zip <> '${c}')`],
  ['ALTER TABLE patient ALTER COLUMN zip TYPE a domain', () => 'ALTER TABLE patient ALTER COLUMN zip TYPE zipdom909'],
];
for (const [name, sql] of ddlShapes) {
  attack(`DDL putting a value next to a protected column: ${name}`, async (t) => {
    const c = t.canary();
    if (name.includes('domain')) await t.step({ user: 'writer', sql: `CREATE DOMAIN ${name.includes('public.text') ? 'public.text' : 'zipdom909'} AS pg_catalog.text DEFAULT reverse('${rev(c)}')`, expect: 'safe', stopIfRefused: true });
    await t.step({ user: 'writer', sql: sql(c), expect: REFUSE_UNSUPPORTED, stopIfRefused: true });
    await t.step({ user: 'writer', sql: "INSERT INTO clinic (id, info) VALUES (909, 'i')", expect: 'safe' });
  });
}

// ---- literal forms --------------------------------------------------------------------------

attack("B'…' bit-string literal into an encrypted text column", async (t) => {
  // PostgreSQL stores the text form of the bit string ('0100…'): that is the value to protect.
  const c = t.canary();
  t.extraForms.set(c, { 'bit string': bitsOf(c) });
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, name) VALUES (907, B'${bitsOf(c)}')`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT name FROM patient WHERE id = 907', [{ name: bitsOf(c) }]) });
});

attack("X'…' hex bit-string literal into an encrypted text column", async (t) => {
  const c = t.canary();
  t.extraForms.set(c, { 'bit string': bitsOf(c) });
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, name, diag) VALUES (908, 'n', X'${hexOf(c)}')`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT diag FROM patient WHERE id = 908', [{ diag: bitsOf(c) }]) });
});

attack("B'…' compared with a deterministic column", async (t) => {
  const c = t.canary();
  t.extraForms.set(c, { 'bit string': bitsOf(c) });
  await t.step({ user: 'writer', sql: `SELECT id FROM patient WHERE diag = B'${bitsOf(c)}'::text`, expect: REFUSE_OR_REWRITE });
});

attack("B'…' bit-string literal into an anonymized (masked) text column", async (t) => {
  const c = t.canary();
  t.extraForms.set(c, { 'bit string': bitsOf(c) });
  const bits = bitsOf(c);
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, name, phone) VALUES (911, 'n', B'${bits}')`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT phone FROM patient WHERE id = 911', [{ phone: `${'*'.repeat(bits.length - 2)}${bits.slice(-2)}` }]) });
});

attack("B'…' bit-string literal cast to an integer into a protected column", async (t) => {
  const c = t.canary();
  t.extraForms.set(c, { 'bit string': bitsOf(c) });
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, name) VALUES (912, B'${bitsOf(c).slice(0, 31)}'::int)`, expect: REFUSE_UNSUPPORTED });
});

attack('a constant cast to varchar(n) into an encrypted column (PostgreSQL would truncate it)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, name) VALUES (913, '${c}'::varchar(9))`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT name FROM patient WHERE id = 913', [{ name: c.slice(0, 9) }]) });
});

attack('a parameter cast to bytea into an anonymized column', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'UPDATE patient SET phone = $1::bytea WHERE id = 1', params: [c],
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT phone FROM patient WHERE id = 1', [{ phone: `${'*'.repeat(2 + 2 * c.length - 2)}${hexOf(c).slice(-2)}` }]) });
});

attack('a parameter cast to bytea compared with a deterministic column', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'SELECT id FROM patient WHERE diag = $1::bytea', params: [c], expect: REFUSE_OR_REWRITE });
});

const spelled: Array<[string, (c: string) => string]> = [
  ["E'\\x43…' hex escape", (c) => `E'\\x${hexOf(c[0] as string)}${c.slice(1)}'`],
  ["E'\\103…' octal escape", (c) => `E'\\${(c.charCodeAt(0)).toString(8)}${c.slice(1)}'`],
  ["E'\\u0043…' Unicode escape", (c) => `E'\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}${c.slice(1)}'`],
  ["E'…' with escaped quote and backslash around the value", (c) => `E'\\\\${c}\\''`],
  ["U&'\\0043…'", (c) => `U&'\\${c.charCodeAt(0).toString(16).padStart(4, '0')}${c.slice(1)}'`],
  ["U&'!0043…' UESCAPE '!'", (c) => `U&'!${c.charCodeAt(0).toString(16).padStart(4, '0')}${c.slice(1)}' UESCAPE '!'`],
  ['$$…$$', (c) => `$$${c}$$`],
  ['$tag$…$tag$ containing $$ and a quote', (c) => `$q$'$$${c}$q$`],
  ['string continuation across a newline', (c) => `'${c.slice(0, 6)}'\n'${c.slice(6)}'`],
  ['a cast to text', (c) => `'${c}'::text`],
  ['CAST(… AS varchar)', (c) => `CAST('${c}' AS varchar)`],
];
const expectedOf = (name: string, c: string): string => (name.startsWith("E'…' with escaped") ? `\\${c}'` : name.startsWith('$tag$') ? `'$$${c}` : c);
for (const [name, lit] of spelled) {
  attack(`literal form ${name} into an encrypted column`, async (t) => {
    const c = t.canary();
    await t.step({ user: 'writer', sql: `INSERT INTO patient (id, name) VALUES (910, ${lit(c)})`,
      expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT name FROM patient WHERE id = 910', [{ name: expectedOf(name, c) }]) });
  });
  attack(`literal form ${name} in a blind-index comparison`, async (t) => {
    const c = t.canary();
    await t.step({ user: 'writer', sql: `UPDATE patient SET ssn = $1 WHERE id = 1`, params: [expectedOf(name, c)], expect: 'ok' });
    await t.step({ user: 'writer', sql: `SELECT id FROM patient WHERE ssn = ${lit(c)}`,
      expect: REFUSE_OR_REWRITE, check: (o) => (JSON.stringify(o.rows) === '[{"id":1}]' ? null : `the blind-index search found ${JSON.stringify(o.rows)} instead of [{"id":1}]`) });
  });
}

// ---- comments -------------------------------------------------------------------------------

attack('a comment inside an INSERT over patient does not change how the value is protected', async (t) => {
  const c = t.canary();
  const inComment = `COMMENT_${c.slice(7)}`; // not registered: comments are not column values (see header)
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, name) VALUES (920, /* ${inComment} */ '${c}')`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT name FROM patient WHERE id = 920', [{ name: c }]) });
});

attack('a comment holding a quote between the column and its value', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `SELECT id FROM patient WHERE diag = /* ' */ '${c}' /* ' */`, expect: REFUSE_OR_REWRITE });
});

attack('nested block comments (PostgreSQL nests them) hiding a statement boundary', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `/* outer /* inner */ still a comment ' ; */ INSERT INTO patient (id, name) VALUES (921, '${c}')`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT name FROM patient WHERE id = 921', [{ name: c }]) });
});

attack('a -- comment ended by a carriage return', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, name) -- (id, note)\rVALUES (922, '${c}')`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT name FROM patient WHERE id = 922', [{ name: c }]) });
});

attack('a comment between a table name and its column list', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `INSERT INTO patient/**/(id,/**/name)VALUES(923,'${c}')`,
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT name FROM patient WHERE id = 923', [{ name: c }]) });
});
