// A session's repeated simple queries of one plan (same text, or same shape with other values)
// reuse the plan's stateless result transformers (issue 15): the Inspector then reuses the
// rewritten RowDescription too. Other views get their own.
import { beforeAll, describe, expect, it } from 'vitest';
import type { QueryDecision, SessionInfo } from '../session/pipeline.ts';
import { loadParser } from '../rewrite/parser.ts';
import { testRewriter } from '@clarus/testing/rewriter.ts';
import type { KeyedRewriter as Rewriter } from '../protection/keyed-rewriter.ts';
import { protectionPipelineFactory } from './pipeline.ts';

let rw: Rewriter;
const info = (view: 'plaintext' | 'masked'): SessionInfo =>
  ({ user: 'u', database: 'db', applicationName: 'test', backend: 'b', grants: [{ grant: 'g', datasets: ['patients'], access: 'readWrite', view }] });
const session = (view: 'plaintext' | 'masked') => {
  const p = protectionPipelineFactory({ rewriter: rw, now: () => new Date('2026-01-01T00:00:00Z') })(info(view), {} as never);
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
});
