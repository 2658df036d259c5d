// Splitting (issue 12): a SELECT joining a split table with unsplit tables inside the client's
// transaction block sees the block's uncommitted writes to the unsplit tables (they are read on
// the client's own backend connection, through the statement the client's backend gets in place
// of the split statement), in both protocols, against an unsplit oracle running the same block.
// An unsplit row referencing (foreign key) a split row inserted in the same block fails as
// documented. Each backend's pg_dump and log_statement = all log are scanned for the canaries.
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { canariesInDump, USERS } from '../corpus/setup.ts';
import { startSplit } from './split-env.ts';
import type { BackendName, SplitEnv } from './split-env.ts';

const CREATE = 'CREATE TABLE patient (pat_id int PRIMARY KEY, pat_name text NOT NULL, age int, pat_ssn text, diagnosis text, ward text)';
const CREATE_VISIT = 'CREATE TABLE visit (visit_id int PRIMARY KEY, reason text, pat_id int)';
const CREATE_NOTE = 'CREATE TABLE note (note_id int PRIMARY KEY, body text, pat_id int)';
const ROWS = [
  [1, 'Ann Canary', 41, '111-canary', 'flu-canary', 'ward-1'],
  [2, 'Bob Canary', 52, '222-canary', 'cold-canary', 'ward-2'],
];
const JOIN = 'SELECT p.pat_id, p.pat_name, p.diagnosis, v.visit_id, v.reason FROM patient p JOIN visit v ON v.pat_id = p.pat_id ORDER BY v.visit_id';
const JOIN3 = 'SELECT p.pat_id, v.reason, n.body FROM patient p JOIN visit v ON v.pat_id = p.pat_id LEFT JOIN note n ON n.pat_id = p.pat_id WHERE p.age > $1 ORDER BY v.visit_id, n.note_id';

let env: SplitEnv;
let doc: pg.Client;
let oracleCluster: PgCluster;
let oracle: pg.Client;

async function both(sql: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const got = await doc.query(sql, values);
  const want = await oracle.query(sql, values);
  expect(got.rows, sql).toEqual(want.rows);
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
    await c.query(CREATE_VISIT);
    await c.query(CREATE_NOTE);
    for (const r of ROWS) await c.query('INSERT INTO patient (pat_id, pat_name, age, pat_ssn, diagnosis, ward) VALUES ($1, $2, $3, $4, $5, $6)', r);
    await c.query("INSERT INTO visit (visit_id, reason, pat_id) VALUES (10, 'reason-a-canary', 1)");
  }
}, 120_000);
afterAll(async () => {
  await oracle?.end().catch(() => undefined);
  await env?.close();
  await oracleCluster?.destroy();
});

describe('split table joined with unsplit tables in a block', () => {
  it('sees the block\'s uncommitted INSERT, UPDATE and DELETE on the unsplit (encrypted) table, simple protocol', async () => {
    for (const c of [doc, oracle]) {
      await c.query('BEGIN');
      await c.query("INSERT INTO visit (visit_id, reason, pat_id) VALUES (11, 'block-reason-canary', 2)");
    }
    expect((await both(JOIN)).rows.map((r) => r.visit_id)).toEqual([10, 11]);
    for (const c of [doc, oracle]) await c.query("UPDATE visit SET reason = 'changed-reason-canary' WHERE visit_id = 10");
    await both(JOIN);
    for (const c of [doc, oracle]) await c.query('DELETE FROM visit WHERE visit_id = 11');
    expect((await both(JOIN)).rows).toEqual([{ pat_id: 1, pat_name: 'Ann Canary', diagnosis: 'flu-canary', visit_id: 10, reason: 'changed-reason-canary' }]);
    for (const c of [doc, oracle]) await c.query('ROLLBACK');
    // Rolled back: the committed rows again.
    expect((await both(JOIN)).rows.map((r) => [r.visit_id, r.reason])).toEqual([[10, 'reason-a-canary']]);
  });

  it('extended protocol with a parameter, several unsplit tables (one empty), after a split write in the same block', async () => {
    for (const c of [doc, oracle]) {
      await c.query('BEGIN');
      await c.query("INSERT INTO patient (pat_id, pat_name, age, pat_ssn, diagnosis, ward) VALUES (3, 'Cy Canary', 63, '333-canary', 'gout-canary', 'ward-3')");
      await c.query('INSERT INTO visit (visit_id, reason, pat_id) VALUES ($1, $2, $3)', [12, 'cy-reason-canary', 3]);
    }
    await both(JOIN3, [40]);
    for (const c of [doc, oracle]) await c.query('INSERT INTO note (note_id, body, pat_id) VALUES ($1, $2, $3)', [100, 'note-canary', 3]);
    const r = await both(JOIN3, [50]);
    expect(r.rows).toEqual([{ pat_id: 3, reason: 'cy-reason-canary', body: 'note-canary' }]);
    // A savepoint rolled back: the rows it wrote are gone from the join too.
    for (const c of [doc, oracle]) {
      await c.query('SAVEPOINT s1');
      await c.query("INSERT INTO note (note_id, body, pat_id) VALUES (101, 'sp-note-canary', 1)");
    }
    await both(JOIN3, [0]);
    for (const c of [doc, oracle]) await c.query('ROLLBACK TO SAVEPOINT s1');
    await both(JOIN3, [0]);
    for (const c of [doc, oracle]) await c.query('COMMIT');
    await both(JOIN3, [0]);
    await both('SELECT pat_id, pat_name, age, pat_ssn, diagnosis, ward FROM patient ORDER BY pat_id');
  });

  it('COPY (SELECT … JOIN) TO STDOUT and INSERT … SELECT into the split table see the block\'s writes to the unsplit table', async () => {
    const copyJoin = 'COPY (SELECT p.pat_id, v.visit_id, v.reason FROM patient p JOIN visit v ON v.pat_id = p.pat_id ORDER BY v.visit_id) TO STDOUT';
    const outs: string[] = [];
    for (const c of [doc, oracle]) {
      await c.query('BEGIN');
      await c.query('INSERT INTO visit (visit_id, reason, pat_id) VALUES ($1, $2, $3)', [14, 'copy-reason-canary', 1]);
      const chunks: Buffer[] = [];
      await pipeline(c.query(copyTo(copyJoin)), new Writable({ write(chunk: Buffer, _e, cb) { chunks.push(chunk); cb(); } }));
      outs.push(Buffer.concat(chunks).toString('utf8'));
    }
    expect(outs[0]).toBe(outs[1]);
    expect(outs[0]).toContain('copy-reason-canary');
    const ins = 'INSERT INTO patient (pat_id, pat_name, age) SELECT v.visit_id + 100, v.reason, p.age FROM visit v JOIN patient p ON p.pat_id = v.pat_id WHERE v.visit_id = $1 RETURNING pat_id';
    await both(ins, [14]);
    await both('SELECT pat_id, pat_name, age FROM patient ORDER BY pat_id');
    for (const c of [doc, oracle]) await c.query('ROLLBACK');
    await both('SELECT pat_id, pat_name, age FROM patient ORDER BY pat_id');
  });

  it('a read-only grant reads the join in a block and cannot write', async () => {
    const analyst = await env.client(USERS.analyst);
    await analyst.query('BEGIN');
    const r = await analyst.query('SELECT p.pat_id, v.visit_id FROM patient p JOIN visit v ON v.pat_id = p.pat_id ORDER BY 2');
    expect(r.rows.map((x) => x.visit_id)).toEqual([10, 12]);
    await expect(analyst.query("INSERT INTO visit (visit_id, reason, pat_id) VALUES (13, 'ro-canary', 1)")).rejects.toMatchObject({ code: '42501' });
    await analyst.query('ROLLBACK');
  });

  it('a foreign key to a split table is refused through the proxy; one made on the home backend fails (23503) for a split row inserted in the same block', async () => {
    const ddl = 'CREATE TABLE ref_note (id int PRIMARY KEY, pat_id int REFERENCES patient (pat_id))';
    await expect(doc.query(ddl)).rejects.toMatchObject({ code: '0A000' });
    // An administrator makes it on the home backend: it references the home fragment.
    await env.backend('cloud-a').query(ddl);
    await env.backend('cloud-a').query('GRANT ALL ON ref_note TO PUBLIC');
    await doc.query('BEGIN');
    await doc.query("INSERT INTO patient (pat_id, pat_name, age) VALUES (4, 'Di Canary', 70)");
    await expect(doc.query('INSERT INTO ref_note VALUES (1, 4)')).rejects.toMatchObject({ code: '23503' });
    await doc.query('ROLLBACK');
    // Committed first, the reference works.
    await doc.query("INSERT INTO patient (pat_id, pat_name, age) VALUES (4, 'Di Canary', 70)");
    await doc.query('BEGIN');
    await doc.query('INSERT INTO ref_note VALUES (1, 4)');
    await doc.query('COMMIT');
    expect((await doc.query('SELECT id, pat_id FROM ref_note')).rows).toEqual([{ id: 1, pat_id: 4 }]);
  });

  it('no backend holds a canary of an encrypted column in clear, in its tables or its server log', async () => {
    const names: BackendName[] = ['cloud-a', 'cloud-b'];
    const encrypted = ['Canary', 'reason-a-canary', 'copy-reason-canary', 'block-reason-canary', 'changed-reason-canary', 'cy-reason-canary', '111-canary', 'flu-canary', 'gout-canary'];
    for (const b of names) {
      const cluster = env.clusters.get(b) as PgCluster;
      expect(await canariesInDump(cluster, encrypted), b).toEqual([]);
      const log = env.serverLog(b);
      for (const c of encrypted) expect(log.includes(c), `${b} log: ${c}`).toBe(false);
    }
    // The ward (split in clear) is only on cloud-b.
    expect(await canariesInDump(env.clusters.get('cloud-a') as PgCluster, ['ward-1'])).toEqual([]);
  });
});
