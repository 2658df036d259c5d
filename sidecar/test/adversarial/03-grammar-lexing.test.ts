// Class 3 — text the proxy may parse differently from the backend (PostgreSQL 15):
//  - syntax of later PostgreSQL versions (the proxy's parser is PostgreSQL 18's): refused, never
//    forwarded (a forwarded statement that the backend rejects still lands in its log);
//  - text that does not parse at all: refused by the proxy, not left to the backend to report;
//  - session settings that change lexing: standard_conforming_strings = off (SET, SET LOCAL,
//    set_config, StartupMessage parameter, options=-c, ALTER ROLE/DATABASE … SET + new session),
//    client encodings whose multibyte characters end in 0x5C (SJIS, BIG5, GBK: SET, SET NAMES,
//    StartupMessage, options);
//  - size: a 16 MB statement, deep nesting.
//
// The lexing attacks are built so that under the proxy's reading (UTF-8, standard strings) the
// text is one harmless string constant that contains only the REVERSED canary, while under the
// attacker's setting it is a second statement that stores reverse(<reversed canary>) = the canary
// in patient.name (a bytea column: the dump shows it as hex). So if the setting is refused or
// pinned, nothing is found; if the two readings diverge, the canary is in the database.
import { adversarialSuite, readsBack, rev, REFUSE_OR_REWRITE, REFUSE_UNSUPPORTED } from './harness.ts';
import type { Attack, StepSpec } from './harness.ts';

const { attack } = adversarialSuite();
const REFUSE_GRAMMAR = { refuse: ['0A000', '42601'] };
const _blocked = { expect: REFUSE_UNSUPPORTED, stopIfRefused: true } as const;
const setupOrBlock = { expect: 'safe', stopIfRefused: true } as const;
/** Too big / too deep: PostgreSQL's own codes (program limit exceeded, statement too complex) or 0A000. */
const REFUSE_LIMIT_OR_REWRITE = { refuseOrOk: ['0A000', '54000', '54001'] };

/** `'\''` opens a string that standard strings keep open and backslash-escaping strings close. */
function scsOffPayload(id: number, c: string): string {
  return `SELECT '\\'' ; INSERT INTO patient (id, name) VALUES (${id}, reverse($$${rev(c)}$$)) --'`;
}
/** `'x\'` is closed by standard strings and kept open by backslash-escaping strings. */
function scsOnPayload(id: number, c: string): string {
  return `SELECT 'x\\' ; INSERT INTO patient (id, name) VALUES (${id}, reverse($$${rev(c)}$$)) --'`;
}
/** E'<lead byte><0x5C>' : in the client encoding one character, read as UTF-8 a stray byte and an escaping backslash. */
function mbPayload(lead: number, id: number, c: string): Buffer {
  return Buffer.concat([Buffer.from("SELECT E'"), Buffer.from([lead, 0x5c]), Buffer.from(`' ; INSERT INTO patient (id, name) VALUES (${id}, reverse($$${rev(c)}$$)) --'`)]);
}

// ---- syntax of later versions ---------------------------------------------------------------

attack('INSERT INTO patient AS system_user … (system_user: an alias in PG15, a reserved word since PG16)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `INSERT INTO patient AS system_user (id, name) VALUES (301, '${c}')`, expect: REFUSE_GRAMMAR });
});

attack("… WHERE ssn = 'canary' IS JSON (PG16 predicate)", async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `SELECT id FROM patient WHERE ssn = '${c}' IS JSON`, expect: REFUSE_GRAMMAR });
});

attack("… WHERE name = 'x' IS JSON on a randomized column (PG16 predicate)", async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `SELECT id FROM patient WHERE name = '${c}' IS JSON`, expect: REFUSE_GRAMMAR });
});

attack('MERGE … RETURNING (PG17)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `MERGE INTO patient p USING (SELECT 304 AS id) s ON p.id = s.id WHEN NOT MATCHED THEN INSERT (id, name) VALUES (s.id, '${c}') RETURNING p.id`, expect: REFUSE_GRAMMAR });
});

attack('JSON_TABLE (PG17) feeding INSERT INTO patient', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, name) SELECT 305, jt.v FROM JSON_TABLE('[{"v":"${c}"}]', '$[*]' COLUMNS (v text PATH '$.v')) jt`, expect: REFUSE_GRAMMAR });
});

attack('JSON_TABLE (PG17) next to patient with the canary in a blind-index comparison', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `SELECT p.id FROM patient p, JSON_TABLE('[1]', '$[*]' COLUMNS (x int PATH '$')) jt WHERE p.ssn = '${c}'`, expect: REFUSE_GRAMMAR });
});

attack('SYSTEM_USER (PG16 SQL-value function; a column reference in PG15) next to a canary', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, name, note) VALUES (306, '${c}', SYSTEM_USER)`, expect: REFUSE_GRAMMAR });
});

attack("JSON_OBJECT('k': value) (PG16 constructor syntax) into a protected column", async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, name) VALUES (307, JSON_OBJECT('k': '${c}')::text)`, expect: REFUSE_GRAMMAR });
});

attack('RETURNING old.name (PG18) on UPDATE patient', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `UPDATE patient SET name = '${c}' WHERE id = 1 RETURNING old.name`, expect: REFUSE_GRAMMAR });
});

attack('integer literal with underscores 1_308 (PG16; "trailing junk" in PG15)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, name) VALUES (1_308, '${c}')`, expect: { refuseOrOk: ['0A000', '42601'] },
    check: readsBack(t, 'SELECT name FROM patient WHERE id = 1308', [{ name: c }]) });
});

attack('COPY … FROM STDIN (ON_ERROR ignore) (PG17 option)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'COPY patient (id, name) FROM STDIN (FORMAT text, ON_ERROR ignore)', copyIn: Buffer.from(`309\t${c}\n`), expect: REFUSE_GRAMMAR });
});

// ---- text that does not parse -----------------------------------------------------------------

attack('a syntax error (missing parenthesis) after a protected value', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, name) VALUES (310, '${c}'`, expect: REFUSE_GRAMMAR });
});

attack('a misspelt keyword after a protected value', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `UPDATE patient SET ssn = '${c}' WHERE id = 1 RETURNIN id`, expect: REFUSE_GRAMMAR });
});

attack('an unterminated string constant holding the protected value', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `SELECT id FROM patient WHERE diag = '${c}`, expect: REFUSE_GRAMMAR });
});

// ---- standard_conforming_strings ------------------------------------------------------------

attack("SET standard_conforming_strings = off, then '\\'' hides a second statement", async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'SET standard_conforming_strings = off', ...setupOrBlock });
  await t.step({ user: 'writer', sql: scsOffPayload(311, c), expect: 'safe' });
});

attack('SET LOCAL standard_conforming_strings = off inside a transaction', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'BEGIN', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'SET LOCAL standard_conforming_strings TO off', ...setupOrBlock });
  await t.step({ user: 'writer', sql: scsOffPayload(312, c), expect: 'safe' });
  await t.step({ user: 'writer', sql: 'COMMIT', expect: 'safe' });
});

attack("set_config('standard_conforming_strings', 'off', false)", async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: "SELECT set_config('standard_conforming_strings', 'off', false)", ...setupOrBlock });
  await t.step({ user: 'writer', sql: scsOffPayload(313, c), expect: 'safe' });
});

attack('StartupMessage options=-c standard_conforming_strings=off', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', startup: { options: '-c standard_conforming_strings=off' }, sql: scsOffPayload(314, c), expect: 'safe' });
});

attack('StartupMessage options=--standard-conforming-strings=off (long form, dashes)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', startup: { options: '--standard-conforming-strings=off' }, sql: scsOffPayload(315, c), expect: 'safe' });
});

attack('StartupMessage parameter standard_conforming_strings=off', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', startup: { standard_conforming_strings: 'off' }, sql: scsOffPayload(316, c), expect: 'safe' });
});

attack('ALTER ROLE CURRENT_USER SET standard_conforming_strings = off, then a NEW session', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'ALTER ROLE CURRENT_USER SET standard_conforming_strings = off', ...setupOrBlock });
  await t.step({ user: 'writer', session: 'writer-2', sql: scsOffPayload(317, c), expect: 'safe' });
});

attack('ALTER DATABASE … SET standard_conforming_strings = off, then a NEW session', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'ALTER DATABASE adv SET standard_conforming_strings = off', ...setupOrBlock });
  await t.step({ user: 'writer', session: 'writer-2', sql: scsOffPayload(318, c), expect: 'safe' });
});

attack('BEGIN; SET standard_conforming_strings = off; ROLLBACK — the setting is back on', async (t) => {
  // A proxy that tracked the SET but not the ROLLBACK would read 'x\' as an open string.
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'BEGIN', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'SET standard_conforming_strings = off', expect: 'safe' });
  await t.step({ user: 'writer', sql: 'ROLLBACK', expect: 'safe' });
  await t.step({ user: 'writer', sql: scsOnPayload(319, c), expect: 'safe' });
});

attack('SET standard_conforming_strings = off, then RESET ALL / DISCARD ALL', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'SET standard_conforming_strings = off', expect: 'safe' });
  await t.step({ user: 'writer', sql: 'DISCARD ALL', expect: 'safe' });
  await t.step({ user: 'writer', sql: scsOnPayload(320, c), expect: 'safe' });
});

attack('SET backslash_quote / escape_string_warning games with E-strings', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'SET backslash_quote = on', ...setupOrBlock });
  await t.step({ user: 'writer', sql: `SELECT E'\\'' ; INSERT INTO patient (id, name) VALUES (321, reverse($$${rev(c)}$$)) --'`, expect: 'safe' });
});

// ---- client encodings with 0x5C trail bytes -------------------------------------------------

const mbCases: Array<[string, number, StepSpec['startup'] | null, string | null]> = [
  ["SET client_encoding = 'SJIS', then E'ソ' (0x83 0x5C)", 0x83, null, "SET client_encoding = 'SJIS'"],
  ["SET NAMES 'SJIS', then E'表' (0x95 0x5C)", 0x95, null, "SET NAMES 'SJIS'"],
  ["set_config('client_encoding', 'BIG5'), then E'功' (0xA5 0x5C)", 0xa5, null, "SELECT set_config('client_encoding', 'BIG5', false)"],
  ["SET client_encoding TO GBK, then E'乗' (0x81 0x5C)", 0x81, null, 'SET client_encoding TO GBK'],
  ['StartupMessage client_encoding=SJIS', 0x83, { client_encoding: 'SJIS' }, null],
  ['StartupMessage client_encoding=sjis in lower case, parameter name in mixed case', 0x83, { Client_Encoding: 'sjis' }, null],
  ['StartupMessage options=-c client_encoding=BIG5', 0xa5, { options: '-c client_encoding=BIG5' }, null],
  ['StartupMessage options=-cclient-encoding=GBK (no space, dashes)', 0x81, { options: '-cclient-encoding=GBK' }, null],
];
for (const [name, lead, startup, set] of mbCases) {
  attack(name, async (t: Attack) => {
    const c = t.canary();
    const base = startup ? { startup } : { via: 'raw' as const };
    if (set) await t.step({ user: 'writer', ...base, session: 'mb', sql: set, ...setupOrBlock });
    await t.step({ user: 'writer', ...base, session: 'mb', sql: mbPayload(lead, 330 + lead % 10, c), expect: 'safe' });
  });
}

attack('invalid UTF-8 (a stray 0x83 before a backslash) with the default encoding', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', via: 'raw', sql: mbPayload(0x83, 340, c), expect: 'safe' });
});

attack("COPY patient FROM STDIN (ENCODING 'SJIS')", async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: "COPY patient (id, name) FROM STDIN (FORMAT text, ENCODING 'SJIS')", copyIn: Buffer.from(`341\t${c}\n`),
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT name FROM patient WHERE id = 341', [{ name: c }]) });
});

attack("COPY (id, note, name) FROM STDIN (ENCODING 'SJIS') with a 0x5C trail byte before the delimiter", async (t) => {
  // In SJIS, 0x83 0x5C is one character and the tab after it a delimiter (three fields: the canary
  // goes to name); read as UTF-8 the backslash escapes the tab (two fields: the canary in note).
  const c = t.canary();
  const row = Buffer.concat([Buffer.from('342\tA'), Buffer.from([0x83, 0x5c]), Buffer.from(`\t${c}\n`)]);
  await t.step({ user: 'writer', sql: "COPY patient (id, note, name) FROM STDIN (FORMAT text, ENCODING 'SJIS')", copyIn: row, expect: 'safe' });
});

// ---- size and depth -------------------------------------------------------------------------

attack('a 16 MB statement carrying a protected value', async (t) => {
  const c = t.canary();
  const filler = 'x'.repeat(16 << 20);
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, name, note) VALUES (343, '${c}', '${filler}')`,
    expect: REFUSE_LIMIT_OR_REWRITE, check: readsBack(t, 'SELECT name FROM patient WHERE id = 343', [{ name: c }]) });
});

attack('a 16 MB comment in front of a protected value', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `/* ${'y'.repeat(16 << 20)} */ INSERT INTO patient (id, name) VALUES (344, '${c}')`,
    expect: REFUSE_LIMIT_OR_REWRITE, check: readsBack(t, 'SELECT name FROM patient WHERE id = 344', [{ name: c }]) });
});

attack('a protected value nested in 5,000 parentheses (parser stack depth)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, name) VALUES (345, ${'('.repeat(5000)}'${c}'${')'.repeat(5000)})`,
    expect: REFUSE_LIMIT_OR_REWRITE, check: readsBack(t, 'SELECT name FROM patient WHERE id = 345', [{ name: c }]) });
});

attack('a blind-index comparison nested in 3,000 NOT operators', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `SELECT id FROM patient WHERE ${'NOT '.repeat(3000)}(ssn = '${c}')`, expect: REFUSE_LIMIT_OR_REWRITE });
});

attack('a 16 MB Bind parameter for an encrypted column', async (t) => {
  const c = t.canary();
  const big = `${c}${'x'.repeat(16 << 20)}`;
  await t.step({ user: 'writer', sql: 'INSERT INTO patient (id, name) VALUES ($1, $2)', params: [346, big], expect: REFUSE_LIMIT_OR_REWRITE,
    check: async () => {
      const rows = await t.readBack('SELECT name FROM patient WHERE id = 346') as Array<{ name: string }>;
      return rows[0]?.name === big ? null : `handled without refusal, but the writer reads back ${rows[0]?.name.length ?? 'no'} characters instead of the ${big.length} sent`;
    } });
});

attack('a 16 MB field in COPY FROM STDIN for an encrypted column', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'COPY patient (id, name) FROM STDIN', copyIn: Buffer.from(`347\t${c}${'y'.repeat(16 << 20)}\n`), expect: REFUSE_LIMIT_OR_REWRITE });
});
