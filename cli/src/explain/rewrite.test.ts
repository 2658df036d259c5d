// `explain --sql` through the proxy's rewriter: pass, refusal with its SQLSTATE, and a rewritten
// statement that carries no plaintext of the protected literal.
import { describe, expect, it } from 'vitest';
import type { SecurityPolicy } from '@clarus/crds/types.ts';
import { formatRewrite, rewriteSql } from './rewrite.ts';
import { policyDatasets } from './table.ts';

const policy: SecurityPolicy = {
  apiVersion: 'clarus.io/v1alpha1', kind: 'SecurityPolicy', metadata: { name: 'p' },
  spec: {
    backends: ['a'], keyring: { secretName: 'k' },
    datasets: [{
      name: 'people', table: 'people', columns: [
        { name: 'id', attributeType: 'technicalIdentifier' },
        { name: 'ssn', attributeType: 'identifier', protection: { encrypt: { mode: 'randomized', searchable: true, keyName: 'pii' } } },
        { name: 'name', attributeType: 'identifier', protection: { encrypt: { mode: 'randomized' } } },
      ],
    }],
  },
};

function runtime() {
  const { datasets, defaultBackend } = policyDatasets(policy);
  return { name: 'p', onUnsupported: 'reject' as const, defaultBackend, keyring: { dir: 'secrets/keyring', keys: [] }, datasets };
}

describe('explain --sql with the rewriter', () => {
  it('passes statements that touch no protected column', async () => {
    expect(await rewriteSql('SELECT 1', runtime())).toEqual({ kind: 'pass' });
  });

  it('shows the refusal and its SQLSTATE', async () => {
    // now() reads the server's state: never computed in the proxy, so the rules' refusal stands.
    const r = await rewriteSql('SELECT name, now() FROM people ORDER BY name', runtime());
    expect(r).toMatchObject({ kind: 'refuse', code: '0A000' });
    expect(formatRewrite(r, [])).toMatch(/^Refused with SQLSTATE 0A000: .*name/);
  });

  it('shows both stages of a statement the proxy finishes, and what the backend learns', async () => {
    const r = await rewriteSql("SELECT id FROM people WHERE ssn = '123-45-6789' ORDER BY upper(name)", runtime());
    if (r.kind !== 'plan' || !r.stages?.[0]) throw new Error(`expected a two-stage plan, got ${JSON.stringify(r)}`);
    expect(r.stages[0]).toMatchObject({ pushed: 1, kept: 0 });
    expect(r.stages[0].backend).toMatch(/ssn__bidx/);
    expect(r.stages[0].backend).not.toContain('123-45-6789');
    expect(r.stages[0].proxy).toMatch(/ORDER BY upper\(clarus_candidates\.c\d\)/);
    const text = formatRewrite(r, []);
    expect(text).toMatch(/backend stage: SELECT/);
    expect(text).toMatch(/proxy stage: {3}SELECT/);
    const full = await rewriteSql('SELECT max(name) FROM people', runtime());
    if (full.kind !== 'plan') throw new Error('expected a plan');
    expect(formatRewrite(full, [])).toMatch(/full scan happened/);
  });

  it('shows the write-back of a write that computes: by row key, values encrypted per column', async () => {
    const r = await rewriteSql("UPDATE people SET name = upper(name) WHERE ssn = '123-45-6789'", runtime());
    if (r.kind !== 'plan' || !r.stages?.[0]) throw new Error(`expected a two-stage plan, got ${JSON.stringify(r)}`);
    expect(r.stages[0].backend).toMatch(/FOR UPDATE OF people$/);
    expect(r.stages[0].writeBack).toMatch(/^UPDATE people SET name = \$3 WHERE people\.tableoid = \$1 AND people\.ctid = \$2$/);
    expect(formatRewrite(r, [])).toMatch(/write-back \(per computed row.*\n.*which rows the write changed/);
  });

  it('rewrites a searchable equality to the blind index, without the plaintext literal', async () => {
    const r = await rewriteSql("SELECT id FROM people WHERE ssn = '123-45-6789'", runtime());
    if (r.kind !== 'plan') throw new Error(`expected a plan, got ${r.kind}`);
    expect(r.statements).toHaveLength(1);
    expect(r.statements[0]).toMatch(/ssn__bidx/);
    expect(r.statements[0]).not.toContain('123-45-6789');
  });

  it('shows protected constants as placeholders, with no keyring and no ciphertext', async () => {
    const r = await rewriteSql("INSERT INTO people (id, ssn, name) VALUES (1, '123-45-6789', 'Ann')", runtime());
    if (r.kind !== 'plan') throw new Error(`expected a plan, got ${r.kind}`);
    expect(r.statements).toEqual(['INSERT INTO people (id, ssn, name, ssn__bidx) VALUES (1, <encrypt people.ssn (randomized)>, <encrypt people.name (randomized)>, <blind index people.ssn>)']);
    const eq = await rewriteSql("SELECT id FROM people WHERE ssn IN ('1', '2')", runtime());
    expect(eq.kind === 'plan' && eq.statements[0]).toBe('SELECT id FROM people WHERE ssn__bidx IN (<blind index people.ssn>, <blind index people.ssn>)');
  });

  it('shows what the proxy does to each result column: decrypt which column, in which mode, as which type', async () => {
    const r = await rewriteSql('SELECT id, name AS n, ssn FROM people', runtime());
    if (r.kind !== 'plan') throw new Error(`expected a plan, got ${r.kind}`);
    expect(r.results).toEqual([['column 2 `n`: decrypt people.name (randomized) → text', 'column 3 `ssn`: decrypt people.ssn (randomized) → text']]);
    expect(formatRewrite(r, [])).toMatch(/1\. SELECT id, name AS n, ssn FROM people\n {5}results \(reversed only for users whose grant .*\n {7}column 2 `n`: decrypt people\.name \(randomized\) → text\n {7}column 3/);
    const staged = await rewriteSql('SELECT upper(name) FROM people', runtime());
    expect(formatRewrite(staged, [])).toMatch(/proxy stage: .*\n(?:.*\n)*? {5}the backend stage's columns, before the proxy stage \(.*\n {7}column 1 `\w+`: decrypt people\.name \(randomized\) → text/);
    const none = await rewriteSql("UPDATE people SET name = 'Ann' WHERE id = 1", runtime());
    expect(none.kind === 'plan' && none.results).toBe(undefined);
  });
});
