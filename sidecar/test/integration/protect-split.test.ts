// A policy that splits a column onto a backend the proxy has no connection settings for (a
// configuration error), through the real proxy: every statement on the split dataset fails — with
// 08001 naming that backend when it would need it, 0A000 for forms the split planner refuses — and
// the home backend is left exactly as it was (a CREATE TABLE is rolled back there too); the dataset
// that is not split keeps working (encrypted at rest), and the connection survives the failures.
// Splitting itself is tested on real backends in split.test.ts.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAuditLines } from '../../src/access/audit-file.ts';
import { EHEALTH_SPLIT_POLICY } from '@clarus/testing/rewriter.ts';
import { CREATE_PATIENT, CREATE_VISIT, USERS, canariesInTable, startProtected } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';

const UNREACHABLE = /backend "cloud-b"/;
const UNPLANNED = /split table public\.patient \(dataset patients\)|in-proxy stage|renaming protected column/;

let cluster: PgCluster;
let env: ProtectedEnv;
let doc: pg.Client;

async function refusal(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return { code: (e as { code?: string }).code, message: (e as Error).message };
  }
  throw new Error('the statement was not refused');
}

async function tableExists(name: string): Promise<boolean> {
  const r = await env.backend.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [name]);
  return r.rows[0]?.t !== null;
}

beforeAll(async () => {
  cluster = await startPostgres();
  env = await startProtected(cluster, EHEALTH_SPLIT_POLICY);
  doc = new pg.Client({ connectionString: env.url(USERS.doctor) });
  await doc.connect();
});
afterAll(async () => {
  await doc?.end();
  await env?.close();
  await cluster?.destroy();
});

describe('split dataset whose backend the proxy cannot reach: refused, backend unchanged', () => {
  it('CREATE TABLE fails naming the backend and no table is created', async () => {
    const r = await refusal(doc.query(CREATE_PATIENT));
    expect(r.code).toBe('08001');
    expect(r.message).toMatch(UNREACHABLE);
    expect(await tableExists('public.patient')).toBe(false);
  });

  it('DML, SELECT *, COPY and DROP on a table that exists are refused and change nothing', async () => {
    // The table exists on the backend (created out of band) with one known row.
    await env.backend.query('CREATE TABLE patient (pat_id int PRIMARY KEY, pat_name text, pat_ssn text, pat_zip text, pat_birth date, diagnosis text)');
    await env.backend.query("INSERT INTO patient VALUES (1, 'pre-existing', NULL, NULL, NULL, 'pre-diag')");
    const before = (await env.backend.query('SELECT * FROM patient')).rows;
    const statements: Array<[string, unknown[] | undefined, string, RegExp]> = [
      ["INSERT INTO patient (pat_id, pat_name, diagnosis) VALUES (2, 'Split Canary', 'split-diag-canary')", undefined, '08001', UNREACHABLE],
      ['INSERT INTO patient (pat_id, pat_name, diagnosis) VALUES ($1, $2, $3)', [3, 'Split Canary', 'split-diag-canary'], '08001', UNREACHABLE],
      ["UPDATE patient SET diagnosis = 'split-diag-canary' WHERE pat_id = 1", undefined, '08001', UNREACHABLE],
      ['DELETE FROM patient WHERE pat_id = $1', [1], '08001', UNREACHABLE],
      ['SELECT * FROM patient', undefined, '0A000', UNPLANNED],
      ['SELECT pat_id FROM patient', undefined, '0A000', UNPLANNED],
      ['ALTER TABLE patient RENAME COLUMN pat_zip TO zip', undefined, '0A000', UNPLANNED],
      ['TRUNCATE patient', undefined, '08001', UNREACHABLE],
      ['DROP TABLE patient', undefined, '08001', UNREACHABLE],
    ];
    for (const [sql, params, code, message] of statements) {
      const r = await refusal(doc.query(sql, params));
      expect(r.code, sql).toBe(code);
      expect(r.message, sql).toMatch(message);
    }
    const copyIn = await refusal(pipeline(Readable.from(['4\tSplit Canary\t\\N\t\\N\t\\N\tsplit-diag-canary\n']), doc.query(copyStreams.from('COPY patient FROM STDIN'))));
    expect(copyIn.code).toBe('0A000');
    const copyOut = await refusal(pipeline(doc.query(copyStreams.to('COPY patient TO STDOUT')), async function* (rows) {
      for await (const row of rows) yield row;
    }));
    expect(copyOut.code).toBe('0A000');
    expect((await env.backend.query('SELECT * FROM patient')).rows).toEqual(before);
    expect(await canariesInTable(env.backend, 'patient', ['Split Canary', 'split-diag-canary'])).toEqual([]);
    expect((await env.backend.query("SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'patient' AND column_name = 'extra'")).rows[0].n).toBe(0);
  });

  it('the dataset that is not split works on the same connection, encrypted at rest', async () => {
    await doc.query(CREATE_VISIT);
    await doc.query("INSERT INTO visit (visit_id, pat_id, reason, notes) VALUES (1, 1, 'visit-reason-canary', 'visit-notes-canary')");
    expect((await doc.query('SELECT * FROM visit')).rows).toEqual([{ visit_id: 1, pat_id: 1, reason: 'visit-reason-canary', notes: 'visit-notes-canary' }]);
    expect(await canariesInTable(env.backend, 'visit', ['visit-reason-canary', 'visit-notes-canary'])).toEqual([]);
    expect((await doc.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('the statements are audited against the split dataset', () => {
    const lines = readAuditLines(env.auditFile).map((l) => JSON.parse(l) as { datasets: string[]; outcome: string; code?: string });
    const seen = lines.filter((l) => l.datasets.includes('patients'));
    expect(seen.length).toBeGreaterThanOrEqual(6);
  });
});
