// The fast path's planner (rewrite/two-stage/fast-path.ts) and evaluator (fast-eval.ts): which
// residual SELECTs get a fast plan, the types PostgreSQL gives their results, their values, and
// the values that send the batch to the engine. The comparison with PostgreSQL itself is in
// test/integration/two-stage-fast.test.ts.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser, parseStatements } from '../rewrite/parser.ts';
import { fastPlan } from '../rewrite/two-stage/fast-path.ts';
import type { FastPlan } from '../rewrite/two-stage/fast-path.ts';
import { characters, compileFast, FALLBACK, runFast } from './fast-eval.ts';

beforeAll(async () => { await loadParser(); });

const COLUMNS = ['c1', 'c2', 'c3'];

function plan(select: string): FastPlan | null {
  const stmt = parseStatements(`SELECT ${select} FROM clarus_candidates`)[0]?.stmt;
  return fastPlan(stmt, 'clarus_candidates', COLUMNS);
}

function run(select: string, types: number[], rows: Array<Array<string | null>>): { types: number[]; rows: unknown } | null {
  const p = plan(select);
  const prog = p ? compileFast(p, types) : null;
  return prog ? { types: prog.fields.map((f) => f.typeOid), rows: runFast(prog, rows) } : null;
}

const TEXT = 25;
const BPCHAR = 1042;
const VARCHAR = 1043;
const INT8 = 20;

describe('fast plans: only the allowlist', () => {
  it.each([
    'clarus_candidates.c1, upper(clarus_candidates.c2) AS upper',
    'lower(c1), length(c1), char_length(c2), character_length(c3)',
    "c1 || ' ' || c2, coalesce(c1, c2, 'x'), c1::text, pg_catalog.upper(c1), 'lit', NULL",
  ])('%s', (sql) => { expect(plan(sql)).not.toBeNull(); });

  it.each([
    'c1 FROM clarus_candidates WHERE c1 > 1 --',
    '*',
    'initcap(c1)',
    'myschema.upper(c1)',
    'upper(c1 COLLATE "C")',
    'c1::varchar',
    'c1::text(3)',
    "c1 || 1",
    'c1 + c2',
    '$1',
    'upper(VARIADIC c1)',
    'count(c1)',
    'c1 FROM clarus_candidates ORDER BY c1 --',
    'DISTINCT c1',
    'concat(c1, c2)',
    'substring(c1 from 2)',
    'other.c1',
  ])('%s', (sql) => { expect(plan(sql)).toBeNull(); });
});

describe('types as PostgreSQL resolves them', () => {
  it.each<[string, number[], number[] | null]>([
    ['c1, upper(c2)', [INT8, TEXT, TEXT], [INT8, TEXT]],
    ['upper(c1), c1', [BPCHAR, TEXT, TEXT], [TEXT, BPCHAR]],
    ['length(c1)', [VARCHAR, TEXT, TEXT], [23]],
    ["c1 || 'x'", [BPCHAR, TEXT, TEXT], [TEXT]],
    ["coalesce(c1, 'x'), coalesce(c2, c2), coalesce(NULL, 'y')", [BPCHAR, VARCHAR, TEXT], [BPCHAR, VARCHAR, TEXT]],
    ["'lit', NULL", [TEXT, TEXT, TEXT], [TEXT, TEXT]],
    // Left to the engine: mixed coalesce, length of a literal, non-string arguments, other shown types.
    ['coalesce(c1, c2)', [VARCHAR, TEXT, TEXT], null],
    ["length('abc')", [TEXT, TEXT, TEXT], null],
    ["upper('abc')", [TEXT, TEXT, TEXT], null],
    ["'a' || NULL", [TEXT, TEXT, TEXT], null],
    ["'abc'::text", [TEXT, TEXT, TEXT], null],
    ['upper(c1)', [INT8, TEXT, TEXT], null],
    ['c1', [1184, TEXT, TEXT], null],
    ['c1 || c2', [INT8, TEXT, TEXT], null],
  ])('%s over %j', (sql, types, want) => {
    const p = plan(sql);
    expect(p).not.toBeNull();
    expect(compileFast(p as FastPlan, types)?.fields.map((f) => f.typeOid) ?? null).toEqual(want);
  });
});

it('names the fields as PostgreSQL does, without a type modifier', () => {
  const p = plan("c1 AS id, upper(c2), clarus_candidates.c3, c2 || 'x', c2::text, coalesce(c2, 'y'), length(c2) AS n");
  expect(compileFast(p as FastPlan, [INT8, TEXT, TEXT])?.fields).toEqual(['id', 'upper', 'c3', '?column?', 'c2', 'coalesce', 'n']
    .map((name, i) => ({ name, typeOid: [INT8, TEXT, TEXT, TEXT, TEXT, TEXT, 23][i], typmod: -1 })));
});

describe('values', () => {
  it('upper, lower, NULL, empty strings', () => {
    expect(run('c1, upper(c2), lower(c3)', [INT8, TEXT, TEXT], [['1', 'ann smith', 'MiXeD'], ['2', null, ''], ['3', '', null]])?.rows)
      .toEqual([['1', 'ANN SMITH', 'mixed'], ['2', null, ''], ['3', '', null]]);
  });

  it('bpchar loses its trailing spaces as text, keeps them shown as is', () => {
    expect(run("c1, upper(c1), length(c1), c1 || '|', c1::text, coalesce(c1, 'z')", [BPCHAR, TEXT, TEXT], [['ab  ', null, null], ['  ', null, null], [null, null, null]])?.rows)
      .toEqual([['ab  ', 'AB', '2', 'ab|', 'ab', 'ab  '], ['  ', '', '0', '|', '', '  '], [null, null, null, null, null, 'z']]);
  });

  it('length counts characters; || and coalesce handle NULL', () => {
    expect(run("length(c1), c1 || c2, coalesce(c1, c2, 'none')", [TEXT, TEXT, TEXT], [['ßİΣ😀', 'x', null], [null, 'y', null], ['a', null, null]])?.rows)
      .toEqual([['4', 'ßİΣ😀x', 'ßİΣ😀'], [null, null, 'y'], ['1', null, 'a']]);
    expect(characters('a😀b')).toBe(3);
  });

  it('case mapping of anything but ASCII goes to the engine (the whole batch)', () => {
    for (const s of ['straße', 'ıi', 'İ', 'ΣΑΣ', 'é', '\u{1F600}']) {
      expect(run('c1, upper(c2)', [INT8, TEXT, TEXT], [['1', 'ok'], ['2', s]])?.rows).toBe(FALLBACK);
      expect(run('lower(c2)', [INT8, TEXT, TEXT], [['2', s]])?.rows).toBe(FALLBACK);
    }
    // Not mapped, not a fallback: non-ASCII outside a case mapping, and a coalesce that stops before it.
    expect(run('length(c2), c2', [INT8, TEXT, TEXT], [['1', 'straße']])?.rows).toEqual([['6', 'straße']]);
    expect(run("coalesce(c1, upper(c2))", [TEXT, TEXT, TEXT], [['x', 'ß']])?.rows).toEqual([['x']]);
  });
});
