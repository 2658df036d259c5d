// The statement rules, table-driven on the eHealth catalog: each rule with a statement it edits,
// one it refuses, and its postcondition failing closed on a tree that breaks it.
import { beforeAll, describe, expect, it } from 'vitest';
import { EHEALTH_POLICY, testRewriter } from '@clarus/testing/rewriter.ts';
import { Catalog } from '../catalog.ts';
import { Ctx } from '../context.ts';
import { loadParser, parseStatements } from '../parser.ts';
import { Refusal } from '../refusals.ts';
import { STATEMENT_RULES, statementRule } from './index.ts';

beforeAll(async () => {
  await loadParser();
});

const plan = (sql: string) => testRewriter().analyze(sql);
const sqlOf = (sql: string): string => {
  const a = plan(sql);
  return a.kind === 'plan' ? (a.statements[0]?.sql ?? '') : `${a.kind}: ${'message' in a ? a.message : ''}`;
};

describe('statement rules', () => {
  it('lists each rule once, named like its file', () => {
    expect(STATEMENT_RULES.map((r) => r.name)).toEqual(['insert', 'update-set', 'delete', 'copy', 'create-table', 'create-index', 'alter-table', 'create-table-as']);
    expect(new Set(STATEMENT_RULES.map((r) => r.tag)).size).toBe(STATEMENT_RULES.length);
  });

  it.each([
    ['insert', 'INSERT INTO patient (pat_id, pat_ssn) VALUES (1, $1)', /^INSERT INTO patient \(pat_id, pat_ssn, pat_ssn__bidx\) VALUES \(1, substr\(\$1, 17\), substr\(\$1, 1, 16\)\)$/],
    ['update-set', 'UPDATE patient SET pat_ssn = $1 WHERE pat_id = 2', /^UPDATE patient SET pat_ssn = substr\(\$1, 17\), pat_ssn__bidx = substr\(\$1, 1, 16\) WHERE pat_id = 2$/],
    ['delete', "DELETE FROM patient WHERE pat_ssn = '1'", /^DELETE FROM patient WHERE pat_ssn__bidx = '\\x[0-9a-f]{32}'::bytea$/],
    ['copy', 'COPY patient (pat_id, pat_ssn) FROM STDIN', /^COPY patient \(pat_id, pat_ssn, pat_ssn__bidx\) FROM STDIN$/],
    ['create-table', 'CREATE TABLE visit (visit_id int, pat_id int, reason text, notes text)', /reason bytea .*notes bytea/],
    ['create-index', 'CREATE INDEX ON patient (pat_ssn)', /^CREATE INDEX patient_pat_ssn_idx ON patient \(pat_ssn__bidx\)$/],
    ['alter-table', 'ALTER TABLE patient ADD COLUMN note text', /^(pass|ALTER TABLE)/],
  ])('%s edits %s', (name, sql, expected) => {
    expect(statementRule(Object.keys(parseStatements(sql)[0]?.stmt ?? {})[0] ?? '')?.name).toBe(name);
    expect(sqlOf(sql)).toMatch(expected);
  });

  it.each([
    ['insert', 'INSERT INTO patient SELECT 1', /without a column list/],
    ['update-set', 'UPDATE patient SET (pat_ssn, pat_id) = (SELECT 1, 2)', /multiple-column assignment/],
    ['delete', "DELETE FROM patient WHERE pat_name = 'x'", /equality comparison .*pat_name \(randomized\)/],
    ['copy', 'COPY patient (pat_id) FROM STDIN WHERE pat_id = 1', /COPY … WHERE/],
    ['create-table', 'CREATE TABLE patient (pat_id int, pat_name text UNIQUE)', /column constraint UNIQUE \(declare it deterministic or searchable\) on encrypted column patient\.pat_name/],
    ['create-index', 'CREATE INDEX ON patient (pat_name)', /index .*pat_name \(randomized\)/],
    ['alter-table', 'ALTER TABLE patient ALTER COLUMN pat_ssn TYPE int', /TYPE integer on encrypted column patient\.pat_ssn/],
  ])('%s refuses %s', (_name, sql, message) => {
    const a = plan(sql);
    expect(a.kind).toBe('refuse');
    expect(a.kind === 'refuse' ? a.message : '').toMatch(message);
  });

  it.each([
    ['InsertStmt', 'INSERT INTO patient (pat_id, pat_ssn) VALUES (1, $1)'],
    ['UpdateStmt', 'UPDATE patient SET pat_ssn = $1'],
    ['CopyStmt', 'COPY patient (pat_id, pat_ssn) FROM STDIN'],
    ['CreateStmt', 'CREATE TABLE patient (pat_id int, pat_ssn bytea)'],
  ])('the %s postcondition fails closed when a searchable column lacks its blind index', (tag, sql) => {
    const ctx = new Ctx(new Catalog(EHEALTH_POLICY), () => {
      throw new Error('no keys');
    }, 0, () => []);
    const stmt = parseStatements(sql)[0]?.stmt as Record<string, Record<string, unknown>>;
    const rule = statementRule(tag);
    expect(() => rule?.postcondition(ctx, stmt[tag] ?? {})).toThrow(Refusal);
  });
});
