// The shape cache against the rewriter without it: for the eHealth corpus and the generated
// statements of the two-stage differential, each text and variants of it with other literal
// values (so that templates are made and then used) must get exactly the analysis a rewriter
// without the shape cache gives. Adversarial cases: constants the rules read or protect.
import { isDeepStrictEqual } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { EHEALTH_CORPUS } from '../../test/corpus/ehealth.ts';
import { generate } from '../../test/integration/two-stage-sqlgen.ts';
import { EHEALTH_POLICY, TEST_KEY_FILES, testRewriter } from '@clarus/testing/rewriter.ts';
import { loadParser } from './parser.ts';
import type { Analysis } from './rewriter.ts';
import type { KeyedRewriter as Rewriter } from '../protection/keyed-rewriter.ts';
import { markerLiteral } from './placeholders.ts';
import { literalTexts, shapeOf, withLiterals } from './shape.ts';
import { literalVariants } from '../../test/integration/literal-variants.ts';
import { valueLocations } from './shape-cache.ts';
import { parseTree } from './parser.ts';

beforeAll(async () => { await loadParser(); });

const shaped = (): Rewriter => testRewriter(EHEALTH_POLICY, TEST_KEY_FILES, { twoStage: true });
const plain = (): Rewriter => testRewriter(EHEALTH_POLICY, TEST_KEY_FILES, { twoStage: true, shapeCache: false });

/** Analyses that hold randomized ciphertext of a constant differ between two runs: compared by kind. */
function same(a: Analysis, b: Analysis, again: Analysis): boolean {
  return isDeepStrictEqual(b, again) ? isDeepStrictEqual(a, b) : a.kind === b.kind;
}

/**
 * A plan with placeholders, its markers numbered in order: two rewriters (two nonces) give equal
 * normal forms exactly when they made the same placeholders from the same inputs at the same places.
 */
function normal(a: Analysis): unknown {
  if (a.kind !== 'plan' || !a.placeholders) return a;
  const { nonce, list } = a.placeholders;
  const text = (sql: string) => list.reduce((t, p, i) => t.split(markerLiteral(nonce, p.id)).join(`<#${i}>`), sql);
  return { ...a, statements: a.statements.map((s) => ({ ...s, sql: text(s.sql) })), placeholders: list.map((p, i) => ({ ...p, id: i })) };
}

/** Whether the plan runs in two stages (issue 10). */
const twoStage = (a: Analysis): boolean => a.kind === 'plan' && a.statements.some((s) => s.residual);

function differential(texts: readonly string[]): { mismatches: string[]; hits: number; twoStageHits: number } {
  const withCache = shaped();
  const without = plain();
  const mismatches: string[] = [];
  let twoStageHits = 0;
  for (const sql of texts) {
    for (const v of literalVariants(sql)) {
      // The plans compared strictly (randomized constants included: they are placeholders), then filled.
      const hits = withCache.stats.shapeHits;
      const [pa, pb] = [normal(withCache.plan(v)), normal(without.plan(v))];
      if (!isDeepStrictEqual(pa, pb)) mismatches.push(`${v}\n  shaped plan: ${JSON.stringify(pa)}\n  full plan:   ${JSON.stringify(pb)}`);
      if (withCache.stats.shapeHits > hits && twoStage(pa as Analysis)) twoStageHits++;
      const a = withCache.analyze(v);
      const b = without.analyze(v);
      if (!same(a, b, plain().analyze(v))) mismatches.push(`${v}\n  shaped: ${JSON.stringify(a)}\n  full:   ${JSON.stringify(b)}`);
    }
  }
  return { mismatches, hits: withCache.stats.shapeHits, twoStageHits };
}

describe('shape cache', () => {
  it('reuses the plan of a statement that differs only in a compared value', () => {
    const rw = shaped();
    const texts = [1, 2, 3, 4].map((n) => `SELECT pat_name, pat_ssn FROM patient WHERE pat_id = ${n}`);
    const plans = texts.map((t) => rw.analyze(t));
    expect(rw.stats.shapeHits).toBe(2);
    for (const [i, t] of texts.entries()) expect(plans[i]).toEqual(plain().analyze(t));
    const p = plans[3];
    expect(p?.kind === 'plan' && p.statements[0]?.sql).toMatch(/pat_id = 4\b/);
  });

  it('keeps its templates through a catalog load that changes nothing, and drops them when one does', () => {
    const rw = shaped();
    const patient = rw.catalog.all().filter((t) => t.table === 'patient');
    const columns = (ssnType: number) => new Map([['public.patient', [{ name: 'pat_id', typeOid: 23 }, { name: 'pat_name', typeOid: 25 }, { name: 'pat_ssn', typeOid: ssnType }]]]);
    rw.learn(patient, columns(1043));
    rw.learnViews([]);
    const text = (n: number) => `SELECT pat_name, pat_ssn FROM patient WHERE pat_id = ${n}`;
    for (const n of [1, 2]) rw.analyze(text(n));
    // The periodic reload (and a retry of a table that does not exist yet) finds the same catalog.
    rw.learn(patient, columns(1043));
    rw.learn(rw.catalog.all().filter((t) => t.table !== 'patient'), new Map());
    rw.learnViews([]);
    rw.analyze(text(3));
    expect(rw.stats.shapeHits).toBe(1);
    // A column whose type changed: every analysis is made again.
    rw.learn(patient, columns(25));
    rw.analyze(text(4));
    expect(rw.stats.shapeHits).toBe(1);
    expect(rw.analyze(text(5))).toEqual(rw.analyze(text(5)));
    rw.learnViews([{ schema: 'public', name: 'v', columns: ['pat_id'], text: 'SELECT pat_id FROM patient' }]);
    const before = rw.stats.shapeHits;
    rw.analyze(text(6));
    expect(rw.stats.shapeHits).toBe(before);
  });

  it('re-binds a constant compared with an encrypted column: the new value encrypted, never its text', () => {
    const rw = shaped();
    const values = ['flu', 'cold', 'asthma', 'canary-x1', 'canary-x2', 'canary-x3', 'canary-x4', 'canary-x5'];
    for (const v of values) {
      const sql = `SELECT pat_id FROM patient WHERE diagnosis = '${v}'`;
      const a = rw.analyze(sql);
      expect(a).toEqual(plain().analyze(sql));
      expect(JSON.stringify(a)).not.toContain(v);
    }
    // The first text is remembered, the second makes the template, the other six reuse it.
    expect(rw.stats.shapeHits).toBe(6);
  });

  it('re-binds the values of an INSERT into encrypted and searchable columns, and of IN lists', () => {
    const rw = shaped();
    const texts = [0, 1, 2, 3, 4, 5].flatMap((n) => [
      // diagnosis is deterministic (AES-SIV); pat_ssn's blind index is deterministic too.
      `INSERT INTO patient (pat_id, diagnosis) VALUES (${n}, 'canary-d${n}')`,
      `SELECT pat_id FROM patient WHERE pat_ssn IN ('12${n}-00-0000', '12${n}-11-1111') AND pat_id > ${n}`,
      `UPDATE patient SET diagnosis = 'canary-u${n}' WHERE diagnosis <> 'canary-w${n}'`,
    ]);
    for (const sql of texts) {
      const a = rw.analyze(sql);
      expect(a).toEqual(plain().analyze(sql));
      for (const lit of literalTexts(sql, shapeOf(sql) as NonNullable<ReturnType<typeof shapeOf>>)) {
        if (lit.includes('canary') || lit.includes('-')) expect(JSON.stringify(a)).not.toContain(lit.slice(1, -1));
      }
    }
    expect(rw.stats.shapeHits).toBeGreaterThanOrEqual(8);
  });

  it('re-binds a value written to an encrypted varchar(n) only as the rules write it: too long refused, excess spaces cut', () => {
    const withLength = (rw: Rewriter): Rewriter => {
      rw.catalog.learn('public', 'patient', [{ name: 'pat_id', typeOid: 23 }, { name: 'diagnosis', typeOid: 1043, typmod: 30 + 4 }]);
      return rw;
    };
    const rw = withLength(shaped());
    const full = withLength(plain());
    const insert = (n: number, v: string) => `INSERT INTO patient (pat_id, diagnosis) VALUES (${n}, '${v}')`;
    for (let n = 0; n < 4; n++) expect(rw.analyze(insert(n, `d${n}`))).toEqual(full.analyze(insert(n, `d${n}`)));
    const hits = rw.stats.shapeHits;
    expect(hits).toBeGreaterThan(0);
    const long = insert(9, 'x'.repeat(31));
    expect(rw.analyze(long)).toEqual(full.analyze(long));
    expect(rw.analyze(long).kind).toBe('refuse');
    const spaces = insert(10, `${'y'.repeat(30)}     `);
    expect(rw.analyze(spaces)).toEqual(full.analyze(spaces));
    expect(rw.analyze(spaces)).toEqual(full.analyze(insert(10, 'y'.repeat(30))));
    const fits = insert(11, 'z'.repeat(30));
    expect(rw.analyze(fits)).toEqual(full.analyze(fits));
    expect(rw.stats.shapeHits).toBeGreaterThan(hits);
  });

  it('re-binds a constant written to a randomized column: the plan is reused, each execution encrypts afresh', () => {
    const rw = shaped();
    for (let n = 0; n < 6; n++) {
      const sql = `INSERT INTO patient (pat_id, pat_name, pat_ssn) VALUES (${n}, 'canary-n${n}', '12${n}-00-0000')`;
      const p = rw.plan(sql);
      expect(normal(p)).toEqual(normal(plain().plan(sql)));
      const list = p.kind === 'plan' ? p.placeholders?.list ?? [] : [];
      expect(list.map((x) => x.kind === 'cipher' && `${x.method}:${x.canon}`)).toEqual(['encrypt:canary-n' + n, 'encrypt:12' + n + '-00-0000', 'blindIndex:12' + n + '-00-0000']);
      const [a, b] = [rw.analyze(sql), rw.analyze(sql)];
      expect(a.kind === 'plan' && b.kind === 'plan' && a.statements[0]?.sql !== b.statements[0]?.sql).toBe(true);
      expect(JSON.stringify(a)).not.toContain(`canary-n${n}`);
    }
    // Texts 2 to 5 come from the template, once per call (plan, then two executions).
    expect(rw.stats.shapeHits).toBe(12);
  });

  it('keeps ORDER BY positions, LIMIT and type modifiers in the key', () => {
    const rw = shaped();
    for (const sql of ['SELECT pat_id, pat_name FROM patient ORDER BY 1 LIMIT 1', 'SELECT pat_id, pat_name FROM patient ORDER BY 1 LIMIT 2',
      'SELECT pat_id, pat_name FROM patient ORDER BY 2 LIMIT 2', 'SELECT pat_id, pat_name FROM patient ORDER BY 2 LIMIT 3',
      'SELECT pat_id::varchar(3) FROM patient WHERE pat_id = 1', 'SELECT pat_id::varchar(4) FROM patient WHERE pat_id = 1', 'SELECT pat_id::varchar(5) FROM patient WHERE pat_id = 1']) {
      expect(rw.analyze(sql)).toEqual(plain().analyze(sql));
    }
    expect(rw.stats.shapeHits).toBe(0);
  });

  it('reuses a two-stage plan whose value is compared in the backend stage; the in-proxy stage and its fast program are shared', () => {
    const rw = shaped();
    const texts = [1, 2, 3, 4, 5].map((n) => `SELECT pat_id, upper(pat_name) FROM patient WHERE pat_id = ${n}`);
    const plans = texts.map((t) => rw.analyze(t));
    expect(rw.stats.shapeHits).toBe(3);
    for (const [i, t] of texts.entries()) expect(plans[i]).toEqual(plain().analyze(t));
    const stages = plans.map((p) => (p.kind === 'plan' ? p.statements[0] : undefined));
    expect(stages[4]?.sql).toMatch(/WHERE pat_id = 5$/);
    expect(stages[4]?.residual?.fast).toBeDefined();
    expect(stages[4]?.residual?.sql).not.toMatch(/5/);
    // The template's in-proxy stage (with its fast program) and result directives are one object for every text of the shape.
    expect(stages[4]?.residual).toBe(stages[3]?.residual);
    expect(stages[4]?.results).toBe(stages[3]?.results);
  });

  it('re-binds a blind-indexed value in the backend stage of a two-stage plan: never its text', () => {
    const rw = shaped();
    for (let n = 0; n < 6; n++) {
      const sql = `SELECT pat_id, upper(pat_name) FROM patient WHERE pat_ssn = '${100 + n}-45-6789' AND pat_id > ${n}`;
      const p = rw.plan(sql);
      expect(normal(p)).toEqual(normal(plain().plan(sql)));
      const a = rw.analyze(sql);
      expect(a).toEqual(plain().analyze(sql));
      expect(JSON.stringify(a)).not.toContain(`${100 + n}-45-6789`);
      expect(a.kind === 'plan' && a.statements[0]?.residual).toBeTruthy();
    }
    expect(rw.stats.shapeHits).toBeGreaterThanOrEqual(8);
  });

  it('keeps a value the in-proxy stage computes with in the key of a two-stage plan', () => {
    const rw = shaped();
    const sql = (id: number, v: string) => `SELECT pat_id FROM patient WHERE pat_id = ${id} AND upper(pat_name) = '${v}'`;
    // The compared value changes with the key: every text is analysed in full.
    for (let n = 0; n < 4; n++) expect(rw.analyze(sql(n, `X${n}`))).toEqual(plain().analyze(sql(n, `X${n}`)));
    expect(rw.stats.shapeHits).toBe(0);
    // The same value computed on in the proxy, other keys: the template (that value fixed) is reused.
    for (let n = 4; n < 8; n++) {
      const a = rw.analyze(sql(n, 'ANN'));
      expect(a).toEqual(plain().analyze(sql(n, 'ANN')));
      expect(a.kind === 'plan' && a.statements[0]?.residual?.sql).toMatch(/'ANN'/);
    }
    expect(rw.stats.shapeHits).toBeGreaterThanOrEqual(2);
    const other = sql(9, 'BOB');
    expect(rw.analyze(other)).toEqual(plain().analyze(other));
    expect(JSON.stringify(rw.analyze(other))).toContain("'BOB'");
  });

  it('keeps function arguments, LIMIT and ORDER BY positions of a two-stage plan in the key', () => {
    const rw = shaped();
    const texts = [[2, 3], [1, 3], [2, 4], [3, 1]].flatMap(([a, b]) => [
      `SELECT substring(pat_name, ${a}, ${b}) FROM patient WHERE pat_id = 1`,
      `SELECT pat_id, upper(pat_name) FROM patient ORDER BY ${a} LIMIT ${b}`,
      `SELECT pat_id, length(pat_name) + ${a} FROM patient WHERE pat_id < 10 LIMIT ${b}`,
    ]);
    for (const sql of texts) {
      const a = rw.analyze(sql);
      expect(a).toEqual(plain().analyze(sql));
      expect(a.kind === 'plan' && a.statements[0]?.residual).toBeTruthy();
    }
    expect(rw.stats.shapeHits).toBe(0);
    // With those constants the same, another key reuses the plan, its in-proxy stage unchanged.
    const by = (id: number) => `SELECT substring(pat_name, 2, 3) FROM patient WHERE pat_id = ${id}`;
    for (const id of [7, 8, 9]) expect(rw.analyze(by(id))).toEqual(plain().analyze(by(id)));
    expect(rw.stats.shapeHits).toBeGreaterThanOrEqual(1);
    const last = rw.analyze(by(9));
    expect(last.kind === 'plan' && last.statements[0]?.residual?.sql).toMatch(/substring"?\(clarus_candidates\.c1, 2, 3\)/);
  });

  it('gives computed writes and cursors in two stages the analysis in full, their write-back shared only where proven', () => {
    const rw = shaped();
    const texts = [0, 1, 2, 3, 4, 5].flatMap((n) => [
      `UPDATE patient SET pat_name = upper(pat_name) WHERE pat_id = ${n}`,
      `UPDATE patient SET pat_name = upper(pat_name), diagnosis = 'canary-w${n}' WHERE pat_id = ${n}`,
      `UPDATE patient SET pat_name = pat_name || '${n}' WHERE pat_id = ${n} RETURNING pat_id, pat_name`,
      `UPDATE patient SET pat_zip = '0800${n}', pat_name = lower(pat_name) WHERE pat_id > ${n}`,
      `DECLARE c${n % 2} CURSOR FOR SELECT pat_id, upper(pat_name) FROM patient WHERE pat_id = ${n}`,
    ]);
    for (const sql of texts) {
      expect(normal(rw.plan(sql))).toEqual(normal(plain().plan(sql)));
      const a = rw.analyze(sql);
      expect(same(a, plain().analyze(sql), plain().analyze(sql)), sql).toBe(true);
    }
    expect(rw.stats.shapeHits).toBeGreaterThan(0);
  });

  it('takes only constants in value positions as slots', () => {
    const stmt = parseTree("SELECT f(1), 2 FROM t WHERE a = 3 AND b IN (4, 5) AND c BETWEEN 6 AND 7 AND 8 < d ORDER BY 9 LIMIT 10").statements[0]?.stmt;
    const sql = "SELECT f(1), 2 FROM t WHERE a = 3 AND b IN (4, 5) AND c BETWEEN 6 AND 7 AND 8 < d ORDER BY 9 LIMIT 10";
    const at = [...valueLocations(stmt)].map((l) => sql.charAt(l)).sort();
    expect(at).toEqual(['3', '4', '5', '6', '7', '8']);
  });

  it('gives the analysis in full for every corpus statement and variants of its constants', () => {
    const r = differential(EHEALTH_CORPUS.map((e) => e.sql));
    expect(r.mismatches, r.mismatches.slice(0, 5).join('\n')).toEqual([]);
    expect(r.hits).toBeGreaterThan(20);
  }, 120_000);

  it('gives the analysis in full for 500 generated statements and variants of their constants', () => {
    const texts = Array.from({ length: 500 }, (_, i) => generate(20261201 + i).sql);
    const r = differential(texts);
    expect(r.mismatches, r.mismatches.slice(0, 5).join('\n')).toEqual([]);
    expect(r.hits).toBeGreaterThan(5);
    // Most generated statements run in two stages: their templates are exercised too.
    console.log(`two-stage hits ${r.twoStageHits} of ${r.hits}`);
    expect(r.twoStageHits).toBeGreaterThan(100);
  }, 400_000);

  it('keeps no literal text of a protected value in a reused plan', () => {
    const rw = shaped();
    for (let n = 0; n < 6; n++) {
      const a = rw.analyze(`UPDATE patient SET pat_name = 'canary-${n}', pat_zip = '0800${n}' WHERE pat_id = ${n}`);
      expect(JSON.stringify(a)).not.toContain(`canary-${n}`);
      expect(JSON.stringify(a)).not.toContain(`0800${n}`);
    }
  });

  it('shares the first text literal list helpers', () => {
    const s = shapeOf("SELECT 'a', 1") as NonNullable<ReturnType<typeof shapeOf>>;
    expect(literalTexts(withLiterals("SELECT 'a', 1", s, new Map([[1, '22']])), shapeOf("SELECT 'a', 22") as typeof s)).toEqual(["'a'", '22']);
  });
});
