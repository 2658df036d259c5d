// The executor's memo of deterministic constants (constant-memo.ts): a cached plan's SIV ciphertext
// and blind indexes are computed once per key epoch, randomized ones at every execution; a key
// rotation gives new ciphertext; an unusable keyring still refuses; the memo is bounded.
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { EHEALTH_POLICY, TEST_KEY_FILES } from '@clarus/testing/rewriter.ts';
import { Catalog } from '../rewrite/catalog.ts';
import { loadParser } from '../rewrite/parser.ts';
import { KeyDeriver } from './encryption/derive.ts';
import { parseKeyring } from './encryption/keyring.ts';
import type { Keyring } from './encryption/keyring.ts';
import { decodeHeader } from './encryption/header.ts';
import { KeyedRewriter } from './keyed-rewriter.ts';

let ring: Keyring;
let down: string | undefined;

/** The policy's keyring lists versions 1 and 2 of `default`, 1 current: a rotation makes 2 current. */
const POLICY: RuntimePolicy = { ...EHEALTH_POLICY, keyring: { ...EHEALTH_POLICY.keyring, keys: [{ name: 'default', versions: [1, 2], current: 1 }] } };
const FILES = new Map([...TEST_KEY_FILES, ['default.v2', Buffer.alloc(32, 0x6b).toString('base64')]]);

function rewriter(budget?: number): KeyedRewriter {
  ring = parseKeyring(POLICY.keyring.keys, FILES, () => down);
  return new KeyedRewriter(new Catalog(POLICY), new KeyDeriver(ring), budget === undefined ? {} : { constantMemoBytes: budget });
}

function sent(rw: KeyedRewriter, sql: string): string {
  const a = rw.analyze(sql);
  if (a.kind !== 'plan') throw new Error(`expected a plan for ${sql}, got ${JSON.stringify(a)}`);
  return a.statements.map((s) => s.sql).join('; ');
}

/** The bytea literals of a text, as buffers. */
function literals(sql: string): Buffer[] {
  return [...sql.matchAll(/'\\x([0-9a-f]+)'/g)].map((m) => Buffer.from(m[1] as string, 'hex'));
}

const DETERMINISTIC = "SELECT pat_id FROM patient WHERE diagnosis = 'flu'";
const SEARCHABLE = "SELECT pat_id FROM patient WHERE pat_ssn = '123-45-6789'";
const WRITTEN = "INSERT INTO patient (pat_id, diagnosis) VALUES (1, 'flu')";
const RANDOMIZED = "INSERT INTO patient (pat_id, pat_name) VALUES (1, 'Ann')";

beforeAll(async () => {
  await loadParser();
});

describe('memo of deterministic constants per plan and key epoch', () => {
  it('computes a deterministic constant and a blind index once per plan, a randomized one at every execution', () => {
    down = undefined;
    const rw = rewriter();
    const calls = vi.spyOn(rw, 'cipher');
    const d1 = sent(rw, DETERMINISTIC);
    const b1 = sent(rw, SEARCHABLE);
    const warm = calls.mock.calls.length;
    expect(warm).toBeGreaterThan(0);
    expect(sent(rw, DETERMINISTIC)).toBe(d1);
    expect(sent(rw, SEARCHABLE)).toBe(b1);
    expect(calls.mock.calls.length).toBe(warm);
    // The same values as computed without a memo (a fresh rewriter over the same keys).
    expect(sent(rewriter(), DETERMINISTIC)).toBe(d1);
    const r1 = sent(rw, RANDOMIZED);
    const r2 = sent(rw, RANDOMIZED);
    expect(r1).not.toBe(r2);
    expect(calls.mock.calls.length).toBeGreaterThan(warm);
    expect(rw.constants.bytes).toBeGreaterThan(0);
  });

  it('gives each value of a shape its own ciphertext (a shape-cache hit re-binds the plan\'s placeholders)', () => {
    down = undefined;
    const rw = rewriter();
    const flu = sent(rw, DETERMINISTIC);
    sent(rw, DETERMINISTIC.replace('flu', 'fever'));
    const cold = sent(rw, DETERMINISTIC.replace('flu', 'cold'));
    expect(rw.stats.shapeHits).toBeGreaterThan(0);
    expect(cold).not.toBe(flu);
    expect(cold).toBe(sent(rewriter(), DETERMINISTIC.replace('flu', 'cold')));
    expect(sent(rw, DETERMINISTIC)).toBe(flu);
  });

  it('a key rotation produces new ciphertext for the same cached plan', () => {
    down = undefined;
    const rw = rewriter();
    const before = literals(sent(rw, WRITTEN));
    expect(before.map((b) => decodeHeader(b).version)).toEqual([1]);
    expect(literals(sent(rw, WRITTEN))).toEqual(before);
    // Rotate: version 2 becomes current (what the executor's keyring says; the cached plan stays).
    const entry = ring.byName.get('default');
    if (!entry) throw new Error('no default key');
    entry.current = 2;
    const after = literals(sent(rw, WRITTEN));
    expect(after.map((b) => decodeHeader(b).version)).toEqual([2]);
    expect(after[0]?.equals(before[0] as Buffer)).toBe(false);
    // Equality forms: one per live version, the current first; new after the rotation too.
    entry.current = 1;
    const eq1 = literals(sent(rw, DETERMINISTIC));
    entry.current = 2;
    const eq2 = literals(sent(rw, DETERMINISTIC));
    expect(eq1.map((b) => decodeHeader(b).version)).toEqual([1, 2]);
    expect(eq2.map((b) => decodeHeader(b).version)).toEqual([2, 1]);
  });

  it('still refuses when the keys may not be used (KMS unreachable), memo or not', () => {
    down = undefined;
    const rw = rewriter();
    sent(rw, DETERMINISTIC);
    down = 'vault unreachable';
    const a = rw.analyze(DETERMINISTIC);
    expect(a.kind).toBe('refuse');
    expect(a.kind === 'refuse' && a.message).toMatch(/vault unreachable/);
    down = undefined;
  });

  it('is bounded in bytes', () => {
    down = undefined;
    const rw = rewriter(4096);
    for (let i = 0; i < 200; i++) sent(rw, `SELECT pat_id FROM patient WHERE diagnosis = 'd${i}' AND pat_id = ${i}`);
    expect(rw.constants.bytes).toBeGreaterThan(0);
    expect(rw.constants.bytes).toBeLessThanOrEqual(4096);
  });
});
