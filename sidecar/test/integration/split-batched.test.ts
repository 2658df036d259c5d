// Splitting (issue 12): a split table's rows are recomposed a batch at a time (the home fragment
// read through a cursor in row-key order, SCAN_BATCH rows per FETCH, each batch joined with the
// other fragments by key). Over more rows than three batches, on two real backends, against an
// unsplit oracle: plain projections and engine statements give the oracle's rows; a row missing on
// one fragment (at a batch boundary and inside a batch) is never shown half; reads in a block see
// the block's writes, run twice in the block (the proxy's cursor is gone after each read); a
// failing read is rolled back with its block. No encrypted canary in any
// backend's pg_dump or log_statement = all log; a read-only grant reads and cannot write.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { SCAN_BATCH } from '../../src/split/stage.ts';
import { canariesInDump, USERS } from '../corpus/setup.ts';
import { startSplit } from './split-env.ts';
import type { BackendName, SplitEnv } from './split-env.ts';

const N = SCAN_BATCH * 3 + 7;
const CREATE = 'CREATE TABLE patient (pat_id int PRIMARY KEY, pat_name text NOT NULL, age int, pat_ssn text, diagnosis text, ward text)';
const COPY = 'COPY patient (pat_id, pat_name, age, pat_ssn, diagnosis, ward) FROM STDIN';
const data = Array.from({ length: N }, (_, i) => `${i + 1}\tName-${i + 1}-canary\t${i % 90}\t${i + 1}-ssn-canary\tdiag-${i % 13}-canary\tward-${i % 7}`).join('\n') + '\n';
const PLAIN = 'SELECT pat_id, pat_name, ward, diagnosis FROM patient';
const byId = (rows: Array<{ pat_id: number }>) => [...rows].sort((a, b) => a.pat_id - b.pat_id);

let env: SplitEnv;
let doc: pg.Client;
let oracleCluster: PgCluster;
let oracle: pg.Client;

async function same(sql: string, values: unknown[] = [], sorted = false): Promise<pg.QueryResult> {
  const got = await doc.query(sql, values);
  const want = await oracle.query(sql, values);
  expect(sorted ? byId(got.rows) : got.rows, sql).toEqual(sorted ? byId(want.rows) : want.rows);
  expect(got.rowCount, sql).toBe(want.rowCount);
  return got;
}

beforeAll(async () => {
  env = await startSplit({ backends: 2 });
  doc = await env.client();
  oracleCluster = await startPostgres();
  oracle = new pg.Client({ connectionString: oracleCluster.url(), ssl: { ca: oracleCluster.caPem } });
  await oracle.connect();
  for (const c of [doc, oracle]) {
    await c.query(CREATE);
    await pipeline(Readable.from([Buffer.from(data, 'utf8')]), c.query(copyFrom(COPY)));
  }
}, 180_000);
afterAll(async () => {
  await oracle?.end().catch(() => undefined);
  await env?.close();
  await oracleCluster?.destroy();
});

describe('split table: recomposed a batch at a time', () => {
  it('a plain projection over more than three batches gives every row once, in row-key order', async () => {
    const r = await same(PLAIN, [], true);
    expect(r.rowCount).toBe(N);
    expect(r.rows.map((x) => x.pat_id)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
  });

  it('engine statements over the batched rows (grouping, ordering, a condition on the other fragment, parameters)', async () => {
    await same('SELECT ward, count(*) AS n, min(pat_name) AS first FROM patient GROUP BY ward ORDER BY ward');
    await same("SELECT pat_id, diagnosis FROM patient WHERE diagnosis = $1 AND pat_id > $2 ORDER BY pat_id DESC LIMIT 20", ['diag-3-canary', SCAN_BATCH - 50]);
    await same('SELECT pat_id, age FROM patient WHERE age = 89 ORDER BY pat_id');
  });

  it('a row missing on one fragment (at a batch boundary, inside a batch) is never shown half', async () => {
    const gone = [SCAN_BATCH, SCAN_BATCH + 1, SCAN_BATCH * 2 + 17];
    await env.backend('cloud-b').query('DELETE FROM patient WHERE pat_id = ANY($1)', [gone]);
    await oracle.query('DELETE FROM patient WHERE pat_id = ANY($1)', [gone]);
    const r = await same(PLAIN, [], true);
    expect(r.rowCount).toBe(N - gone.length);
    // Reads whose condition pins the row keys: the home fragment and the other one at once, same answer.
    const before = env.serverLog('cloud-a').length;
    await same('SELECT pat_name, ward FROM patient WHERE pat_id = $1', [SCAN_BATCH]);
    await same('SELECT pat_id, pat_name, diagnosis FROM patient WHERE pat_id IN ($1, 5, \'7\', NULL) ORDER BY pat_id', [SCAN_BATCH + 1]);
    await same('SELECT upper(pat_name) AS u, ward FROM patient WHERE pat_id = $1 AND age >= $2', ['0007', 0]);
    await same('SELECT pat_name FROM patient WHERE pat_id = $1', [null]);
    await expect(doc.query('SELECT ward FROM patient WHERE pat_id = $1', ['x'])).rejects.toMatchObject({ code: '22P02' });
    // Read without a cursor (one statement on the home fragment, no DECLARE).
    const log = env.serverLog('cloud-a').slice(before);
    expect(log).toMatch(/execute <unnamed>: SELECT patient\.pat_id[^\n]* WHERE pat_id = \$1 AND [^\n]*ORDER BY pat_id\n/);
    expect(log).not.toMatch(/DECLARE clarus_split_scan/);
    // SELECT * shows the recorded column order: read through the scan, which reads that order too.
    await same('SELECT * FROM patient WHERE pat_id = 5');
    await doc.query('DELETE FROM patient WHERE pat_id = ANY($1)', [gone]);
    expect((await env.backend('cloud-a').query('SELECT count(*)::int AS n FROM patient')).rows[0]?.n).toBe(N - gone.length);
  });

  it('in a block: reads see the block\'s writes, twice in a row; a failed read in a block, then ROLLBACK, leaves the table as it was', async () => {
    for (const c of [doc, oracle]) {
      await c.query('BEGIN');
      await c.query("UPDATE patient SET ward = 'moved' WHERE pat_id % 1000 = 3");
      await c.query('DELETE FROM patient WHERE pat_id BETWEEN 100 AND 120');
    }
    await same(PLAIN, [], true);
    await same(PLAIN, [], true);
    await same("SELECT count(*)::int AS n FROM patient WHERE ward = 'moved'");
    await same('SELECT pat_id, ward FROM patient WHERE pat_id IN (3, 1003, 110) ORDER BY pat_id');
    for (const c of [doc, oracle]) await c.query('ROLLBACK');
    await doc.query('BEGIN');
    await expect(doc.query('SELECT pat_id, 1 / (age - age) AS x FROM patient')).rejects.toMatchObject({ code: '22012' });
    await doc.query('ROLLBACK');
    await same(PLAIN, [], true);
  });

  it('a read-only grant reads the batched rows and cannot write', async () => {
    const analyst = await env.client(USERS.analyst);
    expect((await analyst.query('SELECT pat_id, ward FROM patient')).rowCount).toBe(N - 3);
    await expect(analyst.query("UPDATE patient SET ward = 'x' WHERE pat_id = 1")).rejects.toMatchObject({ code: '42501' });
  });

  it('no backend holds an encrypted canary in clear, in its tables or its server log', async () => {
    const canaries = ['Name-1-canary', `Name-${N}-canary`, '1-ssn-canary', 'diag-3-canary'];
    for (const b of ['cloud-a', 'cloud-b'] as BackendName[]) {
      expect(await canariesInDump(env.clusters.get(b) as PgCluster, canaries), b).toEqual([]);
      const log = env.serverLog(b);
      for (const c of canaries) expect(log.includes(c), `${b} log: ${c}`).toBe(false);
    }
    expect(await canariesInDump(env.clusters.get('cloud-a') as PgCluster, ['ward-3'])).toEqual([]);
  });
});
