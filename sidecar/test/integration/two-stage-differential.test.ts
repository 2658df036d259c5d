// Differential test of two-stage statements (issue 10): random SELECTs (two-stage-sqlgen.ts) over
// encrypted columns through the proxy, against the same statements on an oracle PostgreSQL server
// with the same rows in plain tables. Every statement must give the same rows (in order when ORDER
// BY fixes it) or fail with the same SQLSTATE class; a refusal counts as a difference, except the
// documented candidate-row limit (54000). TWO_STAGE_DIFF_COUNT statements (default 10,000) from
// TWO_STAGE_DIFF_SEED; every tenth is a write that computes (generateWrite: UPDATE … FROM, DELETE …
// USING, INSERT … SELECT … ON CONFLICT, RETURNING), run in a transaction rolled back on both
// servers so the tables stay the same. The backend's log never shows a canary.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canariesInDump } from '../corpus/setup.ts';
import { CANARIES, startTwoStage } from './two-stage-env.ts';
import type { TwoStageEnv } from './two-stage-env.ts';
import { generate, generateWrite } from './two-stage-sqlgen.ts';

const COUNT = Number(process.env.TWO_STAGE_DIFF_COUNT ?? 10_000);
const SEED = Number(process.env.TWO_STAGE_DIFF_SEED ?? 20261201);
const MAX_ROWS = 1000;

let t: TwoStageEnv;
beforeAll(async () => { t = await startTwoStage(MAX_ROWS); }, 120_000);
afterAll(async () => { await t?.close(); });

type Answer = { rows: unknown[][]; fields: string } | { code: string; message: string };

/** A write's answer, in a transaction rolled back afterwards. */
async function written(c: pg.Client, sql: string, params: unknown[]): Promise<Answer> {
  await c.query('BEGIN');
  try {
    return await answer(c, sql, params);
  } finally {
    await c.query('ROLLBACK');
  }
}

async function answer(c: pg.Client, sql: string, params: unknown[]): Promise<Answer> {
  try {
    const r = await c.query({ text: sql, values: params, rowMode: 'array' });
    return { rows: r.rows as unknown[][], fields: r.fields.map((f) => `${f.name}:${f.dataTypeID}`).join(',') };
  } catch (e) {
    const err = e as { code?: string; message: string };
    return { code: err.code ?? '?', message: err.message };
  }
}

const norm = (rows: unknown[][], ordered: boolean): string[] => {
  const out = rows.map((r) => JSON.stringify(r));
  return ordered ? out : out.sort();
};

function differs(a: Answer, b: Answer, ordered: boolean): string | null {
  if ('code' in a || 'code' in b) {
    if ('code' in a && 'code' in b && a.code.slice(0, 2) === b.code.slice(0, 2)) return null;
    if ('code' in a && a.code === '54000' && /residual row limit/.test(a.message)) return null;
    return `proxy ${'code' in a ? `${a.code} ${a.message}` : 'rows'} / oracle ${'code' in b ? `${b.code} ${b.message}` : 'rows'}`;
  }
  if (a.fields !== b.fields) return `fields ${a.fields} / ${b.fields}`;
  const x = norm(a.rows, ordered);
  const y = norm(b.rows, ordered);
  if (x.length !== y.length) return `${x.length} rows / ${y.length} rows`;
  const i = x.findIndex((v, k) => v !== y[k]);
  return i < 0 ? null : `row ${i}: ${x[i]} / ${y[i]}`;
}

describe('two-stage differential', () => {
  it(`gives PostgreSQL's answers for ${COUNT} random statements`, async () => {
    const failures: string[] = [];
    let answered = 0;
    let writes = 0;
    let writesAnswered = 0;
    for (let i = 0; i < COUNT && failures.length < 10; i++) {
      const write = i % 10 === 9;
      const g = write ? generateWrite(SEED + i) : generate(SEED + i);
      const run = write ? written : answer;
      const a = await run(t.c, g.sql, g.params);
      const b = await run(t.oracle, g.sql, g.params);
      const d = differs(a, b, g.ordered);
      if (d) failures.push(`seed ${SEED + i}: ${g.sql}\n  ${d}`);
      if (!('code' in a)) answered++;
      if (write) writes++;
      if (write && !('code' in a)) writesAnswered++;
    }
    expect(failures, failures.join('\n')).toEqual([]);
    // The generator must mostly produce statements that run (a test of errors only proves little).
    expect(answered).toBeGreaterThan(COUNT * 0.8);
    expect(writesAnswered).toBeGreaterThan(writes * 0.7);
    process.stdout.write(`two-stage differential: ${answered}/${COUNT} answered, writes ${writesAnswered}/${writes}\n`);
    expect(await canariesInDump(t.cluster, CANARIES)).toEqual([]);
    for (const canary of CANARIES) expect(t.serverLog().filter((l) => l.includes(canary)), canary).toEqual([]);
  }, 1_800_000);
});
