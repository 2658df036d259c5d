// Constants and parameters next to anonymized columns (expr.ts), table-driven on a policy with
// one column per anonymization method: a direct comparison with a deterministic method the proxy
// applies is rewritten to compare anonymized forms (parameters anonymized at Bind); every other
// combination of an anonymized column with a value is refused (0A000) naming the column.
import { beforeAll, describe, expect, it } from 'vitest';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { OID } from '../protection/encryption/canonical.ts';
import { loadParser } from './parser.ts';
import type { Analysis, Rewriter } from './rewriter.ts';
import { TEST_KEY_FILES, testRewriter } from '@clarus/testing/rewriter.ts';

const B = 'cloud-a';
const POLICY: RuntimePolicy = {
  name: 'anon', onUnsupported: 'reject', defaultBackend: B,
  keyring: { dir: 'k', keys: [{ name: 'default', versions: [1], current: 1 }] },
  datasets: [{
    name: 'people', schema: 'public', table: 'person', rowKey: 'id',
    columns: [
      { name: 'id', attributeType: 'technicalIdentifier', backend: B },
      { name: 'zip', attributeType: 'quasiIdentifier', anonymize: { generalize: { keepPrefix: 3 } }, backend: B },
      { name: 'phone', attributeType: 'quasiIdentifier', anonymize: { mask: { keepLast: 2 } }, backend: B },
      { name: 'age', attributeType: 'quasiIdentifier', anonymize: { generalize: { step: 10 } }, backend: B },
      { name: 'born', attributeType: 'quasiIdentifier', anonymize: { generalize: { truncate: 'year' } }, backend: B },
      { name: 'gone', attributeType: 'quasiIdentifier', anonymize: { suppress: {} }, backend: B },
      { name: 'salary', attributeType: 'confidential', anonymize: { noise: { distribution: 'laplace', scale: 100 } }, backend: B },
      { name: 'alias', attributeType: 'identifier', anonymize: { pseudonymize: { format: 'hex' } }, backend: B },
      { name: 'secret', attributeType: 'confidential', encrypt: { mode: 'deterministic', searchable: false, keyName: 'default' }, backend: B },
      { name: 'note', attributeType: 'nonConfidential', backend: B },
    ],
  }],
};

let rw: Rewriter;
beforeAll(async () => {
  await loadParser();
  rw = testRewriter(POLICY, TEST_KEY_FILES);
  rw.catalog.learn('public', 'person', [
    { name: 'id', typeOid: OID.int4 }, { name: 'zip', typeOid: OID.text }, { name: 'phone', typeOid: OID.varchar }, { name: 'age', typeOid: OID.int4 },
    { name: 'born', typeOid: OID.date }, { name: 'gone', typeOid: OID.text }, { name: 'salary', typeOid: OID.int4 }, { name: 'alias', typeOid: OID.text },
    { name: 'secret', typeOid: OID.text }, { name: 'note', typeOid: OID.text },
  ]);
});

function analyze(sql: string): Analysis {
  return rw.analyze(sql);
}

/** [statement, rewritten text sent to the backend, parameter roles]. */
const REWRITTEN: Array<[string, string, string[]?]> = [
  ["SELECT id FROM person WHERE zip = '75011'", "SELECT id FROM person WHERE zip = '750**'"],
  ["SELECT id FROM person WHERE '75011' = zip", "SELECT id FROM person WHERE '750**' = zip"],
  ["SELECT id FROM person WHERE zip <> '75011'", "SELECT id FROM person WHERE zip <> '750**'"],
  ["SELECT id FROM person WHERE zip IN ('75011', '08001', NULL)", "SELECT id FROM person WHERE zip IN ('750**', '080**', NULL)"],
  ["SELECT id FROM person WHERE zip NOT IN ('75011')", "SELECT id FROM person WHERE zip NOT IN ('750**')"],
  ["SELECT id FROM person WHERE zip IS DISTINCT FROM '75011'", "SELECT id FROM person WHERE zip IS DISTINCT FROM '750**'"],
  ["SELECT id FROM person WHERE zip IS NOT DISTINCT FROM '75011'::text", "SELECT id FROM person WHERE zip IS NOT DISTINCT FROM '750**'"],
  ["SELECT id FROM person WHERE zip = '750**'", "SELECT id FROM person WHERE zip = '750**'"], // idempotent
  ["SELECT id FROM person WHERE phone = '0611223344'", "SELECT id FROM person WHERE phone = '********44'"],
  ["SELECT id FROM person WHERE age = 47", "SELECT id FROM person WHERE age = '40'"],
  ["SELECT id FROM person WHERE born = '1980-05-17'", "SELECT id FROM person WHERE born = '1980-01-01'"],
  ["SELECT id FROM person WHERE gone = 'x'", 'SELECT id FROM person WHERE gone = NULL'],
  ['SELECT id FROM person WHERE zip = NULL', 'SELECT id FROM person WHERE zip = NULL'],
  ["SELECT id FROM person WHERE zip = B'0101'", "SELECT id FROM person WHERE zip = '010*'"],
  ['SELECT id FROM person WHERE zip = $1 AND phone IN ($2, $3)', 'SELECT id FROM person WHERE zip = $1 AND phone IN ($2, $3)', ['1:anonymize', '2:anonymize', '3:anonymize']],
  ['SELECT id FROM person WHERE zip = $1::varchar', 'SELECT id FROM person WHERE zip = $1::varchar', ['1:anonymize']],
  ["SELECT CASE zip WHEN '75011' THEN 1 WHEN $1 THEN 2 END AS k FROM person", "SELECT CASE zip WHEN '750**' THEN 1 WHEN $1 THEN 2 END AS k FROM person", ['1:anonymize']],
  ["SELECT CASE WHEN zip = '75011' THEN 'paris' ELSE 'other' END AS city FROM person", "SELECT CASE WHEN zip = '750**' THEN 'paris' ELSE 'other' END AS city FROM person"],
  ["SELECT p.id FROM person p JOIN person q ON q.zip = p.zip AND q.zip = '75011'", "SELECT p.id FROM person AS p JOIN person AS q ON q.zip = p.zip AND q.zip = '750**'"],
  ["SELECT id FROM person WHERE EXISTS (SELECT 1 FROM ward w WHERE person.zip = '75011' AND w.label = person.zip)", "SELECT id FROM person WHERE EXISTS (SELECT 1 FROM ward AS w WHERE person.zip = '750**' AND w.label = person.zip)"],
  ["SELECT count(*) AS n FROM person GROUP BY zip HAVING zip = '75011'", "SELECT count(*) AS n FROM person GROUP BY zip HAVING zip = '750**'"],
  ["SELECT count(*) FILTER (WHERE zip = '75011') AS n FROM person", "SELECT count(*) FILTER (WHERE zip = '750**') AS n FROM person"],
  ["UPDATE person SET note = 'x' WHERE phone = '0611223344'", "UPDATE person SET note = 'x' WHERE phone = '********44'"],
  ["DELETE FROM person WHERE zip IN ('75011') OR phone = $1", "DELETE FROM person WHERE zip IN ('750**') OR phone = $1", ['1:anonymize']],
  ["UPDATE person SET zip = '75011', note = zip WHERE id = 1", "UPDATE person SET zip = '750**', note = zip WHERE id = 1"],
  // no constant next to the column: untouched
  ['SELECT zip, upper(phone), count(DISTINCT zip) AS n FROM person GROUP BY zip, phone ORDER BY zip', 'SELECT zip, upper(phone), count(DISTINCT zip) AS n FROM person GROUP BY zip, phone ORDER BY zip'],
  ['SELECT id FROM person WHERE zip = phone OR salary IS NULL', 'SELECT id FROM person WHERE zip = phone OR salary IS NULL'],
];

/** [statement, refusal message pattern]. */
const REFUSED: Array<[string, RegExp]> = [
  ["SELECT id FROM person WHERE zip LIKE '750%'", /LIKE\/ILIKE combining anonymized column person\.zip \(generalize\)/],
  ["SELECT id FROM person WHERE zip ILIKE $1", /LIKE\/ILIKE combining anonymized column person\.zip/],
  ["SELECT id FROM person WHERE zip > '75011'", /range comparison \(>\) combining anonymized column person\.zip/],
  ["SELECT id FROM person WHERE age BETWEEN 10 AND 20", /BETWEEN \(range\) combining anonymized column person\.age/],
  ["SELECT id FROM person WHERE upper(zip) = 'X'", /operator = combining anonymized column person\.zip/],
  ["SELECT id FROM person WHERE zip::text = 'X'", /operator = combining anonymized column person\.zip/],
  ["SELECT id FROM person WHERE zip = 'a' || 'b'", /comparison \(=\) of anonymized column person\.zip .* with an expression/],
  ["SELECT id FROM person WHERE zip = lower('X')", /with an expression/],
  ["SELECT id FROM person WHERE zip = (SELECT 'x')", /with an expression/],
  ["SELECT id FROM person WHERE zip IN (SELECT 'x')", /IN \(subquery\) combining anonymized column person\.zip/],
  ["SELECT id FROM person WHERE zip = ANY (ARRAY['x'])", /operator = combining anonymized column person\.zip/],
  ["SELECT id FROM person WHERE (zip, id) = ('x', 1)", /operator = combining anonymized column person\.zip/],
  ["SELECT id FROM person WHERE zip = '75011'::varchar(3)", /a cast to pg_catalog\.varchar with a length/],
  ["SELECT id FROM person WHERE age = '47'::bigint", /a cast to pg_catalog\.int8 \(the column is of another type\)/],
  ["SELECT id FROM person WHERE zip = $1::bytea", /a cast to bytea/],
  ["SELECT id FROM person WHERE salary = 1000", /anonymized column person\.salary \(noise\) with a constant or parameter \(its anonymization is not deterministic\)/],
  ['SELECT id FROM person WHERE salary IN ($1)', /person\.salary \(noise\).*not deterministic/],
  ["SELECT id FROM person WHERE alias = 'x'", /person\.alias \(pseudonymize\).*does not apply its anonymization to single values/],
  ["SELECT NULLIF(zip, 'x') AS z FROM person", /operator = combining anonymized column person\.zip/],
  ["SELECT COALESCE(zip, 'none') AS z FROM person", /COALESCE combining anonymized column person\.zip/],
  ["SELECT GREATEST(age, 18) AS a FROM person", /GREATEST\/LEAST combining anonymized column person\.age/],
  ["SELECT zip || '-' || phone AS z FROM person", /operator \|\| combining anonymized column person\.zip/],
  ["SELECT CASE WHEN id = 1 THEN zip ELSE 'x' END AS z FROM person", /CASE combining anonymized column person\.zip/],
  ["SELECT CASE upper(zip) WHEN 'X' THEN 1 END AS z FROM person", /CASE … WHEN combining anonymized column person\.zip/],
  ["SELECT substr(zip, 1, 2) AS z FROM person", /function substr\(\) combining anonymized column person\.zip/],
  ["SELECT id FROM person ORDER BY strpos(zip, 'x')", /function strpos\(\) combining anonymized column person\.zip/],
  ["SELECT count(*) FILTER (WHERE zip LIKE 'x%') AS n FROM person", /LIKE\/ILIKE combining anonymized column person\.zip/],
  ["UPDATE person SET note = zip || 'x'", /operator \|\| combining anonymized column person\.zip/],
  ["UPDATE person SET zip = note WHERE id = 1", /an expression as the value of anonymized column person\.zip/],
  ["SELECT * FROM (VALUES ('x')) v(t) WHERE EXISTS (SELECT 1 FROM person p WHERE p.zip = v.t)", /with a column of a subquery, WITH query or VALUES list/],
  ["SELECT s.i FROM (SELECT id, zip FROM person) s(i, z) WHERE s.z LIKE 'x%'", /(column of a subquery or WITH query \(which may carry|LIKE\/ILIKE combining) anonymized column person\.zip/],
  ["SELECT * FROM (SELECT upper(zip) AS u FROM person) s WHERE s.u = 'x'", /(column of a subquery or WITH query \(which may carry|operator = combining) anonymized column person\.zip/],
  ["SELECT p.a FROM person p(a, b) WHERE p.b LIKE 'x%'", /LIKE\/ILIKE combining anonymized column person\.zip/],
  ["SELECT id FROM person WHERE zip IN (SELECT zip FROM person WHERE zip LIKE 'x%')", /LIKE\/ILIKE combining anonymized column person\.zip/],
  ["SELECT l.one FROM person p, LATERAL (SELECT 1 AS one FROM ward w WHERE p.zip > 'x') l", /range comparison \(>\) combining anonymized column person\.zip/],
  ["SELECT id FROM person WHERE secret = 'x'::bytea", /comparison with a cast to bytea .* on encrypted column person\.secret/],
  ["SELECT count(*) FILTER (WHERE secret = 'x') AS n FROM person", /on encrypted column person\.secret/],
  ["SELECT id FROM person WHERE secret <> ALL (SELECT 'x')", /on encrypted column person\.secret/],
  ["INSERT INTO person (id) VALUES (1) ON CONFLICT (id) WHERE zip = 'x' DO NOTHING", /ON CONFLICT … WHERE \(a partial index\) on protected table person/],
  ["INSERT INTO person (id) VALUES (1) ON CONFLICT (id) WHERE secret = 'x' DO NOTHING", /partial index/],
  ["INSERT INTO person (id) VALUES (1) ON CONFLICT ((zip || 'x')) DO NOTHING", /operator \|\| combining anonymized column person\.zip/],
  ["INSERT INTO ward (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET label = (SELECT max(id)::text FROM person WHERE zip LIKE 'x%')", /LIKE\/ILIKE combining anonymized column person\.zip/],
];

/**
 * A column of a WITH query or subquery that is an anonymized column as is: refused while the
 * analysis does not trace subquery outputs (OutCol.anon), else compared like the column itself.
 */
const THROUGH: Array<[string, string, string]> = [
  ["WITH c AS (SELECT id, zip AS z FROM person) SELECT id FROM c WHERE z = '75011'", "'75011'", "'750**'"],
  ["SELECT s.id FROM (SELECT id, phone FROM person) s WHERE s.phone IN ('0611223344')", "'0611223344'", "'********44'"],
];

describe('anonymized columns next to constants and parameters', () => {
  it.each(THROUGH)('%s: refused, or compared as anonymized forms', (sql, raw, anonymized) => {
    const a = analyze(sql);
    if (a.kind === 'refuse') {
      expect(a).toMatchObject({ code: '0A000', message: expect.stringMatching(/column of a subquery or WITH query \(which may carry anonymized column person\./) });
      return;
    }
    if (a.kind !== 'plan') throw new Error(`expected a plan or a refusal, got ${a.kind}`);
    const text = a.statements.map((s) => s.sql).join('; ');
    expect(text).toContain(anonymized);
    expect(text).not.toContain(raw);
  });
  it('a column of a subquery over plain data compares freely (no anonymized column in the statement)', () => {
    expect(analyze("WITH c AS (SELECT id, note FROM person) SELECT id FROM c WHERE note = 'x' AND id > 1").kind).toBe('plan');
  });
  it.each(REWRITTEN)('%s', (sql, expected, roles) => {
    const a = analyze(sql);
    if (a.kind !== 'plan') throw new Error(`expected a plan, got ${JSON.stringify(a)}`);
    expect(a.statements.map((s) => s.sql).join('; ')).toBe(expected);
    expect([...a.params].map(([n, r]) => `${n}:${r.kind}`)).toEqual(roles ?? []);
  });
  it.each(REFUSED)('refuses %s', (sql, message) => {
    const a = analyze(sql);
    if (a.kind !== 'refuse') throw new Error(`expected a refusal, got ${a.kind === 'plan' ? a.statements.map((s) => s.sql).join('; ') : a.kind}`);
    expect(a.code).toBe('0A000');
    expect(a.message).toMatch(message);
  });
  it('a value the declared anonymization cannot handle is 22P02, not forwarded', () => {
    expect(analyze("SELECT id FROM person WHERE age = 'abc'")).toMatchObject({ kind: 'refuse', code: '22P02', message: expect.stringMatching(/person\.age/) });
  });
});
