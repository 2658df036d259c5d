import { beforeAll, describe, expect, it } from 'vitest';
import type { SessionInfo } from '../session/pipeline.ts';
import { loadParser } from '../rewrite/parser.ts';
import { testRewriter } from '@clarus/testing/rewriter.ts';
import type { KeyedRewriter as Rewriter } from '../protection/keyed-rewriter.ts';
import { byteaText } from '../protection/copy-text.ts';
import type { AuditEntry } from './audit.ts';
import { catalogQuery, declaredFromRows } from './catalog-loader.ts';
import { protectionPipelineFactory } from './pipeline.ts';
import { CatalogRefresher, MAX_AGE_MS } from './refresh.ts';
import { refusalCounts } from '../metrics/refusals.ts';

let rw: Rewriter;
const audit: AuditEntry[] = [];
const info = (user: string, view: 'plaintext' | 'masked' | 'protected', access: 'read' | 'readWrite' = 'readWrite'): SessionInfo =>
  ({ user, database: 'db', applicationName: 'test', backend: 'b', grants: [{ grant: 'g', datasets: ['patients'], access, view }] });
function now<T>(d: T | Promise<T>): T {
  if (d instanceof Promise) throw new Error('expected a synchronous decision (no catalog loader here)');
  return d;
}
const pipeline = (i: SessionInfo) => {
  const p = protectionPipelineFactory({ rewriter: rw, now: () => new Date('2026-01-01T00:00:00Z'), audit: (e) => audit.push(e) })(i, {} as never);
  return { query: (sql: string) => now(p.query(sql)), parse: (sql: string, types: number[], name: string) => now(p.parse(sql, types, name)) };
};

beforeAll(async () => {
  await loadParser();
  rw = testRewriter();
  rw.analyze('CREATE TABLE patient (pat_id int, pat_name text, pat_ssn text, pat_zip text, pat_birth date, diagnosis text)');
});

describe('protection pipeline decisions', () => {
  it('passes statements on unprotected tables, audited with outcome pass and no values', () => {
    const before = audit.length;
    expect(pipeline(info('u', 'plaintext')).query("SELECT * FROM ward WHERE note = 'secret-note'")).toEqual({ kind: 'pass' });
    expect(audit.length).toBe(before + 1);
    expect(audit[audit.length - 1]).toMatchObject({ user: 'u', datasets: [], columns: [], outcome: 'pass' });
    expect(JSON.stringify(audit[audit.length - 1])).not.toContain('secret-note');
  });
  it('rewrites with result transformers and audits the decision without values', () => {
    const d = pipeline(info('doc', 'plaintext')).query("SELECT pat_name FROM patient WHERE pat_ssn = '123-45-6789'");
    expect(d.kind).toBe('rewrite');
    expect(d.kind === 'rewrite' && d.results?.[0]).toBeDefined();
    const last = audit[audit.length - 1];
    expect(last).toMatchObject({ user: 'doc', datasets: ['patients'], outcome: 'allow' });
    expect(last?.columns).toEqual(expect.arrayContaining(['patients.pat_name', 'patients.pat_ssn']));
    expect(JSON.stringify(last)).not.toContain('6789');
  });
  it('refuses with 42501 for a missing grant or a write on a read grant, and audits it', () => {
    const none: SessionInfo = { ...info('x', 'plaintext'), grants: [] };
    expect(pipeline(none).query('SELECT pat_id FROM patient')).toMatchObject({ kind: 'refuse', code: '42501' });
    expect(pipeline(info('r', 'plaintext', 'read')).query("DELETE FROM patient WHERE pat_id = 1")).toMatchObject({ kind: 'refuse', code: '42501' });
    expect(audit[audit.length - 1]).toMatchObject({ outcome: 'refuse', code: '42501' });
  });
  it('refuses a * of an unknown relation before an encrypted output', () => {
    const before = audit.length;
    expect(pipeline(info('doc', 'plaintext')).query('SELECT w.*, p.pat_name FROM ward w, patient p')).toMatchObject({ kind: 'refuse', code: '0A000' });
    // Refused after the access decision: one audit line, the refusal (not an allow).
    expect(audit.slice(before)).toEqual([expect.objectContaining({ outcome: 'refuse', code: '0A000', datasets: ['patients'] })]);
    expect(pipeline(info('doc', 'plaintext')).query('SELECT p.pat_name, w.* FROM ward w, patient p').kind).toBe('rewrite');
  });
  it('audits a FETCH from an undeclared cursor as the refusal it is, in both protocols', () => {
    const before = audit.length;
    const p = pipeline(info('doc', 'plaintext'));
    expect(p.query('FETCH 1 FROM nowhere')).toMatchObject({ kind: 'refuse', code: '0A000' });
    expect(p.parse('FETCH 1 FROM nowhere', [], '')).toMatchObject({ kind: 'refuse', code: '0A000' });
    expect(audit.slice(before).map((e) => [e.outcome, e.code])).toEqual([['refuse', '0A000'], ['refuse', '0A000']]);
  });
  it('prepared statements get backend and client parameter types', () => {
    const d = pipeline(info('doc', 'plaintext')).parse('SELECT pat_id FROM patient WHERE diagnosis = $1 AND pat_id > $2', [], '');
    expect(d).toMatchObject({ kind: 'rewrite', paramTypes: [1001, 0], clientParamTypes: [25, 0] });
  });
  it('COPY TO under the masked view masks ciphertext fields', () => {
    const d = pipeline(info('ana', 'masked')).query('COPY patient (pat_id, pat_ssn) TO STDOUT');
    if (d.kind !== 'rewrite') throw new Error(d.kind);
    const out = d.copy?.[0]?.out;
    const t = rw.catalog.lookup('public', 'patient');
    const col = t?.byName.get('pat_ssn');
    if (!out || !t || !col || col.protection.kind !== 'encrypt') throw new Error('setup');
    const stored = rw.cipher({ table: t, column: col as typeof col & { protection: { kind: 'encrypt' } } }).encrypt('123-45-6789');
    const line = `7\t${byteaText(stored).replace(/\\/g, '\\\\')}\n`;
    expect(Buffer.concat(out.data(Buffer.from(line))).toString()).toBe('7\t****6789\n');
  });
});

describe('prepared statements: checks at Bind/Execute, shapes, grants from the configuration', () => {
  let clock = new Date('2026-01-01T00:00:00Z');
  const at = (i: SessionInfo, config: unknown = {}) => protectionPipelineFactory({ rewriter: rw, now: () => clock, audit: (e) => audit.push(e) })(i, config as never);
  const decided = <T>(d: T | Promise<T>): T => now(d);

  it('refuses with 42501 once the grant has expired, and audits the refusal', () => {
    clock = new Date('2026-01-01T00:00:00Z');
    const i: SessionInfo = { ...info('temp', 'plaintext'), grants: [{ grant: 'g', datasets: ['patients'], access: 'readWrite', view: 'plaintext', expires: '2026-01-01T00:00:05Z' }] };
    const d = decided(at(i).parse('SELECT pat_name FROM patient WHERE pat_id = $1', [23], 's'));
    if (d.kind !== 'rewrite') throw new Error(d.kind);
    expect(d.check?.()).toBeUndefined();
    clock = new Date('2026-01-01T00:00:06Z');
    expect(d.check?.()).toMatchObject({ kind: 'refuse', code: '42501' });
    expect(audit[audit.length - 1]).toMatchObject({ user: 'temp', outcome: 'refuse', code: '42501' });
  });
  it('a statement that passes unchanged but touches a dataset is checked too', () => {
    clock = new Date('2026-01-01T00:00:00Z');
    const i: SessionInfo = { ...info('temp', 'plaintext'), grants: [{ grant: 'g', datasets: ['patients'], access: 'read', view: 'plaintext', expires: '2026-01-01T00:00:05Z' }] };
    const d = decided(at(i).parse('SELECT pat_id FROM patient', [], ''));
    expect(d).toMatchObject({ kind: 'pass' });
    clock = new Date('2026-01-01T00:00:06Z');
    expect(d.kind === 'pass' && d.check?.()).toMatchObject({ code: '42501' });
  });
  it('a view that changes while prepared (one of two grants expired) asks to prepare again (26000)', () => {
    clock = new Date('2026-01-01T00:00:00Z');
    const i: SessionInfo = { ...info('two', 'masked'), grants: [
      { grant: 'a', datasets: ['patients'], access: 'read', view: 'plaintext', expires: '2026-01-01T00:00:05Z' },
      { grant: 'b', datasets: ['patients'], access: 'read', view: 'masked' }] };
    const d = decided(at(i).parse('SELECT pat_name FROM patient', [], ''));
    clock = new Date('2026-01-01T00:00:06Z');
    expect(d.kind === 'rewrite' && d.check?.()).toMatchObject({ code: '26000' });
  });
  it('takes the grants of the configuration it is made for (a reload), none for a removed user', () => {
    clock = new Date('2026-01-01T00:00:00Z');
    const i = info('doc', 'plaintext', 'readWrite');
    const downgraded = { users: [{ name: 'doc', kind: 'user', verifierFile: 'x', grants: [{ grant: 'g', datasets: ['patients'], access: 'read', view: 'plaintext' }] }] };
    expect(decided(at(i, downgraded).query("DELETE FROM patient WHERE pat_id = 1"))).toMatchObject({ kind: 'refuse', code: '42501' });
    expect(decided(at(i, { users: [] }).query('SELECT pat_id FROM patient'))).toMatchObject({ kind: 'refuse', code: '42501' });
    expect(decided(at(i).query('SELECT pat_id FROM patient')).kind).not.toBe('refuse');
  });
  it('the shape tells result types apart: views of a text column look alike, a masked varchar column is text', () => {
    const own = testRewriter();
    const t = own.catalog.lookup(undefined, 'patient');
    own.learn(t ? [t] : [], new Map([['public.patient', [['pat_id', 23], ['pat_name', 25], ['pat_ssn', 1043], ['pat_zip', 25], ['pat_birth', 1082], ['diagnosis', 25]].map(([name, typeOid]) => ({ name: name as string, typeOid: typeOid as number }))]]));
    const shape = (view: 'plaintext' | 'masked' | 'protected', sql: string) => {
      const d = decided(protectionPipelineFactory({ rewriter: own, now: () => clock })(info('doc', view), {} as never).parse(sql, [], ''));
      return d.kind === 'rewrite' ? d.shape : d.kind;
    };
    expect(shape('plaintext', 'SELECT pat_name FROM patient')).toBe(shape('masked', 'SELECT pat_name FROM patient'));
    expect(shape('masked', 'SELECT pat_ssn FROM patient')).toBe(shape('protected', 'SELECT pat_ssn FROM patient'));
    expect(shape('plaintext', 'SELECT pat_ssn FROM patient')).not.toBe(shape('masked', 'SELECT pat_ssn FROM patient'));
  });
  it('refuses COPY with an ENCODING other than UTF8 on a protected table', () => {
    expect(decided(at(info('doc', 'plaintext')).query("COPY patient (pat_id, pat_name) FROM STDIN (ENCODING 'LATIN1')"))).toMatchObject({ kind: 'refuse', code: '0A000' });
    expect(decided(at(info('doc', 'plaintext')).query("COPY patient (pat_id, pat_name) TO STDOUT (ENCODING 'win1252')"))).toMatchObject({ kind: 'refuse', code: '0A000' });
    expect(decided(at(info('doc', 'plaintext')).query("COPY patient (pat_id, pat_name) FROM STDIN (ENCODING 'utf-8')")).kind).toBe('rewrite');
  });
});

describe('FunctionCall and multi-statement Parse', () => {
  it('allows the large-object functions libpq calls, refuses any other function, audits both', () => {
    const p = protectionPipelineFactory({ rewriter: rw, now: () => new Date(0), audit: (e) => audit.push(e) })(info('doc', 'plaintext'), {} as never);
    expect(p.functionCall?.(955)).toEqual({ kind: 'pass' });
    expect(audit[audit.length - 1]).toMatchObject({ outcome: 'pass', fingerprint: 'functioncall:955' });
    expect(p.functionCall?.(2923)).toMatchObject({ kind: 'refuse', code: '0A000' });
    expect(audit[audit.length - 1]).toMatchObject({ outcome: 'refuse', code: '0A000', fingerprint: 'functioncall:2923' });
  });
  it('counts each refusal under its reason: the refusal list\'s entry, accessDenied, functionCall', () => {
    const t = Date.parse('2026-01-01T00:00:00Z');
    const count = (code: string, reason: string): number => refusalCounts(t).find((r) => r.code === code && r.reason === reason)?.total ?? 0;
    const before = [count('0A000', 'function'), count('42501', 'accessDenied'), count('0A000', 'functionCall'), count('42601', 'syntax')];
    const p = pipeline(info('doc', 'plaintext'));
    expect(p.query('SELECT pg_read_file(pat_name) FROM patient')).toMatchObject({ kind: 'refuse', code: '0A000' });
    expect(p.query('SELEC pat_name FROM patient')).toMatchObject({ kind: 'refuse', code: '42601' });
    expect(pipeline({ ...info('x', 'plaintext'), grants: [] }).query('SELECT pat_id FROM patient')).toMatchObject({ code: '42501' });
    protectionPipelineFactory({ rewriter: rw, now: () => new Date(t) })(info('doc', 'plaintext'), {} as never).functionCall?.(2923);
    expect([count('0A000', 'function'), count('42501', 'accessDenied'), count('0A000', 'functionCall'), count('42601', 'syntax')]).toEqual(before.map((n) => n + 1));
  });
  it('refuses a Parse of two statements that touch protected data (PostgreSQL would refuse it too)', () => {
    expect(pipeline(info('doc', 'plaintext')).parse("INSERT INTO patient (pat_id, pat_name) VALUES (1, 'x'); SELECT 1", [], '')).toMatchObject({ kind: 'refuse', code: '42601' });
  });
});

describe('catalog loading', () => {
  it('builds a catalog query for the policy tables and reads declared types from rows', () => {
    expect(catalogQuery(rw.catalog.all())).toContain("('public', 'patient')");
    const m = declaredFromRows([
      ['public', 'patient', 'pat_id', '23', ''], ['public', 'patient', 'pat_name', '17', '25'],
      ['public', 'patient', 'pat_ssn__bidx', '17', ''], ['public', 'patient', 'pat_birth', '17', '1082'],
    ]);
    expect(m.get('public.patient')).toEqual([{ name: 'pat_id', typeOid: 23 }, { name: 'pat_name', typeOid: 25 }, { name: 'pat_birth', typeOid: 1082 }]);
    const d = declaredFromRows([['public', 'patient', 'pat_id', '23', '', 'true', 'false'], ['public', 'patient', 'pat_zip', '9999', '', 'false', 'true']]);
    expect(d.get('public.patient')).toEqual([{ name: 'pat_id', typeOid: 23, defaulted: true }, { name: 'pat_zip', typeOid: 9999, domain: true }]);
  });
  it('a protected column with a default or a domain type in the backend makes its table unusable', () => {
    const fresh = testRewriter();
    const t = fresh.catalog.lookup('public', 'patient');
    fresh.learn(t ? [t] : [], new Map([['public.patient', [{ name: 'pat_id', typeOid: 23, defaulted: true }, { name: 'pat_zip', typeOid: 25, defaulted: true }]]]));
    expect(fresh.analyze('SELECT pat_id FROM patient')).toMatchObject({ kind: 'refuse', code: '0A000', message: expect.stringMatching(/pat_zip has a DEFAULT/) });
    fresh.learn(t ? [t] : [], new Map([['public.patient', [{ name: 'pat_id', typeOid: 23, defaulted: true }, { name: 'pat_zip', typeOid: 25 }]]]));
    expect(fresh.analyze('SELECT pat_id FROM patient').kind).not.toBe('refuse');
  });
  it('a protected column keeps a DEFAULT the proxy set (a ciphertext of its mode and key, an anonymized constant), no other', () => {
    const fresh = testRewriter();
    const t = fresh.catalog.lookup('public', 'patient');
    const literal = (sql: string): string => {
      const a = fresh.analyze(sql);
      const m = a.kind === 'plan' ? /SET DEFAULT ('[^']*'(?:::[a-z]+)?)/.exec(a.statements[0]?.sql ?? '') : null;
      if (!m?.[1]) throw new Error(`no default in ${JSON.stringify(a)}`);
      return m[1];
    };
    const name = literal("ALTER TABLE patient ALTER COLUMN pat_name SET DEFAULT 'Ann'");
    const diag = literal("ALTER TABLE patient ALTER COLUMN diagnosis SET DEFAULT 'flu'");
    const zip = literal("ALTER TABLE patient ALTER COLUMN pat_zip SET DEFAULT '75011'");
    const usable = (defaults: Record<string, string>): boolean => {
      fresh.learn(t ? [t] : [], new Map([['public.patient', ['pat_id', 'pat_name', 'diagnosis', 'pat_zip'].map((n) => ({ name: n, typeOid: 25, ...(defaults[n] ? { defaulted: true, defaultExpr: defaults[n] } : {}) }))]]));
      return fresh.analyze('SELECT pat_id FROM patient').kind !== 'refuse';
    };
    expect(usable({ pat_name: name, diagnosis: diag, pat_zip: zip.includes('::') ? zip : `${zip}::text` })).toBe(true);
    expect(usable({ pat_name: diag })).toBe(false); // a deterministic ciphertext in a randomized column
    expect(usable({ pat_name: `'\\x${Buffer.from('Ann').toString('hex')}'::bytea` })).toBe(false);
    expect(usable({ pat_name: "'Ann'::text" })).toBe(false);
    expect(usable({ pat_zip: "'75011'::text" })).toBe(false);
    expect(usable({ pat_name: 'now()' })).toBe(false);
  });
  it('loads once for unknown tables and not for statements that name none', async () => {
    const fresh = testRewriter();
    let loads = 0;
    const r = new CatalogRefresher(fresh, async () => { loads++; return new Map([['public.patient', [{ name: 'pat_id', typeOid: 23 }, { name: 'diagnosis', typeOid: 23 }]]]); }, () => new Date(0));
    expect(r.before('SELECT 1')).toBeNull();
    await r.before('SELECT diagnosis FROM patient');
    expect(loads).toBe(1);
    expect(fresh.catalog.lookup('public', 'patient')?.byName.get('diagnosis')?.typeOid).toBe(23);
    expect(r.before('SELECT diagnosis FROM patient')).toBeNull();
  });
  it('loads again after a session ends a transaction with DDL, and when the last load is old', async () => {
    const fresh = testRewriter();
    let loads = 0;
    let clock = 0;
    const r = new CatalogRefresher(fresh, async () => { loads++; return new Map([['public.patient', [{ name: 'pat_id', typeOid: 23 }]]]); }, () => new Date(clock));
    const deps = { rewriter: fresh, now: () => new Date(clock), refresher: r };
    const p = protectionPipelineFactory(deps)(info('doc', 'plaintext'), {} as never);
    await p.query('SELECT pat_id FROM patient');
    expect(loads).toBe(1);
    await p.query('ALTER TABLE patient ADD COLUMN extra text');
    p.ready?.('T');
    expect(r.before('SELECT pat_id FROM patient')).toBeNull();
    p.ready?.('I');
    await r.before('SELECT pat_id FROM patient');
    expect(loads).toBe(2);
    p.ready?.('I');
    expect(r.before('SELECT pat_id FROM patient')).toBeNull();
    clock += MAX_AGE_MS;
    await r.before('SELECT pat_id FROM patient');
    expect(loads).toBe(3);
  });
});
