// Catalog relations read through the proxy are replaced by their logical views (logical-catalog.ts):
// what is replaced, under which name, and what is left alone. What the views show is proved against
// a real PostgreSQL in sidecar/test/integration/protect-compat-catalog.test.ts.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from './parser.ts';
import type { Rewriter } from './rewriter.ts';
import { testRewriter } from '@clarus/testing/rewriter.ts';
import { Catalog } from './catalog.ts';
import { showLogicalCatalog } from './logical-catalog.ts';
import { parseStatements } from './parser.ts';

let rw: Rewriter;
beforeAll(async () => {
  await loadParser();
  rw = testRewriter();
});

function sent(sql: string): string {
  const a = rw.analyze(sql);
  if (a.kind === 'pass') return sql;
  if (a.kind !== 'plan') throw new Error(`${a.kind}: ${a.message}`);
  return a.statements.map((s) => s.sql).join('; ');
}

describe('catalog relations shown logically', () => {
  it.each([
    ['SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid = 1', /FROM \( SELECT a\.\* FROM pg_catalog\.pg_attribute AS a .* UNION ALL .*jsonb_populate_record.*\) AS a WHERE a\.attrelid = 1$/],
    ['SELECT attname FROM pg_attribute', /\) AS pg_attribute$/],
    ['SELECT pg_catalog.pg_attribute.attname FROM pg_catalog.pg_attribute JOIN pg_catalog.pg_class ON pg_class.oid = attrelid', /^SELECT pg_attribute\.attname FROM \( SELECT .*\) AS pg_attribute JOIN pg_catalog\.pg_class ON/],
    ["SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'patient'", /information_schema\._pg_char_max_length.*\) AS columns WHERE table_name = 'patient'$/],
    ['SELECT conname FROM pg_constraint c JOIN pg_index i ON i.indexrelid = c.conindid', /\) AS c JOIN \( SELECT i\.\* FROM pg_catalog\.pg_index AS i .*\) AS i ON/],
    ['SELECT indexdef FROM pg_indexes', /regexp_replace\(x\.indexdef, E'__bidx\\\\M', '', 'g'\)/],
    ['SELECT pg_get_indexdef(indexrelid, 0, true) FROM pg_class', /^SELECT CASE WHEN indexrelid IN \(SELECT ix\.indexrelid .* THEN regexp_replace\(pg_get_indexdef\(indexrelid, 0, true\), E'__bidx\\\\M', '', 'g'\) ELSE pg_get_indexdef\(indexrelid, 0, true\) END FROM pg_class$/],
    ['SELECT constraint_name FROM information_schema.table_constraints UNION SELECT constraint_name FROM information_schema.key_column_usage', /NOT \(x\.constraint_name::text LIKE 'clarus:%'.* UNION .*"left"\(x\.column_name::text, -6\)/],
    ['SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d', /FROM \( SELECT ad\.\* FROM pg_catalog\.pg_attrdef AS ad WHERE NOT .* IS NULL ?\) AS d$/],
    ["SELECT most_common_vals FROM pg_stats WHERE tablename = 'patient'", /FROM \( SELECT s\.\* FROM pg_catalog\.pg_stats AS s WHERE .*\) AS pg_stats WHERE tablename = 'patient'$/],
    ['SELECT stavalues1 FROM pg_catalog.pg_statistic', /FROM \( SELECT s\.\* FROM pg_catalog\.pg_statistic AS s WHERE NOT \(s\.starelid IN/],
  ])('%s', (sql, shown) => {
    expect(sent(sql)).toMatch(shown);
  });

  it.each([
    'SELECT * FROM public.columns',
    'SELECT * FROM myschema.pg_attribute',
    "SELECT c.relname FROM pg_catalog.pg_class c WHERE c.relname = 'patient'",
  ])('leaves %s as it is', (sql) => {
    expect(sent(sql)).toBe(sql);
  });

  it('a protected table next to a replaced catalog relation still goes through the rules', () => {
    const refused = rw.analyze('SELECT p.pat_name FROM patient p JOIN pg_attribute a ON a.attname = p.pat_name');
    expect(refused).toMatchObject({ kind: 'refuse', code: '0A000', message: expect.stringMatching(/pat_name \(randomized\)/) });
    const plan = rw.analyze('SELECT p.pat_name, a.attname FROM patient p, pg_attribute a WHERE a.attrelid = 1');
    if (plan.kind !== 'plan') throw new Error(plan.kind);
    expect(plan.datasets.size).toBe(1);
    expect(plan.statements[0]?.outputs[0]).toMatchObject({ name: 'pat_name', prov: { column: { protection: { kind: 'encrypt' } } } });
  });

  it('changes nothing while the policy encrypts nothing', () => {
    const catalog = new Catalog({ name: 'p', onUnsupported: 'reject', defaultBackend: 'b', keyring: { dir: 'k', keys: [] }, datasets: [] });
    const stmt = parseStatements('SELECT attname FROM pg_attribute')[0]?.stmt;
    if (!stmt) throw new Error('no statement');
    expect(showLogicalCatalog(catalog, stmt, 'SELECT attname FROM pg_attribute')).toBe(stmt);
  });
});

describe('a split table shows the columns of its other fragments (issue 12)', () => {
  const policy = { name: 'p', onUnsupported: 'reject' as const, defaultBackend: 'a', keyring: { dir: 'k', keys: [] }, datasets: [{ name: 'd', schema: 'public', table: 'pt', rowKey: 'id',
    columns: [{ name: 'id', attributeType: 'technicalIdentifier' as const, backend: 'a' }, { name: 'ward', attributeType: 'confidential' as const, backend: 'b' }] }] };
  const text = 'SELECT attname FROM pg_attribute';
  const shown = (catalog: Catalog): string => {
    const stmt = parseStatements(text)[0]?.stmt;
    if (!stmt) throw new Error('no statement');
    return JSON.stringify(showLogicalCatalog(catalog, stmt, text));
  };

  it('nothing while no other fragment was loaded; the loaded columns as rows after the home ones, rebuilt when they change', () => {
    const catalog = new Catalog(policy);
    expect(shown(catalog)).not.toContain('jsonb_populate_record');
    catalog.learn('public', 'pt', [{ name: 'id', typeOid: 23 }, { name: 'ward', typeOid: 1043, typmod: 24, notNull: true, backend: 'b' }]);
    expect(catalog.lookup('public', 'pt')?.columns.map((c) => c.name)).toEqual(['id']);
    expect(catalog.lookup('public', 'pt')?.remote).toEqual([{ name: 'ward', backend: 'b', typeOid: 1043, typmod: 24, notNull: true }]);
    const first = shown(catalog);
    expect(first).toContain('"sval":"ward"');
    expect(first).toContain('"sval":"attnum"');
    catalog.learn('public', 'pt', [{ name: 'id', typeOid: 23 }, { name: 'bed', typeOid: 23, backend: 'b' }]);
    const second = shown(catalog);
    expect(second).toContain('"sval":"bed"');
    expect(second).not.toContain('"sval":"ward"');
  });
});

describe("a split table shows the indexes and constraints of its other fragments (issue 12)", () => {
  const policy = { name: 'p', onUnsupported: 'reject' as const, defaultBackend: 'a', keyring: { dir: 'k', keys: [] }, datasets: [{ name: 'd', schema: 'public', table: 'pt', rowKey: 'id',
    columns: [{ name: 'id', attributeType: 'technicalIdentifier' as const, backend: 'a' }, { name: 'ward', attributeType: 'confidential' as const, backend: 'b' }] }] };
  const shown = (catalog: Catalog, text: string): string => {
    const stmt = parseStatements(text)[0]?.stmt;
    if (!stmt) throw new Error('no statement');
    return JSON.stringify(showLogicalCatalog(catalog, stmt, text));
  };
  const ward = { name: 'pt_ward_key', typeOid: 0, backend: 'b', object: { kind: 'index' as const, name: 'pt_ward_key', columns: ['ward'], unique: true, plain: true,
    definition: 'CREATE UNIQUE INDEX pt_ward_key ON public.pt USING btree (ward)', pretty: 'CREATE UNIQUE INDEX pt_ward_key ON public.pt USING btree (ward)',
    constraint: { name: 'pt_ward_key', definition: 'UNIQUE (ward)', pretty: 'UNIQUE (ward)' } } };

  it('pg_class is left alone until another fragment has an object; then it, pg_index and the definition functions show it', () => {
    const catalog = new Catalog(policy);
    catalog.learn('public', 'pt', [{ name: 'id', typeOid: 23 }, { name: 'ward', typeOid: 25, backend: 'b' }]);
    expect(shown(catalog, 'SELECT relname FROM pg_class')).not.toContain('RangeSubselect');
    catalog.learn('public', 'pt', [{ name: 'id', typeOid: 23 }, { name: 'ward', typeOid: 25, backend: 'b' }, ward]);
    expect(catalog.lookup('public', 'pt')?.remoteObjects?.map((o) => o.name)).toEqual(['pt_ward_key']);
    expect(catalog.lookup('public', 'pt')?.remote?.map((c) => c.name)).toEqual(['ward']);
    expect(shown(catalog, 'SELECT relname FROM pg_class')).toContain('"sval":"pt_ward_key"');
    expect(shown(catalog, 'SELECT indkey FROM pg_index')).toContain('"sval":"indkey"');
    // psql asks for the pretty-printed form (three arguments); pg_indexes for the plain one.
    const reads = (col: string): string => `{"String":{"sval":"o"}},{"String":{"sval":"${col}"}}`;
    expect(shown(catalog, 'SELECT pg_get_indexdef(1, 0, true)')).toContain(reads('pdef'));
    expect(shown(catalog, 'SELECT pg_get_indexdef(1)')).not.toContain(reads('pdef'));
    expect(shown(catalog, 'SELECT pg_get_indexdef(1)')).toContain(reads('def'));
    expect(shown(catalog, 'SELECT pg_get_constraintdef(1, true)')).toContain(reads('pcdef'));
  });

  it('an object of a table with no other fragment loaded any more is gone', () => {
    const catalog = new Catalog(policy);
    catalog.learn('public', 'pt', [{ name: 'id', typeOid: 23 }, { name: 'ward', typeOid: 25, backend: 'b' }, ward]);
    catalog.learn('public', 'pt', [{ name: 'id', typeOid: 23 }, { name: 'ward', typeOid: 25, backend: 'b' }]);
    expect(catalog.lookup('public', 'pt')?.remoteObjects).toEqual([]);
    expect(shown(catalog, 'SELECT relname FROM pg_class')).not.toContain('pt_ward_key');
  });
});
