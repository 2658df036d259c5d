import { beforeAll, describe, expect, it } from 'vitest';
import { testRewriter } from '@clarus/testing/rewriter.ts';
import { Refusal, REFUSALS, refuse } from './refusals.ts';
import type { RefusalKind } from './refusals.ts';
import { loadParser } from './parser.ts';

beforeAll(async () => {
  await loadParser();
});

describe('refusals: one typed list', () => {
  it('throws a Refusal carrying the entry it comes from', () => {
    const thrown = (() => {
      try {
        return refuse('copyWhere', { table: { table: 'patient' } });
      } catch (e) {
        return e;
      }
    })();
    expect(thrown).toBeInstanceOf(Refusal);
    expect(thrown).toMatchObject({ code: '0A000', kind: 'copyWhere', message: 'clarus: COPY … WHERE on protected table patient is not supported' });
  });

  it.each<[RefusalKind, string]>([
    ['syntax', '42601'], ['tooLong', '54000'], ['tooDeep', '54001'], ['invalidText', '22P02'], ['notGeneralizable', '22P02'],
    ['encryptedConstruct', '0A000'], ['positional', '0A000'], ['unknownConstruct', '0A000'], ['unexpectedShape', '0A000'],
  ])('%s answers SQLSTATE %s', (kind, code) => {
    expect(REFUSALS[kind].code).toBe(code);
  });

  it.each([
    ["UPDATE patient SET pat_name = 'x' WHERE pat_name = 'y'", 'encryptedConstruct', /^clarus: equality comparison .* on encrypted column patient\.pat_name \(randomized\)/],
    ['COPY patient (pat_id) FROM STDIN WHERE pat_id = 1', 'copyWhere', /^clarus: COPY … WHERE on protected table patient/],
    ['INSERT INTO patient SELECT 1', 'positional', /^clarus: INSERT into protected table patient without a column list/],
    ['SELECT * FROM patient NATURAL JOIN visit', 'naturalJoin', /^clarus: NATURAL JOIN over a table with encrypted columns/],
    ['PREPARE p AS SELECT pat_id FROM patient ORDER BY pat_name', 'sqlPrepareComputed', /^clarus: PREPARE p of a statement the proxy computes in two stages is not supported \(ORDER BY .*pat_name/],
  ] as const)('the rewriter answers %s with the entry %s', (sql, kind, message) => {
    const a = testRewriter().analyze(sql);
    expect(a).toMatchObject({ kind: 'refuse', code: REFUSALS[kind].code });
    expect(a.kind === 'refuse' ? a.message : '').toMatch(message);
  });
});
