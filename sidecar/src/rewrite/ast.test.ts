// Constants as PostgreSQL reads them (constText), and the casts the proxy may drop around a
// value of a protected column (castChanges), table-driven on parsed expressions.
import { beforeAll, describe, expect, it } from 'vitest';
import { OID } from '../protection/encryption/canonical.ts';
import { arr, castChanges, constText, nodeBody, nodeTag, numericText } from './ast.ts';
import { loadParser, parseStatements } from './parser.ts';

beforeAll(async () => { await loadParser(); });

/** The expression of `SELECT <expr>`. */
function expr(text: string): unknown {
  const s = nodeBody(parseStatements(`SELECT ${text}`)[0]?.stmt, 'SelectStmt');
  return nodeBody(arr(s?.targetList)[0], 'ResTarget')?.val;
}

const CONSTANTS: Array<[string, string | null, boolean?]> = [
  ["'abc'", 'abc'],
  ['42', '42'],
  ['-7', '-7'],
  ['12345678901', '12345678901'],
  ['1.50', '1.50'],
  ['-1.5e3', '-1500'],
  ['1e3', '1000'],
  ['1.5e-2', '0.015'],
  ['.5', '0.5'],
  ['5.', '5'],
  ['007.10', '7.10'],
  ['-0.0', '0.0'],
  ['true', 'true'],
  ['false', 'false'],
  ["B'0101'", '0101', true],
  ["B''", '', true],
  ["X'1F'", '00011111', true],
  ["x'a0'", '10100000', true],
  ["B'0102'", null],
  ["X'1G'", null],
];

describe('constText', () => {
  it.each(CONSTANTS)('%s reads as %j', (text, expected, bits) => {
    const c = constText(expr(text));
    expect(c === null ? null : c.text).toBe(expected);
    if (c) expect(Boolean(c.bits)).toBe(Boolean(bits));
  });
  it('NULL and non-constants', () => {
    expect(constText(expr('NULL'))).toEqual({ isNull: true, text: '' });
    expect(constText(expr('x'))).toBeNull();
    expect(constText(expr('$1'))).toBeNull();
  });
  it.each([['0x1F'], ['1_000'], ['1e99999']])('numericText refuses %s', (lit) => {
    expect(numericText(lit)).toBeNull();
  });
});

/** [value expression, declared type of the column, why the cast changes it (null: it does not)]. */
const CASTS: Array<[string, number, RegExp | null]> = [
  ["'x'", OID.text, null],
  ['$1', OID.int4, null],
  ["'x'::text", OID.text, null],
  ["'x'::varchar", OID.bpchar, null],
  ["CAST('x' AS varchar)", OID.int4, null],
  ["'42'::int", OID.int4, null],
  ['$1::int4', OID.int4, null],
  ["'2020-01-02'::date", OID.date, null],
  ["date '2020-01-02'", OID.date, null],
  ['NULL::int', OID.text, null],
  ["B'01'", OID.text, null],
  ["B'01'", OID.varchar, null],
  ["B'01'::text", OID.text, null],
  ["B'01'", OID.int4, /bit-string constant/],
  ["B'01'::int", OID.int4, /bit-string constant cast to pg_catalog\.int4/],
  ['$1::bytea', OID.text, /a cast to bytea \(the column is of another type\)/],
  ["'0042'::int", OID.text, /a cast to pg_catalog\.int4/],
  ["'2020-1-2'::date", OID.text, /a cast to date/],
  ["'abc'::varchar(2)", OID.varchar, /with a length/],
  ["'abc'::char", OID.bpchar, /with a length/],
  ["'{a}'::text[]", OID.text, /array bounds/],
  ["'x'::public.text", OID.text, /a cast to public\.text/],
];

describe('castChanges', () => {
  it.each(CASTS)('%s for declared type %i', (text, declared, why) => {
    const got = castChanges(expr(text), declared);
    if (why === null) expect(got).toBeNull();
    else expect(got).toMatch(why);
  });
});

describe('typed access (nodeTag, nodeBody)', () => {
  it('gives the body a tag declares, and null for another tag or a non-node', () => {
    const node = expr('a.b');
    expect(nodeBody(node, 'ColumnRef')?.fields?.length).toBe(2);
    expect(nodeBody(node, 'A_Const')).toBeNull();
    expect(nodeTag({ A: 1 })).toBeNull();
    expect(nodeTag({ ColumnRef: {}, A_Const: {} })).toBeNull();
    expect(nodeTag('ColumnRef')).toBeNull();
  });

  it('narrows the body with the tag', () => {
    const t = nodeTag(expr("x = 'y'"));
    if (!t) throw new Error('not a node');
    const [tag, b] = t;
    expect(tag).toBe('A_Expr');
    // Compiles only because `b` is A_Expr here: its operator name list and kind.
    if (tag === 'A_Expr') expect([b.kind, arr(b.name).length]).toEqual(['AEXPR_OP', 1]);
  });
});
