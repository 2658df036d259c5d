import { beforeAll, describe, expect, it } from 'vitest';
import { firstStatement, layoutOf, splitPolicy } from '@clarus/testing/split.ts';
import { loadParser } from '../rewrite/parser.ts';
import { fragmentPolicy, splitLayouts } from './layout.ts';
import type { SplitLayout } from './layout.ts';
import { KEYS_PARAM, planSplit, SplitUnsupported } from './plan.ts';
import type { ChangePlan, DdlPlan, InsertPlan, ReadRelation, SelectPlan } from './plan.ts';
import { planIndexDdl } from './index-ddl.ts';
import type { Catalog } from '../rewrite/catalog.ts';

const POLICY = splitPolicy([
  { name: 'id', attributeType: 'technicalIdentifier', backend: 'a' },
  { name: 'name', attributeType: 'identifier', encrypt: { mode: 'randomized', searchable: false, keyName: 'default' }, backend: 'a' },
  { name: 'diag', attributeType: 'confidential', encrypt: { mode: 'deterministic', searchable: false, keyName: 'default' }, backend: 'b' },
  { name: 'ward', attributeType: 'confidential', backend: 'c' },
], { name: 'visits', schema: 'public', table: 'visit', columns: [{ name: 'v', attributeType: 'confidential', backend: 'a' }] });

let l: SplitLayout;
const plan = (sql: string) => planSplit(l, firstStatement(sql));

beforeAll(async () => {
  await loadParser();
  l = layoutOf(POLICY);
});

describe('layout', () => {
  it('places the key and unlisted columns at home, each other column on its backend', () => {
    expect(splitLayouts(POLICY).size).toBe(1);
    expect(l.home).toBe('a');
    expect(l.sides).toEqual(['b', 'c']);
    expect([...l.columns]).toEqual([['a', ['name']], ['b', ['diag']], ['c', ['ward']]]);
  });

  it('a fragment policy keeps the row key and that backend\'s columns, unsplit', () => {
    const b = fragmentPolicy(POLICY, 'b');
    expect(b.defaultBackend).toBe('b');
    expect(b.datasets.map((d) => [d.name, d.columns.map((c) => `${c.name}@${c.backend}`)])).toEqual([['patients', ['id@b', 'diag@b']]]);
    const a = fragmentPolicy(POLICY, 'a');
    expect(a.datasets.map((d) => [d.name, d.columns.map((c) => c.name)])).toEqual([['patients', ['id', 'name']], ['visits', ['v']]]);
  });
});

describe('plans', () => {
  it('SELECT: home scan with home-only conjuncts, other fragments by key, the engine over the rest', () => {
    const p = plan("SELECT name, diag FROM patient p WHERE p.id = $2 AND diag = 'flu' AND upper(name) = $1 ORDER BY ward") as SelectPlan;
    expect(p.kind).toBe('select');
    const r = p.relations[0] as ReadRelation;
    expect(p.relations).toHaveLength(1);
    expect(r.home.sql).toBe('SELECT * FROM public.patient AS p WHERE p.id = $1 AND upper(name) = $2');
    expect(r.home.params).toEqual([2, 1]);
    expect(r.sides.map((s) => s.sql)).toEqual(['SELECT id, diag FROM public.patient WHERE id = ANY ($1)', 'SELECT id, ward FROM public.patient WHERE id = ANY ($1)']);
    expect(p.engine.sql).toContain('FROM clarus_r1 AS p');
    expect(p.paramCount).toBe(2);
    expect(r.homeWith([1]).sql).toBe('SELECT * FROM public.patient AS p WHERE upper(name) = $1');
    // The condition on cloud b's column selects row keys there first; the home scan takes them.
    expect(r.filters).toEqual([{ backend: 'b', params: [], sql: "SELECT id FROM public.patient AS p WHERE diag = 'flu'" }]);
    expect(r.homeWith([0], true)).toEqual({ backend: 'a', params: [2, KEYS_PARAM], sql: 'SELECT * FROM public.patient AS p WHERE p.id = $1 AND id = ANY ($2)' });
    expect(p.direct).toBeNull();
    expect((plan('SELECT name AS n, * FROM patient WHERE id = 1') as SelectPlan).direct).toEqual([{ column: 'name', name: 'n' }, null]);
  });

  it('SELECT: row-local engine statements over the one split table are marked local (batch by batch)', () => {
    const local = (q: string) => (plan(q) as SelectPlan).local === true;
    expect(local("SELECT upper(name) AS u, diag FROM patient p WHERE p.diag LIKE 'f%'")).toBe(true);
    expect(local('SELECT name FROM patient')).toBe(true);
    for (const q of ['SELECT name FROM patient ORDER BY name', 'SELECT count(*) FROM patient', 'SELECT name FROM patient LIMIT 3',
      'SELECT DISTINCT name FROM patient', 'SELECT name, now() FROM patient', 'SELECT name FROM patient WHERE id IN (SELECT id FROM patient)',
      'SELECT p.name FROM patient p JOIN visit v ON v.v = p.diag']) expect(local(q), q).toBe(false);
  });

  it('SELECT with other tables: each table is a relation of the engine; qualified conditions go with their scan; none with outer joins', () => {
    const p = plan("SELECT p.name, v.v FROM patient p JOIN visit v ON v.v = p.diag WHERE p.id > 3 AND v.v <> 'x' AND p.ward = v.v") as SelectPlan;
    expect(p.relations.map((r) => [r.name, r.layout?.table ?? null, r.table.table, r.home.sql])).toEqual([
      ['clarus_r1', 'patient', 'patient', 'SELECT * FROM public.patient AS p WHERE p.id > 3'],
      ['clarus_r2', null, 'visit', "SELECT * FROM visit AS v WHERE v.v <> 'x'"],
    ]);
    expect(p.engine.sql).toBe("SELECT p.name, v.v FROM clarus_r1 AS p JOIN clarus_r2 AS v ON v.v = p.diag WHERE p.id > 3 AND v.v <> 'x' AND p.ward = v.v");
    const outer = plan('SELECT * FROM patient p LEFT JOIN visit v ON true WHERE v.v IS NULL') as SelectPlan;
    expect(outer.relations.map((r) => r.conjuncts)).toEqual([0, 0]);
    const sub = plan('SELECT name FROM patient WHERE diag IN (SELECT v FROM visit)') as SelectPlan;
    expect(sub.relations.map((r) => r.table.table)).toEqual(['patient', 'visit']);
  });

  it('INSERT: home gets the key and its columns and returns the keys; others get keys by position', () => {
    const p = plan("INSERT INTO patient (id, name, diag, ward) VALUES (1, 'n', $1, 'w'), ($2, $3, 'd', NULL) RETURNING name") as InsertPlan;
    expect(p.home.sql).toBe("INSERT INTO patient (id, name) VALUES (1, 'n'), ($1, $2) RETURNING id, name");
    expect(p.home.params).toEqual([2, 3]);
    expect(p.sides).toEqual([
      { backend: 'b', columns: ['diag'], sql: "INSERT INTO public.patient (id, diag) VALUES ($1, $3), ($2, 'd')", params: [1] },
      { backend: 'c', columns: ['ward'], sql: "INSERT INTO public.patient (id, ward) VALUES ($1, 'w'), ($2, NULL)", params: [] },
    ]);
    expect(p.returning).toBe(true);
  });

  it('INSERT without a fragment\'s columns still gives that fragment the row (its key), or reads would lose it', () => {
    const p = plan("INSERT INTO patient (id, name) VALUES (7, 'n')") as InsertPlan;
    expect(p.sides).toEqual([
      { backend: 'b', columns: [], sql: 'INSERT INTO public.patient (id) VALUES ($1)', params: [] },
      { backend: 'c', columns: [], sql: 'INSERT INTO public.patient (id) VALUES ($1)', params: [] },
    ]);
  });

  it('UPDATE: conditions on another fragment select keys there (FOR UPDATE), the home statement returns changed keys', () => {
    const p = plan("UPDATE patient SET ward = $1, name = 'x' WHERE diag = 'flu' AND id > 3") as ChangePlan;
    expect(p.filters).toEqual([{ backend: 'b', params: [], sql: "SELECT id FROM public.patient WHERE diag = 'flu' FOR UPDATE" }]);
    expect(p.home.sql).toBe("UPDATE patient SET name = 'x' WHERE id > 3 AND id = ANY ($1) RETURNING id");
    expect(p.sides).toEqual([{ backend: 'c', params: [1], sql: 'UPDATE public.patient SET ward = $2 WHERE id = ANY ($1)' }]);
    expect(p.homeByKeys.params).toEqual([KEYS_PARAM]);
  });

  it('DELETE: every fragment loses the keys the home statement deleted', () => {
    const p = plan('DELETE FROM patient WHERE id = $1') as ChangePlan;
    expect(p.home.sql).toBe('DELETE FROM patient WHERE id = $1 RETURNING id');
    expect(p.sides.map((s) => s.sql)).toEqual(['DELETE FROM public.patient WHERE id = ANY ($1)', 'DELETE FROM public.patient WHERE id = ANY ($1)']);
  });

  it('CREATE TABLE: the key is every other fragment\'s primary key (serial becomes its integer type)', () => {
    const p = plan('CREATE TABLE patient (id serial PRIMARY KEY, name text NOT NULL, diag text, ward text CHECK (ward <> \'\'), age int)') as DdlPlan;
    expect(p.statements.map((s) => [s.backend, s.sql])).toEqual([
      ['a', 'CREATE TABLE patient (id serial PRIMARY KEY, name text NOT NULL, age int)'],
      ['b', 'CREATE TABLE patient (id int PRIMARY KEY, diag text)'],
      ['c', "CREATE TABLE patient (id int PRIMARY KEY, ward text CHECK (ward <> ''))"],
    ]);
  });

  it('ALTER TABLE and CREATE INDEX go to the backend of the columns they name', () => {
    const a = plan('ALTER TABLE patient ADD COLUMN extra int, ALTER COLUMN ward SET NOT NULL, DROP COLUMN diag') as DdlPlan;
    expect(a.statements.map((x) => [x.backend, x.sql])).toEqual([
      ['a', 'ALTER TABLE public.patient ADD COLUMN extra int'],
      ['c', 'ALTER TABLE public.patient ALTER COLUMN ward SET NOT NULL'],
      ['b', 'ALTER TABLE public.patient DROP COLUMN diag RESTRICT'],
    ]);
    const i = plan('CREATE INDEX patient_ward ON patient (lower(ward))') as DdlPlan;
    expect(i.statements.map((x) => [x.backend, x.sql])).toEqual([['c', 'CREATE INDEX patient_ward ON public.patient ((lower(ward)))']]);
  });

  it('a named index or UNIQUE constraint must have a name no relation of the other backends has', () => {
    const i = plan('CREATE INDEX patient_ward ON patient (ward)') as DdlPlan;
    expect(i.unused).toEqual([{ backend: 'a', schema: 'public', name: 'patient_ward' }, { backend: 'b', schema: 'public', name: 'patient_ward' }]);
    expect((plan('CREATE INDEX ON patient (ward)') as DdlPlan).unused).toBeUndefined();
    const t = plan('CREATE TABLE patient (id int PRIMARY KEY, ward text CONSTRAINT w_key UNIQUE, diag text, CONSTRAINT d_key UNIQUE (diag))') as DdlPlan;
    expect(t.unused).toEqual([
      { backend: 'a', schema: 'public', name: 'd_key' }, { backend: 'c', schema: 'public', name: 'd_key' },
      { backend: 'a', schema: 'public', name: 'w_key' }, { backend: 'b', schema: 'public', name: 'w_key' },
    ]);
    expect((plan('CREATE INDEX IF NOT EXISTS patient_ward ON patient (ward)') as DdlPlan).ifNotExists).toBe('patient_ward');
    expect((plan('CREATE INDEX ON patient (lower(ward)) INCLUDE (ward)') as DdlPlan).autoName?.stem).toEqual({ table: 'patient', addition: 'lower_ward', label: 'idx' });
    expect(() => plan('CREATE INDEX ON patient ((xmlelement(name x, ward)))')).toThrow(/give the index a name/);
  });

  it('DROP INDEX / ALTER INDEX of an index another fragment holds go to that backend', () => {
    const objects = [{ kind: 'index' as const, name: 'w_idx', columns: ['ward'], unique: false, plain: true, definition: '', pretty: '', backend: 'c' },
      { kind: 'index' as const, name: 'd_idx', columns: ['diag'], unique: false, plain: true, definition: '', pretty: '', backend: 'b' }];
    const catalog = { all: () => [{ schema: 'public', table: 'patient', split: [{ column: 'ward', backend: 'c' }], remoteObjects: objects }] } as unknown as Catalog;
    const idx = (sql: string) => planIndexDdl(catalog, new Map([['public.patient', l]]), firstStatement(sql));
    expect(idx('DROP INDEX home_idx')).toBeNull();
    expect(idx('DROP INDEX IF EXISTS w_idx, home_idx, public.d_idx CASCADE')?.statements.map((x) => [x.backend, x.sql])).toEqual([
      ['a', 'DROP INDEX IF EXISTS home_idx CASCADE'], ['b', 'DROP INDEX IF EXISTS public.d_idx CASCADE'], ['c', 'DROP INDEX IF EXISTS public.w_idx CASCADE'],
    ]);
    const r = idx('ALTER INDEX w_idx RENAME TO w2');
    expect(r?.statements.map((x) => [x.backend, x.sql])).toEqual([['c', 'ALTER INDEX public.w_idx RENAME TO w2']]);
    expect(r?.unused?.map((u) => u.backend)).toEqual(['a', 'b']);
    expect(idx('REINDEX INDEX w_idx')?.statements.map((x) => [x.backend, x.sql])).toEqual([['c', 'REINDEX INDEX public.w_idx']]);
    expect(idx("COMMENT ON INDEX public.d_idx IS 'x'")?.statements.map((x) => [x.backend, x.sql])).toEqual([['b', "COMMENT ON INDEX public.d_idx IS 'x'"]]);
    expect(idx("COMMENT ON INDEX home_idx IS 'x'")).toBeNull();
    expect(() => idx('REINDEX INDEX CONCURRENTLY w_idx')).toThrow(/CONCURRENTLY/);
    expect(() => idx('DROP INDEX CONCURRENTLY w_idx')).toThrow(/CONCURRENTLY/);
    expect(() => idx('ALTER INDEX w_idx SET (fillfactor = 50)')).toThrow(/SetRelOptions|not supported/);
    expect(idx('DROP INDEX other.w_idx')).toBeNull();
  });

  it('refuses by name what it cannot plan', () => {
    for (const [sql, why] of [
      ['WITH x AS (DELETE FROM visit RETURNING v) SELECT * FROM patient, x', /data-modifying WITH/],
      ['WITH patient AS (SELECT 1 AS id) SELECT * FROM patient', /WITH query named as split table/],
      ['UPDATE patient SET ward = v.v FROM visit v WHERE v.v = patient.name RETURNING $1', /RETURNING with parameters/],
      ['UPDATE patient SET ward = name RETURNING ward', /RETURNING/],
      ['UPDATE patient SET id = 2', /row key/],
      ["UPDATE patient SET ward = 'x' WHERE diag = ward", /different backends/],
      ['INSERT INTO patient (id, ward) SELECT 1, ward FROM patient', /INSERT … SELECT/],
      ['INSERT INTO patient (id, ward) VALUES (1, upper(\'x\'))', /constants and parameters/],
      ["INSERT INTO patient (id, ward) VALUES (1, 'x') ON CONFLICT DO NOTHING", /ON CONFLICT/],
      ['INSERT INTO patient (id, ward) VALUES (1, \'x\') RETURNING ward', /RETURNING/],
      ['CREATE TABLE patient (id int, ward text)', /not its PRIMARY KEY/],
      ['CREATE TABLE patient (id int PRIMARY KEY, name text, diag text, UNIQUE (name, diag))', /different backends/],
      ['ALTER TABLE patient RENAME COLUMN ward TO w', /ALTER TABLE|RENAME/],
      ['ALTER TABLE patient ALTER COLUMN id TYPE bigint', /row key/],
      ['CREATE INDEX ON patient (name, ward)', /different backends/],
      ['TRUNCATE patient, visit', /TRUNCATE of several tables/],
      ["INSERT INTO patient (id, ward) VALUES (1, 'x') ON CONFLICT (ward) DO NOTHING", /row key/],
      ["INSERT INTO patient (id, ward) VALUES (1, 'x'), (2, 'y') ON CONFLICT (id) DO NOTHING", /multi-row/],
      ["INSERT INTO patient (id, ward) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET ward = EXCLUDED.name", /another backend/],
    ] as const) {
      expect(() => plan(sql), sql).toThrow(SplitUnsupported);
      expect(() => plan(sql), sql).toThrow(why);
    }
  });

  it('UPDATE … FROM, a SET over other backends\' columns, DELETE … USING: computed by the engine, written back by key', () => {
    const u = plan('UPDATE patient p SET ward = p.name || v.v, diag = upper(p.ward) FROM visit v WHERE v.v = p.diag AND p.id > $1') as ChangePlan;
    expect(u.computed?.writes).toEqual([
      { backend: 'a', sql: 'UPDATE public.patient AS p SET id = id WHERE id = ANY ($1) RETURNING id', values: [] },
      { backend: 'c', sql: 'UPDATE public.patient AS p SET ward = $2 WHERE id = ANY ($1)', values: [1] },
      { backend: 'b', sql: 'UPDATE public.patient AS p SET diag = $2 WHERE id = ANY ($1)', values: [2] },
    ]);
    expect(u.keys.engine.sql).toContain('p.name || v.v');
    expect(u.keys.relations.map((r) => r.table.table)).toEqual(['patient', 'visit']);
    // The target's rows are read FOR UPDATE (stage.ts), the other relations without a lock.
    expect(u.keys.relations.map((r) => r.lock === true)).toEqual([true, false]);
    const self = plan('UPDATE patient p SET ward = q.name FROM patient q WHERE q.id = p.id + 1') as ChangePlan;
    expect(self.keys.relations.map((r) => [r.table.table, r.lock === true])).toEqual([['patient', true], ['patient', false]]);
    const s = plan('UPDATE patient SET ward = name WHERE id = 1') as ChangePlan;
    expect(s.keys.relations.map((r) => r.lock === true)).toEqual([true]);
    expect(s.computed?.writes.map((w) => w.backend)).toEqual(['a', 'c']);
    const d = plan('DELETE FROM patient p USING visit v WHERE v.v = p.diag RETURNING p.name') as ChangePlan;
    expect(d.computed?.writes).toEqual([]);
    expect(d.homeByKeys).toEqual({ backend: 'a', params: [KEYS_PARAM], sql: 'DELETE FROM patient AS p WHERE id = ANY ($1) RETURNING id, p.name' });
    expect(d.sides.map((x) => x.sql)).toEqual(['DELETE FROM public.patient WHERE id = ANY ($1)', 'DELETE FROM public.patient WHERE id = ANY ($1)']);
  });

  it('TRUNCATE, ON CONFLICT on the row key, WITH queries', () => {
    const t = plan('TRUNCATE patient RESTART IDENTITY') as DdlPlan;
    expect(t.statements.map((x) => [x.backend, x.sql])).toEqual([['a', 'TRUNCATE public.patient RESTART IDENTITY'], ['b', 'TRUNCATE public.patient RESTART IDENTITY'], ['c', 'TRUNCATE public.patient RESTART IDENTITY']]);
    const u = plan("INSERT INTO patient (id, name, ward) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET ward = EXCLUDED.ward || $4") as InsertPlan;
    expect(u.conflict).toBe('update');
    expect(u.home.sql).toMatch(/ON CONFLICT \(id\) DO UPDATE SET id = excluded.id RETURNING id$/);
    expect(u.sides.map((x) => [x.backend, x.sql, x.params])).toEqual([
      ['b', 'INSERT INTO public.patient (id) VALUES ($1) ON CONFLICT (id) DO NOTHING', []],
      ['c', 'INSERT INTO public.patient (id, ward) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET ward = excluded.ward || $3', [3, 4]]]);
    const n = plan("INSERT INTO patient (id, ward) VALUES (1, 'x') ON CONFLICT (id) DO NOTHING") as InsertPlan;
    expect(n.conflict).toBe('nothing');
    expect(n.home.sql).toMatch(/ON CONFLICT \(id\) DO NOTHING RETURNING id$/);
    const w = plan("WITH x AS (SELECT id, upper(ward) AS ward FROM patient) SELECT id FROM x WHERE ward = 'A'") as SelectPlan;
    expect(w.relations.map((r) => r.name)).toEqual(['clarus_r1']);
    expect(w.relations[0]?.conjuncts).toBe(0);
    expect(w.direct).toBeNull();
  });
});
