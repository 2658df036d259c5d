// Django's bulk_update form through the proxy: `UPDATE … SET col = CASE WHEN <plain condition>
// THEN <value> … ELSE NULL END WHERE …` on encrypted columns (randomized, searchable), with
// constants and parameters. The proxy encrypts each result (and the blind index follows), the
// backend evaluates the conditions; compared with the oracle, and the backend holds no canary.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canariesInDump } from '../corpus/setup.ts';
import { startTwoStage } from './two-stage-env.ts';
import type { TwoStageEnv } from './two-stage-env.ts';

let t: TwoStageEnv;
beforeAll(async () => { t = await startTwoStage(1000); }, 120_000);
afterAll(async () => { await t?.close(); });

const UPDATES: Array<{ sql: string; params: unknown[] }> = [
  { sql: "UPDATE patient SET pat_name = CASE WHEN (patient.pat_id = 1) THEN 'bulk-one-canary'::varchar(100) WHEN (patient.pat_id = $1) THEN $2 ELSE NULL END WHERE patient.pat_id IN (1, $1)", params: [2, 'bulk-two-canary'] },
  { sql: "UPDATE patient SET pat_ssn = CASE pat_id WHEN 3 THEN '999-00-0003' WHEN 4 THEN $1 END WHERE pat_id IN (3, 4)", params: ['999-00-0004'] },
];

describe('bulk update with CASE', () => {
  it('writes encrypted values chosen by plain conditions, readable and searchable as PostgreSQL would store them', async () => {
    for (const u of UPDATES) {
      const a = await t.c.query(u.sql, u.params);
      const b = await t.oracle.query(u.sql, u.params);
      expect(a.rowCount).toBe(b.rowCount);
    }
    const q = 'SELECT pat_id, pat_name, pat_ssn FROM patient WHERE pat_id BETWEEN 1 AND 5 ORDER BY pat_id';
    expect((await t.c.query(q)).rows).toEqual((await t.oracle.query(q)).rows);
    // The blind index followed the new value.
    expect((await t.c.query("SELECT pat_id FROM patient WHERE pat_ssn = '999-00-0004'")).rows).toEqual([{ pat_id: 4 }]);
    expect(await canariesInDump(t.cluster, ['bulk-one-canary', 'bulk-two-canary', '999-00-000'])).toEqual([]);
    for (const canary of ['bulk-one-canary', 'bulk-two-canary', '999-00-000']) expect(t.serverLog().filter((l) => l.includes(canary)), canary).toEqual([]);
  });

  it('refuses a CASE whose condition reads an encrypted value or whose result is an expression', async () => {
    const code = (sql: string) => t.c.query(sql).then(() => 'ok', (e: { code: string }) => e.code);
    expect(await code("UPDATE patient SET pat_ssn = CASE WHEN pat_name = 'x' THEN '1' END")).toBe('0A000');
    expect(await code("UPDATE patient SET pat_ssn = CASE WHEN pat_id = 1 THEN upper('x') END")).toBe('0A000');
    expect(await code('UPDATE patient SET pat_ssn = CASE WHEN pat_id = 1 THEN pat_name END')).toBe('0A000');
  });
});
