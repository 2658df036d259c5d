// PREPARE is rewritten like a Parse of its statement: parameter roles, stored types declared, outputs
// kept for EXECUTE; a statement the proxy would compute is refused by name. EXECUTE's constants are
// protected per role (access/sql-execute.ts).
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser, parseStatements } from '../parser.ts';
import type { KeyedRewriter as Rewriter } from '../../protection/keyed-rewriter.ts';
import { testRewriter } from '@clarus/testing/rewriter.ts';
import { rewriteExecute } from '../../access/sql-execute.ts';

let rw: Rewriter;
beforeAll(async () => {
  await loadParser();
  rw = testRewriter();
  rw.analyze('CREATE TABLE patient (pat_id int PRIMARY KEY, pat_name text NOT NULL, pat_ssn varchar(11), pat_zip text, pat_birth date, diagnosis text)');
});

function plan(sql: string) {
  const a = rw.analyze(sql);
  if (a.kind !== 'plan') throw new Error(`expected a plan for ${sql}: ${JSON.stringify(a)}`);
  return a;
}

describe('PREPARE', () => {
  it('declares the stored types of parameters with roles and keeps the others', () => {
    const a = plan('PREPARE ins (int, text, varchar) AS INSERT INTO patient (pat_id, pat_name, pat_ssn) VALUES ($1, $2, $3)');
    expect(a.statements[0]?.sql).toMatch(/^PREPARE ins \(int, bytea, bytea\) AS INSERT INTO patient \(pat_id, pat_name, pat_ssn, pat_ssn__bidx\)/);
    expect([...a.params].map(([n, r]) => [n, r.kind])).toEqual([[2, 'encrypt'], [3, 'encryptIndexed']]);
  });
  it('declares parameters the client left undeclared when they carry a stored form', () => {
    const a = plan('PREPARE sel AS SELECT pat_name FROM patient WHERE pat_ssn = $1');
    expect(a.statements[0]?.sql).toBe('PREPARE sel (bytea[]) AS SELECT pat_name FROM patient WHERE pat_ssn__bidx = ANY ($1)');
    expect(a.statements[0]?.outputs[0]?.prov).toBeDefined();
  });
  it('refuses a statement the proxy computes in two stages, by name', () => {
    const a = rw.analyze('PREPARE srt AS SELECT pat_id FROM patient ORDER BY pat_name');
    expect(a).toMatchObject({ kind: 'refuse', code: '0A000', message: expect.stringMatching(/^clarus: PREPARE srt of a statement the proxy computes in two stages/) });
  });
  it('passes a PREPARE over plain tables unchanged', () => {
    expect(rw.analyze('PREPARE w AS SELECT * FROM ward WHERE id = $1').kind).toBe('pass');
  });
});

describe('EXECUTE arguments', () => {
  const exec = (sql: string, prepare: string) => {
    const a = plan(prepare);
    const stmt = parseStatements(sql)[0]?.stmt ?? {};
    return rewriteExecute(stmt, 'p', a.params, (r) => rw.cipher(r));
  };
  const INS = 'PREPARE p (int, text) AS INSERT INTO patient (pat_id, pat_name) VALUES ($1, $2)';
  it('replaces a constant of a protected parameter by its ciphertext, leaves plain ones', () => {
    const r = exec("EXECUTE p(7, 'Ann'::text)", INS);
    if ('kind' in r) throw new Error(r.message);
    expect(r.sql).toMatch(/^EXECUTE p \(7, '\\x[0-9a-f]+'\)$/);
    expect(r.sql).not.toContain('Ann');
    expect(exec('EXECUTE p(7, NULL)', INS)).toMatchObject({ sql: 'EXECUTE p (7, NULL)' });
  });
  it('refuses an expression for a protected parameter, by argument and column', () => {
    expect(exec("EXECUTE p(7, upper('ann'))", INS)).toMatchObject({ kind: 'refuse', code: '0A000', message: expect.stringMatching(/argument 2 goes to encrypted column patient\.pat_name/) });
    expect(exec("EXECUTE p(7, 'annabel'::varchar(3))", INS)).toMatchObject({ kind: 'refuse', code: '0A000' });
  });
  it('returns expressions of plain parameters for the caller to check, refuses $n (PostgreSQL has none there)', () => {
    expect(exec("EXECUTE p(6 + 1, 'Ann')", INS)).toMatchObject({ expressions: [expect.objectContaining({ A_Expr: expect.anything() })] });
    expect(exec("EXECUTE p($1, 'Ann')", INS)).toMatchObject({ kind: 'refuse', code: '42P02' });
  });
  it('fails a value that does not fit its column like a Bind would', () => {
    expect(exec("EXECUTE p(7, 'x')", 'PREPARE p (int, date) AS UPDATE patient SET pat_birth = $2 WHERE pat_id = $1')).toMatchObject({ kind: 'refuse', code: '22P02' });
  });
});
