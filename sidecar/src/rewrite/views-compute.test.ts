// Views whose own SELECT computes on encrypted values (issue 10, views leftovers): the expansion is
// computed by the two-stage executor, the views' checks go to the backend stage (and nothing else a
// client writes), `*` is fixed at CREATE VIEW and written out over an expanded view, an unqualified
// view name carries the check that it means the proxy's view in the session.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser, parseTree } from './parser.ts';
import type { Analysis, Rewriter } from './rewriter.ts';
import { testRewriter } from '@clarus/testing/rewriter.ts';
import { VIEW_MARKER, viewFromRow } from './views.ts';
import type { ProxyView } from './views.ts';
import { isGuard, liftGuards, resolvesGuard, staleGuard } from './view-guards.ts';

let rw: Rewriter;
let known: ProxyView[] = [];

function plan(sql: string): Extract<Analysis, { kind: 'plan' }> {
  const a = rw.analyze(sql);
  if (a.kind !== 'plan') throw new Error(`expected a plan for ${sql}, got ${JSON.stringify(a)}`);
  return a;
}
const decoded = (stub: string): string => JSON.parse(Buffer.from(new RegExp(`${VIEW_MARKER}([0-9a-f]+)`).exec(stub)?.[1] ?? '', 'hex').toString('utf8')).query as string;

/** CREATE VIEW through the rewriter, then the view as a replica loads it. */
function create(sql: string, name: string, columns: string[]): string {
  const stub = plan(sql).statements[0]?.sql ?? '';
  const hex = new RegExp(`${VIEW_MARKER}([0-9a-f]+)`).exec(stub)?.[1] ?? '';
  const v = viewFromRow({ schema: 'public', name, columns: JSON.stringify(columns), hex, digest: '0123456789abcdef0123456789abcdef' });
  if (!v) throw new Error('marker does not decode');
  known = [...known.filter((k) => k.name !== name), v];
  rw.learnViews(known);
  return stub;
}

beforeAll(async () => {
  await loadParser();
  rw = testRewriter(undefined, undefined, { twoStage: true });
  plan('CREATE TABLE patient (pat_id int PRIMARY KEY, pat_name text NOT NULL, pat_ssn varchar(11), pat_zip text, pat_birth date, diagnosis text)');
  plan('CREATE TABLE visit (visit_id int PRIMARY KEY, pat_id int, reason text, notes text)');
  rw.learn(rw.catalog.all(), new Map([
    ['public.patient', [{ name: 'pat_id', typeOid: 23 }, { name: 'pat_name', typeOid: 25 }, { name: 'pat_ssn', typeOid: 1043, typmod: 15 }, { name: 'pat_zip', typeOid: 25 }, { name: 'pat_birth', typeOid: 1082 }, { name: 'diagnosis', typeOid: 25 }]],
    ['public.visit', [{ name: 'visit_id', typeOid: 23 }, { name: 'pat_id', typeOid: 23 }, { name: 'reason', typeOid: 25 }, { name: 'notes', typeOid: 25 }]],
  ]));
  create('CREATE VIEW vc AS SELECT pat_id, upper(pat_name) AS n, diagnosis FROM patient WHERE pat_id > 1 ORDER BY pat_name', 'vc', ['pat_id', 'n', 'diagnosis']);
});

describe('a view whose SELECT computes', () => {
  it('is created (the stand-in computes nothing over stored values) and read in two stages', () => {
    const a = plan('SELECT * FROM vc');
    const s = a.statements[0];
    expect(s?.residual?.sql).toContain('SELECT vc.pat_id, vc.n, vc.diagnosis FROM ( SELECT pat_id, upper(pat_name) AS n, diagnosis FROM patient WHERE pat_id > 1 AND true AND true ORDER BY pat_name ) AS vc(pat_id, n, diagnosis)');
    // The checks read the backend's catalog: they are the backend stage's, not the engine's.
    expect(s?.residual?.sql).not.toMatch(/pg_rewrite|to_regclass/);
    // The view's own condition the backend can evaluate filters the table's arm (two-stage/arm-filters.ts).
    expect(s?.sql).toMatch(/FROM patient WHERE pat_id > 1 OFFSET 0 \) AS clarus_arm1 WHERE CASE WHEN \(\(SELECT pg_catalog\.md5/);
    expect(s?.sql).toContain("pg_catalog.to_regclass('\"vc\"') IS NOT DISTINCT FROM pg_catalog.to_regclass('\"public\".\"vc\"')");
    expect(s?.sql).not.toMatch(/upper|LIKE/);
  });
  it('a reader\'s condition the backend can evaluate filters the table, through the view\'s bare columns, and leaves the engine', () => {
    const s = plan('SELECT n FROM vc WHERE pat_id = $1 AND n LIKE $2').statements[0];
    expect(s?.sql).toContain('FROM patient WHERE pat_id = $1 AND pat_id > 1 OFFSET 0');
    expect(s?.residual?.sql).toMatch(/WHERE true AND n LIKE \$1$/);
    expect(s?.residual?.blank).toEqual([2]);
    // Not through a computed column, a LIMIT in the view, or a table named twice.
    expect(plan('SELECT pat_id FROM vc WHERE n = $1').statements[0]?.sql).not.toContain('= $1');
    create('CREATE VIEW vlim AS SELECT pat_id, upper(pat_name) AS n FROM patient ORDER BY pat_name LIMIT 5', 'vlim', ['pat_id', 'n']);
    expect(plan('SELECT n FROM vlim WHERE pat_id = $1').statements[0]?.sql).not.toContain('pat_id = $1');
    const twice = plan('SELECT a.n FROM vc a JOIN vc b ON a.pat_id = b.pat_id WHERE a.pat_id = $1').statements[0]?.sql ?? '';
    expect(twice).not.toContain('pat_id = $1');
  });
  it('with filters, parameters, aggregates and joins of the reader, and a view over it', () => {
    for (const sql of ['SELECT n FROM vc WHERE pat_id = $1', 'SELECT diagnosis, max(n) FROM vc GROUP BY diagnosis', 'SELECT v.n, x.reason FROM vc v JOIN visit x ON x.pat_id = v.pat_id']) {
      expect(plan(sql).statements[0]?.residual).toBeDefined();
    }
    const stub = create('CREATE VIEW vc2 AS SELECT pat_id, lower(n) AS l FROM vc ORDER BY n DESC', 'vc2', ['pat_id', 'l']);
    expect(decoded(stub)).toBe('SELECT pat_id, lower(n) AS l FROM vc ORDER BY n DESC');
    const r = plan('SELECT * FROM vc2').statements[0];
    expect(r?.residual?.sql).toContain('SELECT vc2.pat_id, vc2.l FROM ( SELECT pat_id, lower(n) AS l FROM ( SELECT pat_id, upper(pat_name)');
    expect(r?.sql.match(/CASE WHEN/g)?.length).toBe(4);
  });
  it('still refuses a constant next to a protected column, also through a view', () => {
    for (const sql of [
      "CREATE VIEW bad AS SELECT pat_id, upper(pat_name) AS n FROM patient WHERE pat_name LIKE 'A%' ORDER BY pat_name",
      "CREATE VIEW bad AS SELECT pat_id FROM vc WHERE n = 'CANARY'",
      "CREATE VIEW bad AS SELECT lower(n) || 'CANARY' FROM vc",
    ]) expect(rw.analyze(sql)).toMatchObject({ kind: 'refuse', code: '0A000', reason: 'viewConstant' });
  });
});

describe('the checks an expansion carries', () => {
  it('only a check built by view-guards.ts is taken for one (a client cannot move anything else to the backend stage)', () => {
    const v = { schema: 'public', name: 'vc', digest: '0123456789abcdef0123456789abcdef' };
    expect(isGuard(staleGuard(v))).toBe(true);
    expect(isGuard(resolvesGuard(v))).toBe(true);
    const expr = (sql: string): unknown => (parseTree(`SELECT ${sql}`).statements[0]?.stmt as { SelectStmt: { targetList: { ResTarget: { val: unknown } }[] } }).SelectStmt.targetList[0]?.ResTarget.val;
    const forged = "CASE WHEN pg_catalog.to_regclass('\"vc\"') IS NOT DISTINCT FROM pg_catalog.to_regclass('\"public\".\"vc\"') THEN true ELSE pat_name = 'x' END";
    expect(isGuard(expr(forged))).toBe(false);
    const lifted = liftGuards({ A: [expr(forged), staleGuard(v)] });
    expect(lifted.guards).toHaveLength(1);
  });
  it('a client statement that spells a check out itself is not computed in the engine with it', () => {
    const a = rw.analyze("SELECT upper(pat_name) FROM patient WHERE CASE WHEN pg_catalog.to_regclass('\"vc\"') IS NOT DISTINCT FROM pg_catalog.to_regclass('\"public\".\"vc\"') THEN true ELSE pat_name LIKE 'x%' END");
    if (a.kind === 'plan') expect(a.statements[0]?.sql).not.toContain("LIKE 'x%'");
  });
  it('a qualified name carries only the stale check', () => {
    const sql = plan('SELECT * FROM public.vc').statements[0]?.sql ?? '';
    expect(sql).toContain('pg_rewrite');
    expect(sql).not.toContain('resolves to another relation');
  });
});

describe('* in a view', () => {
  it('is fixed at CREATE VIEW over protected tables and views of the proxy\'s', () => {
    expect(decoded(create('CREATE VIEW vs AS SELECT * FROM visit WHERE visit_id < 3', 'vs', ['visit_id', 'pat_id', 'reason', 'notes'])))
      .toBe('SELECT visit.visit_id, visit.pat_id, visit.reason, visit.notes FROM visit WHERE visit_id < 3');
    expect(decoded(create('CREATE VIEW vj AS SELECT v.*, p.pat_name FROM visit v JOIN patient AS p(i) ON p.i = v.pat_id', 'vj', ['visit_id', 'pat_id', 'reason', 'notes', 'pat_name'])))
      .toBe('SELECT v.visit_id, v.pat_id, v.reason, v.notes, p.pat_name FROM visit AS v JOIN patient AS p(i) ON p.i = v.pat_id');
    expect(decoded(create('CREATE VIEW vv AS SELECT * FROM vc', 'vv', ['pat_id', 'n', 'diagnosis']))).toBe('SELECT vc.pat_id, vc.n, vc.diagnosis FROM vc');
  });
  it('stays as written over a relation whose columns the proxy does not know or a WITH query of a view\'s name', () => {
    expect(decoded(create('CREATE VIEW vw AS SELECT * FROM visit, ward', 'vw', ['visit_id']))).toBe('SELECT * FROM visit, ward');
    expect(decoded(create('CREATE VIEW vt AS WITH vc AS (SELECT 1 AS a) SELECT * FROM vc, patient', 'vt', ['a']))).toContain('SELECT * FROM vc, patient');
  });
  it('over an expanded view in a reader is written out under the same names (qualified too)', () => {
    const r = plan('SELECT x.* FROM vc AS x(a) JOIN visit v ON v.pat_id = x.a').statements[0];
    expect(r?.residual?.sql).toMatch(/^WITH .* SELECT x\.a, x\.n, x\.diagnosis FROM/);
  });
});

describe('renaming what a view names', () => {
  it('refuses renaming or moving a relation a view\'s text names, or renaming one of its columns, naming the views', () => {
    for (const sql of ['ALTER TABLE visit RENAME COLUMN visit_id TO id', 'ALTER TABLE patient RENAME COLUMN pat_id TO id', 'ALTER VIEW vc RENAME TO vc_old',
      'ALTER TABLE public.visit RENAME COLUMN notes TO n', 'ALTER VIEW vc SET SCHEMA other', 'ALTER TABLE ward RENAME TO ward_old', 'ALTER TABLE ward RENAME COLUMN wid TO id']) {
      expect(rw.analyze(sql)).toMatchObject({ kind: 'refuse', code: '0A000', reason: 'viewDependency', message: expect.stringMatching(/while views over protected tables name it \(public\.\w+/) });
    }
    // What no view names, and a view no other view names, rename as before (the backend's).
    expect(rw.analyze('ALTER VIEW vc2 RENAME TO vc3').kind).toBe('pass');
    expect(rw.analyze('ALTER TABLE other.visit RENAME COLUMN notes TO n').kind).not.toMatchObject({ reason: 'viewDependency' });
    expect(rw.analyze('ALTER TABLE unrelated RENAME TO unrelated2').kind).toBe('pass');
  });
});

describe('a temporary function whose body names a view of the proxy\'s', () => {
  const fn = (stmt: string): string => `CREATE FUNCTION pg_temp.testfunc(OUT response "visit", OUT sequelize_caught_exception text) RETURNS RECORD AS $func_1$ BEGIN ${stmt} RETURNING * INTO response; RETURN; EXCEPTION WHEN unique_violation THEN GET STACKED DIAGNOSTICS sequelize_caught_exception = PG_EXCEPTION_DETAIL; END $func_1$ LANGUAGE plpgsql; SELECT (testfunc.response).visit_id, testfunc.sequelize_caught_exception FROM pg_temp.testfunc(); DROP FUNCTION IF EXISTS pg_temp.testfunc()`;
  it('has the view expanded in the body as at top level: a write into it is refused', () => {
    expect(rw.analyze(fn("INSERT INTO vc (pat_id) VALUES (1)"))).toMatchObject({ kind: 'refuse', reason: 'viewWrite' });
  });
  it('a statement of the body reading the view reads its SELECT, with its checks', () => {
    const a = rw.analyze(fn('INSERT INTO visit (visit_id, pat_id) SELECT 100, pat_id FROM vs WHERE visit_id = 1'));
    expect(a.kind).toBe('plan');
    const sql = a.kind === 'plan' ? a.statements[0]?.sql ?? '' : '';
    expect(sql).toContain('FROM ( SELECT visit.visit_id, visit.pat_id, visit.reason, visit.notes FROM visit WHERE visit_id < 3 AND CASE WHEN');
  });
});
