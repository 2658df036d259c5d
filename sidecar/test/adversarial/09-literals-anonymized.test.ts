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
  await t.step({ user: 'writer', sql: `ALTER TABLE patient ALTER COLUMN zip SET DEFAULT '75011 ${c}'`, expect: REFUSE_UNSUPPORTED });
});

attack('ALTER TABLE patient ALTER COLUMN name SET DEFAULT <canary> (encrypted)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `ALTER TABLE patient ALTER COLUMN name SET DEFAULT '${c}'`, expect: REFUSE_UNSUPPORTED });
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
