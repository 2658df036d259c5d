// Every CEL rule of the four schemas, evaluated by cel-js (a real CEL implementation) on a good and
// a bad object. The last test fails if a rule is added to the schema without cases here.
import { describe, expect, it } from 'vitest';
import { KINDS, objectSchema } from '@clarus/crds/schema/index.ts';
import { allRules, evaluateRule } from './cel.ts';
import { checkResource } from './resource.ts';
import { base, cases, manifest, type Mutate } from '../../test/cel-cases.ts';

function messages(kind: string, mutate?: Mutate): string[] {
  const spec = base[kind]?.() ?? {};
  mutate?.(spec);
  return checkResource(manifest(kind, spec)).issues.map((i) => `${i.path}: ${i.message}`);
}

describe('CEL rules (cel-js)', () => {
  it.each(KINDS.map((k) => k.kind))('the good %s passes every rule', (kind) => {
    expect(messages(kind)).toEqual([]);
  });

  it.each(cases.map((c, i) => [i, c.kind, c.message, c] as const))('case %i: %s rejects with "%s"', (_i, kind, message, c) => {
    const bad = messages(kind, c.bad);
    expect(bad.some((m) => m.includes(message)), bad.join('\n')).toBe(true);
    if (c.good) expect(messages(kind, c.good)).toEqual([]);
  });

  it('has a bad case for every rule of the schema', () => {
    const covered = new Set(cases.map((c) => c.message));
    const rules = KINDS.flatMap((k) => allRules(objectSchema(k)).map((r) => r.message));
    const missing = rules.filter((m) => ![...covered].some((c) => m.startsWith(c) || m.includes(c)));
    expect(missing).toEqual([]);
  });

  it('evaluates integers as CEL ints and reports unevaluable rules', () => {
    expect(evaluateRule('self.k >= 2', { k: 2n })).toBe(true);
    expect(evaluateRule('self.k >= 2', { k: 1n })).toBe(false);
    expect(() => evaluateRule('self.k >=', { k: 1n })).toThrow();
  });
});
