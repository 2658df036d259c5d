// Generators for the differential test of the residual engine (residual-differential.test.ts): fast-check generators of a table
// of candidate rows (several types, NULLs, unicode, negative numbers, ties, extremes) and of random
// SELECTs over it (functions and operators, predicates, ORDER BY/LIMIT, DISTINCT, aggregates,
// GROUP BY/HAVING, windows, set operations, subqueries). Each statement says whether its ORDER BY
// fixes the order of its rows (otherwise rows compare as multisets) and whether it depends on the
// locale's case mapping (upper, lower, initcap, ILIKE, regex classes).
import fc from 'fast-check';

export interface GenColumn { name: string; type: string; typeOid: number }

/** The relation every generated statement reads, named `t`. `id` is unique and never NULL. */
export const GEN_COLUMNS: readonly GenColumn[] = [
  { name: 'id', type: 'int4', typeOid: 23 },
  { name: 'name', type: 'text', typeOid: 25 },
  { name: 'code', type: 'varchar(8)', typeOid: 1043 },
  { name: 'n', type: 'int4', typeOid: 23 },
  { name: 'big', type: 'int8', typeOid: 20 },
  { name: 'amt', type: 'numeric', typeOid: 1700 },
  { name: 'f', type: 'float8', typeOid: 701 },
  { name: 'flag', type: 'bool', typeOid: 16 },
  { name: 'd', type: 'date', typeOid: 1082 },
  { name: 'ts', type: 'timestamp', typeOid: 1114 },
  { name: 'tstz', type: 'timestamptz', typeOid: 1184 },
  { name: 'u', type: 'uuid', typeOid: 2950 },
  { name: 'b', type: 'bytea', typeOid: 17 },
];

export interface GenStatement { sql: string; ordered: boolean; caseMapping: boolean }

// ---------------------------------------------------------------- data

const NAMES = ['alice', 'Alice', 'ALICE', 'bob', 'Bob', 'émile', 'Émile', 'straße', 'STRASSE', 'ǆemal', 'Σίσυφος',
  'ΌΣΟΣ', 'İstanbul', 'ıi', 'a b', '', ' padded ', 'tab\there', 'new\nline', 'back\\slash', "quote's", '😀 emoji',
  'ﬁne', 'Zoë', 'zoe', 'ÅNGSTRÖM', 'ǅx', 'a_b%c', '123', '-5', 'NULL', 'ß', 'ẞ', 'µ', 'ÿ', 'ŉ', 'Ⅻ', 'ǰ'];
const CODES = ['A1', 'a1', 'B2', 'b2', 'C', 'É', 'x_y', '%', ''];

const nullable = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | null> => fc.option(a, { freq: 6, nil: null });
const noNul = (s: string) => !s.includes('\0');

const textValue = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...NAMES) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }).filter(noNul) });
const intValue = fc.oneof({ weight: 5, arbitrary: fc.integer({ min: -20, max: 20 }) },
  { weight: 1, arbitrary: fc.constantFrom(2147483647, -2147483648, 1000000, 0) }).map(String);
const bigValue = fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.bigInt({ min: -100n, max: 100n })).map(String);
const numericValue = fc.oneof(
  fc.tuple(fc.integer({ min: -99999, max: 99999 }), fc.integer({ min: 0, max: 4 })).map(([v, s]) => (v / 10 ** s).toFixed(s)),
  fc.constantFrom('0', '-0.0001', '12345678901234567890.123456789', 'NaN', '1e-20', '0.5', '-2.5', '1.5'));
const floatValue = fc.oneof(fc.double({ noNaN: false }).map((v) => (Number.isNaN(v) ? 'NaN' : v === Infinity ? 'Infinity' : v === -Infinity ? '-Infinity' : String(v))),
  fc.integer({ min: -10, max: 10 }).map(String), fc.constantFrom('0.1', '-0', '1e300', '5e-324', '2.5', '0.30000000000000004'));
const dateValue = fc.oneof(fc.date({ min: new Date('1900-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10)),
  fc.constantFrom('2024-02-29', '2000-01-01', 'infinity', '-infinity', '0044-03-15 BC'));
const tsValue = fc.oneof(fc.date({ min: new Date('1950-01-01'), max: new Date('2060-01-01'), noInvalidDate: true }).map((d) => d.toISOString().replace('T', ' ').replace('Z', '')),
  fc.constantFrom('2024-03-31 01:30:00', '2024-10-27 02:30:00', 'infinity'));
const tstzValue = fc.tuple(tsValue, fc.constantFrom('+00', '+02', '-05:30', '+14')).map(([t, z]) => (t === 'infinity' ? t : t + z));
const uuidValue = fc.uuid();
const byteaValue = fc.uint8Array({ maxLength: 6 }).map((b) => '\\x' + Buffer.from(b).toString('hex'));

/** One row as PostgreSQL text values, in GEN_COLUMNS order (without id, added by genRows). */
const rowValue = fc.tuple(nullable(textValue), nullable(fc.constantFrom(...CODES)), nullable(intValue), nullable(bigValue),
  nullable(numericValue), nullable(floatValue), nullable(fc.constantFrom('t', 'f')), nullable(dateValue),
  nullable(tsValue), nullable(tstzValue), nullable(uuidValue), nullable(byteaValue));

/** 0 to maxRows rows with ids 1..k (text format). Duplicated rows give ties on every column but id. */
export function genRows(maxRows: number): fc.Arbitrary<Array<Array<string | null>>> {
  return fc.array(rowValue, { maxLength: maxRows }).chain((rows) => fc.array(fc.nat({ max: Math.max(0, rows.length - 1) }), { maxLength: rows.length > 0 ? 4 : 0 })
    .map((dups) => [...rows, ...dups.map((i) => rows[i] as typeof rows[number])].map((r, i) => [String(i + 1), ...r])));
}

// ---------------------------------------------------------------- expressions

const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
const pick = <T>(...xs: T[]) => fc.constantFrom(...xs);
const fn = (name: string, ...args: Array<fc.Arbitrary<string>>) => fc.tuple(...args).map((a) => `${name}(${a.join(', ')})`);
const op = (a: fc.Arbitrary<string>, o: string, b: fc.Arbitrary<string>) => fc.tuple(a, b).map(([x, y]) => `(${x} ${o} ${y})`);
const small = fc.integer({ min: -2, max: 6 }).map(String);

export interface Exprs { text: fc.Arbitrary<string>; int: fc.Arbitrary<string>; num: fc.Arbitrary<string>; float: fc.Arbitrary<string>; bool: fc.Arbitrary<string>; time: fc.Arbitrary<string> }

function leaves(): Exprs {
  return {
    text: fc.oneof(pick('name', 'code', 'name', 'code'), textValue.map(lit), pick('n::text', 'amt::text', 'f::text', 'd::text', 'ts::text', 'tstz::text', 'u::text', 'flag::text', 'b::text')),
    int: fc.oneof(pick('id', 'n', 'n', 'big'), fc.integer({ min: -3, max: 3 }).map(String)),
    num: fc.oneof(pick('amt', 'amt', 'n::numeric'), pick("'1.5'::numeric", "'-0.25'::numeric", '0.1')),
    float: fc.oneof(pick('f', 'f', 'n::float8'), pick("'0.1'::float8", "'-1e-3'::float8")),
    bool: pick('flag', 'flag', 'true', 'false', 'NULL::bool'),
    time: pick('d', 'ts', 'tstz', 'd', 'ts', 'tstz'),
  };
}

const LIKE = ['a%', '%e%', '_l%', '%', 'A%', '%\\_%', 'É%', '%ß%', '', '%_', 'ali_e'].map(lit);
const REGEX = ['^[A-Z]', 'e$', '[[:alpha:]]+', '^[[:upper:]]', '[0-9]', '^.{3}$', 'ß|ss', '[[:space:]]'].map(lit);

function textOps(e: Exprs): fc.Arbitrary<string> {
  const t = e.text;
  return fc.oneof(
    fn('upper', t), fn('lower', t), fn('initcap', t), op(t, '||', t), fn('coalesce', t, t),
    fc.tuple(t, small, small).map(([x, i, j]) => `substring(${x} from ${i} for ${j.replace('-', '')})`),
    fn('substr', t, small), fn('left', t, small), fn('right', t, small), fn('trim', t), fn('btrim', t, pick("'ab'", "' '")),
    fn('replace', t, pick("'a'", "'ß'", "''"), pick("'X'", "''")), fn('lpad', t, small, pick("'*'", "'é'")), fn('rpad', t, small),
    fn('concat', t, e.int, t), fn('concat_ws', pick("'-'", "','"), t, e.num), fn('reverse', t), fn('md5', t),
    fn('split_part', t, pick("' '", "'a'"), pick('1', '2', '-1')), fn('translate', t, pick("'aeiou'", "'ßé'"), pick("'xyz'", "''")),
    fn('repeat', t, pick('0', '2', '3')), fn('nullif', t, t), fn('regexp_replace', t, pick("'[aeiou]'", "'[[:alpha:]]'", "'(.)\\1'"), pick("'_'", "'\\1\\1'"), pick("'g'", "''")),
    fc.tuple(e.bool, t, t).map(([c, x, y]) => `CASE WHEN ${c} THEN ${x} ELSE ${y} END`),
    fn('to_char', e.int, pick("'999'", "'FM0000'", "'S99.9'")), fn('to_char', e.num, pick("'FM9990.00'", "'9.99EEEE'")),
    fn('to_char', e.time, pick("'YYYY-MM-DD'", "'Day DD Mon YYYY'", "'HH24:MI:SS TZ'", "'IYYY-IW'", "'TMMonth'")),
    fn('encode', pick('b', "decode('c3a9', 'hex')"), pick("'hex'", "'base64'", "'escape'")),
    fn('format', pick("'%s-%s'", "'%I'", "'%L'"), t, t), fn('quote_literal', t), fn('quote_ident', t),
    fc.tuple(t).map(([x]) => `(${x})::varchar(3)`), fn('ltrim', t, pick("'a'", "' '")), fn('chr', pick('65', '233', '8364')));
}

function intOps(e: Exprs): fc.Arbitrary<string> {
  const i = e.int;
  return fc.oneof(op(i, '+', i), op(i, '-', i), op(i, '*', i), op(i, '/', i), op(i, '%', i), fn('abs', i), i.map((x) => `(-${x})`),
    fn('length', e.text), fn('char_length', e.text), fn('octet_length', e.text), fc.tuple(e.text).map(([t]) => `position('a' in ${t})`),
    fn('strpos', e.text, pick("'e'", "'ß'")), fn('ascii', e.text), fn('greatest', i, i), fn('least', i, i), fn('coalesce', i, pick('0', '-1')),
    fc.tuple(e.bool, i, i).map(([c, x, y]) => `CASE WHEN ${c} THEN ${x} ELSE ${y} END`), pick('(d - DATE \'2000-01-01\')', 'length(b)', 'big % 1000'),
    op(i, '&', i), op(i, '<<', pick('1', '3')), fn('gcd', i, i), fn('div', e.num, pick("'0.7'::numeric", 'amt')));
}

function numOps(e: Exprs): fc.Arbitrary<string> {
  const x = e.num;
  return fc.oneof(op(x, '+', x), op(x, '-', e.int), op(x, '*', x), op(x, '/', x), fn('round', x, pick('0', '2', '-1')), fn('trunc', x, pick('1', '3')),
    fn('abs', x), fn('ceil', x), fn('floor', x), fn('mod', x, pick("'3'::numeric", 'amt')), fn('sqrt', x), fn('power', x, pick("'2'::numeric", "'0.5'::numeric")),
    fn('scale', x).map((s) => `${s}::numeric`), fn('sign', x), pick('extract(year from d)', 'extract(epoch from tstz)', 'extract(dow from ts)', 'date_part(\'day\', ts)::numeric'),
    fn('round', e.float).map((s) => `${s}::numeric`), fn('exp', x), fn('ln', x));
}

function floatOps(e: Exprs): fc.Arbitrary<string> {
  const x = e.float;
  return fc.oneof(op(x, '+', x), op(x, '*', x), op(x, '/', x), op(x, '-', e.int), fn('abs', x), fn('sqrt', x), fn('cbrt', x), fn('round', x),
    fn('ceil', x), fn('exp', x), fn('ln', x), fn('power', x, pick('2', '0.5', '-1')), x.map((s) => `${s}::numeric::float8`), fn('sin', x), fn('atan2', x, x),
    x.map((s) => `${s}::float4::float8`), x.map((s) => `(${s})::real`));
}

function boolOps(e: Exprs): fc.Arbitrary<string> {
  const cmp = pick('=', '<>', '<', '<=', '>', '>=');
  const compare = <T extends string>(a: fc.Arbitrary<T>) => fc.tuple(a, cmp, a).map(([x, o, y]) => `(${x} ${o} ${y})`);
  return fc.oneof(compare(e.text), compare(e.int), compare(e.num), compare(e.float), compare(e.time),
    fc.tuple(e.text, pick('LIKE', 'NOT LIKE', 'ILIKE', 'NOT ILIKE'), pick(...LIKE)).map(([x, o, p]) => `(${x} ${o} ${p})`),
    fc.tuple(e.text, pick('~', '~*', '!~'), pick(...REGEX)).map(([x, o, p]) => `(${x} ${o} ${p})`),
    fc.tuple(pick('name', 'code', 'n', 'amt', 'f', 'flag', 'd', 'u', 'b'), pick('IS NULL', 'IS NOT NULL')).map(([c, o]) => `(${c} ${o})`),
    e.bool.map((b) => `(NOT ${b})`), op(e.bool, 'AND', e.bool), op(e.bool, 'OR', e.bool), op(e.bool, 'IS DISTINCT FROM', e.bool),
    fc.tuple(e.int, e.int, e.int).map(([x, a, b]) => `(${x} BETWEEN ${a} AND ${b})`), fc.tuple(e.text).map(([x]) => `(${x} IN ('alice', 'Bob', 'ß', ''))`),
    fn('starts_with', e.text, pick("'a'", "'É'")), fc.tuple(e.text).map(([x]) => `(${x} SIMILAR TO '%(a|e)%')`),
    fc.tuple(e.time).map(([x]) => `(${x} > '2000-01-01')`), pick('(n IN (SELECT n FROM t AS s WHERE s.flag))', '(EXISTS (SELECT 1 FROM t AS s WHERE s.code = t.code AND s.id <> t.id))'));
}

function timeOps(e: Exprs): fc.Arbitrary<string> {
  const x = e.time;
  return fc.oneof(fn('date_trunc', pick("'month'", "'hour'", "'year'"), pick('ts', 'tstz')), x.map((s) => `(${s} + interval '1 day 2 hours')`),
    x.map((s) => `(${s} - interval '1 month')`), pick('(d + 30)', "(tstz AT TIME ZONE 'UTC')", "(ts AT TIME ZONE 'Europe/Madrid')", 'd::timestamp', 'ts::date', 'tstz::date'),
    fn('greatest', x, x), fc.tuple(e.int).map(([i]) => `make_date(2024, 2, ${i})`));
}

/** Expressions of each result type, nested up to `depth` function/operator levels. */
export function genExprs(depth: number): Exprs {
  let e = leaves();
  for (let d = 0; d < depth; d++) {
    const prev = e;
    const mix = (leaf: fc.Arbitrary<string>, ops: fc.Arbitrary<string>) => fc.oneof({ weight: 2, arbitrary: leaf }, { weight: 1, arbitrary: ops });
    e = { text: mix(prev.text, textOps(prev)), int: mix(prev.int, intOps(prev)), num: mix(prev.num, numOps(prev)),
      float: mix(prev.float, floatOps(prev)), bool: mix(prev.bool, boolOps(prev)), time: mix(prev.time, timeOps(prev)) };
  }
  return e;
}

// ---------------------------------------------------------------- statements

const CASE_MAPPING = /\b(upper|lower|initcap|ILIKE)\b|~\*|\[\[:|TMMonth|\bDay\b/;

function stmt(sql: string, ordered: boolean): GenStatement {
  return { sql, ordered, caseMapping: CASE_MAPPING.test(sql) };
}

function anyExpr(e: Exprs): fc.Arbitrary<string> {
  return fc.oneof({ weight: 3, arbitrary: e.text }, { weight: 2, arbitrary: e.int }, { weight: 1, arbitrary: e.num },
    { weight: 1, arbitrary: e.float }, { weight: 1, arbitrary: e.bool }, { weight: 1, arbitrary: e.time });
}

const where = (e: Exprs) => fc.option(e.bool, { freq: 3, nil: null }).map((w) => (w === null ? '' : ` WHERE ${w}`));
const dir = pick('', ' DESC', ' NULLS FIRST', ' DESC NULLS LAST');

function plainSelect(e: Exprs): fc.Arbitrary<GenStatement> {
  return fc.record({ cols: fc.array(anyExpr(e), { minLength: 1, maxLength: 3 }), w: where(e), keys: fc.array(fc.tuple(anyExpr(e), dir), { maxLength: 2 }),
    sorted: fc.boolean(), limit: fc.option(fc.tuple(fc.nat(12), fc.nat(4)), { nil: null }) })
    .map(({ cols, w, keys, sorted, limit }) => {
      const list = cols.map((c, i) => `${c} AS c${i}`).join(', ');
      if (!sorted) return stmt(`SELECT ${list} FROM t${w}`, false);
      const order = ` ORDER BY ${[...keys.map(([k, d]) => k + d), 'id'].join(', ')}`;
      const lim = limit === null ? '' : ` LIMIT ${limit[0]} OFFSET ${limit[1]}`;
      return stmt(`SELECT ${list} FROM t${w}${order}${lim}`, true);
    });
}

function distinctSelect(e: Exprs): fc.Arbitrary<GenStatement> {
  return fc.tuple(fc.array(anyExpr(e), { minLength: 1, maxLength: 2 }), where(e), fc.boolean()).map(([cols, w, sorted]) => {
    const order = sorted ? ` ORDER BY ${cols.map((_, i) => String(i + 1)).join(', ')}` : '';
    return stmt(`SELECT DISTINCT ${cols.join(', ')} FROM t${w}${order}`, sorted);
  });
}

function aggregate(e: Exprs): fc.Arbitrary<string> {
  return fc.oneof(pick('count(*)'), fn('count', anyExpr(e)), anyExpr(e).map((x) => `count(DISTINCT ${x})`), fn('sum', e.int), fn('sum', e.num), fn('sum', e.float),
    fn('avg', e.int), fn('avg', e.num), fn('min', anyExpr(e)), fn('max', anyExpr(e)), e.text.map((x) => `string_agg(${x}, ',' ORDER BY ${x})`),
    e.int.map((x) => `array_agg(${x} ORDER BY ${x})`), fn('bool_and', e.bool), fn('bool_or', e.bool), fn('stddev', e.num), fn('variance', e.int),
    e.text.map((x) => `max(${x} COLLATE "C")`), e.num.map((x) => `percentile_cont(0.5) WITHIN GROUP (ORDER BY ${x})`),
    fc.tuple(e.int, e.bool).map(([x, b]) => `sum(${x}) FILTER (WHERE ${b})`));
}

function groupSelect(e: Exprs): fc.Arbitrary<GenStatement> {
  return fc.record({ keys: fc.array(anyExpr(e), { minLength: 0, maxLength: 2 }), aggs: fc.array(aggregate(e), { minLength: 1, maxLength: 3 }), w: where(e),
    having: fc.option(fc.tuple(aggregate(e), pick('>', '<>', '<='), pick('1', '0', "'a'")), { nil: null }), sorted: fc.boolean() })
    .map(({ keys, aggs, w, having, sorted }) => {
      const group = keys.length > 0 ? ` GROUP BY ${keys.map((_, i) => String(i + 1)).join(', ')}` : '';
      const h = having === null || !having[0].startsWith('count') ? '' : ` HAVING ${having[0]} ${having[1]} ${having[2] === "'a'" ? '1' : having[2]}`;
      const order = sorted && keys.length > 0 ? ` ORDER BY ${keys.map((_, i) => String(i + 1)).join(', ')}` : '';
      return stmt(`SELECT ${[...keys, ...aggs].join(', ')} FROM t${w}${group}${h}${order}`, order !== '' || keys.length === 0);
    });
}

function windowSelect(e: Exprs): fc.Arbitrary<GenStatement> {
  const part = fc.option(anyExpr(e), { nil: null }).map((p) => (p === null ? '' : `PARTITION BY ${p} `));
  const win = fc.oneof(
    fc.tuple(pick('row_number()', 'ntile(3)', 'cume_dist()', 'percent_rank()'), part, anyExpr(e)).map(([f, p, k]) => `${f} OVER (${p}ORDER BY ${k}, id)`),
    fc.tuple(pick('rank()', 'dense_rank()'), part, anyExpr(e)).map(([f, p, k]) => `${f} OVER (${p}ORDER BY ${k})`),
    fc.tuple(pick('lag', 'lead', 'first_value', 'last_value'), anyExpr(e), part).map(([f, x, p]) => `${f}(${x}) OVER (${p}ORDER BY id)`),
    fc.tuple(pick('sum', 'count', 'max', 'avg'), e.int, part).map(([f, x, p]) => `${f}(${x}) OVER (${p}ORDER BY id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)`),
    fc.tuple(e.int, part).map(([x, p]) => `sum(${x}) OVER (${p.trim() === '' ? '' : p.trim()})`));
  return fc.tuple(anyExpr(e), win, where(e)).map(([x, w, wh]) => stmt(`SELECT id, ${x} AS x, ${w} AS w FROM t${wh} ORDER BY id`, true));
}

function setOperation(e: Exprs): fc.Arbitrary<GenStatement> {
  // Four expressions of one type: both arms have the same column types.
  const four = (x: fc.Arbitrary<string>) => fc.tuple(x, x, x, x);
  const exprs = fc.oneof(four(e.text), four(e.int), four(e.num), four(e.time));
  return fc.tuple(exprs, where(e), where(e), pick('UNION', 'UNION ALL', 'INTERSECT', 'INTERSECT ALL', 'EXCEPT', 'EXCEPT ALL'), fc.boolean())
    .map(([[a, b, c, d], w1, w2, o, sorted]) => {
      const sql = `SELECT ${a} AS x, ${b} AS y FROM t${w1} ${o} SELECT ${c}, ${d} FROM t${w2}`;
      return sorted ? stmt(`${sql} ORDER BY 1, 2`, true) : stmt(sql, false);
    });
}

function subquerySelect(e: Exprs): fc.Arbitrary<GenStatement> {
  return fc.tuple(anyExpr(e), e.bool, e.bool).map(([x, b1, b2]) => stmt(
    `WITH c AS (SELECT * FROM t WHERE ${b1}) SELECT ${x} AS x, (SELECT count(*) FROM c) AS k FROM c WHERE ${b2} OR id IN (SELECT max(id) FROM t)`, false));
}

/** Random statements over `t`, in the proportions a residual stage would see them. */
export function genStatement(depth = 2): fc.Arbitrary<GenStatement> {
  const e = genExprs(depth);
  return fc.oneof({ weight: 5, arbitrary: plainSelect(e) }, { weight: 2, arbitrary: distinctSelect(e) }, { weight: 3, arbitrary: groupSelect(e) },
    { weight: 2, arbitrary: windowSelect(e) }, { weight: 2, arbitrary: setOperation(e) }, { weight: 1, arbitrary: subquerySelect(e) });
}
