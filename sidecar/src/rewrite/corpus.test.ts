// The eHealth statement corpus against the pure rewriter: every statement the corpus expects to
// be refused as unsupported (0A000) is refused by the rewriter, every other one is planned or
// passed. The same corpus runs through the real proxy in test/integration/protect-corpus.test.ts.
import { beforeAll, describe, expect, it } from 'vitest';
import { EHEALTH_CORPUS } from '../../test/corpus/ehealth.ts';
import { loadParser } from './parser.ts';
import { testRewriter } from '@clarus/testing/rewriter.ts';

describe('eHealth corpus (rewriter plan kinds)', () => {
  beforeAll(async () => { await loadParser(); });

  it('has at least 150 statements', () => {
    expect(EHEALTH_CORPUS.length).toBeGreaterThanOrEqual(150);
  });

  it('refuses exactly the statements the corpus expects refused with 0A000', () => {
    const rw = testRewriter();
    const mismatches: string[] = [];
    for (const e of EHEALTH_CORPUS) {
      const a = rw.analyze(e.sql);
      const refused = a.kind === 'refuse' && a.code === '0A000';
      if (refused !== (e.error === '0A000')) mismatches.push(`${e.sql} → ${a.kind === 'refuse' ? a.message : a.kind}`);
    }
    expect(mismatches).toEqual([]);
  });

  it('never leaves a literal of an encrypted column in the rewritten text', () => {
    const rw = testRewriter();
    const secrets = ['Ann Able', '100-00-0001', 'Fay Fox', 'Gus Gray', 'Hal Hunter'];
    for (const e of EHEALTH_CORPUS) {
      const a = rw.analyze(e.sql);
      if (a.kind !== 'plan' || !/^(INSERT|UPDATE|DELETE|SELECT)/i.test(e.sql)) continue;
      for (const s of a.statements) for (const x of secrets) expect(s.sql.includes(`'${x}'`), `${e.sql} → ${s.sql}`).toBe(false);
    }
  });
});
