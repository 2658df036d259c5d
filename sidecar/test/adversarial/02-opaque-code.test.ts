// Class 2 — code the proxy cannot see into: DO blocks that EXECUTE built strings, SQL and
// PL/pgSQL functions whose bodies name the table in a way a textual check misses (U&"p\0061tient",
// split literals, chr()), triggers and rules on an unprotected table that write a protected one,
// views created where the proxy cannot see them (and written through when it can), the XML export functions by a user without a
// grant, set_config('search_path', …). Creating such code must be refused (0A000); where the attack
// needs several steps, a refusal of any step blocks it, and the scan decides.
//
// Where a plain table must legitimately hold the attacker's input (the trigger/rule tests), the
// input is the REVERSED canary and the hidden code writes reverse(input): the canary itself then
// only exists in the protected column, if the attack works.
import { adversarialSuite, rev, REFUSE_ANY, REFUSE_UNSUPPORTED } from './harness.ts';

const { attack } = adversarialSuite();
const blocked = { expect: REFUSE_UNSUPPORTED, stopIfRefused: true } as const;

attack("DO block: EXECUTE 'INSERT INTO pat' || 'ient …'", async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `DO $$ BEGIN EXECUTE 'INSERT INTO pat' || 'ient (id, name) VALUES (201, ''${c}'')'; END $$`, expect: REFUSE_UNSUPPORTED });
});

attack("DO block: EXECUTE format('INSERT INTO %I …', 'pat' || 'ient') with the value as %L", async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `DO $$ BEGIN EXECUTE format('INSERT INTO %I (id, name) VALUES (202, %L)', 'pat' || 'ient', '${c}'); END $$`, expect: REFUSE_UNSUPPORTED });
});

attack('DO block: table name built with chr(), value passed with USING', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `DO $do$ BEGIN EXECUTE 'UPDATE ' || chr(112) || 'atient SET ssn = $1 WHERE id = 1' USING '${c}'; END $do$`, expect: REFUSE_UNSUPPORTED });
});

attack('DO block written with a tagged dollar quote and LANGUAGE plpgsql first', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `DO LANGUAGE plpgsql $x$ DECLARE v text := '${c}'; BEGIN EXECUTE 'INSERT INTO public.pat'||'ient (id, diag) VALUES (204, $1)' USING v; END $x$`, expect: REFUSE_UNSUPPORTED });
});

attack('SQL function whose body names U&"p\\0061tient", then SELECT f(canary)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'CREATE FUNCTION f205(v text) RETURNS void LANGUAGE sql AS $$ INSERT INTO U&"p\\0061tient" (id, name) VALUES (205, v) $$', ...blocked });
  await t.step({ user: 'writer', sql: `SELECT f205('${c}')`, expect: 'safe' });
});

attack('PL/pgSQL function with a split table name and EXECUTE … USING, then SELECT g(canary)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: "CREATE FUNCTION g206(v text) RETURNS int LANGUAGE plpgsql AS $$ BEGIN EXECUTE format('INSERT INTO %I (id, name) VALUES (206, $1)', 'pat' || 'ient') USING v; RETURN 1; END $$", ...blocked });
  await t.step({ user: 'writer', sql: `SELECT g206('${c}')`, expect: 'safe' });
});

attack('SQL-standard function body (BEGIN ATOMIC) naming patient, then SELECT', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'CREATE FUNCTION h207(v text) RETURNS void LANGUAGE sql BEGIN ATOMIC INSERT INTO patient (id, name) VALUES (207, v); END', ...blocked });
  await t.step({ user: 'writer', sql: `SELECT h207('${c}')`, expect: 'safe' });
});

attack('CREATE PROCEDURE with a hidden table name, then CALL', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: "CREATE PROCEDURE p208(v text) LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'INSERT INTO pati' || 'ent (id, name) VALUES (208, $1)' USING v; END $$", ...blocked });
  await t.step({ user: 'writer', sql: `CALL p208('${c}')`, expect: 'safe' });
});

attack('trigger on the unprotected scratch table that writes patient', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: "CREATE FUNCTION trg209() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'INSERT INTO pati' || 'ent (id, name) VALUES ($1, reverse($2))' USING NEW.id, NEW.t; RETURN NEW; END $$", ...blocked });
  await t.step({ user: 'writer', sql: 'CREATE TRIGGER t209 AFTER INSERT ON scratch FOR EACH ROW EXECUTE FUNCTION trg209()', ...blocked });
  await t.step({ user: 'writer', sql: `INSERT INTO scratch (id, t) VALUES (209, '${rev(c)}')`, expect: 'safe' });
});

attack('CREATE TRIGGER directly on patient (with a built-in trigger function)', async (t) => {
  await t.step({ user: 'writer', sql: 'CREATE TRIGGER t210 BEFORE UPDATE ON patient FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()', expect: REFUSE_UNSUPPORTED });
});

attack('CREATE RULE on scratch: DO ALSO INSERT INTO patient', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'CREATE RULE r211 AS ON INSERT TO scratch DO ALSO INSERT INTO patient (id, name) VALUES (NEW.id, reverse(NEW.t))', ...blocked });
  await t.step({ user: 'writer', sql: `INSERT INTO scratch (id, t) VALUES (211, '${rev(c)}')`, expect: 'safe' });
});

attack('CREATE RULE on scratch whose action names U&"p\\0061tient"', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'CREATE RULE r212 AS ON UPDATE TO scratch DO ALSO UPDATE U&"p\\0061tient" SET diag = reverse(NEW.t) WHERE id = 1', ...blocked });
  await t.step({ user: 'writer', sql: `UPDATE scratch SET t = '${rev(c)}' WHERE id = 1`, expect: 'safe' });
});

attack('view created inside a DO block, then written through', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: "DO $$ BEGIN EXECUTE 'CREATE VIEW pv213 AS SELECT id, name FROM pat' || 'ient'; END $$", ...blocked });
  await t.step({ user: 'writer', sql: `INSERT INTO pv213 (id, name) VALUES (213, '${c}')`, expect: 'safe' });
});

// A view over a protected table is kept by the proxy (issue 10): the backend gets a stand-in that
// is never written through, and writing into the view is refused by the proxy.
attack('CREATE VIEW over U&"p\\0061tient", then written through', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'CREATE VIEW pv214 AS SELECT id, ssn FROM U&"p\\0061tient"', expect: 'ok' });
  await t.step({ user: 'writer', sql: `UPDATE pv214 SET ssn = '${c}' WHERE id = 1`, expect: REFUSE_UNSUPPORTED });
  await t.step({ user: 'writer', sql: `INSERT INTO pv214 (id, ssn) VALUES (214, '${c}')`, expect: REFUSE_UNSUPPORTED });
});

attack('no-grant user: table_to_xml(\'patient\', …)', async (t) => {
  await t.step({ user: 'nobody', sql: "SELECT table_to_xml('patient', true, false, '')", expect: REFUSE_ANY });
});

attack('no-grant user: query_to_xml(\'SELECT … FROM patient\', …)', async (t) => {
  await t.step({ user: 'nobody', sql: "SELECT query_to_xml('SELECT id, name, note, zip FROM patient', true, false, '')", expect: REFUSE_ANY });
});

attack('no-grant user: query_to_xml of a query text split with ||', async (t) => {
  await t.step({ user: 'nobody', sql: "SELECT query_to_xml('SELECT * FROM pat' || 'ient', true, false, '')", expect: REFUSE_ANY });
});

attack('no-grant user: table_to_xml of a regclass looked up by a built name', async (t) => {
  await t.step({ user: 'nobody', sql: "SELECT table_to_xml((SELECT oid FROM pg_class WHERE relname = 'pat' || 'ient')::regclass, true, false, '')", expect: REFUSE_ANY });
});

attack('no-grant user: table_to_xml of a name written as two adjacent string constants', async (t) => {
  await t.step({ user: 'nobody', sql: "SELECT table_to_xml('pat'\n'ient', true, false, '')", expect: REFUSE_ANY });
});

attack('no-grant user: database_to_xml / schema_to_xml export every table', async (t) => {
  await t.step({ user: 'nobody', sql: "SELECT schema_to_xml('public', true, false, '')", expect: REFUSE_ANY });
  await t.step({ user: 'nobody', sql: "SELECT database_to_xml(true, false, '')", expect: REFUSE_ANY });
});

attack('read-only masked user: query_to_xml reads ciphertext and plain columns around the view', async (t) => {
  await t.step({ user: 'reader', sql: "SELECT query_to_xml('SELECT name, ssn, diag FROM pat' || 'ient', true, false, '')", expect: REFUSE_ANY });
});

attack("set_config('search_path', 'archive, public', false), then INSERT INTO patient (id, note)", async (t) => {
  // archive.patient is a policy table whose `note` is encrypted; public.patient.note is plain.
  const c = t.canary();
  await t.step({ user: 'writer', sql: "SELECT set_config('search_path', 'archive, public', false)", ...blocked });
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, note) VALUES (219, '${c}')`, expect: 'safe' });
});

attack('set_config(search_path) hidden in the select list of a statement over patient', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: "SELECT id, set_config('search_path', 'archive, public', false) FROM patient WHERE id = 1", ...blocked });
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, note) VALUES (220, '${c}')`, expect: 'safe' });
});

attack('set_config(search_path) through a built name (format)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: "SELECT set_config(format('%s_%s', 'search', 'path'), 'archive, public', false)", ...blocked });
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, note) VALUES (221, '${c}')`, expect: 'safe' });
});

attack('DO block issuing SET search_path, then INSERT INTO patient (id, note)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: "DO $$ BEGIN EXECUTE 'SET search_path = archive, public'; END $$", ...blocked });
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, note) VALUES (222, '${c}')`, expect: 'safe' });
});

attack('DO block creating a backend prepared statement over patient, then EXECUTE with the canary', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: "DO $$ BEGIN EXECUTE 'PREPARE q223(text) AS INSERT INTO pat' || 'ient (id, name) VALUES (223, $1)'; END $$", ...blocked });
  await t.step({ user: 'writer', sql: `EXECUTE q223('${c}')`, expect: 'safe' });
});
