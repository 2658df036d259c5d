// The plan with placeholders and its fill (issue 9): adversarial first. A client that knows (or
// guesses) the marker format cannot make the fill put a protected form where it chose, nor make
// a listed placeholder disappear; the fill gives fresh randomness per execution; explain shows
// the placeholders with no keys.
import { beforeAll, describe, expect, it } from 'vitest';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { EHEALTH_POLICY, TEST_KEY_FILES, testRewriter } from '@clarus/testing/rewriter.ts';
import { Catalog } from '../rewrite/catalog.ts';
import { loadParser } from '../rewrite/parser.ts';
import { markerLiteral } from '../rewrite/placeholders.ts';
import type { PlaceholderPlan } from '../rewrite/placeholders.ts';
import { Rewriter } from '../rewrite/rewriter.ts';
import type { Analysis } from '../rewrite/rewriter.ts';
import { KeyDeriver } from './encryption/derive.ts';
import { parseKeyring } from './encryption/keyring.ts';
import { describedAnalysis, fillAnalysis } from './fill.ts';
import { KeyedRewriter } from './keyed-rewriter.ts';

beforeAll(async () => { await loadParser(); });

type Plan = Extract<Analysis, { kind: 'plan' }>;
const planOf = (a: Analysis): Plan => {
  if (a.kind !== 'plan') throw new Error(`not a plan: ${JSON.stringify(a)}`);
  return a;
};
const sqlOf = (a: Analysis): string => planOf(a).statements.map((s) => s.sql).join(';');
const nonceOf = (a: Analysis): string => (planOf(a).placeholders as PlaceholderPlan).nonce;

describe('fill: adversarial', () => {
  it('refuses a text where the client wrote a marker of a placeholder the plan lists (it would appear twice)', () => {
    const rw = testRewriter();
    const first = rw.plan("SELECT pat_id FROM patient WHERE diagnosis = 'flu'");
    const nonce = nonceOf(first);
    const lastId = (planOf(first).placeholders as PlaceholderPlan).list.at(-1)?.id as number;
    // The next analysis makes placeholder lastId + 1: the client puts that marker in a plain column's place.
    const forged = `SELECT pat_id, ${markerLiteral(nonce, lastId + 1)}::bytea AS leak FROM patient WHERE diagnosis = 'cold'`;
    const p = rw.plan(forged);
    expect((planOf(p).placeholders as PlaceholderPlan).list.map((x) => x.id)).toEqual([lastId + 1]);
    const a = rw.analyze(forged);
    expect(a).toMatchObject({ kind: 'refuse', code: 'XX000', reason: 'placeholderMismatch' });
    expect(JSON.stringify(a)).not.toMatch(/\\\\x[0-9a-f]{20}/);
  });

  it('refuses a text with a marker the plan does not list, however it is written', () => {
    const rw = testRewriter();
    const nonce = nonceOf(rw.plan("SELECT pat_id FROM patient WHERE diagnosis = 'flu'"));
    for (const lit of [markerLiteral(nonce, 999_999), markerLiteral(nonce.toUpperCase(), 999_999), `E'\\\\x${nonce}'`, `'${nonce}'`]) {
      const a = rw.analyze(`SELECT pat_id FROM patient WHERE diagnosis = 'cold' AND pat_id::text <> ${lit}`);
      expect(a, lit).toMatchObject({ kind: 'refuse', reason: 'placeholderMismatch' });
    }
    // A text without the nonce is filled as usual.
    expect(rw.analyze("SELECT pat_id FROM patient WHERE diagnosis = 'cold' AND pat_id::text <> 'x'").kind).toBe('plan');
  });

  it('refuses a plan whose listed marker is missing from the text, or appears twice', () => {
    const rw = testRewriter();
    const p = planOf(rw.plan("SELECT pat_id FROM patient WHERE diagnosis = 'flu'"));
    const marker = markerLiteral(nonceOf(p), (p.placeholders as PlaceholderPlan).list[0]?.id as number);
    const cipher = (r: Parameters<KeyedRewriter['cipher']>[0]) => rw.cipher(r);
    const edited = (sql: string): Analysis => ({ ...p, statements: [{ ...(p.statements[0] as Plan['statements'][0]), sql }] });
    const sql = p.statements[0]?.sql as string;
    expect(sql).toContain(marker);
    expect(fillAnalysis(edited(sql.replace(marker, "'\\x00'")), cipher)).toMatchObject({ kind: 'refuse', reason: 'placeholderMismatch' });
    expect(fillAnalysis(edited(`${sql} OR diagnosis = ${marker}::bytea`), cipher)).toMatchObject({ kind: 'refuse', reason: 'placeholderMismatch' });
    expect(fillAnalysis(edited(sql), cipher).kind).toBe('plan');
  });

  it('refuses, as an answer, when the keys cannot be used or disagree with the plan', () => {
    const unusable = new KeyedRewriter(new Catalog(EHEALTH_POLICY), new KeyDeriver(parseKeyring(EHEALTH_POLICY.keyring.keys, TEST_KEY_FILES, () => 'vault unreachable')));
    expect(unusable.analyze("SELECT pat_id FROM patient WHERE diagnosis = 'flu'")).toMatchObject({ kind: 'refuse', code: 'XX000', reason: 'protectFailed' });
    // The policy lists two versions of the key (two equality forms); a keyring with one cannot fill the plan.
    const two: RuntimePolicy = { ...EHEALTH_POLICY, keyring: { ...EHEALTH_POLICY.keyring, keys: [{ name: 'default', versions: [1, 2], current: 2 }] } };
    const plan = new Rewriter(new Catalog(two)).analyze("SELECT pat_id FROM patient WHERE diagnosis = 'flu'");
    expect(sqlOf(plan).match(/'\\x[0-9a-f]+'::bytea/g)).toHaveLength(2);
    const one = testRewriter();
    expect(fillAnalysis(plan, (r) => one.cipher(r))).toMatchObject({ kind: 'refuse', reason: 'protectFailed' });
  });
});

describe('fill', () => {
  it('encrypts a randomized constant afresh at each execution of the cached plan; deterministic forms are equal', () => {
    const rw = testRewriter();
    const ins = "INSERT INTO patient (pat_id, pat_name, pat_ssn, diagnosis) VALUES (1, 'Ann', '123-45-6789', 'flu')";
    const [a, b] = [rw.analyze(ins), rw.analyze(ins)];
    expect(rw.stats).toMatchObject({ analyses: 1, cacheHits: 1 });
    const lits = (x: Analysis) => sqlOf(x).match(/'\\x[0-9a-f]+'::bytea/g) ?? [];
    const [la, lb] = [lits(a), lits(b)];
    expect(la).toHaveLength(4);
    // pat_name and pat_ssn randomized: new nonces; the blind index and the deterministic diagnosis: the same.
    expect([la[0] !== lb[0], la[1] !== lb[1], la[2] === lb[2], la[3] === lb[3]]).toEqual([true, true, true, true]);
    expect(sqlOf(a)).not.toMatch(/Ann|123-45-6789|flu/);
  });

  it('fills a keyed anonymization (pseudonymize) at execution; the plan holds no pseudonym', () => {
    const policy: RuntimePolicy = { ...EHEALTH_POLICY, datasets: EHEALTH_POLICY.datasets.map((d) => (d.name !== 'patients' ? d : {
      ...d, columns: d.columns.map((c) => (c.name === 'pat_zip' ? { name: 'pat_zip', attributeType: 'quasiIdentifier' as const, backend: 'cloud-a', anonymize: { pseudonymize: { format: 'hex' as const } } } : c)),
    })) };
    const rw = testRewriter(policy);
    const sql = "INSERT INTO patient (pat_id, pat_zip) VALUES (1, 'canary-zip')";
    const plan = planOf(rw.plan(sql));
    expect(plan.placeholders?.list).toMatchObject([{ kind: 'anonymize', text: 'canary-zip' }]);
    const filled = sqlOf(rw.analyze(sql));
    expect(filled).toMatch(/VALUES \(1, '[0-9a-f]{32}'\)/);
    expect(sqlOf(rw.analyze(sql))).toBe(filled);
    expect(filled).not.toContain('canary-zip');
    // preserveShape keeps punctuation: a `$` could end a dollar-quoted function body around the marker.
    const shaped = testRewriter({ ...policy, datasets: policy.datasets.map((d) => ({ ...d, columns: d.columns.map((c) => (c.name === 'pat_zip' ? { ...c, anonymize: { pseudonymize: { format: 'preserveShape' as const } } } : c)) })) });
    expect(shaped.analyze("INSERT INTO patient (pat_id, pat_zip) VALUES (1, 'a$$b')")).toMatchObject({ kind: 'refuse', reason: 'protectFailed' });
    expect(sqlOf(shaped.analyze("INSERT INTO patient (pat_id, pat_zip) VALUES (1, 'a-b')"))).toMatch(/VALUES \(1, '[a-z]-[a-z]'\)/);
  });

  it('shows the placeholders for explain, with no keys', () => {
    const rw = new Rewriter(new Catalog(EHEALTH_POLICY));
    const shown = (sql: string) => sqlOf(describedAnalysis(rw.analyze(sql)));
    expect(shown("INSERT INTO patient (pat_id, pat_name, pat_ssn) VALUES (1, 'Ann', '123-45-6789')"))
      .toBe('INSERT INTO patient (pat_id, pat_name, pat_ssn, pat_ssn__bidx) VALUES (1, <encrypt patient.pat_name (randomized)>, <encrypt patient.pat_ssn (randomized)>, <blind index patient.pat_ssn>)');
    expect(shown("SELECT pat_id FROM patient WHERE diagnosis = 'flu'")).toBe('SELECT pat_id FROM patient WHERE diagnosis = <encrypt patient.diagnosis (deterministic)>');
  });
});
