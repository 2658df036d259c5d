// A session's repeated simple queries of one plan (same text, or same shape with other values)
// reuse the plan's stateless result transformers (issue 15): the Inspector then reuses the
// rewritten RowDescription too. Other views get their own.
import { beforeAll, describe, expect, it } from 'vitest';
import type { QueryDecision, SessionInfo } from '../session/pipeline.ts';
import { loadParser } from '../rewrite/parser.ts';
import { EHEALTH_POLICY, TEST_KEY_FILES, testRewriter } from '@clarus/testing/rewriter.ts';
import type { KeyedRewriter as Rewriter } from '../protection/keyed-rewriter.ts';
import { protectionPipelineFactory } from './pipeline.ts';

let rw: Rewriter;
const info = (view: 'plaintext' | 'masked'): SessionInfo =>
  ({ user: 'u', database: 'db', applicationName: 'test', backend: 'b', grants: [{ grant: 'g', datasets: ['patients'], access: 'readWrite', view }] });
const session = (view: 'plaintext' | 'masked', rewriter = rw) => {
  // A residual service that is never called: the transformers are only built here.
  const p = protectionPipelineFactory({ rewriter, now: () => new Date('2026-01-01T00:00:00Z'), residual: {} as never })(info(view), {} as never);
  return (sql: string) => p.query(sql) as QueryDecision;
};
const first = (d: QueryDecision) => (d.kind === 'rewrite' ? d.results?.[0] : undefined);

beforeAll(async () => {
  await loadParser();
  rw = testRewriter();
});

describe('result transformers of repeated simple queries', () => {
  it('are the same for the same plan and views, and differ per view', () => {
    const q = session('plaintext');
    const texts = [1, 2, 3, 4].map((n) => `SELECT pat_name FROM patient WHERE pat_id = ${n}`);
    const ds = texts.map(q);
    expect(rw.stats.shapeHits).toBeGreaterThan(0);
    expect(first(ds[0] as QueryDecision)).toBeDefined();
    expect(new Set(ds.slice(2).map(first)).size).toBe(1);
    expect(first(q(texts[3] as string))).toBe(first(ds[3] as QueryDecision));
    const masked = session('masked')(texts[3] as string);
    expect(first(masked)).not.toBe(first(ds[3] as QueryDecision));
    expect(first(masked)?.fields([{ name: 'pat_name', tableOid: 0, columnAttr: 0, typeOid: 17, typeSize: -1, typeModifier: -1, format: 0 }])[0]?.typeOid).toBe(25);
  });

  it('are the same, with their in-proxy stage, for the texts of one two-stage read shape; a computed write gets its own', () => {
    const two = testRewriter(EHEALTH_POLICY, TEST_KEY_FILES, { twoStage: true });
    const q = session('plaintext', two);
    const ds = [1, 2, 3, 4, 5].map((n) => q(`SELECT pat_id, upper(pat_name) FROM patient WHERE pat_id = ${n}`));
    expect(two.stats.shapeHits).toBe(3);
    const stages = ds.map((d) => first(d)?.residual);
    expect(stages[4]?.now).toBeDefined();
    expect(new Set(ds.slice(2).map(first)).size).toBe(1);
    expect(new Set(stages.slice(2)).size).toBe(1);
    // Another shape has its own stage.
    expect(first(q('SELECT pat_id, lower(pat_name) FROM patient WHERE pat_id = 1'))?.residual).not.toBe(stages[4]);
    const writes = [1, 2, 3, 4].map((n) => first(q(`UPDATE patient SET pat_name = upper(pat_name) WHERE pat_id = ${n}`)));
    expect(writes[3]?.residual?.write).toBeDefined();
    expect(writes[3]).not.toBe(writes[2]);
  });
});
