import { describe, expect, it } from 'vitest';
import { copyTagRows } from './copy.ts';
import { encCell, encMarkdown, encTargetOrder } from './enc-report.ts';
import {
  copyText, createTableSql, DATA_COLUMNS, datasets, encryptedColumns, notBytea, plaintextLeaks, rowValues, VARIANTS,
} from './encrypted.ts';
import { runPlan } from './plan.ts';
import { checkGoals, markdown, summarize, type BenchReport, type RunRecord } from './report.ts';
import { pickScenarios, scenarioTargets, SCENARIOS } from './scenarios.ts';

const [enc2, enc5] = VARIANTS;
if (!enc2 || !enc5) throw new Error('expected two variants');

describe('encrypted-column tables and policies', () => {
  it('creates the select table with a primary key and the others without', () => {
    expect(createTableSql('bench_patient')).toBe('CREATE TABLE IF NOT EXISTS bench_patient (id bigint PRIMARY KEY, name text, email text, ssn text, city text, diagnosis text, notes text)');
    expect(createTableSql('bench_patient_copy')).toContain('(id bigint NOT NULL, name text');
  });
  it('encrypts 2 and 5 columns, mixing every mode, and leaves id and city plain', () => {
    expect(encryptedColumns(enc2)).toEqual(['name', 'ssn']);
    expect(encryptedColumns(enc5)).toEqual(['name', 'email', 'ssn', 'diagnosis', 'notes']);
    const ds = datasets(enc5, 'primary');
    expect(ds.map((d) => d.table)).toEqual(['bench_patient', 'bench_patient_insert', 'bench_patient_copy']);
    const cols = ds[0]?.columns ?? [];
    expect(cols.find((c) => c.name === 'email')?.encrypt).toEqual({ mode: 'randomized', searchable: true, keyName: 'default' });
    expect(cols.find((c) => c.name === 'ssn')?.encrypt).toEqual({ mode: 'deterministic', searchable: false, keyName: 'default' });
    expect(cols.find((c) => c.name === 'notes')?.encrypt?.mode).toBe('randomized');
    expect(cols.filter((c) => !c.encrypt).map((c) => c.name)).toEqual(['id', 'city']);
    expect(cols.every((c) => c.backend === 'primary')).toBe(true);
    expect(new Set(VARIANTS.map((v) => v.database)).size).toBe(VARIANTS.length);
  });
});

describe('COPY data', () => {
  it('writes one tab-separated line per row with distinct values per row and column', () => {
    const lines = copyText(9, 12).split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[4]).toBe('');
    expect(lines[0]?.split('\t')).toEqual(['9', ...DATA_COLUMNS.map((c) => rowValues(9)[c])]);
    const a = rowValues(1);
    const b = rowValues(2);
    for (const c of ['name', 'email', 'ssn', 'notes'] as const) expect(a[c]).not.toBe(b[c]);
    expect(new Set(Object.values(a)).size).toBe(DATA_COLUMNS.length);
  });
  it('reads the row count from psql\'s command tag', () => {
    expect(copyTagRows('COPY 100000\n')).toBe(100000);
    expect(copyTagRows('a\tb\nCOPY 2\n')).toBe(2);
    expect(copyTagRows('1\tCOPY 2\n')).toBeNull();
    expect(copyTagRows('ERROR: nope\n')).toBeNull();
  });
});

describe('plaintext check of the stored row', () => {
  const seen = { name: 'Patient Name 0000001', ssn: 'SSN-0000001-X', city: 'City 1', notes: null };
  const hex = (s: string) => Buffer.from(s).toString('hex');
  it('finds plaintext stored literally or inside a bytea, and only for encrypted columns', () => {
    expect(plaintextLeaks('(1,"Patient Name 0000001","\\\\x0102",City 1)', seen, ['name', 'ssn'])).toEqual(['name']);
    expect(plaintextLeaks(`(1,"\\\\x${hex('SSN-0000001-X')}",City 1)`, seen, ['name', 'ssn'])).toEqual(['ssn']);
    expect(plaintextLeaks(`(1,"\\\\x00ff${hex('Patient Name 0000001')}ab")`, seen, ['name'])).toEqual(['name']);
  });
  it('passes ciphertext, ignores NULLs and plain columns', () => {
    const stored = `(1,"\\\\x${Buffer.from('4b1d9a7c0e55aa', 'hex').toString('hex')}","\\\\xdeadbeef",City 1,)`;
    expect(plaintextLeaks(stored, seen, ['name', 'ssn', 'notes'])).toEqual([]);
    expect(plaintextLeaks(stored, seen, [])).toEqual([]);
  });
  it('names encrypted columns the backend does not store as bytea', () => {
    expect(notBytea({ id: 'bigint', name: 'bytea', ssn: 'text' }, ['name', 'ssn', 'email'])).toEqual(['ssn', 'email']);
  });
});

function rec(cell: string, tps: number, extra: Partial<RunRecord> = {}): RunRecord {
  const [scenario = '', target = '', clients = '1'] = cell.split(' ');
  return { round: 1, scenario, clients: Number(clients), target, tps, transactions: tps, failed: 0, latencyAvgMs: 1, p50Ms: 1, p99Ms: 2, ...extra };
}

describe('encrypted-column report', () => {
  const runs = [
    rec('enc-select-prepared direct 8', 1000), rec('enc-select-prepared clarus 8', 800, { cpuUsPerTx: 20 }),
    rec('enc-select-prepared clarus-enc2 8', 400, { cpuUsPerTx: 80 }), rec('enc-select-prepared clarus-enc5 8', 200),
    rec('enc-copy-in direct 1', 200000, { seconds: 5 }), rec('enc-copy-in clarus 1', 100000, { seconds: 10 }),
    rec('enc-copy-in clarus-enc5 1', 20000, { seconds: 50 }), rec('enc-copy-in clarus-enc5 1', 25000, { seconds: 40 }),
    rec('select-simple clarus 8', 900), rec('select-simple pgbouncer 8', 800),
  ];
  const summary = summarize(runs);
  const row = (scenario: string, target: string) => summary.find((r) => r.scenario === scenario && r.target === target);
  it('gives encrypting proxies a ratio to the pass-through proxy and to direct', () => {
    expect(row('enc-select-prepared', 'clarus-enc2')).toMatchObject({ ratioToProxy: 0.5, ratioToDirect: 0.4, secondsMedian: null });
    expect(row('enc-select-prepared', 'clarus')?.ratioToProxy).toBeNull();
    expect(row('select-simple', 'pgbouncer')?.ratioToProxy).toBeNull();
    expect(row('enc-copy-in', 'clarus-enc5')).toMatchObject({ tpsMedian: 22500, secondsMedian: 45, ratioToProxy: 0.225, ratioToDirect: 0.113 });
  });
  it('renders cells with tps or rows/s and both ratios', () => {
    expect(encCell(row('enc-select-prepared', 'clarus-enc2'))).toBe('400 tps, p99 2.00 ms (0.50x proxy, 0.40x direct)');
    expect(encCell(row('enc-copy-in', 'clarus-enc5'))).toBe('22500 rows/s, 45.00 s (0.23x proxy, 0.11x direct)');
    expect(encCell(row('enc-copy-in', 'direct'))).toBe('200000 rows/s, 5.00 s');
    expect(encCell(undefined)).toBe('n/a');
    expect(encTargetOrder(['clarus-enc5', 'clarus', 'clarus-enc2', 'direct'])).toEqual(['direct', 'clarus', 'clarus-enc2', 'clarus-enc5']);
  });
  it('puts encrypted scenarios in their own section, lists aborted ones, and keeps them out of the proxy goals', () => {
    const report: BenchReport = { date: 'd', quick: false, settings: { rounds: 3, seconds: 5, copyRows: 1000000 }, environment: {}, unavailable: {},
      runs, errors: [], aborted: [{ scenario: 'enc-insert-prepared', target: 'clarus-enc2', error: 'PLAINTEXT of encrypted column(s) name found' }], summary, rss: [] };
    const md = markdown(report, ['direct', 'pgbouncer', 'clarus', 'clarus-enc2', 'clarus-enc5']);
    const [main, enc] = md.split('## Encrypted columns');
    expect(main).toContain('| select-simple | 8 |');
    expect(main).not.toContain('enc-select');
    expect(main).not.toContain('clarus-enc2 tps');
    expect(enc).toContain('| enc-copy-in | 1 | 200000 rows/s, 5.00 s | 100000 rows/s, 10.00 s (0.50x direct) | n/a | 22500 rows/s, 45.00 s (0.23x proxy, 0.11x direct) |');
    expect(enc).toContain('COPY: 1000000 rows');
    expect(enc).toContain('- clarus-enc2 enc-insert-prepared: PLAINTEXT of encrypted column(s) name found');
    const goals = checkGoals(summary, []).map((g) => g.measured).join('; ');
    expect(goals).toContain('select-simple');
    expect(goals).not.toContain('enc-');
    expect(encMarkdown({ ...report, summary: summary.filter((r) => !r.scenario.startsWith('enc-')), aborted: [] })).toEqual([]);
  });
});

describe('scenario selection and plan', () => {
  it('runs builtin scenarios on the base targets and encrypted ones on direct and the proxies', () => {
    expect(scenarioTargets(pickScenarios(['select-simple'])[0] as never)).toEqual(['direct', 'pgbouncer', 'clarus', 'clarus-w2']);
    const enc = pickScenarios(['enc-*']);
    expect(enc.map((s) => s.name)).toEqual(['enc-select-prepared', 'enc-select-simple', 'enc-insert-prepared', 'enc-copy-in', 'enc-copy-out',
      'enc-copy3-in', 'enc-copy3-out', 'enc-upper-by-key-prepared', 'enc-upper-by-key-simple', 'enc-order-limit-10k', 'enc-order-limit-100k']);
    const copy3 = (name: string) => name.startsWith('enc-copy3-');
    expect(enc.filter((s) => !copy3(s.name)).every((s) => scenarioTargets(s).join() === 'direct,clarus,clarus-enc2,clarus-enc5')).toBe(true);
    // The 3-column COPY of issue 15 (goal 4) runs on its own proxy, against the pass-through one.
    expect(enc.filter((s) => copy3(s.name)).every((s) => scenarioTargets(s).join() === 'clarus,clarus-enc3')).toBe(true);
    expect(SCENARIOS.filter((s) => s.name.startsWith('enc-select')).every((s) => s.pgbenchArgs?.includes('-f'))).toBe(true);
  });
  it('refuses a scenario without the one it reads from', () => {
    expect(() => pickScenarios(['enc-copy-out'])).toThrow(/enc-copy-out needs enc-copy-in/);
    expect(pickScenarios(['enc-copy-in', 'enc-copy-out'])).toHaveLength(2);
    expect(() => pickScenarios(['enc-nope*'])).toThrow(/unknown scenario/);
  });
  it('takes client counts and targets per scenario', () => {
    const steps = runPlan(1, ['a', 'b'], (s) => (s === 'a' ? [1, 8] : [1]), (s) => (s === 'a' ? ['x', 'y'] : ['x', 'y', 'z']));
    expect(steps.map((s) => `${s.scenario}${s.clients}${s.target}`)).toEqual(['a1x', 'a1y', 'a8y', 'a8x', 'b1z', 'b1x', 'b1y']);
  });
});
