// Writes that compute, fed by read-only WITH queries (issue 10): `WITH x AS (SELECT …) UPDATE t SET
// enc = f(…) FROM x WHERE …`, `WITH … INSERT … SELECT f(enc) FROM x`, `WITH … DELETE … USING x`.
// The WITH queries go with the backend stage (the rules protect them there), the write computes as
// without them. Each statement is compared with an oracle PostgreSQL with plain tables (tag, whole
// tables afterwards); a data-modifying WITH query stays refused; a read grant cannot write; the
// backend's dump and log_statement=all log never show a canary, computed ones included.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USERS, canariesInDump } from '../corpus/setup.ts';
import { CANARIES, startTwoStage } from './two-stage-env.ts';
import type { TwoStageEnv } from './two-stage-env.ts';

let t: TwoStageEnv;
let c: pg.Client;
let oracle: pg.Client;

beforeAll(async () => {
  t = await startTwoStage(5000);
  ({ c, oracle } = t);
}, 120_000);

afterAll(async () => {
  await t?.close();
});

const PATIENTS = 'SELECT pat_id, pat_name, pat_ssn, diagnosis FROM patient ORDER BY pat_id';
const VISITS = 'SELECT visit_id, pat_id, reason, notes FROM visit ORDER BY visit_id';
const code = (e: unknown): string => (e as { code?: string }).code ?? String(e);

/** Runs `sql` through the proxy and on the oracle: same outcome, same tables afterwards. */
async function same(sql: string, params?: unknown[]): Promise<number | string> {
  const q = { text: sql, ...(params ? { values: params } : {}) };
  const enc = await c.query(q).then((r) => r.rowCount ?? -1, code);
  const plain = await oracle.query(q).then((r) => r.rowCount ?? -1, code);
  expect(enc).toEqual(plain);
  expect((await c.query(PATIENTS)).rows).toEqual((await oracle.query(PATIENTS)).rows);
  expect((await c.query(VISITS)).rows).toEqual((await oracle.query(VISITS)).rows);
  return enc;
}

describe('writes that compute with WITH queries', () => {
  it.each([
    "WITH x AS (SELECT pat_id, pat_name FROM patient WHERE diagnosis = 'flu') UPDATE visit SET notes = upper(x.pat_name) || ' ' || visit.reason FROM x WHERE visit.pat_id = x.pat_id",
    "WITH x AS (SELECT visit_id FROM visit WHERE reason = 'fever') UPDATE visit SET notes = lower(notes) WHERE visit_id IN (SELECT visit_id FROM x)",
    'WITH x AS (SELECT pat_id, pat_name FROM patient WHERE pat_id % 2 = 0) INSERT INTO visit (visit_id, pat_id, reason, notes) SELECT 500 + pat_id, pat_id, \'w\', lower(pat_name) FROM x',
    'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5) INSERT INTO visit (visit_id, pat_id, reason, notes) SELECT 900 + i, p.pat_id, p.pat_name, upper(p.pat_name) FROM n JOIN patient p ON p.pat_id = n.i',
    "WITH x AS (SELECT pat_id FROM patient WHERE diagnosis = 'asthma') DELETE FROM visit USING x WHERE visit.pat_id = x.pat_id AND notes LIKE '%1%'",
    "WITH x AS (SELECT pat_id FROM patient WHERE diagnosis = 'covid') UPDATE patient SET pat_name = pat_name || ' (' || diagnosis || ')' FROM x WHERE patient.pat_id = x.pat_id RETURNING patient.pat_id",
  ])('%s', async (sql) => {
    expect(await same(sql)).toBeGreaterThan(0);
  }, 60_000);

  it('with parameters, in a transaction block, and a failure that undoes the whole statement', async () => {
    expect(await same('WITH x AS (SELECT pat_id FROM patient WHERE pat_ssn = $1) UPDATE patient SET pat_name = upper(pat_name) WHERE pat_id IN (SELECT pat_id FROM x)', ['123-45-1003'])).toBe(1);
    for (const db of [c, oracle]) await db.query('BEGIN');
    expect(await same("WITH x AS (SELECT pat_id FROM patient WHERE pat_id < 8) UPDATE visit SET reason = upper(reason) FROM x WHERE visit.pat_id = x.pat_id")).toBeGreaterThan(0);
    const bad = "WITH x AS (SELECT pat_id FROM patient WHERE pat_id < 8) UPDATE visit SET notes = (notes || 'x')::int::text FROM x WHERE visit.pat_id = x.pat_id";
    for (const db of [c, oracle]) {
      expect(await db.query(bad).then(() => 'ok', code)).toBe('22P02');
      expect(await db.query('SELECT 1').then(() => 'ok', code)).toBe('25P02');
    }
    for (const db of [c, oracle]) await db.query('ROLLBACK');
    expect((await c.query(VISITS)).rows).toEqual((await oracle.query(VISITS)).rows);
  }, 60_000);

  it('keeps a data-modifying WITH query refused, and nothing changes', async () => {
    const sql = 'WITH d AS (DELETE FROM visit WHERE visit_id = 3 RETURNING pat_id) UPDATE patient SET pat_name = upper(pat_name) WHERE pat_id IN (SELECT pat_id FROM d)';
    const before = (await c.query(VISITS)).rows;
    expect(await c.query(sql).then(() => 'ok', code)).toBe('0A000');
    expect((await c.query(VISITS)).rows).toEqual(before);
  });

  it('a read grant cannot write through a WITH', async () => {
    const a = new pg.Client({ connectionString: t.env.url(USERS.analyst) });
    await a.connect();
    try {
      const before = (await c.query(VISITS)).rows;
      expect(await a.query("WITH x AS (SELECT pat_id FROM patient WHERE pat_id < 5) UPDATE visit SET notes = upper(notes) FROM x WHERE visit.pat_id = x.pat_id").then(() => 'ok', code)).toBe('42501');
      expect((await c.query(VISITS)).rows).toEqual(before);
    } finally {
      await a.end();
    }
  });

  it('stores and sends no plaintext: the dump and the statement log hold no canary, computed ones included', async () => {
    const canaries = [...CANARIES, ...CANARIES.map((x) => x.toUpperCase())];
    expect(await canariesInDump(t.cluster, canaries)).toEqual([]);
    expect(t.serverLog().filter((l) => canaries.some((x) => l.includes(x)))).toEqual([]);
  });
});
