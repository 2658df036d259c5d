// Result directives (result-directives.ts): what the executor does to each result column, computed
// by the rewriter without keys, table-driven over protection modes and constructs.
import { beforeAll, describe, expect, it } from 'vitest';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { EHEALTH_POLICY, testRewriter } from '@clarus/testing/rewriter.ts';
import { loadParser } from './parser.ts';
import type { Analysis, Rewriter } from './rewriter.ts';
import { sourcesOf } from './context.ts';
import { describeDirective, resultDirectives } from './result-directives.ts';
import type { ResultDirective, Reversal } from './result-directives.ts';
import { VIEW_MARKER, viewFromRow } from './views.ts';

/** eHealth plus a table with a reversible pseudonym and a one-way one. */
const POLICY: RuntimePolicy = {
  ...EHEALTH_POLICY,
  datasets: [...EHEALTH_POLICY.datasets, {
    name: 'members', schema: 'public', table: 'member', rowKey: 'm_id',
    columns: [
      { name: 'm_id', attributeType: 'technicalIdentifier', backend: 'cloud-a' },
      { name: 'alias', attributeType: 'identifier', anonymize: { pseudonymize: { reversible: true, format: 'hex', keyName: 'default' } }, backend: 'cloud-a' },
      { name: 'handle', attributeType: 'identifier', anonymize: { pseudonymize: {} }, backend: 'cloud-a' },
    ],
  }],
};

let rw: Rewriter;

function plan(sql: string): Extract<Analysis, { kind: 'plan' }> {
  const a = rw.analyze(sql);
  if (a.kind !== 'plan') throw new Error(`expected a plan for ${sql}, got ${JSON.stringify(a)}`);
  return a;
}

function short(d: Reversal): string {
  if (d.kind === 'reversePseudonym') return `reverse ${d.ref.table.table}.${d.ref.column.name} key ${d.keyName}`;
  return `decrypt ${sourcesOf(d.ref).map((s) => `${s.table.table}.${s.column.name}`).join('|')} ${d.ref.column.protection.mode}`;
}

/** A directive in a few words, for the tables below. */
function summary(d: ResultDirective): string {
  switch (d.kind) {
    case 'pass': return `pass ${d.carries}`;
    case 'unknownWidth': return 'unknown width';
    case 'unplaced': return `unplaced (${short(d.of)})`;
    default: return short(d);
  }
}

function directives(sql: string, statement = 0): string[] {
  return (plan(sql).statements[statement]?.results ?? []).map(summary);
}

beforeAll(async () => {
  await loadParser();
  rw = testRewriter(POLICY, undefined, { twoStage: true });
  rw.learn(rw.catalog.all(), new Map([
    ['public.patient', [{ name: 'pat_id', typeOid: 23 }, { name: 'pat_name', typeOid: 25 }, { name: 'pat_ssn', typeOid: 1043, typmod: 15 }, { name: 'pat_zip', typeOid: 25 }, { name: 'pat_birth', typeOid: 1082 }, { name: 'diagnosis', typeOid: 25 }]],
    ['public.visit', [{ name: 'visit_id', typeOid: 23 }, { name: 'pat_id', typeOid: 23 }, { name: 'reason', typeOid: 25 }, { name: 'notes', typeOid: 25 }]],
    ['public.member', [{ name: 'm_id', typeOid: 23 }, { name: 'alias', typeOid: 25 }, { name: 'handle', typeOid: 25 }]],
  ]));
});

describe('result directives by construct and mode', () => {
  const cases: Array<[string, string, string[]]> = [
    ['plain and encrypted columns', 'SELECT pat_id, pat_name, diagnosis FROM patient', ['pass plain', 'decrypt patient.pat_name randomized', 'decrypt patient.diagnosis deterministic']],
    ['aliased columns', 'SELECT p.pat_name AS n, p.diagnosis AS "D" FROM patient p', ['decrypt patient.pat_name randomized', 'decrypt patient.diagnosis deterministic']],
    ['a subquery\'s column', 'SELECT n FROM (SELECT pat_name AS n FROM patient) s', ['decrypt patient.pat_name randomized']],
    ['a star over a protected table', 'SELECT * FROM visit', ['pass plain', 'pass plain', 'decrypt visit.reason deterministic', 'decrypt visit.notes randomized']],
    ['a join', 'SELECT v.notes, p.pat_name, v.visit_id FROM visit v JOIN patient p ON p.pat_id = v.pat_id', ['decrypt visit.notes randomized', 'decrypt patient.pat_name randomized', 'pass plain']],
    ['a set operation: decrypted as the first arm, shown per the most restrictive of both', 'SELECT diagnosis FROM patient UNION SELECT reason FROM visit', ['decrypt patient.diagnosis|visit.reason deterministic']],
    ['a NULL constant and a plain expression', 'SELECT NULL AS x, pat_id + 1 FROM patient', ['pass null', 'pass plain']],
    ['anonymized values are shown as stored', 'SELECT pat_zip, pat_birth FROM patient', ['pass anonymized', 'pass anonymized']],
    ['a reversible pseudonym exactly as stored; a one-way one passes', 'SELECT alias, handle FROM member', ['reverse member.alias key default', 'pass anonymized']],
    ['a star of a relation unknown to the policy before protected columns', 'SELECT o.*, p.pat_name, m.alias FROM other o, patient p, member m', ['unknown width', 'unplaced (decrypt patient.pat_name randomized)', 'unplaced (reverse member.alias key default)']],
    ['RETURNING', "UPDATE patient SET pat_zip = '12345' WHERE pat_id = 1 RETURNING pat_id, pat_name", ['pass plain', 'decrypt patient.pat_name randomized']],
    ['COPY TO: the copied columns', 'COPY (SELECT pat_id, pat_name FROM patient) TO STDOUT', ['pass plain', 'decrypt patient.pat_name randomized']],
  ];
  it.each(cases)('%s', (_, sql, expected) => {
    expect(directives(sql)).toEqual(expected);
  });

  it('an expression of a protected column computed in two stages: the backend stage\'s candidates are decrypted', () => {
    const p = plan('SELECT upper(pat_name) AS u, pat_id FROM patient WHERE pat_id > 1');
    const s = p.statements[0];
    expect(s?.residual).toBeDefined();
    expect(s?.results.map(summary)).toEqual(s?.outputs.map((o) => (o.prov ? `decrypt ${o.prov.table.table}.${o.prov.column.name} ${o.prov.column.protection.mode}` : 'pass plain')));
    expect(s?.results.map(summary)).toContain('decrypt patient.pat_name randomized');
  });

  it('a view over protected tables: its columns are decrypted as the table\'s', () => {
    const a = plan('CREATE VIEW pv AS SELECT pat_id, pat_name, diagnosis FROM patient');
    const stub = a.statements[0]?.sql ?? '';
    const hex = new RegExp(`${VIEW_MARKER}([0-9a-f]+)`).exec(stub)?.[1] ?? '';
    const v = viewFromRow({ schema: 'public', name: 'pv', columns: JSON.stringify(['pat_id', 'pat_name', 'diagnosis']), hex });
    if (!v) throw new Error('marker does not decode');
    rw.learnViews([v]);
    expect(directives('SELECT * FROM pv')).toEqual(['pass plain', 'decrypt patient.pat_name randomized', 'decrypt patient.diagnosis deterministic']);
    expect(directives('SELECT d FROM (SELECT diagnosis AS d FROM pv) x')).toEqual(['decrypt patient.diagnosis deterministic']);
  });

  it('one directive per output, in order, and none for statements that return nothing', () => {
    expect(plan("INSERT INTO patient (pat_id, pat_name) VALUES (1, 'Ann')").statements[0]?.results).toEqual([]);
    const two = plan('SELECT pat_name FROM patient; SELECT pat_id FROM patient');
    expect(two.statements.map((s) => s.results.map(summary))).toEqual([['decrypt patient.pat_name randomized'], ['pass plain']]);
  });

  it('positions after an unknown-width star are unplaced, whatever precedes the star', () => {
    const ref = plan('SELECT pat_name FROM patient').statements[0]?.outputs[0]?.prov;
    if (!ref) throw new Error('no provenance');
    const star = { name: '*', prov: null, star: true };
    expect(resultDirectives([{ name: 'a', prov: ref }, star, { name: 'b', prov: ref }, { name: 'c', prov: null }]).map(summary))
      .toEqual(['decrypt patient.pat_name randomized', 'unknown width', 'unplaced (decrypt patient.pat_name randomized)', 'pass plain']);
  });
});

describe('how explain shows them', () => {
  it('names the column, the source, the mode and the client-facing type', () => {
    const [id, name, diag] = plan('SELECT pat_id, pat_name AS name, diagnosis FROM patient').statements[0]?.results ?? [];
    if (!id || !name || !diag) throw new Error('three directives expected');
    expect(describeDirective(id, 0)).toBe('column 1 `pat_id`: pass');
    expect(describeDirective(name, 1)).toBe('column 2 `name`: decrypt patient.pat_name (randomized) → text');
    expect(describeDirective(diag, 2)).toBe('column 3 `diagnosis`: decrypt patient.diagnosis (deterministic) → text');
    const [u] = plan('SELECT diagnosis FROM patient UNION SELECT reason FROM visit').statements[0]?.results ?? [];
    expect(u && describeDirective(u, 0)).toBe('column 1 `diagnosis`: decrypt patient.diagnosis (deterministic, or visit.reason) → text');
    const [alias] = plan('SELECT alias FROM member').statements[0]?.results ?? [];
    expect(alias && describeDirective(alias, 0)).toBe('column 1 `alias`: reverse pseudonym member.alias (key default) → text');
    const ssn = plan('SELECT pat_ssn FROM patient').statements[0]?.results[0];
    expect(ssn && describeDirective(ssn, 0)).toBe('column 1 `pat_ssn`: decrypt patient.pat_ssn (randomized) → varchar');
  });
});
