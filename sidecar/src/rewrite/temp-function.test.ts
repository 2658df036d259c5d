// Temporary PL/pgSQL functions (temp-function.ts, plpgsql-body.ts, temp-function-call.ts) on the
// in-memory eHealth catalog: every construct outside the understood subset is refused by name;
// Sequelize's findOrCreate text is rewritten (literals encrypted, blind index added, body written
// out again by the proxy) and its call's outputs carry the columns' protection.
import { parsePlPgSQLSync } from 'libpg-query';
import { beforeAll, describe, expect, it } from 'vitest';
import { EHEALTH_SPLIT_POLICY, testRewriter } from '@clarus/testing/rewriter.ts';
import { loadParser } from './parser.ts';
import type { Analysis, Rewriter } from './rewriter.ts';

let rw: Rewriter;
beforeAll(async () => {
  await loadParser();
  rw = testRewriter();
});

const SEQUELIZE = 'CREATE OR REPLACE FUNCTION pg_temp.testfunc(OUT response "patient", OUT sequelize_caught_exception text) RETURNS RECORD AS $func_0a1b$ '
  + 'BEGIN INSERT INTO "patient" ("pat_id","pat_name","pat_ssn","diagnosis") VALUES (7,\'CANARY name\',\'CANARY-ssn\',\'CANARY diag\') RETURNING * INTO response; '
  + 'EXCEPTION WHEN unique_violation THEN GET STACKED DIAGNOSTICS sequelize_caught_exception = PG_EXCEPTION_DETAIL; END $func_0a1b$ LANGUAGE plpgsql; '
  + 'SELECT (testfunc.response)."pat_id", (testfunc.response)."pat_name", (testfunc.response)."pat_ssn", testfunc.sequelize_caught_exception FROM pg_temp.testfunc(); '
  + 'DROP FUNCTION IF EXISTS pg_temp.testfunc();';

function plan(a: Analysis): Extract<Analysis, { kind: 'plan' }> {
  if (a.kind !== 'plan') throw new Error(`expected a plan, got ${a.kind}: ${a.kind === 'refuse' ? a.message : ''}`);
  return a;
}

const fn = (b: string, header = 'pg_temp.f(OUT response patient, OUT detail text) RETURNS record', lang = 'plpgsql') => `CREATE OR REPLACE FUNCTION ${header} AS $f$ BEGIN ${b} END $f$ LANGUAGE ${lang}`;
const withCall = (select: string) => SEQUELIZE.replace(/SELECT .* FROM pg_temp\.testfunc\(\);/, `${select};`);

describe("Sequelize's findOrCreate text", () => {
  it('is rewritten: the body holds ciphertext and the blind index, written out by the proxy', () => {
    const a = plan(rw.analyze(SEQUELIZE));
    const create = a.statements[0]?.sql ?? '';
    expect(create).not.toMatch(/CANARY/);
    expect(create).toMatch(/INSERT INTO patient \(pat_id, pat_name, pat_ssn, diagnosis, pat_ssn__bidx\) VALUES \(7, '\\x[0-9a-f]+'::bytea/);
    expect(create).toContain('RETURNING * INTO "response"; EXCEPTION WHEN unique_violation THEN GET STACKED DIAGNOSTICS "sequelize_caught_exception" = PG_EXCEPTION_DETAIL; END; RETURN;');
    // What the backend receives is a function the PL/pgSQL parser reads as such.
    expect(() => parsePlPgSQLSync(create)).not.toThrow();
    expect(a.write).toBe(true);
    expect(a.schemaChange).toBeFalsy();
    expect([...a.datasets.keys()]).toEqual(['patients']);
  });

  it("gives the call's outputs the columns' protection (decrypted per grant), the text OUT parameter plain", () => {
    const a = plan(rw.analyze(SEQUELIZE));
    const outs = a.statements[1]?.outputs ?? [];
    expect(outs.map((o) => [o.name, o.prov?.column.name ?? null])).toEqual([['pat_id', null], ['pat_name', 'pat_name'], ['pat_ssn', 'pat_ssn'], ['sequelize_caught_exception', null]]);
    expect(a.statements[1]?.write).toBe(true);
  });

  it('keeps a plain literal holding $$ inside the re-quoted body', () => {
    const a = plan(rw.analyze(fn("INSERT INTO ward (name) VALUES ('a$$b$g$c');", 'pg_temp.f(OUT detail text, OUT other text) RETURNS record')));
    const create = a.statements[0]?.sql ?? '';
    expect(JSON.stringify(parsePlPgSQLSync(create))).toContain("VALUES ('a$$b$g$c')");
  });
});

const REFUSED: Array<[string, RegExp, string?]> = [
  // Where the function lives and what it takes.
  [fn("INSERT INTO patient (pat_id, pat_name) VALUES (1, 'CANARY') RETURNING * INTO response;", 'public.f(OUT response patient, OUT detail text) RETURNS record'), /not in the temporary schema pg_temp/],
  [fn("INSERT INTO patient (pat_id, pat_name) VALUES (1, 'CANARY') RETURNING * INTO response;", 'f(OUT response patient, OUT detail text) RETURNS record'), /not in the temporary schema pg_temp/],
  ['CREATE PROCEDURE pg_temp.p() LANGUAGE plpgsql AS $$ BEGIN END $$', /CREATE PROCEDURE/],
  [fn("INSERT INTO patient (pat_id, pat_name) VALUES (1, a) RETURNING * INTO response;", 'pg_temp.f(a text, OUT response patient) RETURNS record'), /parameter a is not an OUT parameter/],
  [fn('NULL;', 'pg_temp.f(OUT detail text) RETURNS record SECURITY DEFINER'), /option SECURITY/],
  [fn('NULL;', 'pg_temp.f(OUT detail text) RETURNS record SET search_path = evil'), /option SET/],
  [fn('NULL;', 'pg_temp.f() RETURNS SETOF patient'), /RETURNS patient/],
  [fn('NULL;', 'pg_temp.f(OUT r patient[]) RETURNS record'), /an array, SETOF or %TYPE/],
  [fn("INSERT INTO patient (pat_id) VALUES (1);", 'pg_temp.f() RETURNS void', 'sql').replace(/BEGIN (.*) END/, '$1'), /CREATE FUNCTION runs or installs code/],
  // Body statements outside the subset.
  [fn("EXECUTE 'INSERT INTO pat' || 'ient (pat_name) VALUES (''CANARY'')';"), /EXECUTE of dynamic SQL/],
  [fn("PERFORM pg_sleep(1);"), /PERFORM/],
  [fn("detail := 'CANARY';"), /an assignment/],
  [fn("RAISE NOTICE '%', 'CANARY';"), /RAISE/],
  [fn("IF true THEN NULL; END IF;"), /IF in the body/],
  [fn("FOR response IN SELECT * FROM patient LOOP NULL; END LOOP;"), /FOR … IN <query>/],
  [fn('RETURN QUERY SELECT 1;', 'pg_temp.f() RETURNS SETOF int'), /RETURNS pg_catalog\.int4/],
  ["CREATE FUNCTION pg_temp.f(OUT detail text) AS $f$ DECLARE x text; BEGIN NULL; END $f$ LANGUAGE plpgsql", /DECLARE \(x;/],
  ["CREATE FUNCTION pg_temp.f(OUT detail text) AS $f$ DECLARE x text := (SELECT pat_name FROM patient LIMIT 1); BEGIN NULL; END $f$ LANGUAGE plpgsql", /DECLARE \(a default value/],
  ["CREATE FUNCTION pg_temp.f(OUT detail text) AS $f$ <<outer>> BEGIN NULL; END $f$ LANGUAGE plpgsql", /block label/],
  // Static statements the proxy cannot follow.
  [fn("INSERT INTO patient (pat_id, pat_name) VALUES (1, detail) RETURNING * INTO response;"), /reads detail, a PL\/pgSQL variable/],
  [fn("INSERT INTO patient (pat_id, pat_name) VALUES (1, f.detail) RETURNING * INTO response;"), /reads f, a PL\/pgSQL variable/],
  [fn("INSERT INTO patient (pat_id, pat_name) VALUES (1, 'CANARY') RETURNING pat_name INTO detail;"), /RETURNING other than RETURNING \*/],
  [fn("INSERT INTO patient (pat_id, pat_name) VALUES (1, 'CANARY') RETURNING * INTO detail;"), /INTO one OUT parameter of its row type/],
  [fn("INSERT INTO visit (visit_id, notes) VALUES (1, 'CANARY') RETURNING * INTO response;"), /from protected table visit goes INTO one OUT parameter/],
  [fn("INSERT INTO ward (name) VALUES ('x') RETURNING * INTO response;"), /INTO a row of a protected table from another table/],
  [fn("INSERT INTO patient (pat_id, pat_name) VALUES (1, 'CANARY') RETURNING *;"), /RETURNING without INTO/],
  [fn("SELECT pat_name INTO detail FROM patient WHERE pat_id = 1;"), /SELECT … INTO over a protected table/],
  [fn("SELECT NULL INTO response;"), /SELECT … INTO a row of a protected table/],
  [fn("UPDATE patient SET pat_name = upper(pat_name) WHERE pat_id = 1;"), /encrypted column patient\.pat_name/],
  [fn("INSERT INTO ward (name) VALUES (pg_read_file('/etc/passwd'));"), /function pg_read_file\(\)/],
  [fn("DROP TABLE patient;"), /DROP in the body/],
  [fn("WITH w AS (DELETE FROM patient RETURNING 1) INSERT INTO ward (name) SELECT 'x' FROM w;"), /data-modifying statement/],
  [fn("INSERT INTO patient (pat_id, pat_name) VALUES (1, 'CANARY') RETURNING * INTO response; EXCEPTION WHEN unique_violation THEN GET STACKED DIAGNOSTICS response = PG_EXCEPTION_DETAIL;"), /"response" is not a scalar variable/, '42601'],
  // The call: only in the text that defines the function, only fields of the OUT row.
  ['SELECT (testfunc.response).pat_name FROM pg_temp.testfunc()', /function pg_temp\.testfunc\(\) is not on the proxy's allowlist/],
  [withCall('SELECT * FROM pg_temp.testfunc()'), /an output other than an OUT parameter/],
  [withCall('SELECT (testfunc.response)::text FROM pg_temp.testfunc()'), /an output other than an OUT parameter/],
  [withCall('SELECT testfunc.response FROM pg_temp.testfunc()'), /response as a whole/],
  [withCall('SELECT (testfunc.response).pat_ssn__bidx FROM pg_temp.testfunc()'), /pat_ssn__bidx is storage/],
  [withCall('SELECT (testfunc.response).pat_name FROM pg_temp.testfunc() WHERE true'), /whereClause in the calling SELECT/],
  [withCall('SELECT (testfunc.response).pat_name FROM pg_temp.testfunc(1)'), /with arguments/],
  [withCall('SELECT (testfunc.response).pat_name FROM pg_temp.testfunc(), ward'), /FROM other than the one call/],
  [withCall('SELECT (other.response).pat_name FROM pg_temp.testfunc()'), /other\.response is not a column of the call/],
  [withCall('SELECT (testfunc.response).* FROM pg_temp.testfunc()'), /whose columns the proxy has not loaded/],
  [withCall('SELECT x FROM (SELECT (testfunc.response).pat_name AS x FROM pg_temp.testfunc()) s'), /function pg_temp\.testfunc\(\) is not on the proxy's allowlist/],
  [withCall('SELECT (SELECT (testfunc.response).pat_name FROM pg_temp.testfunc())'), /function pg_temp\.testfunc\(\) is not on the proxy's allowlist/],
];

describe('refusals by name', () => {
  it.each(REFUSED)('%s', (sql, why, code = '0A000') => {
    const a = rw.analyze(sql);
    expect(a.kind, sql).toBe('refuse');
    if (a.kind === 'refuse') {
      expect(a.message).toMatch(why);
      expect(a.code).toBe(code);
    }
  });
});

describe('split datasets', () => {
  it('a body statement on a split table is refused by name, not handed to the split planner', () => {
    const a = testRewriter(EHEALTH_SPLIT_POLICY).analyze(SEQUELIZE);
    expect(a).toMatchObject({ kind: 'refuse', code: '0A000', reason: 'tempFunction', message: expect.stringMatching(/a statement of the body on a split table/) });
    expect(a.kind === 'refuse' && a.split).toBeFalsy();
  });
});

describe('(f.response).* and a loaded layout', () => {
  const columns = (names: string[]) => names.map((name) => ({ name, typeOid: name === 'pat_id' ? 23 : 25 }));

  it('expands (f.out).* to the loaded columns, hidden ones left out, each with its protection', () => {
    const r = testRewriter();
    r.catalog.learn('public', 'patient', columns(['pat_id', 'pat_name', 'pat_ssn', 'pat_zip', 'pat_birth', 'diagnosis', 'pat_ssn__bidx', 'ward']));
    const a = plan(r.analyze(withCall('SELECT (testfunc.response).* FROM pg_temp.testfunc()')));
    const call = a.statements[1];
    expect(call?.outputs.map((o) => [o.name, o.prov !== null, o.anon ? 'anon' : null])).toEqual([
      ['pat_id', false, null], ['pat_name', true, null], ['pat_ssn', true, null], ['pat_zip', false, 'anon'], ['pat_birth', false, 'anon'], ['diagnosis', true, null], ['ward', false, null]]);
    expect(call?.sql).not.toContain('__bidx');
    expect(call?.sql).toContain('(testfunc.response).ward');
  });

  it('refuses a protected column the loaded layout lacks (added around the proxy) instead of showing it as plain', () => {
    const r = testRewriter();
    r.catalog.learn('public', 'patient', columns(['pat_id', 'pat_ssn', 'pat_ssn__bidx']));
    const a = r.analyze(withCall('SELECT (testfunc.response).pat_name FROM pg_temp.testfunc()'));
    expect(a).toMatchObject({ kind: 'refuse', message: expect.stringMatching(/patient\.pat_name is protected but missing/) });
  });
});
