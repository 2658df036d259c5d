// Django's bulk_create form (rules/insert-unnest.ts): array literals read as array_in reads them,
// the statement rewritten as the VALUES rows it stands for, array parameters refused by name.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../parser.ts';
import { testRewriter } from '@clarus/testing/rewriter.ts';
import { arrayElements } from '../../protection/array-text.ts';

beforeAll(loadParser);

describe('array literals', () => {
  it.each([
    ['{}', []],
    ['{a,b}', ['a', 'b']],
    [' { a b , "c,d" ,NULL, null,"NULL","" } ', ['a b', 'c,d', null, null, 'NULL', '']],
    ['{"q\\"x","back\\\\slash",un\\,quoted,\\NULL}', ['q"x', 'back\\slash', 'un,quoted', 'NULL']],
    ['{1,2,3}', ['1', '2', '3']],
  ] as const)('%s', (text, elements) => {
    expect(arrayElements(text)).toEqual(elements);
  });

  it.each(['{{1,2},{3,4}}', '[1:2]={1,2}', '{a,}', '{,a}', '{"a}', 'a,b', '{a"b}'])('%s is not read (refused by the rule)', (text) => {
    expect(arrayElements(text)).toBeNull();
  });
});

describe('INSERT … SELECT * FROM UNNEST', () => {
  it('becomes VALUES with each element encrypted, the blind index beside it', () => {
    const a = testRewriter().analyze("INSERT INTO patient (pat_id, pat_ssn) SELECT * FROM UNNEST(('{1,2}'::int2[])::integer[], (E'{\"x y\",NULL}')::varchar[]) RETURNING pat_id");
    if (a.kind !== 'plan') throw new Error(a.kind);
    expect(a.statements[0]?.sql).toMatch(/^INSERT INTO patient \(pat_id, pat_ssn, pat_ssn__bidx\) VALUES \('1'::int, '\\x01[0-9a-f]+'::bytea, '\\x[0-9a-f]{32}'::bytea\), \('2'::int, NULL, NULL\) RETURNING pat_id$/);
    expect(a.statements[0]?.sql).not.toContain('x y');
  });

  it('with array parameters: each protected array encrypted at Bind, a searchable one split into value and blind index', () => {
    const a = testRewriter().analyze('INSERT INTO patient (pat_id, pat_name, pat_ssn) SELECT * FROM UNNEST($1::integer[], $2::varchar[], $3::varchar[]) RETURNING pat_id');
    if (a.kind !== 'plan') throw new Error(a.kind);
    expect(a.statements[0]?.sql).toBe('INSERT INTO patient (pat_id, pat_name, pat_ssn, pat_ssn__bidx) SELECT clarus_unnest.c1, clarus_unnest.c2, substr(clarus_unnest.c3, 17), substr(clarus_unnest.c3, 1, 16) '
      + 'FROM unnest(CAST($1 AS int[]), CAST($2 AS bytea[]), CAST($3 AS bytea[])) AS clarus_unnest(c1, c2, c3) RETURNING pat_id');
    expect([...a.params].map(([n, r]) => [n, r.kind])).toEqual([[2, 'encryptArray'], [3, 'encryptArray']]);
  });

  it('with array parameters: an anonymized column\'s array anonymized at Bind (sent as text[], cast back to its element type)', () => {
    const a = testRewriter().analyze('INSERT INTO patient (pat_id, pat_zip, pat_ssn) SELECT * FROM UNNEST($1::integer[], $2::text[], $3::varchar[])');
    if (a.kind !== 'plan') throw new Error(a.kind);
    expect(a.statements[0]?.sql).toBe('INSERT INTO patient (pat_id, pat_zip, pat_ssn, pat_ssn__bidx) SELECT clarus_unnest.c1, clarus_unnest.c2::text, '
      + 'substr(clarus_unnest.c3, 17), substr(clarus_unnest.c3, 1, 16) FROM unnest(CAST($1 AS int[]), CAST($2 AS text[]), CAST($3 AS bytea[])) AS clarus_unnest(c1, c2, c3)');
    expect([...a.params].map(([n, r]) => [n, r.kind])).toEqual([[2, 'anonymizeArray'], [3, 'encryptArray']]);
  });

  it.each([
    ["INSERT INTO patient (pat_id, pat_name) SELECT * FROM UNNEST($1::integer[], ('{a}')::varchar[])", /array for column pat_id cannot be read/],
    ["INSERT INTO patient (pat_id, pat_zip) SELECT * FROM UNNEST($1::integer[], ('{75011}')::text[])", /array for column pat_id cannot be read/],
    ['INSERT INTO patient (pat_id, pat_zip) SELECT * FROM UNNEST($1::integer[], $2::varchar(2)[])', /a cast to pg_catalog\.varchar with a length/],
    ['INSERT INTO patient (pat_id, pat_zip) SELECT * FROM UNNEST($1::integer[], $2::date[])', /a cast to date .* protected column patient\.pat_zip/],
    ['INSERT INTO patient (pat_id, pat_name) SELECT * FROM UNNEST($1::integer[], $2::varchar(3)[])', /a cast to pg_catalog\.varchar with a length/],
    ['INSERT INTO patient (pat_id, pat_name) SELECT * FROM UNNEST((SELECT array_agg(pat_name) FROM patient), $2::text[])', /array_agg\(\) on encrypted column patient\.pat_name/],
    ["INSERT INTO patient (pat_id, pat_name) SELECT * FROM UNNEST(('{1}')::integer[], ('{{a}}')::varchar[])", /array for column pat_name cannot be read/],
    ["INSERT INTO patient (pat_id, pat_name) SELECT * FROM UNNEST(('{1}')::integer[], ('{a}')::varchar(1)[])", /a cast to pg_catalog.varchar with a length/],
    ["INSERT INTO patient (pat_id, pat_name) SELECT * FROM UNNEST(('{1}')::integer[], ('{a}')::varchar[]) WHERE true", /select list must name one expression per target column/],
  ])('%s is refused', (sql, message) => {
    const a = testRewriter().analyze(sql);
    expect(a).toMatchObject({ kind: 'refuse', code: '0A000', message: expect.stringMatching(message) });
  });
});
