// Views over protected tables (issue 10): CREATE VIEW gives the backend a stand-in that carries the
// definition and reads no stored value; a statement naming the view has it expanded; writes into
// it, unsafe definitions and names that would shadow a protected table are refused.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from './parser.ts';
import type { Analysis, Rewriter } from './rewriter.ts';
import { testRewriter } from '@clarus/testing/rewriter.ts';
import { VIEW_MARKER, viewFromRow } from './views.ts';
import type { ProxyView } from './views.ts';

const CREATE = 'CREATE TABLE patient (pat_id int PRIMARY KEY, pat_name text NOT NULL, pat_ssn varchar(11), pat_zip text, pat_birth date, diagnosis text)';
let rw: Rewriter;
let known: ProxyView[] = [];

function plan(sql: string): Extract<Analysis, { kind: 'plan' }> {
  const a = rw.analyze(sql);
  if (a.kind !== 'plan') throw new Error(`expected a plan for ${sql}, got ${JSON.stringify(a)}`);
  return a;
}
function refusal(sql: string): Extract<Analysis, { kind: 'refuse' }> {
  const a = rw.analyze(sql);
  if (a.kind !== 'refuse') throw new Error(`expected a refusal for ${sql}, got ${a.kind}`);
  return a;
}
/** CREATE VIEW through the rewriter, then the view as a replica loads it from the stand-in. */
function create(sql: string, schema: string, name: string, columns: string[]): string {
  const stub = plan(sql).statements[0]?.sql ?? '';
  const hex = new RegExp(`${VIEW_MARKER}([0-9a-f]+)`).exec(stub)?.[1] ?? '';
  const v = viewFromRow({ schema, name, columns: JSON.stringify(columns), hex });
  if (!v) throw new Error('marker does not decode');
  known = [...known.filter((k) => k.name !== name), v];
  rw.learnViews(known);
  return stub;
}

/** The SQL without the guards each expansion carries (checked on their own below). */
const unguarded = (sql: string): string => sql
  .replace(/ (?:WHERE|AND) CASE WHEN \(\(SELECT pg_catalog\.md5\(.*?AS boolean\) END/g, '')
  .replace(/ (?:WHERE|AND) CASE WHEN pg_catalog\.to_regclass\(.*?AS boolean\) END/g, '')
  .replace(/^SELECT (\w+)\.\w+(?:, \1\.\w+)* FROM/, 'SELECT * FROM');

beforeAll(async () => {
  await loadParser();
  rw = testRewriter(undefined, undefined, { twoStage: true });
  plan(CREATE);
  plan('CREATE TABLE visit (visit_id int PRIMARY KEY, pat_id int, reason text, notes text)');
  rw.learn(rw.catalog.all(), new Map([
    ['public.patient', [{ name: 'pat_id', typeOid: 23 }, { name: 'pat_name', typeOid: 25 }, { name: 'pat_ssn', typeOid: 1043, typmod: 15 }, { name: 'pat_zip', typeOid: 25 }, { name: 'pat_birth', typeOid: 1082 }, { name: 'diagnosis', typeOid: 25 }]],
    ['public.visit', [{ name: 'visit_id', typeOid: 23 }, { name: 'pat_id', typeOid: 23 }, { name: 'reason', typeOid: 25 }, { name: 'notes', typeOid: 25 }]],
  ]));
});

describe('CREATE VIEW over protected tables', () => {
  it('sends a stand-in that reads no protected column, carries the definition and never returns a row', () => {
    const stub = create('CREATE VIEW pv AS SELECT pat_id, pat_name, diagnosis FROM patient', 'public', 'pv', ['pat_id', 'pat_name', 'diagnosis']);
    expect(stub).toMatch(/^CREATE VIEW "public"\."pv" AS SELECT \* FROM \(/);
    expect(stub).toContain('SELECT pat_id, NULL::text AS pat_name, CAST(NULL AS varchar(11)) AS pat_ssn, NULL::text AS pat_zip, NULL::date AS pat_birth, NULL::text AS diagnosis FROM public.patient');
    expect(stub).toMatch(/clarus-stale-schema: view public\.pv is kept by the Clarus proxy/);
    expect(stub).not.toMatch(/pat_name__|__bidx/);
  });
  it('marks the statement as a write on the datasets it reads, and is never taken from the shape cache', () => {
    const a = plan("CREATE VIEW pw AS SELECT pat_id FROM patient WHERE pat_id > 10");
    expect(a.write).toBe(true);
    expect([...a.datasets.keys()]).toEqual(['patients']);
    const b = plan("CREATE VIEW pw AS SELECT pat_id FROM patient WHERE pat_id > 11");
    expect(b.statements[0]?.sql).not.toBe(a.statements[0]?.sql);
  });
  it('refuses a constant next to a protected column (it would be stored in the clear): canary never in the stand-in', () => {
    for (const sql of [
      "CREATE VIEW flu AS SELECT pat_id FROM patient WHERE diagnosis = 'CANARY-flu'",
      "CREATE VIEW flu AS SELECT pat_id FROM patient WHERE pat_id > 1 AND upper(pat_name) LIKE 'CANARY%'",
      "CREATE VIEW flu AS SELECT CASE WHEN diagnosis = 'CANARY' THEN 1 ELSE 0 END FROM patient",
      "CREATE VIEW flu AS SELECT coalesce(pat_name, 'CANARY') FROM patient",
      "CREATE VIEW flu AS SELECT pat_id FROM patient p JOIN visit v ON v.pat_id = p.pat_id AND v.reason = 'CANARY'",
      "CREATE VIEW flu AS SELECT pat_name FROM pv WHERE diagnosis IN ('CANARY')",
    ]) expect(refusal(sql)).toMatchObject({ code: '0A000', reason: 'viewConstant' });
    expect(plan("CREATE VIEW ok1 AS SELECT pat_id, pat_name FROM patient WHERE pat_id > 10 AND pat_name IS NOT NULL").statements[0]?.sql).toContain(VIEW_MARKER);
  });
  it('refuses a name that would shadow a protected table, TEMPORARY, options, CHECK OPTION and parameters', () => {
    expect(refusal('CREATE VIEW other.patient AS SELECT pat_id FROM public.patient')).toMatchObject({ code: '0A000' });
    expect(refusal('CREATE VIEW visit AS SELECT pat_id FROM patient').kind).toBe('refuse');
    expect(refusal('CREATE TEMP VIEW t AS SELECT pat_id FROM patient')).toMatchObject({ reason: 'viewOption' });
    expect(refusal('CREATE VIEW t WITH (security_barrier) AS SELECT pat_id FROM patient')).toMatchObject({ reason: 'viewOption' });
    expect(refusal('CREATE VIEW t AS SELECT pat_id FROM patient WITH CHECK OPTION')).toMatchObject({ reason: 'viewOption' });
    expect(refusal('CREATE VIEW t AS SELECT pat_id FROM patient WHERE pat_id = $1')).toMatchObject({ reason: 'viewOption' });
  });
  it('a view over no protected table passes unchanged', () => {
    expect(rw.analyze('CREATE VIEW w AS SELECT * FROM ward').kind).toBe('pass');
  });
});

describe('a statement naming the view', () => {
  it('has the view expanded as a subquery and protected as the SELECT would be', () => {
    const a = plan('SELECT * FROM pv WHERE diagnosis = $1');
    const sql = unguarded(a.statements[0]?.sql ?? '');
    expect(sql).toMatch(/FROM \( SELECT pat_id, pat_name, diagnosis FROM patient \) AS pv\(pat_id, pat_name, diagnosis\) WHERE diagnosis = ANY \(\$1\)/);
    expect([...a.datasets.keys()]).toEqual(['patients']);
    expect(a.params.get(1)).toBeDefined();
    expect(a.statements[0]?.outputs.map((o) => o.name)).toEqual(['pat_id', 'pat_name', 'diagnosis']);
  });
  it('each expansion checks that the backend\'s stand-in is still the one loaded (else the STALE_MARKER error)', () => {
    const sql = plan('SELECT * FROM pv').statements[0]?.sql ?? '';
    expect(sql).toContain(`WHERE CASE WHEN ((SELECT pg_catalog.md5(r.ev_action::text) FROM pg_catalog.pg_rewrite AS r WHERE (r.ev_class = pg_catalog.to_regclass('"public"."pv"') AND r.rulename = '_RETURN'))) IS NOT DISTINCT FROM '' THEN true ELSE CAST((SELECT CAST('clarus-stale-schema: view public.pv changed on the backend`);
    // An unqualified name: also that it means public.pv in the session (view-guards.ts resolvesGuard).
    expect(sql).toContain(`AND CASE WHEN pg_catalog.to_regclass('"pv"') IS NOT DISTINCT FROM pg_catalog.to_regclass('"public"."pv"') THEN true ELSE CAST((SELECT CAST('clarus: the unqualified name pv resolves to another relation`);
    expect(plan('SELECT * FROM public.pv').statements[0]?.sql).not.toContain('resolves to another relation');
  });
  it('an alias and column aliases of the statement rename the view columns', () => {
    const sql = plan('SELECT x.n FROM pv AS x(i, n)').statements[0]?.sql ?? '';
    expect(sql).toContain('AS x(i, n, diagnosis)');
  });
  it('computes over the view in the proxy (two stages)', () => {
    const a = plan('SELECT upper(pat_name) FROM pv ORDER BY pat_name');
    expect(a.statements[0]?.residual).toBeDefined();
  });
  it('a WITH query of that name is not the view', () => {
    expect(rw.analyze('WITH pv AS (SELECT 1 AS a) SELECT * FROM pv').kind).toBe('pass');
  });
  it('views over views are expanded all the way down', () => {
    create('CREATE VIEW pv2 (who) AS SELECT pat_name FROM pv', 'public', 'pv2', ['who']);
    const sql = unguarded(plan('SELECT who FROM pv2').statements[0]?.sql ?? '');
    expect(sql).toContain('FROM ( SELECT pat_name FROM ( SELECT pat_id, pat_name, diagnosis FROM patient ) AS pv(pat_id, pat_name, diagnosis) ) AS pv2(who)');
  });
  it('a schema-qualified name in another schema is not the public view', () => {
    expect(rw.analyze('SELECT * FROM other.pv').kind).toBe('pass');
    expect(plan('SELECT * FROM public.pv').statements[0]?.changed).toBe(true);
  });
  it('refuses writes into the view with 0A000, as PostgreSQL refuses a non-updatable view', () => {
    for (const sql of ["INSERT INTO pv (pat_id) VALUES (1)", "UPDATE pv SET pat_id = 2", 'DELETE FROM pv', 'TRUNCATE pv', 'COPY pv FROM STDIN']) {
      expect(refusal(sql)).toMatchObject({ code: '0A000', reason: 'viewWrite' });
    }
  });
  it('refuses renaming the view to a protected table name; other renames and DROP pass to the backend', () => {
    expect(refusal('ALTER VIEW pv RENAME TO patient').reason).toBe('shadowingRelation');
    expect(rw.analyze('ALTER VIEW pv2 RENAME TO pv3').kind).toBe('pass');
    // pv2's text names pv: renaming pv would leave it naming the old name (view-renames.ts).
    expect(rw.analyze('ALTER VIEW pv RENAME TO pv3')).toMatchObject({ kind: 'refuse', reason: 'viewDependency' });
    expect(rw.analyze('DROP VIEW IF EXISTS pv CASCADE')).toMatchObject({ kind: 'pass', write: true });
    expect(rw.mentions('select * from PV2')).toBe(true);
  });
});

describe('loading', () => {
  it('a marker that does not decode to one SELECT is no view of the proxy\'s', () => {
    const row = (hex: string) => viewFromRow({ schema: 'public', name: 'x', columns: '["a"]', hex });
    expect(row('zz')).toBeNull();
    const hex = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('hex');
    expect(row(hex({ v: 1, query: 'DELETE FROM patient' }))).toBeNull();
    expect(row(hex({ v: 1, query: 'SELECT 1; SELECT 2' }))).toBeNull();
    expect(row(hex({ v: 1, query: 'SELECT pat_id FROM patient' }))).toMatchObject({ name: 'x', columns: ['a'] });
  });
});

describe('policy explain --sql (no backend: the policy\'s columns)', () => {
  it('shows the stand-in of a CREATE VIEW over a table never loaded', () => {
    const fresh = testRewriter();
    const a = fresh.analyze('CREATE VIEW pv AS SELECT pat_id, pat_name FROM patient');
    expect(a.kind).toBe('plan');
    expect(a.kind === 'plan' ? a.statements[0]?.sql : '').toContain('NULL::text AS pat_name');
  });
});
