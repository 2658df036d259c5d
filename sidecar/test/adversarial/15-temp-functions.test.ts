// Temporary PL/pgSQL functions (issue 11, Sequelize's findOrCreate): the proxy rewrites the body
// of a function in pg_temp statement by statement and accepts its call only in the same text. The
// attacks: a body that hides its table or reads a variable, a call that reads the stored row or a
// hidden column, a call in a later text, an OUT row of another table, and users without a
// read-write grant. Every canary sits in a protected-column position; the scan of the backend's
// log and dump decides, and a read-only or no-grant step must change nothing.
import { adversarialSuite, readsBack, REFUSE_ANY, REFUSE_GRANT, REFUSE_UNSUPPORTED } from './harness.ts';

const { attack } = adversarialSuite();

/** Sequelize 6's findOrCreate text, with `body` as the function's INSERT and `select` as the call's list. */
function sequelize(body: string, select = '(testfunc.response)."id", (testfunc.response)."name"', out = '"patient"'): string {
  return `CREATE OR REPLACE FUNCTION pg_temp.testfunc(OUT response ${out}, OUT sequelize_caught_exception text) RETURNS RECORD AS $func_5e1f$ `
    + `BEGIN ${body} RETURNING * INTO response; EXCEPTION WHEN unique_violation THEN GET STACKED DIAGNOSTICS sequelize_caught_exception = PG_EXCEPTION_DETAIL; `
    + `END $func_5e1f$ LANGUAGE plpgsql; SELECT ${select}, testfunc.sequelize_caught_exception FROM pg_temp.testfunc(); DROP FUNCTION IF EXISTS pg_temp.testfunc();`;
}

attack("Sequelize's findOrCreate text: the INSERT in the function is rewritten, the row reads back", async (t) => {
  const c = t.secret();
  await t.step({
    user: 'writer', sql: sequelize(`INSERT INTO "patient" ("id","name","ssn","diag") VALUES (301,'${c}','301-00-0001','flu')`), expect: 'ok',
    check: readsBack(t, "SELECT name, ssn, diag FROM patient WHERE ssn = '301-00-0001'", [{ name: c, ssn: '301-00-0001', diag: 'flu' }]),
  });
});

attack('read-only and no-grant users: the same text is refused, nothing changes', async (t) => {
  const c = t.canary();
  await t.step({ user: 'reader', sql: sequelize(`INSERT INTO "patient" ("id","name") VALUES (302,'${c}')`), expect: REFUSE_GRANT });
  await t.step({ user: 'nobody', sql: sequelize(`INSERT INTO "patient" ("id","name") VALUES (303,'${c}')`), expect: REFUSE_ANY });
  await t.step({ user: 'reader', sql: 'CREATE FUNCTION pg_temp.r(OUT a text, OUT b text) LANGUAGE plpgsql AS $$ BEGIN SELECT 1 INTO a; END $$', expect: REFUSE_GRANT });
});

attack('a temporary function hiding its table in EXECUTE', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `CREATE FUNCTION pg_temp.x304(OUT a text, OUT b text) LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'INSERT INTO pati' || 'ent (id, name) VALUES (304, ''${c}'')'; END $$`, expect: REFUSE_UNSUPPORTED, stopIfRefused: true });
  await t.step({ user: 'writer', sql: 'SELECT * FROM pg_temp.x304()', expect: 'safe' });
});

attack('a body that writes a PL/pgSQL variable (the caught error text) into a protected column', async (t) => {
  const c = t.canary();
  await t.step({
    user: 'writer',
    sql: `CREATE FUNCTION pg_temp.v305(OUT response patient, OUT d text) LANGUAGE plpgsql AS $$ BEGIN INSERT INTO patient (id, name) VALUES (1, '${c}'); EXCEPTION WHEN unique_violation THEN INSERT INTO patient (id, name) VALUES (305, sqlerrm); END $$`,
    expect: REFUSE_UNSUPPORTED,
  });
});

attack('the call reads the stored row as text, a hidden column, or everything', async (t) => {
  const c = t.canary();
  for (const [i, select] of ['(testfunc.response)::text AS r', '(testfunc.response)."ssn__bidx"', '*'].entries()) {
    await t.step({ user: 'writer', sql: sequelize(`INSERT INTO "patient" ("id","name","ssn") VALUES (${306 + i},'${c}','${c}')`, select), expect: REFUSE_UNSUPPORTED });
  }
});

attack('a function created in one text and called in a later one, where the proxy cannot know its definition', async (t) => {
  const c = t.secret();
  const create = sequelize(`INSERT INTO "patient" ("id","name") VALUES (310,'${c}')`).replace(/SELECT .*$/, '');
  await t.step({ user: 'writer', sql: create, expect: 'ok' });
  await t.step({ user: 'writer', sql: 'SELECT (testfunc.response)::text FROM pg_temp.testfunc()', expect: REFUSE_UNSUPPORTED });
  await t.step({ user: 'writer', sql: 'SELECT * FROM pg_temp.testfunc()', expect: REFUSE_UNSUPPORTED });
});

attack("an OUT row of archive.patient filled from public patient (another policy table's stored row)", async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: sequelize(`INSERT INTO "patient" ("id","name") VALUES (311,'${c}')`, '(testfunc.response)."note"', 'archive.patient'), expect: REFUSE_UNSUPPORTED });
});
