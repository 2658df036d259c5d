import { beforeAll, describe, expect, it } from 'vitest';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { loadParser, parseStatements } from '../rewrite/parser.ts';
import { fragmentPolicy, splitLayouts } from './layout.ts';
import type { SplitLayout } from './layout.ts';
import { planSplit, SplitUnsupported } from './plan.ts';
import type { DdlPlan, InsertPlan, SelectPlan, ChangePlan } from './plan.ts';
import { derivedValues, ewkbHex, recomposeFields, recomposeRows, rewritePoints } from './points.ts';
import type { FieldDescription } from '../protocol/types.ts';
import { StatementError } from '../session/pipeline.ts';

// Backend a is home; X goes to b, Y to c: no backend holds both coordinates.
const POLICY: RuntimePolicy = {
  name: 'p', onUnsupported: 'reject', defaultBackend: 'a',
  keyring: { dir: 'k', keys: [{ name: 'default', versions: [1], current: 1 }] },
  datasets: [{
    name: 'boreholes', schema: 'public', table: 'boreholes', rowKey: 'id',
    columns: [
      { name: 'id', attributeType: 'technicalIdentifier', backend: 'a' },
      { name: 'geom', attributeType: 'quasiIdentifier', backend: 'b', coordinates: ['b', 'c'] },
    ],
  }],
};

let l: SplitLayout;
const stmtOf = (sql: string) => (parseStatements(sql)[0] as { stmt: Record<string, unknown> }).stmt;
const rewrite = (sql: string) => {
  const stmt = stmtOf(sql);
  const r = rewritePoints([l], stmt, Math.max(0, ...[...sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]))));
  if (!r) throw new Error('no point column');
  return { ...r, plan: planSplit(l, r.stmt) };
};

beforeAll(async () => {
  await loadParser();
  l = splitLayouts(POLICY).get('public.boreholes') as SplitLayout;
});

describe('layout of a point split by coordinates', () => {
  it('places X on the first backend, Y on the second, the SRID at home; no fragment policy names the point', () => {
    expect(l.sides).toEqual(['b', 'c']);
    expect([...l.columns]).toEqual([['a', ['geom__srid']], ['b', ['geom__x']], ['c', ['geom__y']]]);
    for (const b of ['a', 'b', 'c']) expect(fragmentPolicy(POLICY, b).datasets.flatMap((d) => d.columns.map((c) => c.name))).not.toContain('geom');
  });
});

describe('statements over the hidden columns', () => {
  it('CREATE TABLE: x on b, y on c, srid with the declared SRID check at home', () => {
    const p = rewrite('CREATE TABLE boreholes (id int PRIMARY KEY, name text, geom geometry(Point, 28992) NOT NULL)').plan as DdlPlan;
    const by = new Map(p.statements.map((s) => [s.backend, s.sql]));
    expect(by.get('a')).toContain('geom__srid int4 NOT NULL CONSTRAINT clarus_point_srid_geom CHECK (geom__srid = 28992)');
    expect(by.get('a')).not.toMatch(/geom__x|geom__y/);
    expect(by.get('b')).toMatch(/geom__x float8 NOT NULL/);
    expect(by.get('b')).not.toMatch(/geom__y|srid|name/);
    expect(by.get('c')).toMatch(/geom__y float8 NOT NULL/);
    expect(by.get('c')).not.toMatch(/geom__x|srid|name/);
  });

  it('CREATE TABLE refuses a geometry that is not a point, and constraints on the point', () => {
    expect(() => rewrite('CREATE TABLE boreholes (id int PRIMARY KEY, geom geometry(LineString, 28992))')).toThrow(/not a 2-D point/);
    expect(() => rewrite('CREATE TABLE boreholes (id int PRIMARY KEY, geom geometry)')).toThrow(SplitUnsupported);
    expect(() => rewrite('CREATE TABLE boreholes (id int PRIMARY KEY, geom text)')).toThrow(SplitUnsupported);
    expect(() => rewrite('CREATE TABLE boreholes (id int PRIMARY KEY, geom geometry(Point) UNIQUE)')).toThrow(/UNIQUE constraint on point column geom/);
  });

  it('INSERT: a constant and a parameter become derived parameters, each part on its backend', () => {
    const r = rewrite("INSERT INTO boreholes (id, geom) VALUES ($1, 'SRID=28992;POINT(1 2)'), ($2, $3)");
    const p = r.plan as InsertPlan;
    expect(r.derived.map((d) => [d.source, d.part])).toEqual([
      [{ text: 'SRID=28992;POINT(1 2)' }, 'x'], [{ text: 'SRID=28992;POINT(1 2)' }, 'y'], [{ text: 'SRID=28992;POINT(1 2)' }, 'srid'],
      [{ param: 3 }, 'x'], [{ param: 3 }, 'y'], [{ param: 3 }, 'srid'],
    ]);
    expect(p.home.sql).toBe('INSERT INTO boreholes (id, geom__srid) VALUES ($1, $2), ($3, $4) RETURNING id');
    expect(p.home.params).toEqual([1, 6, 2, 9]);
    expect(p.sides.map((s) => [s.backend, s.sql, s.params])).toEqual([
      ['b', 'INSERT INTO public.boreholes (id, geom__x) VALUES ($1, $3), ($2, $4)', [4, 7]],
      ['c', 'INSERT INTO public.boreholes (id, geom__y) VALUES ($1, $3), ($2, $4)', [5, 8]],
    ]);
    // The constant never appears in any fragment statement.
    expect(JSON.stringify(p)).not.toContain('POINT');
    expect(derivedValues(r.derived, ['1', '2', '0101000020E6100000000000000000F03F0000000000000040'])).toEqual(['1', '2', '28992', '1', '2', '4326']);
  });

  it('a value that is not a point fails with 22023 when executed', () => {
    const r = rewrite("INSERT INTO boreholes (id, geom) VALUES (1, 'LINESTRING(0 0, 1 1)')");
    expect(() => derivedValues(r.derived, [])).toThrow(StatementError);
    try { derivedValues(r.derived, []); } catch (e) { expect((e as StatementError).code).toBe('22023'); }
    expect(() => derivedValues(rewrite('INSERT INTO boreholes (id, geom) VALUES (1, $1)').derived, ['POINT Z (1 2 3)'])).toThrow(/not a 2-D point/);
  });

  it('UPDATE SET geom: the parts go to their backends; a WHERE on ST_X is evaluated by the X backend alone', () => {
    const r = rewrite('UPDATE boreholes SET geom = $1 WHERE ST_X(geom) > 100');
    const p = r.plan as ChangePlan;
    expect(p.filters.map((f) => [f.backend, f.sql])).toEqual([['b', 'SELECT id FROM public.boreholes WHERE geom__x > 100 FOR UPDATE']]);
    expect(p.sides.map((s) => s.backend)).toEqual(['b', 'c']);
    expect(p.home.sql).toContain('geom__srid = $1');
  });

  it('SELECT: ST_X/ST_AsText read the hidden parts under the names PostgreSQL gives them', () => {
    const p = rewrite('SELECT id, geom, ST_X(geom), st_astext(geom) FROM boreholes WHERE id > 3 ORDER BY id').plan as SelectPlan;
    expect(p.engine.sql).toBe("SELECT id, geom, geom__x AS st_x, ((('POINT(' || geom__x::text) || ' ') || geom__y::text) || ')' AS st_astext FROM clarus_r1 AS boreholes WHERE id > 3 ORDER BY id");
    const bare = rewrite('SELECT geom FROM boreholes');
    expect(bare.keepParts).toBe(false);
    expect(rewrite('SELECT * FROM boreholes WHERE geom IS NOT NULL').keepParts).toBe(false);
    expect(rewrite('SELECT id FROM boreholes WHERE ST_Y(geom) < 5').keepParts).toBe(true);
    expect((rewrite('DELETE FROM boreholes WHERE geom IS NULL').plan as ChangePlan).filters.map((f) => f.sql)).toEqual(['SELECT id FROM public.boreholes WHERE geom__x IS NULL FOR UPDATE']);
  });

  it('ST_Distance to a point value: its parts are derived parameters the engine reads (no backend sees the value)', () => {
    const r = rewrite("SELECT id, ST_Distance(geom, $1) AS d FROM boreholes WHERE ST_Distance('SRID=4326;POINT(1 2)'::geometry, geom) < 5");
    expect(r.derived.map((d) => [d.source, d.part])).toEqual([
      [{ param: 1 }, 'x'], [{ param: 1 }, 'y'], [{ param: 1 }, 'srid'],
      [{ text: 'SRID=4326;POINT(1 2)' }, 'x'], [{ text: 'SRID=4326;POINT(1 2)' }, 'y'], [{ text: 'SRID=4326;POINT(1 2)' }, 'srid'],
    ]);
    const p = r.plan as SelectPlan;
    expect(p.engine.sql).toContain('WHEN geom__srid = $4 THEN sqrt(((geom__x - $2) * (geom__x - $2)) + ((geom__y - $3) * (geom__y - $3)))');
    expect(p.engine.sql).toContain('WHEN geom__srid = $7');
    expect(JSON.stringify(p)).not.toContain('POINT(1 2)');
    // The condition reads both coordinates: no fragment gets it, the engine evaluates it.
    expect(p.relations[0]?.filters).toEqual([]);
    expect(p.relations[0]?.conjuncts).toBe(0);
  });

  it('refuses every other use of the point by name (0A000)', () => {
    for (const sql of [
      'SELECT id FROM boreholes WHERE geom = $1',
      'SELECT id FROM boreholes ORDER BY geom',
      'SELECT ST_Buffer(geom, 1) FROM boreholes',
      'SELECT count(geom) FROM boreholes',
      'SELECT ST_Distance(geom, name) FROM boreholes',
      'SELECT ST_Distance(geom, ST_MakePoint(1, 2)) FROM boreholes',
      'SELECT *, ST_X(geom) FROM boreholes',
      'UPDATE boreholes SET geom = ST_MakePoint(1, 2)',
      'CREATE INDEX ON boreholes (geom)',
      'ALTER TABLE boreholes ALTER COLUMN geom SET NOT NULL',
    ]) expect(() => rewrite(sql), sql).toThrow(SplitUnsupported);
  });
});

describe('recomposition', () => {
  const f = (name: string, typeOid: number): FieldDescription => ({ name, tableOid: 1, columnAttr: 1, typeOid, typeSize: -1, typeModifier: -1, format: 0 });
  const fields = [f('id', 23), f('geom__srid', 23), f('name', 25), f('geom__x', 701), f('geom__y', 701)];
  const points = () => l.points ?? [];

  it('puts the point (hex EWKB) where the SRID column is and drops the parts', () => {
    expect(recomposeFields(points(), fields, false).map((x) => x.name)).toEqual(['id', 'geom', 'name']);
    expect(recomposeRows(points(), fields, [['1', '28992', 'a', '1', '2'], ['2', null, 'b', null, null]], false))
      .toEqual([['1', '010100002040710000000000000000F03F0000000000000040', 'a'], ['2', null, 'b']]);
    expect(recomposeFields(points(), fields, true).map((x) => x.name)).toEqual(['id', 'geom', 'geom__srid', 'name', 'geom__x', 'geom__y']);
  });

  it('prints EWKB as PostGIS does (no SRID flag for SRID 0)', () => {
    expect(ewkbHex(1, 2, 0)).toBe('0101000000000000000000F03F0000000000000040');
    expect(ewkbHex(1, 2, 4326)).toBe('0101000020E6100000000000000000F03F0000000000000040');
  });
});
