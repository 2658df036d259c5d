// Writes that compute, written back in batches (issue 10): 10,000 computed rows go back as a few
// `UPDATE … FROM unnest(…)` statements keyed on (tableoid, ctid), not 10,000 Bind/Execute rounds.
// Compared with an oracle PostgreSQL holding the same rows in plain tables (tag, whole tables
// afterwards, atomicity across batches); the backend's dump and log_statement=all log hold no
// canary, computed ones included. The timings are printed (docs/sql-support.md reports them).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { canariesInDump } from '../corpus/setup.ts';
import { CANARIES, startTwoStage } from './two-stage-env.ts';
import type { TwoStageEnv } from './two-stage-env.ts';

let t: TwoStageEnv;
let c: pg.Client;
let oracle: pg.Client;

beforeAll(async () => {
  t = await startTwoStage(20_000);
  ({ c, oracle } = t);
}, 120_000);

afterAll(async () => {
  await t?.close();
});

const VISITS = 'SELECT visit_id, pat_id, reason, notes FROM visit ORDER BY visit_id';
const code = (e: unknown): string => (e as { code?: string }).code ?? String(e);

async function same(sql: string, params?: unknown[]): Promise<{ n: number | string; ms: number }> {
  const q = { text: sql, ...(params ? { values: params } : {}) };
  const t0 = performance.now();
  const enc = await c.query(q).then((r) => r.rowCount ?? -1, code);
  const ms = Math.round(performance.now() - t0);
  const plain = await oracle.query(q).then((r) => r.rowCount ?? -1, code);
  expect(enc).toEqual(plain);
  expect((await c.query(VISITS)).rows).toEqual((await oracle.query(VISITS)).rows);
  return { n: enc, ms };
}

describe('batched write-back', () => {
  it('writes 10,000 computed rows (INSERT, UPDATE of a randomized and a searchable column, DELETE) like PostgreSQL', async () => {
    const ins = await same("INSERT INTO visit (visit_id, pat_id, reason, notes) SELECT 10000 + g, g % 40, 'r' || g || ' lee-canary', upper(p.pat_name) FROM generate_series(1, 10000) g JOIN patient p ON p.pat_id = g % 40");
    expect(ins.n).toBe(10_000);
    const upd = await same("UPDATE visit SET notes = upper(reason) || ' ' || visit_id WHERE visit_id > 10000");
    expect(upd.n).toBe(10_000);
    const upd2 = await same('UPDATE visit SET reason = lower(notes), notes = $1 || reason WHERE visit_id > 10000', ['x ']);
    expect(upd2.n).toBe(10_000);
    const del = await same("DELETE FROM visit WHERE reason LIKE '%5 lee-canary%' AND visit_id > 10000");
    expect(del.n).toBe(1000);
    // Batches, not rows: the log shows a handful of executions of the batched write-back.
    const executes = t.serverLog().filter((l) => l.includes('execute clarus_write_back'));
    process.stdout.write(`${executes.length} write-back executions; e.g. ${executes.find((l) => l.includes('UPDATE'))?.slice(0, 400) ?? ''}\n`);
    expect(executes.length).toBeLessThan(40);
    expect(executes.filter((l) => l.includes('UPDATE visit SET') && l.includes('FROM unnest(CAST($1 AS oid[]), CAST($2 AS tid[])')).length).toBeGreaterThan(0);
    process.stdout.write(`10,000-row computed writes through the proxy: INSERT ${ins.ms} ms, UPDATE ${upd.ms} ms, UPDATE of two columns ${upd2.ms} ms, DELETE of 1,000 ${del.ms} ms\n`);
  }, 300_000);

  it('is atomic across batches: a failure in a late batch leaves nothing, in autocommit and in a block', async () => {
    // visit_id 19999 + 1 collides with 20000 only after the rows before it were written.
    await same('INSERT INTO visit (visit_id, pat_id, reason) SELECT 20000 + g, 1, upper(pat_name) FROM generate_series(1, 3000) g, patient WHERE pat_id = 1');
    expect((await same('UPDATE visit SET reason = lower(reason), visit_id = 23000 WHERE visit_id > 20000 AND visit_id > 22990')).n).toBe('23505');
    await c.query('BEGIN');
    try {
      expect(await c.query('UPDATE visit SET reason = reason || visit_id::text WHERE visit_id > 20000').then((r) => r.rowCount)).toBe(3000);
      expect(await c.query('UPDATE visit SET reason = reason || visit_id::text, visit_id = 25000 WHERE visit_id > 20000').catch(code)).toBe('23505');
    } finally {
      await c.query('ROLLBACK');
    }
    expect((await c.query(VISITS)).rows).toEqual((await oracle.query(VISITS)).rows);
  }, 120_000);

  it('fails an ON CONFLICT DO UPDATE whose duplicate keys are more than a batch apart with 21000, as PostgreSQL does', async () => {
    // Keys 30001…30400 come twice, 2,100 rows apart: never twice within 2,000 rows.
    const sql = (action: string): string => `INSERT INTO visit (visit_id, pat_id, reason, notes) SELECT 30000 + (g % 2100), 1, 'r', upper(p.pat_name) || g FROM generate_series(1, 2500) g JOIN patient p ON p.pat_id = 1 ON CONFLICT (visit_id) DO ${action}`;
    expect((await same(sql('UPDATE SET notes = EXCLUDED.notes'))).n).toBe('21000');
    await c.query('BEGIN');
    try {
      expect(await c.query(sql("UPDATE SET notes = EXCLUDED.notes WHERE visit.reason = 'none'")).catch(code)).toBe('21000');
    } finally {
      await c.query('ROLLBACK');
    }
    // DO NOTHING skips the second row of a key, within a batch or not.
    expect((await same(sql('NOTHING'))).n).toBe(2100);
  }, 120_000);

  it('stores and sends no plaintext: the dump and the statement log hold no canary, computed ones included', async () => {
    const canaries = [...CANARIES, ...CANARIES.map((x) => x.toUpperCase())];
    expect(await canariesInDump(t.cluster, canaries)).toEqual([]);
    expect(t.serverLog().filter((l) => canaries.some((x) => l.includes(x)))).toEqual([]);
  });
});
