// The recorded column order of split tables (column-order.ts) and what the planner makes of it
// (plan.ts): the SQL that records each DDL's change, the text[] it is read back from, the
// permutation that shows recomposed rows in it (failing closed on a disagreement), and the
// column list of an INSERT without one. Proved on real backends in
// sidecar/test/integration/split-order.test.ts.
import { beforeAll, describe, expect, it } from 'vitest';
import { firstStatement, layoutOf, splitPolicy } from '@clarus/testing/split.ts';
import { loadParser } from '../rewrite/parser.ts';
import { StatementError } from '../session/pipeline.ts';
import { inOrder, logicalPermutation, orderQuery, parseTextArray, positionalColumns, recordSql } from './column-order.ts';
import { splitLayouts } from './layout.ts';
import type { SplitLayout } from './layout.ts';
import { planSplit, readsColumnOrder } from './plan.ts';
import type { DdlPlan, InsertPlan, SelectPlan } from './plan.ts';

const POLICY = splitPolicy([
  { name: 'id', attributeType: 'technicalIdentifier', backend: 'a' },
  { name: 'diag', attributeType: 'confidential', encrypt: { mode: 'deterministic', searchable: false, keyName: 'default' }, backend: 'b' },
  { name: 'ward', attributeType: 'confidential', backend: 'c' },
], {
  name: 'others', schema: 'other', table: 'patient', rowKey: 'id',
  columns: [{ name: 'id', attributeType: 'technicalIdentifier', backend: 'a' }, { name: 'ward', attributeType: 'confidential', backend: 'b' }],
});

let l: SplitLayout;
const plan = (sql: string, layout = l) => planSplit(layout, firstStatement(sql), splitLayouts(POLICY));

beforeAll(async () => {
  await loadParser();
  l = layoutOf(POLICY);
});

describe('recorded column order: SQL', () => {
  it('records a CREATE TABLE (replacing a stale row; IF NOT EXISTS keeps one), appends, removes and forgets, per schema and table', () => {
    expect(recordSql(l, { kind: 'create', columns: ['id', "it's", 'a,"b"'], ifNotExists: false })).toBe(
      "INSERT INTO clarus_split.columns (schema_name, table_name, columns) VALUES ('public', 'patient', ARRAY['id', 'it''s', 'a,\"b\"']::text[]) ON CONFLICT (schema_name, table_name) DO UPDATE SET columns = EXCLUDED.columns");
    expect(recordSql(l, { kind: 'create', columns: ['id'], ifNotExists: true })).toMatch(/DO NOTHING$/);
    expect(recordSql(l, { kind: 'add', columns: ['x'] })).toBe("UPDATE clarus_split.columns SET columns = columns || 'x'::text WHERE schema_name = 'public' AND table_name = 'patient' AND NOT ('x' = ANY (columns))");
    expect(recordSql(l, { kind: 'drop', columns: ['x'] })).toContain("c <> ALL (ARRAY['x']::text[]) ORDER BY i) WHERE schema_name = 'public' AND table_name = 'patient'");
    const other = layoutOf(POLICY, 'other.patient');
    expect(recordSql(other, { kind: 'forget' })).toBe("DELETE FROM clarus_split.columns WHERE schema_name = 'other' AND table_name = 'patient'");
    expect(orderQuery(other)).toBe("SELECT columns FROM clarus_split.columns WHERE schema_name = 'other' AND table_name = 'patient'");
  });

  it('reads a text[] back with quoted elements (commas, quotes, backslashes, braces, spaces)', () => {
    expect(parseTextArray('{id,name,age}')).toEqual(['id', 'name', 'age']);
    expect(parseTextArray('{id,"Odd, \\"col\\" {x}","back\\\\slash","a b"}')).toEqual(['id', 'Odd, "col" {x}', 'back\\slash', 'a b']);
    expect(parseTextArray('{}')).toEqual([]);
    expect(() => parseTextArray('id')).toThrow();
  });
});

describe('recorded column order: use', () => {
  it('the permutation that shows the recomposed columns in the recorded order', () => {
    expect(logicalPermutation(l, ['id', 'ward', 'age', 'diag'], ['id', 'age', 'diag', 'ward'])).toEqual([0, 3, 1, 2]);
    const fields = ['id', 'age', 'diag', 'ward'].map((name) => ({ name }));
    expect(inOrder(l, ['id', 'ward', 'age', 'diag'], fields, [[1, 40, 'flu', 'w1'], [2, null, null, 'w2']]))
      .toEqual([['id', 'ward', 'age', 'diag'].map((name) => ({ name })), [[1, 'w1', 40, 'flu'], [2, 'w2', null, null]]]);
    // No recorded order (or no split table): as the fragments gave them.
    expect(inOrder(l, null, fields, [[1, 40, 'flu', 'w1']])).toEqual([fields, [[1, 40, 'flu', 'w1']]]);
  });

  it('fails closed (55000) when the order and the fragments disagree: a column missing, one too many, a duplicate', () => {
    for (const [order, names] of [[['id', 'diag'], ['id', 'diag', 'ward']], [['id', 'diag', 'ward', 'x'], ['id', 'diag', 'ward']], [['id', 'id', 'ward'], ['id', 'diag', 'ward']]] as const) {
      let e: unknown;
      try { logicalPermutation(l, order, names); } catch (x) { e = x; }
      expect(e).toBeInstanceOf(StatementError);
      expect((e as StatementError).code).toBe('55000');
      expect((e as StatementError).message).toMatch(/recorded column order of split table public\.patient/);
    }
  });

  it('an INSERT without a column list takes the first columns of the order; none recorded: 0A000; too many values: 42601', () => {
    expect(positionalColumns(l, ['id', 'ward', 'diag'], 'INSERT', 2)).toEqual(['id', 'ward']);
    expect(positionalColumns(l, ['id', 'ward', 'diag'], 'COPY FROM')).toEqual(['id', 'ward', 'diag']);
    expect(() => positionalColumns(l, null, 'INSERT', 1)).toThrow(/column order was not recorded/);
    expect(() => positionalColumns(l, ['id'], 'INSERT', 2)).toThrow(/more expressions than target columns/);
  });
});

describe('plans and the recorded order', () => {
  it('DDL plans carry the order change: CREATE TABLE in element order, ADD / DROP COLUMN in command order, DROP TABLE forgets', () => {
    expect((plan('CREATE TABLE patient (ward text, id int PRIMARY KEY, CHECK (ward <> \'\'), diag text, age int)') as DdlPlan).order)
      .toEqual([{ kind: 'create', columns: ['ward', 'id', 'diag', 'age'], ifNotExists: false }]);
    expect((plan('CREATE TABLE IF NOT EXISTS patient (id int PRIMARY KEY, ward text)') as DdlPlan).order).toEqual([{ kind: 'create', columns: ['id', 'ward'], ifNotExists: true }]);
    expect((plan('ALTER TABLE patient DROP COLUMN ward, ADD COLUMN ward text, ALTER COLUMN diag SET NOT NULL') as DdlPlan).order)
      .toEqual([{ kind: 'drop', columns: ['ward'] }, { kind: 'add', columns: ['ward'] }]);
    expect((plan('ALTER TABLE patient ALTER COLUMN age SET NOT NULL') as DdlPlan).order).toBeUndefined();
    expect((plan('DROP TABLE patient') as DdlPlan).order).toEqual([{ kind: 'forget' }]);
    expect((plan('TRUNCATE patient') as DdlPlan).order).toBeUndefined();
  });

  it('INSERT without a column list is planned once the order is known (values by position, each column to its fragment)', () => {
    const p = plan("INSERT INTO patient VALUES (1, 'w', $1), (2, NULL, $2) RETURNING id") as InsertPlan;
    expect(p.positional).toBeDefined();
    expect(p.home.sql).toBe(orderQuery(l));
    const r = (p.positional as NonNullable<InsertPlan['positional']>)(['id', 'ward', 'age', 'diag']);
    expect(r.positional).toBeUndefined();
    expect(r.home.sql).toBe('INSERT INTO patient (id, age) VALUES (1, $1), (2, $2) RETURNING id, id');
    expect(r.sides.map((s) => s.sql)).toEqual(['INSERT INTO public.patient (id) VALUES ($1), ($2)', "INSERT INTO public.patient (id, ward) VALUES ($1, 'w'), ($2, NULL)"]);
    expect(() => plan('INSERT INTO patient VALUES (1) RETURNING *')).toThrow(/RETURNING/);
    expect(() => plan('INSERT INTO patient DEFAULT VALUES')).toThrow(/DEFAULT VALUES on split table/);
    // A refusal found once the order is known is the statement's error (0A000), not an internal one.
    const odd = plan('INSERT INTO patient VALUES (1, now())') as InsertPlan;
    expect(() => (odd.positional as NonNullable<InsertPlan['positional']>)(['id', 'ward'])).toThrow(expect.objectContaining({ code: '0A000' }));
  });

  it('a read shows the recorded order where its result depends on the column order (*, t.*, a whole-row reference)', () => {
    const ordered = (sql: string) => (plan(sql) as SelectPlan).relations.map((r) => r.ordered === true);
    expect(ordered('SELECT * FROM patient')).toEqual([true]);
    expect(ordered('SELECT p.* FROM patient p')).toEqual([true]);
    expect(ordered('SELECT row_to_json(p) FROM patient p')).toEqual([true]);
    expect(ordered('SELECT id, ward FROM patient WHERE diag = $1')).toEqual([false]);
    expect(ordered('SELECT count(*) FROM patient')).toEqual([false]);
    expect(readsColumnOrder(firstStatement('SELECT x FROM patient p'), ['p'])).toBe(false);
  });
});
