// Rule insert-batch (through insert-values): multi-row INSERT … VALUES into k-anonymity columns is
// microaggregated from its constants; anything else that writes those columns is refused.
import { beforeAll, describe, expect, it } from 'vitest';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { EHEALTH_POLICY, testRewriter } from '@clarus/testing/rewriter.ts';
import { OID } from '../../protection/encryption/canonical.ts';
import { loadParser } from '../parser.ts';

beforeAll(async () => {
  await loadParser();
});

const qi = (k: number, t?: number) => ({ kAnonymity: { k, ...(t === undefined ? {} : { tCloseness: t }) } });
const POLICY: RuntimePolicy = {
  ...EHEALTH_POLICY,
  datasets: [{
    name: 'stays', schema: 'public', table: 'stay',
    columns: [
      { name: 'id', attributeType: 'technicalIdentifier', backend: 'cloud-a' },
      { name: 'age', attributeType: 'quasiIdentifier', anonymize: qi(3), backend: 'cloud-a' },
      { name: 'zip', attributeType: 'quasiIdentifier', anonymize: qi(3), backend: 'cloud-a' },
      { name: 'diag', attributeType: 'confidential', backend: 'cloud-a' },
    ],
  }],
};

function rewriter() {
  const rw = testRewriter(POLICY);
  rw.catalog.learn('public', 'stay', [
    { name: 'id', typeOid: OID.int4 }, { name: 'age', typeOid: OID.int4 }, { name: 'zip', typeOid: OID.text }, { name: 'diag', typeOid: OID.text },
  ]);
  return rw;
}
const analyze = (sql: string) => rewriter().analyze(sql);

describe('multi-row INSERT into k-anonymity columns', () => {
  it('replaces the quasi-identifiers by their clusters\' published values; other columns stay', () => {
    const a = analyze("INSERT INTO stay (id, age, zip, diag) VALUES (1, 30, '08001', 'a'), (2, 34, '08001', 'b'), (3, 41, '08002', 'c'), (4, 90, '17001', 'd'), (5, 92, '17001', 'e'), (6, 94, '17002', 'f')");
    expect(a.kind).toBe('plan');
    if (a.kind !== 'plan') return;
    expect(a.statements[0]?.sql).toBe("INSERT INTO stay (id, age, zip, diag) VALUES (1, '35', '08001', 'a'), (2, '35', '08001', 'b'), (3, '35', '08001', 'c'), (4, '92', '17001', 'd'), (5, '92', '17001', 'e'), (6, '92', '17001', 'f')");
  });

  it.each([
    ['fewer rows than k (21000)', "INSERT INTO stay (id, age, zip) VALUES (1, 30, 'a'), (2, 31, 'b')", '21000', /k=3.*at least 3 records.*has 2/],
    ['one row', "INSERT INTO stay (id, age, zip) VALUES (1, 30, 'a')", '21000', /has 1/],
    ['a parameter', "INSERT INTO stay (id, age, zip) VALUES (1, $1, 'a'), (2, 31, 'b'), (3, 32, 'c')", '0A000', /a parameter as the value of k-anonymity column stay\.age/],
    ['DEFAULT', "INSERT INTO stay (id, age, zip) VALUES (1, DEFAULT, 'a'), (2, 31, 'b'), (3, 32, 'c')", '0A000', /DEFAULT as the value of k-anonymity column stay\.age/],
    ['an expression', "INSERT INTO stay (id, age, zip) VALUES (1, 30 + 1, 'a'), (2, 31, 'b'), (3, 32, 'c')", '0A000', /an expression/],
    ['NULL', "INSERT INTO stay (id, age, zip) VALUES (1, NULL, 'a'), (2, 31, 'b'), (3, 32, 'c')", '22004', /NULL in k-anonymity column stay\.age/],
    ['a value that is no number', "INSERT INTO stay (id, age, zip) VALUES (1, '3x', 'a'), (2, 31, 'b'), (3, 32, 'c')", '22P02', /stay\.age/],
    ['UPDATE of a quasi-identifier', 'UPDATE stay SET age = 3 WHERE id = 1', '0A000', /stay\.age/],
    ['INSERT … SELECT', 'INSERT INTO stay (id, age, zip) SELECT 1, 2, zip FROM stay', '0A000', /stay\.age|stay\.zip/],
  ])('refuses %s', (_name, sql, code, message) => {
    const a = analyze(sql);
    expect(a.kind).toBe('refuse');
    if (a.kind !== 'refuse') return;
    expect(a.code).toBe(code);
    expect(a.message).toMatch(message);
  });

  it('needs constant confidential values only with t-closeness', () => {
    const t = testRewriter({ ...POLICY, datasets: POLICY.datasets.map((d) => ({ ...d, columns: d.columns.map((c) => (c.anonymize ? { ...c, anonymize: qi(3, 0.5) } : c)) })) });
    const sql = "INSERT INTO stay (id, age, zip, diag) VALUES (1, 30, 'a', $1), (2, 31, 'b', 'x'), (3, 32, 'c', 'y')";
    expect(analyze(sql).kind).toBe('plan');
    const a = t.analyze(sql);
    expect(a.kind === 'refuse' ? a.message : a.kind).toMatch(/a parameter as the value of k-anonymity column stay\.diag/);
  });
});
