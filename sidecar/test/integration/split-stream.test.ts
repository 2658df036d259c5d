// Splitting (issue 12): a plain projection of a split table (SelectPlan.direct) goes to the client
// batch by batch, each recomposed batch's rows sent as soon as they are encoded; a row-local
// statement the engine computes, its rows over each batch. Over more rows than four batches, on two
// real backends, against an unsplit oracle, in the simple and the extended protocol: the client
// gets the oracle's rows and tag; a client that stops reading after its first row holds the proxy
// mid-read (the home fragment's cursor still open: the result is not held whole, and the proxy
// fetches no further than the client reads); the home cursor's connection terminated mid-read
// fails the statement after the rows already sent (and aborts an open block); a read-only grant
// streams and cannot write; no backend holds an encrypted canary.
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { SCAN_BATCH } from '../../src/split/stage.ts';
import { canariesInDump, USERS } from '../corpus/setup.ts';
import { settled, until } from '@clarus/testing/wait.ts';
import { openScans, startSplit, streamed } from './split-env.ts';
import type { BackendName, SplitEnv, Streamed } from './split-env.ts';

const N = SCAN_BATCH * 4 + 7;
const PAD = 'x'.repeat(600);
const CREATE = 'CREATE TABLE patient (pat_id int PRIMARY KEY, pat_name text NOT NULL, age int, pat_ssn text, diagnosis text, ward text)';
const COPY = 'COPY patient (pat_id, pat_name, age, pat_ssn, diagnosis, ward) FROM STDIN';
const data = Array.from({ length: N }, (_, i) => `${i + 1}\tName-${i + 1}-canary-${PAD}\t${i % 90}\t${i + 1}-ssn-canary\tdiag-${i % 13}-canary\tward-${i % 7}`).join('\n') + '\n';
const PLAIN = 'SELECT pat_id, pat_name, ward, diagnosis FROM patient';
const PARAM = 'SELECT pat_id, pat_name, ward FROM patient WHERE pat_id > $1';
/** Computed by the engine (an expression, a condition over an encrypted column), batch by batch. */
const LOCAL = "SELECT pat_id, pat_name || '!' AS n, upper(ward) AS w FROM patient WHERE diagnosis NOT LIKE $1";

let env: SplitEnv;
let doc: pg.Client;
let oracleCluster: PgCluster;
let oracle: pg.Client;

const socketOf = (c: pg.Client): Socket => (c as unknown as { connection: { stream: Socket } }).connection.stream;
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
}, 240_000);
afterAll(async () => {
  await oracle?.end().catch(() => undefined);
  await env?.close();
  await oracleCluster?.destroy();
});

// Every read that stalls is on a new connection (env.client()): the kernel grows a socket's receive
// buffer as its reader drains it (measured with `ss -tmi`: 150 KB on a new connection, 2.3 MB after
// one read of this result, up to tcp_rmem's 32 MB), so on a reused connection the whole result may
// sit in the client's buffer and the proxy end its scan before the client reads (a CI failure).
describe('split table: a direct read streams batch by batch', () => {
  for (const [proto, sql, values] of [['simple', PLAIN, undefined], ['extended', PARAM, [3]], ['row-local engine statement, extended', LOCAL, ['diag-1%']]] as const) {
    it(`${proto}: the oracle's rows and tag; a client that stops reading holds the proxy mid-read`, async () => {
      const c = await env.client();
      const sock = socketOf(c);
      let stalled = -1;
      const held = new Promise<void>((resolve) => {
        const got = streamed(c, sql, values ? [...values] : undefined, () => {
          sock.pause();
          void (async () => {
            // The proxy fills the socket buffers, then waits with the home cursor open.
            stalled = await settled(() => openScans(env), (n) => n === 1);
            sock.resume();
            resolve();
          })();
        });
        void got.then((r) => { result = r; });
      });
      let result: Streamed | null = null;
      await held;
      await until('the statement to end', () => result !== null, 60_000);
      expect(stalled, 'the home cursor is open when the client has its first row').toBe(1);
      const r = result as unknown as Streamed;
      const want = await oracle.query(sql, values ? [...values] : undefined);
      expect(r.error).toBeNull();
      expect(r.rowCount).toBe(want.rowCount);
      expect(r.rows).toEqual(want.rows);
      expect(await openScans(env)).toBe(0);
      await c.end();
    }, 120_000);
  }

  it('a fragment connection terminated mid-read: the rows sent, then the error; an open block is aborted', async () => {
    // The proxy's scan of the home fragment (its cursor's connection): a lost connection of the
    // other fragment between two batches is opened again outside a block (each batch's read of it
    // is a statement of its own), the cursor's cannot be.
    const kill = () => { void env.backend('cloud-a').query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query LIKE 'FETCH%'"); };
    for (const [sql, values] of [[PLAIN, undefined], [PARAM, [0]]] as const) {
      const c = await env.client();
      const sock = socketOf(c);
      const r = await streamed(c, sql, values ? [...values] : undefined, () => {
        sock.pause();
        kill();
        setTimeout(() => sock.resume(), 500);
      });
      expect(r.error?.code, sql).toMatch(/^(57P01|08006)$/);
      expect(r.rows.length).toBeGreaterThan(0);
      expect(r.rows.length).toBeLessThan(N);
      expect(r.rows[0]?.pat_id).toBe(1);
      expect(await c.query('SELECT count(*)::int AS n FROM patient')).toMatchObject({ rows: [{ n: N }] });
      await c.end();
    }
    const c = await env.client();
    await c.query('BEGIN');
    const sock = socketOf(c);
    const r = await streamed(c, PLAIN, undefined, () => { sock.pause(); kill(); setTimeout(() => sock.resume(), 500); });
    expect(r.error?.code).toMatch(/^(57P01|08006)$/);
    await expect(c.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
    await c.query('ROLLBACK');
    expect((await c.query(PARAM, [N - 2])).rows.map((x) => x.pat_id)).toEqual([N - 1, N]);
    await c.end();
  }, 120_000);

  it('a read-only grant streams the rows and cannot write', async () => {
    const analyst = await env.client(USERS.analyst);
    const r = await streamed(analyst, 'SELECT pat_id, ward FROM patient', undefined);
    expect(r.error).toBeNull();
    expect(r.rowCount).toBe(N);
    expect(r.rows.length).toBe(N);
    await expect(analyst.query("UPDATE patient SET ward = 'x' WHERE pat_id = 1")).rejects.toMatchObject({ code: '42501' });
    await analyst.end();
  });

  it('no backend holds an encrypted canary in clear, in its tables or its server log', async () => {
    const canaries = ['Name-1-canary', `Name-${N}-canary`, '1-ssn-canary', 'diag-3-canary'];
    for (const b of ['cloud-a', 'cloud-b'] as BackendName[]) {
      expect(await canariesInDump(env.clusters.get(b) as PgCluster, canaries), b).toEqual([]);
      const log = env.serverLog(b);
      for (const c of canaries) expect(log.includes(c), `${b} log: ${c}`).toBe(false);
    }
  });
});
