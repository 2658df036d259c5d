import { describe, expect, it } from 'vitest';
import { recordValues, scannedRows, scansSql } from './client-reads.ts';
import type { Prepared } from './fragment.ts';

const identity: Prepared = { sql: 'SELECT * FROM visit AS v', types: [], transform: (v) => v, fields: (f) => [...f], row: (r) => r, rows: (r) => r };

describe('client-reads', () => {
  it('reads a record as PostgreSQL prints it: quotes, doubled quotes, backslashes, NULL and empty strings', () => {
    expect(recordValues('(1,abc,,"")')).toEqual(['1', 'abc', null, '']);
    expect(recordValues('("a,b","say ""hi""","\\\\x0a0b",(x))')).toEqual(['a,b', 'say "hi"', '\\x0a0b', '(x)']);
    expect(recordValues('()')).toEqual([null]);
    expect(recordValues('(,)')).toEqual([null, null]);
    expect(recordValues('("(1,2)",7)')).toEqual(['(1,2)', '7']);
  });

  it('the placeholder scans each relation with its number and keeps the client parameters (never given values)', () => {
    const sql = scansSql(new Map([[1, identity], [3, { ...identity, sql: 'SELECT * FROM note AS n' }]]), 2);
    expect(sql).toBe('SELECT r.clarus_rel, r.clarus_row, $1::text AS p1, $2::text AS p2 FROM (SELECT 1::int AS clarus_rel, s::text AS clarus_row FROM (SELECT * FROM visit AS v) AS s UNION ALL SELECT 3::int AS clarus_rel, s::text AS clarus_row FROM (SELECT * FROM note AS n) AS s) AS r');
  });

  it('takes the rows of one relation from the candidates and passes them through the scan\'s row transform', () => {
    const upper: Prepared = { ...identity, row: (r) => r.map((v) => (v === null ? null : Buffer.from(v.toString('utf8').toUpperCase()))) };
    expect(scannedRows(upper, 1, [['1', '(10,a)', null], ['3', '(99,zz)', null], ['1', '(11,)', null]])).toEqual([['10', 'A'], ['11', null]]);
  });
});
