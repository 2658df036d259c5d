// The allowlist screen and the backend-grammar check, table-driven on the in-memory eHealth
// catalog: each adversarial shape of issue 8 is refused with its SQLSTATE and a message naming
// why; ordinary statements (drivers' and psql's catalog queries, plain DDL/DML) still pass.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from './parser.ts';
import type { Analysis, Rewriter } from './rewriter.ts';
import { Rewriter as RewriterClass } from './rewriter.ts';
import { testRewriter } from '@clarus/testing/rewriter.ts';

let rw: Rewriter;
beforeAll(async () => {
  await loadParser();
  rw = testRewriter();
  rw.analyze('CREATE TABLE patient (pat_id int PRIMARY KEY, pat_name text NOT NULL, pat_ssn varchar(11), pat_zip text, pat_birth date, diagnosis text)');
});

function refused(a: Analysis): Extract<Analysis, { kind: 'refuse' }> {
  if (a.kind !== 'refuse') throw new Error(`expected a refusal, got ${a.kind}`);
  return a;
}

const REFUSED: Array<[string, RegExp, string?]> = [
  // 1. statements analysed as a whole
  ["WITH w AS (INSERT INTO patient (pat_id, pat_name) VALUES (1, 'CANARY') RETURNING 1) DELETE FROM ward WHERE false", /data-modifying statement \(INSERT\) inside another statement over a protected table/],
  ["COPY (INSERT INTO patient (pat_id, pat_name) VALUES (1, 'CANARY') RETURNING pat_id) TO STDOUT", /data-modifying statement/],
  ["COPY (UPDATE patient SET pat_name = 'CANARY' RETURNING pat_id) TO STDOUT", /data-modifying statement/],
  ["WITH x AS (UPDATE patient SET pat_name = 'CANARY' RETURNING 1) SELECT * FROM x", /data-modifying statement/],
  // 2. code the proxy cannot see into
  ["DO $$ BEGIN EXECUTE 'INSERT INTO pat' || 'ient (pat_name) VALUES (''CANARY'')'; END $$", /DO runs or installs code/],
  ["CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ INSERT INTO U&\"p\\0061tient\" (pat_name) VALUES ('CANARY') $$", /CREATE FUNCTION runs or installs code/],
  ['CREATE PROCEDURE p() LANGUAGE sql AS $$ SELECT 1 $$', /CREATE FUNCTION/],
  ['CALL p()', /CALL runs or installs code/],
  ['CREATE TRIGGER t AFTER INSERT ON ward FOR EACH ROW EXECUTE FUNCTION f()', /CREATE TRIG/],
  ['CREATE RULE r AS ON INSERT TO ward DO ALSO INSERT INTO patient (pat_id) VALUES (1)', /RULE runs or installs code/],
  ["SELECT query_to_xml('SELECT pat_name FROM patient', true, false, '')", /function query_to_xml\(\) is not on the proxy's allowlist/],
  ["SELECT table_to_xml('patient', true, false, '')", /table_to_xml/],
  // A PL/pgSQL function is rewritten only in pg_temp (temp-function.test.ts has the rest).
  ['CREATE OR REPLACE FUNCTION public.testfunc(OUT response "patient", OUT sequelize_caught_exception text) RETURNS RECORD AS $func_1$ BEGIN INSERT INTO "patient" ("pat_id","pat_name") VALUES (DEFAULT,\'x\') RETURNING * INTO response; EXCEPTION WHEN unique_violation THEN GET STACKED DIAGNOSTICS sequelize_caught_exception = PG_EXCEPTION_DETAIL; END $func_1$ LANGUAGE plpgsql',
    /function public\.testfunc is not in the temporary schema pg_temp/],
  ["SELECT set_config('search_path', 'evil, public', false)", /set_config/],
  ["SELECT set_config(' Search_Path ', 'evil', true)", /set_config/],
  ["SELECT set_config('client_encoding', 'SJIS', false)", /set_config/],
  ["SELECT set_config('standard_conforming_strings', 'off', false)", /set_config/],
  ["SELECT set_config($1, 'evil', false)", /set_config/],
  ["SELECT set_config(lower('SEARCH_PATH'), 'evil', false)", /set_config/],
  ["SELECT public.set_config('jit', 'off', false)", /set_config/],
  ["SELECT pg_read_file('/etc/passwd')", /pg_read_file/],
  ['SELECT myschema.lower(pat_name) FROM patient', /myschema\.lower/],
  ['SELECT my_function(1)', /my_function/],
  ['SELECT 1 OPERATOR(evil.+) 2', /operator evil\.\+/],
  ['CREATE EXTENSION dblink', /CREATE EXTENSION/],
  ['CREATE AGGREGATE a (int) (SFUNC = int4pl, STYPE = int)', /CREATE AGGREGATE installs functions/],
  ['EXECUTE stmt1 (1)', /SQL-level EXECUTE/],
  ['ALTER ROLE CURRENT_USER SET search_path = s, public', /ALTER ROLE … SET/],
  ["ALTER DATABASE postgres SET standard_conforming_strings = off", /ALTER DATABASE … SET/],
  ["ALTER SYSTEM SET log_statement = 'none'", /ALTER SYSTEM/],
  // 3. settings the lexing and name resolution depend on
  ['SET standard_conforming_strings = off', /standard_conforming_strings is pinned/],
  ["SET client_encoding = 'SJIS'", /client_encoding is pinned/],
  ['SET search_path = s, public', /search_path is pinned/],
  ['SET LOCAL search_path TO evil', /search_path is pinned/],
  ['SET ROLE postgres', /role is pinned/],
  ['SET SESSION AUTHORIZATION postgres', /session_authorization is pinned/],
  ['SET session_replication_role = replica', /session_replication_role is pinned/],
  // 4. name resolution
  ["WITH patient AS (SELECT 'x' AS pat_name) SELECT * FROM (SELECT pat_name FROM patient) s", /WITH query named patient shadows a protected table/],
  ["INSERT INTO pg_temp.patient (pat_name) VALUES ('CANARY')", /pg_temp\.patient has the name of a protected table/],
  ["INSERT INTO other.patient (pat_name) VALUES ('CANARY')", /other\.patient/],
  ['CREATE TEMP TABLE patient (pat_name text)', /temporary table named like protected table patient/],
  ['ALTER SCHEMA public RENAME TO x', /renaming schema public/],
  ['ALTER SCHEMA x RENAME TO public', /renaming schema x/],
  ['ALTER TABLE patient RENAME TO patient_old', /renaming protected table patient/],
  ['ALTER TABLE patient RENAME COLUMN pat_name TO n', /renaming protected column patient\.pat_name .* add the new name to the policy/],
  ['ALTER TABLE ward RENAME TO patient', /the name of a protected table/],
  ['ALTER TABLE patient SET SCHEMA other', /moving protected table patient/],
  ['CREATE TABLE child () INHERITS (patient)', /inheriting from/],
  ['CREATE TABLE part PARTITION OF patient DEFAULT', /inheriting from/],
  ['ALTER TABLE patient INHERIT ward', /INHERIT involving a protected table/],
  ['ALTER TABLE ward INHERIT patient', /INHERIT involving a protected table/],
  ['SELECT (SELECT pat_name FROM ward LIMIT 1) FROM patient', /could come from a relation the policy does not describe/],
  ['SELECT s.n FROM patient p, LATERAL (SELECT pat_ssn AS n FROM ward) s', /could come from a relation the policy does not describe/],
];

describe('allowlist screen: refused shapes', () => {
  it.each(REFUSED)('%s', (sql, message) => {
    const a = refused(rw.analyze(sql));
    expect(a.code).toBe('0A000');
    expect(a.message).toMatch(message);
  });
});

describe('allowlist screen: ordinary statements pass', () => {
  const PASS = [
    "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r','p','v','m','S','f','') AND n.nspname <> 'pg_catalog' AND pg_catalog.pg_table_is_visible(c.oid) ORDER BY 1,2",
    'select * from information_schema.tables where table_schema = current_schema() and table_name = $1',
    'CREATE TABLE IF NOT EXISTS knex_migrations (id serial primary key, name varchar(255), batch integer, migration_time timestamptz)',
    "SELECT now(), coalesce(label, 'x'), upper(label), count(*) FROM ward GROUP BY label",
    'BEGIN ISOLATION LEVEL SERIALIZABLE', 'COMMIT', "SET TIME ZONE 'UTC'", "SET client_encoding = 'UTF8'",
    'SET standard_conforming_strings = on', 'RESET ALL', 'DISCARD ALL', 'SET search_path TO DEFAULT', 'SHOW search_path',
    "SELECT nextval('ward_id_seq'), pg_advisory_lock(1), gen_random_uuid()", 'LISTEN x', "NOTIFY x, 'y'",
    'WITH w AS (INSERT INTO ward VALUES (9, $1) RETURNING ward_id) SELECT * FROM w',
    // asyncpg around its type introspection.
    "SELECT current_setting('jit') AS cur, set_config('jit', 'off', false) AS new", "SELECT set_config('jit', $1, false)",
  ];
  it.each(PASS)('%s', (sql) => {
    expect(rw.analyze(sql).kind).toBe('pass');
  });
  // psql's \d reads pg_attrdef, which the proxy shows logically (logical-catalog.ts): accepted, rewritten.
  it("SELECT c.relname, (SELECT pg_get_expr(…) FROM pg_catalog.pg_attrdef d …) FROM pg_catalog.pg_class c", () => {
    const a = rw.analyze("SELECT c.relname, (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true) FROM pg_catalog.pg_attrdef d WHERE d.adrelid = c.oid) FROM pg_catalog.pg_class c WHERE c.oid = '16384'");
    expect(a.kind).toBe('plan');
  });
});

describe('what a statement writes and how far it reaches', () => {
  it.each([
    ['SELECT pat_id FROM patient FOR UPDATE', true, false],
    ['SELECT pat_id INTO scratch2 FROM ward', true, false],
    ['DROP SCHEMA public CASCADE', true, true],
    ['DROP OWNED BY CURRENT_USER', true, true],
    ['REASSIGN OWNED BY CURRENT_USER TO postgres', true, true],
    ['TRUNCATE ward CASCADE', true, true],
    ['TRUNCATE ward', true, false],
    ['ALTER INDEX ward_pkey RENAME TO w2', true, false],
    ['DROP SCHEMA other CASCADE', true, false],
    ['SELECT 1', false, false],
    ["PREPARE TRANSACTION 'x'", true, false],
    ["COMMIT PREPARED 'x'", true, false],
    ['COMMIT', false, false],
    ['EXPLAIN SELECT pat_id FROM patient', false, false],
    ['COPY ward TO STDOUT', false, false],
    ['COPY ward FROM STDIN', true, false],
  ] as const)('%s → write %s, every dataset %s', (sql, write, every) => {
    const a = rw.analyze(sql);
    expect(a.write).toBe(write);
    expect(a.everyDataset ?? false).toBe(every);
  });
});

describe("the backend's grammar", () => {
  it('refuses text the proxy cannot parse (never forwards it)', () => {
    expect(refused(rw.analyze("INSERT INTO patient AS system_user (pat_name) VALUES ('CANARY')")).code).toBe('42601');
  });
  it('refuses syntax newer than the backend, and text the two grammars read differently', () => {
    expect(refused(rw.analyze("SELECT pat_id FROM patient WHERE pat_zip IS JSON", 15)).message).toMatch(/PostgreSQL 15 cannot parse it/);
    expect(refused(rw.analyze('SELECT system_user', 15)).message).toMatch(/PostgreSQL 15 reads it differently/);
    expect(rw.analyze("SELECT pat_id FROM patient WHERE diagnosis = 'flu' RETURNING", 15).kind).toBe('refuse');
  });
  it('reads DEALLOCATE ALL and DEALLOCATE name as PostgreSQL 15 does (psycopg sends DEALLOCATE ALL after a ROLLBACK)', () => {
    expect(rw.analyze('DEALLOCATE ALL', 15).kind).toBe('pass');
    expect(rw.analyze('DEALLOCATE _pg3_0', 15).kind).toBe('pass');
    expect(rw.analyze('DEALLOCATE PREPARE ALL', 16).kind).toBe('pass');
  });
  it('accepts the same statements for a PostgreSQL 15 backend and checks the rewritten text with its grammar', () => {
    const a = rw.analyze("INSERT INTO patient (pat_id, pat_name, diagnosis) VALUES (1, 'Ann', 'flu') RETURNING pat_name", 15);
    expect(a.kind).toBe('plan');
    expect(rw.analyze('UPDATE patient SET diagnosis = $1 WHERE pat_ssn = $2', 16).kind).toBe('plan');
    // PostgreSQL 18's parser marks DEALLOCATE ALL with `isall`; older ones leave the name out.
    for (const m of [15, 16, 17] as const) expect(rw.analyze('DEALLOCATE ALL', m).kind).toBe('pass');
  });
});

describe('limits', () => {
  it('refuses trees nested too deeply for the analysis with 54001 instead of failing the session', () => {
    const a = refused(rw.analyze(`SELECT pat_id FROM patient WHERE ${'NOT '.repeat(3000)}pat_ssn = 'x'`));
    expect(a.code).toBe('54001');
  });
  it('refuses such a tree with 54001 however much of the stack is left when the analysis starts', () => {
    // Where the recursion runs out (the rewriter's parser, the backend's grammar, the rules, the
    // deparser) depends on the stack left and on how far each part is optimized: it was 0A000 from
    // the rules by chance (a full unit run in CI). Every depth must give the same answer.
    const codes = new Set<string>();
    let n = 0;
    const at = (depth: number): string | undefined => (depth > 0 ? at(depth - 1)
      : refused(rw.analyze(`SELECT pat_id FROM patient WHERE ${'NOT '.repeat(3000)}pat_ssn = 'x${n++}'`)).code);
    for (let depth = 0; ; depth += 60) {
      try { codes.add(String(at(depth))); } catch (e) { if (e instanceof RangeError) break; throw e; }
    }
    expect(n).toBeGreaterThan(10);
    expect([...codes]).toEqual(['54001']);
  });
  it('refuses RETURNING old/new (PostgreSQL 18 row versions)', () => {
    expect(refused(rw.analyze("UPDATE patient SET pat_name = 'x' WHERE pat_id = 1 RETURNING old.pat_name")).message).toMatch(/RETURNING old\/new/);
  });
  it('refuses statements longer than maxStatementBytes with 54000', () => {
    const r = new RewriterClass(rw.catalog, { maxStatementBytes: 2048 });
    const a = refused(r.analyze(`SELECT '${'x'.repeat(4096)}'`));
    expect(a.code).toBe('54000');
    expect(r.analyze('SELECT 1').kind).toBe('pass');
  });
  it('bounds the decision cache by bytes', () => {
    const r = new RewriterClass(rw.catalog, { cacheBytes: 64 * 1024 });
    for (let i = 0; i < 200; i++) r.analyze(`SELECT ${i}, '${'y'.repeat(1000)}'`);
    const cache = (r as unknown as { cache: { bytes: number; size: number } }).cache;
    expect(cache.bytes).toBeLessThanOrEqual(64 * 1024);
    expect(cache.size).toBeGreaterThan(5);
  });
});
