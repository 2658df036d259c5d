// Which residual SELECTs stream (row-local.ts): exactly projections and filters over the candidate
// relation; everything that needs more than one row at a time keeps the buffered path.
import { beforeAll, describe, expect, it } from 'vitest';
import { PGlite } from '@electric-sql/pglite';
import { EHEALTH_POLICY, TEST_KEY_FILES } from '@clarus/testing/rewriter.ts';
import { KeyDeriver } from '../../protection/encryption/derive.ts';
import { parseKeyring } from '../../protection/encryption/keyring.ts';
import { Catalog } from '../catalog.ts';
import { loadParser, parseStatements } from '../parser.ts';
import { KeyedRewriter as Rewriter } from '../../protection/keyed-rewriter.ts';
import { AGGREGATES, rowLocal } from './row-local.ts';

let rw: Rewriter;
beforeAll(async () => {
  await loadParser();
  const cat = new Catalog(EHEALTH_POLICY);
  for (const t of cat.all()) cat.learn(t.schema, t.table, t.policyColumns.map((c) => ({ name: c.name, typeOid: c.typeOid })));
  rw = new Rewriter(cat, new KeyDeriver(parseKeyring(EHEALTH_POLICY.keyring.keys, TEST_KEY_FILES)), { twoStage: true });
});

function streams(sql: string): boolean | undefined {
  const a = rw.analyze(sql);
  if (a.kind !== 'plan') throw new Error(`${sql}: ${a.kind}`);
  const r = a.statements[0]?.residual;
  if (!r) throw new Error(`${sql}: no two-stage plan`);
  return r.stream;
}

describe('row-local residual statements stream', () => {
  it.each([
    'SELECT upper(pat_name) FROM patient',
    "SELECT pat_id, pat_name || ' (' || diagnosis || ')' FROM patient WHERE pat_name LIKE 'A%'",
    'SELECT pat_id FROM patient WHERE length(pat_name) > 3 AND pat_id > 2',
    "SELECT CASE WHEN diagnosis = 'flu' THEN upper(pat_name) ELSE lower(pat_name) END FROM patient",
    'SELECT pat_id FROM patient p WHERE length(pat_name) > 3 OR EXISTS (SELECT 1 FROM visit v WHERE v.pat_id = p.pat_id)',
    'SELECT upper(pat_name) FROM patient WHERE pat_ssn = $1',
  ])('%s', (sql) => { expect(streams(sql)).toBe(true); });
});

describe('residual statements that need more than one row stay buffered', () => {
  it.each([
    'SELECT pat_name FROM patient ORDER BY pat_name',
    'SELECT upper(pat_name) FROM patient LIMIT 5',
    'SELECT upper(pat_name) FROM patient OFFSET 5',
    'SELECT DISTINCT upper(pat_name) FROM patient',
    'SELECT max(pat_name) FROM patient',
    'SELECT count(*) FROM patient WHERE pat_name LIKE $1',
    'SELECT upper(pat_name), count(*) FROM patient GROUP BY 1',
    'SELECT row_number() OVER (ORDER BY pat_name) FROM patient',
    'SELECT pat_name FROM patient UNION SELECT notes FROM visit',
    'SELECT upper(pat_name) FROM patient WHERE pat_id IN (SELECT pat_id FROM patient WHERE pat_name LIKE $1)',
  ])('%s', (sql) => { expect(streams(sql)).toBeUndefined(); });

  it('a write that computes never streams', () => {
    const a = rw.analyze('UPDATE patient SET pat_name = upper(pat_name)');
    expect(a.kind === 'plan' && a.statements[0]?.residual?.stream).toBeFalsy();
  });
});

describe('rowLocal on residual SQL', () => {
  const local = (sql: string): boolean => rowLocal(parseStatements(sql)[0]?.stmt, 'clarus_candidates');
  it.each([
    ['SELECT upper(c1) FROM clarus_candidates WHERE c2 LIKE $1', true],
    ['SELECT c1 FROM clarus_candidates WHERE c1 > (SELECT min(c1) FROM clarus_candidates)', false],
    ['SELECT (SELECT 1) FROM clarus_candidates', false],
    ['SELECT c1 FROM clarus_candidates c', false],
    ['SELECT c1 FROM public.clarus_candidates', false],
    ['SELECT c1 FROM clarus_candidates, other', false],
    ['SELECT sum(c1) FILTER (WHERE c1 > 0) FROM clarus_candidates', false],
    ['SELECT pg_catalog.max(c1) FROM clarus_candidates', false],
    ['SELECT string_agg(c1, \',\' ORDER BY c1) FROM clarus_candidates', false],
    ['SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY c1) FROM clarus_candidates', false],
    ['SELECT c1 FROM clarus_candidates FETCH FIRST 3 ROWS ONLY', false],
    ['SELECT c1 FROM clarus_candidates FOR UPDATE', false],
    ['WITH w AS (SELECT 1) SELECT c1 FROM clarus_candidates', false],
    ['VALUES (1)', false],
    ['SELECT c1, now() FROM clarus_candidates', false],
    ['SELECT c1 FROM clarus_candidates WHERE c2 < CURRENT_DATE', false],
    ['SELECT c1 FROM clarus_candidates WHERE c2 < pg_catalog.statement_timestamp()', false],
    ['SELECT generate_series(1, c1), random() FROM clarus_candidates', true],
  ])('%s → %s', (sql, want) => { expect(local(sql)).toBe(want); });
});

describe('the aggregate list', () => {
  it("is the engine's aggregate and window functions", async () => {
    const db = await PGlite.create();
    try {
      const r = await db.query<{ proname: string }>("SELECT DISTINCT proname FROM pg_proc WHERE prokind IN ('a', 'w') ORDER BY 1");
      expect([...AGGREGATES].sort()).toEqual(r.rows.map((x) => x.proname).sort());
    } finally {
      await db.close();
    }
  }, 60_000);
});
