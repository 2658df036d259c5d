// Unit tests of the rewrite rules on the in-memory eHealth catalog (no I/O): the rewritten text,
// the parameter roles, the output provenance, and the refusals with their messages.
import { beforeAll, describe, expect, it } from 'vitest';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { loadParser } from './parser.ts';
import type { Analysis } from './rewriter.ts';
import type { KeyedRewriter as Rewriter } from '../protection/keyed-rewriter.ts';
import { EHEALTH_POLICY, TEST_KEY_FILES, testRewriter } from '@clarus/testing/rewriter.ts';

const CREATE = 'CREATE TABLE patient (pat_id int PRIMARY KEY, pat_name text NOT NULL, pat_ssn varchar(11), pat_zip text, pat_birth date, diagnosis text)';
let rw: Rewriter;

function plan(sql: string): Extract<Analysis, { kind: 'plan' }> {
  const a = rw.analyze(sql);
  if (a.kind !== 'plan') throw new Error(`expected a plan for ${sql}, got ${JSON.stringify(a)}`);
  return a;
}
function sqlOf(sql: string): string {
  return plan(sql).statements.map((s) => s.sql).join(';');
}
function refusal(sql: string): { code: string; message: string } {
  const a = rw.analyze(sql);
  if (a.kind !== 'refuse') throw new Error(`expected a refusal for ${sql}, got ${a.kind}`);
  return a;
}
const hex = (b: Buffer) => `'\\x${b.toString('hex')}'::bytea`;
const ref = (column: string) => {
  const t = rw.catalog.lookup('public', 'patient');
  const c = t?.byName.get(column);
  if (!t || !c || c.protection.kind !== 'encrypt') throw new Error(column);
  return rw.cipher({ table: t, column: c as typeof c & { protection: { kind: 'encrypt' } } });
};

beforeAll(async () => {
  await loadParser();
  rw = testRewriter();
  plan(CREATE);
});

describe('pass-through and cache', () => {
  it('passes statements that touch no protected table after parsing and screening them', () => {
    expect(rw.analyze('SELECT 1').kind).toBe('pass');
    expect(rw.analyze('SELECT * FROM ward')).toMatchObject({ kind: 'pass', write: false });
    expect(rw.analyze("INSERT INTO ward VALUES (3, 'east')")).toMatchObject({ kind: 'pass', write: true });
  });
  it('refuses text it cannot parse instead of forwarding it (42601)', () => {
    expect(refusal('not even sql').code).toBe('42601');
    expect(refusal('SELECT FROM patient WHERE')).toMatchObject({ code: '42601', message: expect.stringMatching(/syntax error/) });
  });
  it('counts cache hits and analyses', () => {
    const r = testRewriter();
    r.analyze('SELECT 1');
    r.analyze('SELECT pat_id FROM patient');
    r.analyze('SELECT pat_id FROM patient');
    expect(r.stats).toEqual({ cheapPasses: 0, cacheHits: 1, shapeHits: 0, analyses: 2 });
  });
  it('caches the plan by text, randomized constants included; each call fills its placeholders afresh', () => {
    const r = testRewriter();
    const det = "SELECT pat_id FROM patient WHERE diagnosis = 'flu'";
    expect(r.plan(det)).toBe(r.plan(det));
    expect(r.analyze(det)).toEqual(r.analyze(det));
    const ins = "INSERT INTO patient (pat_id, pat_name) VALUES (1, 'A')";
    const cached = r.plan(ins);
    expect(r.plan(ins)).toBe(cached);
    const [a, b] = [r.analyze(ins), r.analyze(ins)];
    expect(r.stats).toMatchObject({ analyses: 2 });
    const sql = (x: Analysis) => (x.kind === 'plan' ? x.statements[0]?.sql : '');
    expect(sql(a)).not.toBe(sql(b));
    expect(ref('pat_name').decrypt(Buffer.from(/'\\x([0-9a-f]+)'::bytea/.exec(sql(a) ?? '')?.[1] ?? '', 'hex'))).toBe('A');
  });
  it('keeps unchanged statements of a multi-statement text verbatim', () => {
    const p = plan("SET x.y = '1'; SELECT pat_id FROM patient WHERE diagnosis = 'flu'");
    expect(p.statements[0]?.sql).toBe("SET x.y = '1'");
    expect(p.statements[0]?.changed).toBe(false);
    expect(p.statements[1]?.changed).toBe(true);
  });
});

describe('predicates', () => {
  it('deterministic equality compares ciphertext', () => {
    expect(sqlOf("SELECT pat_id FROM patient WHERE diagnosis = 'flu'")).toBe(`SELECT pat_id FROM patient WHERE diagnosis = ${hex(ref('diagnosis').encrypt('flu'))}`);
  });
  it('searchable equality uses the hidden blind index', () => {
    expect(sqlOf("SELECT pat_id FROM patient p WHERE p.pat_ssn = '1'")).toBe(`SELECT pat_id FROM patient AS p WHERE p.pat_ssn__bidx = ${hex(ref('pat_ssn').blindIndex('1'))}`);
  });
  it('parameters become ANY over bytea[] with a role per parameter', () => {
    const p = plan('SELECT pat_id FROM patient WHERE pat_ssn = $1 AND diagnosis <> $2 AND pat_id = $3');
    expect(p.statements[0]?.sql).toBe('SELECT pat_id FROM patient WHERE pat_ssn__bidx = ANY ($1) AND diagnosis <> ALL ($2) AND pat_id = $3');
    expect([...p.params].map(([n, r]) => `${n}:${r.kind}`)).toEqual(['1:blindIndexAny', '2:equalityAny']);
  });
  it('IN lists mix literal forms and parameters', () => {
    expect(sqlOf("SELECT 1 FROM patient WHERE diagnosis IN ('a', $1)")).toBe(`SELECT 1 FROM patient WHERE diagnosis = ${hex(ref('diagnosis').encrypt('a'))} OR diagnosis = ANY ($1)`);
  });
  it('IS NULL and plain columns are untouched', () => {
    expect(plan('SELECT pat_id FROM patient WHERE pat_name IS NULL AND pat_zip = $1').statements[0]?.changed).toBe(false);
  });
  it('refusals name the column and the construct', () => {
    expect(refusal("SELECT 1 FROM patient WHERE pat_name = 'x'")).toMatchObject({ code: '0A000', message: expect.stringMatching(/equality comparison .*patient\.pat_name \(randomized\)/) });
    expect(refusal("SELECT 1 FROM patient WHERE diagnosis > 'x'").message).toMatch(/range comparison \(>\) on encrypted column patient\.diagnosis/);
    expect(refusal('SELECT upper(pat_ssn) FROM patient').message).toMatch(/function upper\(\) on encrypted column patient\.pat_ssn \(randomized searchable\)/);
    expect(refusal('SELECT 1 FROM patient WHERE pat_ssn = $1 OR diagnosis = $1').message).toMatch(/parameter \$1/);
  });
});

describe('select lists', () => {
  it('expands * without hidden columns and reports ciphertext positions', () => {
    const p = plan('SELECT * FROM patient');
    expect(p.statements[0]?.sql).toBe('SELECT patient.pat_id, patient.pat_name, patient.pat_ssn, patient.pat_zip, patient.pat_birth, patient.diagnosis FROM patient');
    expect(p.statements[0]?.outputs.map((o) => o.prov?.column.name ?? '-')).toEqual(['-', 'pat_name', 'pat_ssn', '-', '-', 'diagnosis']);
  });
  it('follows aliases, subqueries and CTEs to the column', () => {
    const p = plan('WITH c AS (SELECT pat_name AS n FROM patient) SELECT x.n, (SELECT diagnosis FROM patient LIMIT 1) AS d FROM c x');
    expect(p.statements[0]?.outputs.map((o) => o.prov?.column.name)).toEqual(['pat_name', 'diagnosis']);
  });
  it('keeps * of unknown relations and marks them', () => {
    expect(plan('SELECT w.*, p.pat_name FROM ward w, patient p').statements[0]?.outputs.map((o) => o.star ?? false)).toEqual([true, false]);
  });
  it('GROUP BY/DISTINCT are allowed on deterministic values only', () => {
    expect(rw.analyze('SELECT DISTINCT diagnosis FROM patient').kind).toBe('plan');
    expect(refusal('SELECT DISTINCT pat_ssn FROM patient').message).toMatch(/DISTINCT/);
    expect(refusal('SELECT pat_name FROM patient GROUP BY pat_name').message).toMatch(/GROUP BY/);
  });
});

describe('writes', () => {
  it('INSERT adds the blind index and splits a searchable parameter', () => {
    const p = plan('INSERT INTO patient (pat_id, pat_name, pat_ssn, diagnosis) VALUES ($1, $2, $3, $4)');
    expect(p.statements[0]?.sql).toBe('INSERT INTO patient (pat_id, pat_name, pat_ssn, diagnosis, pat_ssn__bidx) VALUES ($1, $2, substr($3, 17), $4, substr($3, 1, 16))');
    expect([...p.params].map(([n, r]) => `${n}:${r.kind}`)).toEqual(['2:encrypt', '3:encryptIndexed', '4:encrypt']);
    expect(p.write).toBe(true);
  });
  it('anonymizes literals of generalized columns at write time', () => {
    expect(sqlOf("INSERT INTO patient (pat_id, pat_zip, pat_birth) VALUES (1, '08001', '1980-05-17')")).toBe("INSERT INTO patient (pat_id, pat_zip, pat_birth) VALUES (1, '080**', '1980-01-01')");
  });
  it('NULL and DEFAULT stay as they are, for the blind index too', () => {
    expect(sqlOf('INSERT INTO patient (pat_id, pat_ssn) VALUES (1, NULL), (2, DEFAULT)')).toBe('INSERT INTO patient (pat_id, pat_ssn, pat_ssn__bidx) VALUES (1, NULL, NULL), (2, DEFAULT, DEFAULT)');
  });
  it('UPDATE sets the blind index with the value', () => {
    expect(sqlOf("UPDATE patient SET pat_ssn = '9' WHERE pat_id = 1")).toMatch(/^UPDATE patient SET pat_ssn = '\\x[0-9a-f]+'::bytea, pat_ssn__bidx = '\\x[0-9a-f]{32}'::bytea WHERE pat_id = 1$/);
  });
  it('refuses expressions and INSERT … SELECT into protected columns', () => {
    expect(refusal("UPDATE patient SET pat_name = lower('X')").message).toMatch(/expression as the written value/);
    expect(refusal('INSERT INTO patient (pat_id, pat_name) SELECT 1, notes FROM visit').message).toMatch(/INSERT … SELECT .*visit\.notes cannot be moved/);
    expect(refusal('INSERT INTO patient (pat_id, pat_name) SELECT visit_id, pat_id FROM visit').message).toMatch(/plain source column/);
  });
  it('refuses INSERT … SELECT of an encrypted column into an unprotected column of a protected table (its ciphertext would pass for the value)', () => {
    expect(refusal('INSERT INTO visit (visit_id, pat_id) SELECT 1, diagnosis FROM patient').message).toMatch(/encrypted column patient\.diagnosis into unprotected column visit\.pat_id/);
    expect(refusal('INSERT INTO visit (pat_id) SELECT x FROM (SELECT reason AS x FROM visit) s').message).toMatch(/encrypted column visit\.reason into unprotected column visit\.pat_id/);
    expect(refusal('INSERT INTO visit (pat_id) SELECT DISTINCT v.notes FROM visit v JOIN visit w USING (visit_id)').message).toMatch(/encrypted column visit\.notes/);
    expect(refusal('INSERT INTO visit (visit_id, pat_id, reason) SELECT visit_id + 1, notes, reason FROM visit').message).toMatch(/encrypted column visit\.notes into unprotected column visit\.pat_id/);
    expect(sqlOf('INSERT INTO visit (visit_id, pat_id) SELECT visit_id + 100, pat_id FROM visit')).toBe('INSERT INTO visit (visit_id, pat_id) SELECT visit_id + 100, pat_id FROM visit');
  });
  it('INSERT … SELECT copies ciphertext of the same column with its blind index, encrypts constants', () => {
    expect(sqlOf('INSERT INTO patient (pat_id, pat_ssn, diagnosis) SELECT pat_id + 1, p.pat_ssn, NULL FROM patient p')).toBe(
      'INSERT INTO patient (pat_id, pat_ssn, diagnosis, pat_ssn__bidx) SELECT pat_id + 1, p.pat_ssn, NULL, p.pat_ssn__bidx FROM patient AS p');
    expect(sqlOf("INSERT INTO patient (pat_id, diagnosis) SELECT 5, 'flu'")).toBe(`INSERT INTO patient (pat_id, diagnosis) SELECT 5, ${hex(ref('diagnosis').encrypt('flu'))}`);
  });
});

describe('DDL and COPY', () => {
  it('CREATE TABLE stores encrypted columns as bytea and learns nothing from its text', () => {
    const fresh = testRewriter();
    const p = fresh.analyze(CREATE);
    expect(p.kind === 'plan' && p.statements[0]?.sql).toBe('CREATE TABLE patient (pat_id int PRIMARY KEY, '
      + 'pat_name bytea NOT NULL CONSTRAINT "clarus:25:pat_name" CHECK (octet_length(pat_name) >= 8), '
      + 'pat_ssn bytea CONSTRAINT "clarus:1043.15:pat_ssn" CHECK (octet_length(pat_ssn) >= 8), pat_zip text, pat_birth date, '
      + 'diagnosis bytea CONSTRAINT "clarus:25:diagnosis" CHECK (octet_length(diagnosis) >= 8), pat_ssn__bidx bytea)');
    // Only the backend's committed catalog (Rewriter.learn) sets columns and declared types.
    expect(fresh.catalog.lookup(undefined, 'patient')?.byName.get('pat_birth')?.typeOid).toBe(25);
    const t = fresh.catalog.lookup(undefined, 'patient');
    fresh.learn(t ? [t] : [], new Map([['public.patient', [{ name: 'pat_id', typeOid: 23 }, { name: 'pat_birth', typeOid: 1082 }, { name: 'pat_ssn', typeOid: 1043 }]]]));
    expect(t?.columns.map((c) => `${c.name}:${c.typeOid}:${c.protection.kind}`)).toEqual(['pat_id:23:plain', 'pat_birth:1082:anonymize', 'pat_ssn:1043:encrypt']);
    expect(t?.byName.get('pat_name')?.protection.kind).toBe('encrypt');
    fresh.learn(t ? [t] : [], new Map());
    expect(t?.byName.get('pat_birth')?.typeOid).toBe(25);
  });
  it('refuses INSERT and COPY FROM without a column list (never rests on the column order)', () => {
    expect(refusal("INSERT INTO patient VALUES (1, 'x')").message).toMatch(/without a column list/);
    expect(refusal('INSERT INTO patient SELECT * FROM patient').message).toMatch(/without a column list/);
    expect(refusal('COPY patient FROM STDIN').message).toMatch(/without a column list/);
    expect(sqlOf('INSERT INTO patient DEFAULT VALUES')).toBe('INSERT INTO patient DEFAULT VALUES');
  });
  it('refuses constraints that need plaintext', () => {
    expect(refusal('CREATE TABLE patient (pat_id int, pat_name text UNIQUE)').message).toMatch(/UNIQUE/);
    expect(refusal("CREATE TABLE patient (pat_id int, diagnosis text CHECK (diagnosis <> ''))").message).toMatch(/CHECK/);
  });
  it('COPY lists columns, adds blind indexes on the way in, refuses csv/binary', () => {
    expect(sqlOf('COPY patient (pat_id, pat_ssn) FROM STDIN')).toBe('COPY patient (pat_id, pat_ssn, pat_ssn__bidx) FROM STDIN');
    expect(plan('COPY patient TO STDOUT').statements[0]?.copy?.direction).toBe('out');
    expect(plan('COPY patient (pat_id) FROM STDIN (FORMAT csv, HEADER)').statements[0]?.copy).toMatchObject({ format: { kind: 'csv', delimiter: ',', header: true } });
    expect(plan("COPY patient TO STDOUT WITH DELIMITER '|'").statements[0]?.copy).toMatchObject({ format: { kind: 'text', delimiter: '|' } });
    expect(refusal('COPY patient (pat_id) FROM STDIN (FORMAT binary)').message).toMatch(/binary/);
    expect(refusal("COPY patient (pat_id) FROM STDIN (FORMAT csv, NULL 'NA')").message).toMatch(/NULL/);
    expect(refusal('COPY patient TO STDOUT (FORMAT csv, FORCE_QUOTE *)').message).toMatch(/force_quote/);
  });
});

describe('name resolution', () => {
  it('treats an unqualified name as the policy table in any schema, and refuses its name in another schema', () => {
    const policy: RuntimePolicy = { ...EHEALTH_POLICY, datasets: EHEALTH_POLICY.datasets.map((d) => ({ ...d, schema: 'hospital' })) };
    const r2 = testRewriter(policy);
    const a = r2.analyze("INSERT INTO patient (pat_id, pat_name) VALUES (1, 'Plain Text')");
    expect(a.kind === 'plan' && a.statements[0]?.sql).not.toContain('Plain Text');
    expect(r2.analyze("INSERT INTO other.patient (pat_id, pat_name) VALUES (1, 'x')")).toMatchObject({ kind: 'refuse', code: '0A000', message: expect.stringMatching(/other\.patient has the name of a protected table/) });
  });
});

describe('key rotation', () => {
  it('equality matches every live key version', () => {
    const policy: RuntimePolicy = { ...EHEALTH_POLICY, keyring: { dir: 'k', keys: [{ name: 'default', versions: [1, 2], current: 2 }] } };
    const r2 = testRewriter(policy, new Map([...TEST_KEY_FILES, ['default.v2', Buffer.alloc(32, 7).toString('base64')]]));
    const a = r2.analyze("SELECT 1 FROM patient WHERE diagnosis = 'flu'");
    expect(a.kind === 'plan' && a.statements[0]?.sql).toMatch(/^SELECT 1 FROM patient WHERE diagnosis IN \('\\x0102[0-9a-f]+0002[0-9a-f]+'::bytea, '\\x0102[0-9a-f]+0001[0-9a-f]+'::bytea\)$/);
  });
});
