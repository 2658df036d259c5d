// Class 10 — the DDL an ORM's migrations send (issue 11), turned against the protection:
//  - a DEFAULT set later (ALTER … SET DEFAULT) on a protected column: the constant must reach the
//    backend encrypted / anonymized, an expression never;
//  - foreign keys: to a protected table's plain row key they are plain DDL; to or from an encrypted
//    column (whose stored form is not the value) they are refused, and ON UPDATE CASCADE can never
//    copy ciphertext into a plain column;
//  - index expressions, partial-index predicates and operator classes over encrypted columns;
//  - ALTER COLUMN … TYPE … USING <constant>, ADD COLUMN of a policy column with a DEFAULT;
//  - the hidden storage (`<col>__bidx` columns, `clarus:` check constraints) dropped, altered or
//    renamed through the proxy, and a plain column renamed to a protected or hidden name.
import { adversarialSuite, readsBack, rev, REFUSE_OR_REWRITE, REFUSE_UNSUPPORTED } from './harness.ts';
import type { Attack } from './harness.ts';

const { attack, env } = adversarialSuite();
const blocked = { expect: REFUSE_UNSUPPORTED } as const;

/** The backend's own view (superuser, bypassing the proxy): one text column `x` per row. */
async function backendSays(sql: string): Promise<string[]> {
  const r = await env().admin!.query<{ x: string }>(sql);
  return r.rows.map((x) => String(x.x));
}

// ---- DEFAULT set after CREATE TABLE -----------------------------------------------------------

attack('ALTER … SET DEFAULT <canary> on a randomized column: stored encrypted, read back in clear', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `ALTER TABLE patient ALTER COLUMN name SET DEFAULT '${c}'`, expect: REFUSE_OR_REWRITE });
  await t.step({ user: 'writer', sql: 'INSERT INTO patient (id, note) VALUES (1001, \'defaulted\')', expect: 'ok',
    check: readsBack(t, 'SELECT name, note FROM patient WHERE id = 1001', [{ name: c, note: 'defaulted' }]) });
});

attack('ALTER … SET DEFAULT <canary> on a searchable column: the blind index follows, lookups find the row', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `ALTER TABLE patient ALTER COLUMN ssn SET DEFAULT '${c}'`, expect: REFUSE_OR_REWRITE });
  await t.step({ user: 'writer', sql: "INSERT INTO patient (id, name) VALUES (1002, 'n')", expect: 'ok',
    check: readsBack(t, `SELECT id, ssn FROM patient WHERE ssn = '${c}'`, [{ id: 1002, ssn: c }]) });
});

attack('ALTER … SET DEFAULT <canary> on a deterministic column, then equality', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `ALTER TABLE patient ALTER COLUMN diag SET DEFAULT '${c}'`, expect: REFUSE_OR_REWRITE });
  await t.step({ user: 'writer', sql: "INSERT INTO patient (id, name) VALUES (1003, 'n')", expect: 'ok',
    check: readsBack(t, `SELECT id FROM patient WHERE diag = '${c}'`, [{ id: 1003 }]) });
});

attack('ALTER … SET DEFAULT <canary> on an anonymized column: stored anonymized', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `ALTER TABLE patient ALTER COLUMN phone SET DEFAULT '06${c}'`, expect: REFUSE_OR_REWRITE });
  await t.step({ user: 'writer', sql: "INSERT INTO patient (id, name) VALUES (1004, 'n')", expect: 'ok',
    check: readsBack(t, 'SELECT phone FROM patient WHERE id = 1004', [{ phone: `${'*'.repeat(c.length)}${c.slice(-2)}` }]) });
});

const defaultExpressions: Array<[string, (c: string) => string]> = [
  ['reverse(<reversed canary>)', (c) => `reverse('${rev(c)}')`],
  ["'<canary>' || ''", (c) => `'${c}' || ''`],
  ['a scalar subquery', (c) => `(SELECT '${c}')`],
  ["'<canary>'::text::bytea", (c) => `'${c}'::text::bytea`],
  ['current_user', () => 'current_user'],
];
for (const [name, expr] of defaultExpressions) {
  attack(`ALTER … SET DEFAULT ${name} on an encrypted column is refused`, async (t) => {
    const c = t.canary();
    await t.step({ user: 'writer', sql: `ALTER TABLE patient ALTER COLUMN name SET DEFAULT ${expr(c)}`, ...blocked });
  });
}

attack('ALTER … ADD COLUMN of a policy column with DEFAULT <canary>: encrypted or refused', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'CREATE TABLE clinic (id integer PRIMARY KEY, info text)', expect: 'ok' });
  await t.step({ user: 'writer', sql: "INSERT INTO clinic (id, info) VALUES (1, 'existing row')", expect: 'ok' });
  await t.step({ user: 'writer', sql: `ALTER TABLE clinic ADD COLUMN secret text DEFAULT '${c}'`, expect: REFUSE_OR_REWRITE,
    check: readsBack(t, 'SELECT secret FROM clinic WHERE id = 1', [{ secret: c }]) });
});

attack('ALTER … ADD COLUMN of a policy column: bytea in the backend, values written through the proxy encrypted', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'CREATE TABLE clinic (id integer PRIMARY KEY, info text)', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'ALTER TABLE clinic ADD COLUMN secret varchar(80) NOT NULL DEFAULT NULL', expect: 'safe' });
  await t.step({ user: 'writer', sql: 'ALTER TABLE clinic ADD COLUMN IF NOT EXISTS secret text', expect: 'ok',
    check: async () => {
      const types = await backendSays("SELECT data_type AS x FROM information_schema.columns WHERE table_name = 'clinic' AND column_name = 'secret'");
      return types.join() === 'bytea' ? null : `secret is stored as ${types.join()}`;
    } });
  await t.step({ user: 'writer', sql: `INSERT INTO clinic (id, secret) VALUES (2, '${c}')`, expect: 'ok',
    check: readsBack(t, 'SELECT secret FROM clinic WHERE id = 2', [{ secret: c }]) });
});

// ---- ALTER COLUMN TYPE ------------------------------------------------------------------------

attack('ALTER COLUMN … TYPE text USING <canary> on an encrypted column is refused', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `ALTER TABLE patient ALTER COLUMN name TYPE text USING '${c}'`, ...blocked });
  await t.step({ user: 'writer', sql: `ALTER TABLE patient ALTER COLUMN zip TYPE text USING '${c}'`, ...blocked });
});

attack('ALTER COLUMN … TYPE varchar(40) on an encrypted column keeps the values and the declared type', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, name) VALUES (1010, '${c}')`, expect: 'ok' });
  await t.step({ user: 'writer', sql: 'ALTER TABLE patient ALTER COLUMN name TYPE varchar(40)', expect: REFUSE_OR_REWRITE,
    check: async () => {
      const types = await backendSays("SELECT data_type AS x FROM information_schema.columns WHERE table_name = 'patient' AND column_name = 'name'");
      return types.join() === 'bytea' ? null : `name is stored as ${types.join()}`;
    } });
  await t.step({ user: 'writer', session: 'w2', sql: 'SELECT name FROM patient WHERE id = 1010', expect: 'ok',
    check: (o) => (JSON.stringify(o.rows) === JSON.stringify([{ name: c }]) ? null : `reads ${JSON.stringify(o.rows)}`) });
});

attack('ALTER COLUMN … TYPE integer on an encrypted text column (values would not stay valid) is refused', async (t) => {
  await t.step({ user: 'writer', sql: 'ALTER TABLE patient ALTER COLUMN name TYPE integer', ...blocked });
  await t.step({ user: 'writer', sql: 'ALTER TABLE patient ALTER COLUMN diag TYPE bytea', ...blocked });
});

// ---- foreign keys -----------------------------------------------------------------------------

attack('a foreign key to the plain row key of a protected table is plain DDL', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'CREATE TABLE invoice (id integer PRIMARY KEY, pat_id integer REFERENCES patient(id) ON DELETE CASCADE, memo text)', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'ALTER TABLE visit ADD CONSTRAINT visit_pat_fk FOREIGN KEY (pat_id) REFERENCES patient (id) DEFERRABLE INITIALLY DEFERRED', expect: 'ok' });
  // Hibernate's form names no referenced column: it references the dataset's rowKey (id).
  await t.step({ user: 'writer', sql: 'CREATE TABLE invoice2 (id integer PRIMARY KEY, pat_id integer REFERENCES patient)', expect: 'ok' });
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, name) VALUES (1020, '${c}')`, expect: 'ok' });
  await t.step({ user: 'writer', sql: "INSERT INTO invoice (id, pat_id, memo) VALUES (1, 1020, 'x')", expect: 'ok' });
  await t.step({ user: 'writer', sql: "INSERT INTO invoice (id, pat_id, memo) VALUES (2, 999999, 'x')", expect: 'safe',
    check: () => 'an FK violation was accepted' });
  await t.step({ user: 'writer', sql: 'INSERT INTO invoice2 (id, pat_id) VALUES (1, 999999)', expect: 'safe',
    check: () => 'an FK violation was accepted (REFERENCES patient without columns)' });
});

const badForeignKeys: Array<[string, string]> = [
  ['plain column → randomized column (ON UPDATE CASCADE would copy ciphertext)', 'CREATE TABLE leak (v bytea REFERENCES patient (name) ON UPDATE CASCADE)'],
  ['plain column → deterministic column', 'CREATE TABLE leak (v text, FOREIGN KEY (v) REFERENCES patient (diag))'],
  ['plain column → anonymized column', 'CREATE TABLE leak (v text REFERENCES patient (zip))'],
  ['encrypted column → a plain table', 'ALTER TABLE patient ADD CONSTRAINT f FOREIGN KEY (diag) REFERENCES scratch (t)'],
  ['plain column of a protected table → an encrypted column', 'ALTER TABLE visit ADD FOREIGN KEY (pat_id) REFERENCES patient (ssn)'],
  ['of two columns to a protected table without a column list (its primary key: the rowKey is one column)', 'CREATE TABLE leak (a integer, b text, FOREIGN KEY (a, b) REFERENCES patient)'],
];
for (const [name, sql] of badForeignKeys) {
  attack(`a foreign key ${name} is refused`, async (t) => {
    await t.step({ user: 'writer', sql, ...blocked });
  });
}

attack('CREATE TABLE … (LIKE patient) and a CHECK naming a protected table stay refused next to an accepted FK', async (t) => {
  await t.step({ user: 'writer', sql: 'CREATE TABLE leak (id integer REFERENCES patient (id), LIKE patient INCLUDING DEFAULTS)', ...blocked });
  await t.step({ user: 'writer', sql: 'CREATE TABLE leak (id integer REFERENCES patient (id), n text CHECK (n <> (SELECT name FROM patient LIMIT 1)))', ...blocked });
});

// ---- indexes ----------------------------------------------------------------------------------

const badIndexes: Array<[string, (c: string) => string]> = [
  ['an expression over an encrypted column with a constant', (c) => `CREATE INDEX ON patient ((name || '${c}'))`],
  ['a partial index whose predicate compares an encrypted column', (c) => `CREATE INDEX ON patient (note) WHERE name = '${c}'`],
  ['a partial index whose predicate uses the whole row', (c) => `CREATE INDEX ON patient (id) WHERE patient::text <> '${c}'`],
  ['a trigram index on an encrypted column', () => 'CREATE INDEX ON patient USING gin (name gin_trgm_ops)'],
  ['an index on a randomized, non-searchable column', () => 'CREATE INDEX ON patient (name)'],
  ['a COLLATE on an encrypted column', () => 'CREATE INDEX ON patient (diag COLLATE "C")'],
];
for (const [name, sql] of badIndexes) {
  attack(`index: ${name} is refused`, async (t) => {
    const c = t.canary();
    await t.step({ user: 'writer', sql: sql(c), ...blocked });
  });
}

attack('index: a LIKE-support operator class on encrypted columns becomes an index on the stored form', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'CREATE INDEX patient_ssn_like ON patient (ssn text_pattern_ops)', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'CREATE UNIQUE INDEX patient_diag_like ON patient (diag varchar_pattern_ops)', expect: 'safe' });
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, name, ssn) VALUES (1030, 'n', '${c}')`, expect: 'ok',
    check: readsBack(t, `SELECT id FROM patient WHERE ssn = '${c}'`, [{ id: 1030 }]) });
  const defs = await backendSays("SELECT indexdef AS x FROM pg_indexes WHERE indexname = 'patient_ssn_like'");
  if (!/\(ssn__bidx\)/.test(defs.join())) t.fail(`the index is ${defs.join()}`);
});

attack('index: a partial index on plain columns of a protected table is plain DDL', async (t) => {
  await t.step({ user: 'writer', sql: "CREATE INDEX patient_note_part ON patient (note) WHERE note <> 'x' AND id > 0", expect: 'ok' });
});

// ---- hidden storage ---------------------------------------------------------------------------

async function hiddenIntact(t: Attack): Promise<void> {
  const c = t.canary();
  await t.step({ user: 'writer', session: 'after', sql: `INSERT INTO patient (id, name, ssn) VALUES (1040, 'n', '${c}')`, expect: 'ok',
    check: readsBack(t, `SELECT id FROM patient WHERE ssn = '${c}'`, [{ id: 1040 }]) });
}

const hiddenChanges = [
  'ALTER TABLE patient DROP COLUMN ssn__bidx',
  'ALTER TABLE patient DROP COLUMN IF EXISTS ssn__bidx CASCADE',
  'ALTER TABLE patient ALTER COLUMN ssn__bidx TYPE text',
  "ALTER TABLE patient ALTER COLUMN ssn__bidx SET DEFAULT '\\x00'",
  'ALTER TABLE patient ALTER COLUMN ssn__bidx SET NOT NULL',
  'ALTER TABLE patient RENAME COLUMN ssn__bidx TO ssn_hash',
  'ALTER TABLE patient DROP CONSTRAINT "clarus:25:ssn"',
  'ALTER TABLE patient DROP CONSTRAINT IF EXISTS "clarus:25:name"',
  'ALTER TABLE patient RENAME CONSTRAINT "clarus:25:ssn" TO plain_check',
  'ALTER TABLE patient ADD COLUMN note__bidx bytea',
  'ALTER TABLE patient ADD CONSTRAINT "clarus:23:note" CHECK (id > 0)',
];
for (const sql of hiddenChanges) {
  attack(`hidden storage: ${sql} is refused`, async (t) => {
    await t.step({ user: 'writer', sql, ...blocked });
    await hiddenIntact(t);
  });
}

attack('DROP COLUMN of a searchable column also drops its blind index', async (t) => {
  await t.step({ user: 'writer', sql: 'ALTER TABLE patient DROP COLUMN ssn', expect: 'ok',
    check: async () => {
      const left = await backendSays("SELECT column_name AS x FROM information_schema.columns WHERE table_name = 'patient' AND table_schema = 'public' AND column_name LIKE 'ssn%'");
      return left.length === 0 ? null : `left behind: ${left.join()}`;
    } });
});

// ---- renames ----------------------------------------------------------------------------------

const renames: Array<[string, string]> = [
  ['a plain column to the name of a policy column the table lacks', 'ALTER TABLE clinic RENAME COLUMN info TO secret'],
  ['a plain column to a hidden name', 'ALTER TABLE clinic RENAME COLUMN info TO secret__bidx'],
  ['a protected column', 'ALTER TABLE patient RENAME COLUMN name TO full_name'],
  ['a protected table', 'ALTER TABLE patient RENAME TO person'],
];
for (const [name, sql] of renames) {
  attack(`RENAME of ${name} is refused`, async (t) => {
    await t.step({ user: 'writer', sql: 'CREATE TABLE clinic (id integer PRIMARY KEY, info text)', expect: 'ok' });
    await t.step({ user: 'writer', sql, ...blocked });
  });
}

attack('RENAME of a plain column of a protected table is plain DDL', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'ALTER TABLE patient RENAME COLUMN note TO remark', expect: 'ok' });
  await t.step({ user: 'writer', session: 'w2', sql: `INSERT INTO patient (id, name, remark) VALUES (1050, '${c}', 'r')`, expect: 'ok',
    check: readsBack(t, 'SELECT name, remark FROM patient WHERE id = 1050', [{ name: c, remark: 'r' }]) });
});
