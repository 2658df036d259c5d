// Splitting (issue 12): a client's CancelRequest during a streamed split read (the stage pouring
// its result batch by batch, split/stage.ts) stops it as PostgreSQL cancels a statement mid-result:
// the rows already sent, then 57014; the home fragment's cursor is closed at once (also while the
// client is not reading), the session goes on (in a block: the block is failed, ROLLBACK ends it);
// no row is sent half. A cancel with no read in flight changes nothing. Two real backends, a raw
// CancelRequest with the session's key (BackendKeyData), the client pausing so the read is in flight.
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { encodeStartup } from '../../src/protocol/startup.ts';
import { SCAN_BATCH } from '../../src/split/stage.ts';
import { settled } from '@clarus/testing/wait.ts';
import { openScans, startSplit, streamed } from './split-env.ts';
import type { SplitEnv, Streamed } from './split-env.ts';

const N = SCAN_BATCH * 4 + 7;
const PAD = 'x'.repeat(600);
const CREATE = 'CREATE TABLE patient (pat_id int PRIMARY KEY, pat_name text NOT NULL, age int, pat_ssn text, diagnosis text, ward text)';
const COPY = 'COPY patient (pat_id, pat_name, age, pat_ssn, diagnosis, ward) FROM STDIN';
const data = Array.from({ length: N }, (_, i) => `${i + 1}\tName-${i + 1}-${PAD}\t${i % 90}\t${i + 1}-ssn\tdiag-${i % 13}\tward-${i % 7}`).join('\n') + '\n';
const PLAIN = 'SELECT pat_id, pat_name, ward, diagnosis FROM patient';
const PARAM = 'SELECT pat_id, pat_name, ward FROM patient WHERE pat_id > $1';
/** Computed by the engine batch by batch (row-local). */
const LOCAL = "SELECT pat_id, pat_name || '!' AS pat_name, upper(ward) AS ward FROM patient WHERE diagnosis NOT LIKE $1";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let env: SplitEnv;
let doc: pg.Client;

const socketOf = (c: pg.Client): Socket => (c as unknown as { connection: { stream: Socket } }).connection.stream;
const keyOf = (c: pg.Client): { pid: number; secret: number } => {
  const k = c as unknown as { processID: number; secretKey: number };
  return { pid: k.processID, secret: k.secretKey };
};

/** A raw CancelRequest for `c`'s session, on a new connection to the proxy. */
async function cancel(c: pg.Client): Promise<void> {
  const { pid, secret } = keyOf(c);
  const b = encodeStartup({ type: 'CancelRequest', processId: pid, secretKey: secret });
  await new Promise<void>((resolve, reject) => {
    const s = connect({ host: env.proxy.host, port: env.proxy.port }, () => s.end(b));
    s.on('close', () => resolve());
    s.on('error', reject);
  });
}

/**
 * Whether `cond` holds within 20 s. A state between two fragment requests (a batch being recomposed
 * while the home cursor waits for its next FETCH) lasts a few ms once decryption is native: the
 * open scan is polled every 5 ms.
 */
const reached = (cond: () => Promise<boolean>, stepMs = 100): Promise<boolean> => settled(cond, Boolean, 20_000, stepMs);

/**
 * `sql` read with the client pausing at its first row: once the proxy waits with the home cursor
 * open (the read in flight), a CancelRequest; the cursor must close while the client still does
 * not read; then the client reads on. What it got, and whether the cursor was open / closed.
 */
async function cancelled(sql: string, values?: unknown[]): Promise<Streamed & { inFlight: boolean; closed: boolean }> {
  const sock = socketOf(doc);
  let inFlight = false;
  let closed = false;
  const r = await streamed(doc, sql, values, () => {
    sock.pause();
    void (async () => {
      inFlight = await reached(async () => (await openScans(env)) === 1, 5);
      await cancel(doc);
      closed = await reached(async () => (await openScans(env)) === 0);
      sock.resume();
    })();
  });
  return { ...r, inFlight, closed };
}

/** Every row as the table has it (none half): the ids in order from 1, each row's values whole. */
function whole(sql: string, rows: ReadonlyArray<Record<string, unknown>>): void {
  rows.forEach((row, i) => {
    const id = i + 1;
    expect(row.pat_id, sql).toBe(sql === PARAM ? id + 1 : id);
  });
  for (const row of rows) {
    const id = row.pat_id as number;
    const name = `Name-${id}-${PAD}`;
    expect(row.pat_name, sql).toBe(sql === LOCAL ? `${name}!` : name);
    expect(row.ward, sql).toBe(sql === LOCAL ? `WARD-${(id - 1) % 7}` : `ward-${(id - 1) % 7}`);
  }
}

beforeAll(async () => {
  env = await startSplit({ backends: 2 });
  doc = await env.client();
  await doc.query(CREATE);
  await pipeline(Readable.from([Buffer.from(data, 'utf8')]), doc.query(copyFrom(COPY)));
}, 240_000);
afterAll(async () => {
  await env?.close();
});
// Each test on a new connection: the kernel grows a socket's receive buffer as its reader drains it
// (see split-stream.test), so a reused connection could take the whole result into its buffer and
// the read would be over before the client stops reading.
beforeEach(async () => { await doc.end(); doc = await env.client(); });

describe('split table: a CancelRequest during a streamed read', () => {
  for (const [proto, sql, values] of [['simple', PLAIN, undefined], ['extended', PARAM, [1]], ['row-local engine statement, extended', LOCAL, ['nothing%']]] as const) {
    it(`${proto}: the rows sent, then 57014; the home cursor closed at once; the session goes on`, async () => {
      const r = await cancelled(sql, values ? [...values] : undefined);
      expect(r.inFlight, 'the read was in flight (the home cursor open) when the cancel came').toBe(true);
      expect(r.closed, 'the home cursor closed while the client was not reading').toBe(true);
      expect(r.error?.code).toBe('57014');
      expect(r.error?.message).toBe('canceling statement due to user request');
      expect(r.rows.length).toBeGreaterThan(0);
      expect(r.rows.length).toBeLessThan(N);
      whole(sql, r.rows);
      // The session goes on: the same read whole, a write, no scan or transaction left on a fragment.
      expect((await doc.query(PARAM, [N - 2])).rows.map((x) => x.pat_id)).toEqual([N - 1, N]);
      const all = await streamed(doc, sql, values ? [...values] : undefined);
      expect(all.error).toBeNull();
      expect(all.rowCount).toBe(sql === PARAM ? N - 1 : N);
      await doc.query("UPDATE patient SET ward = 'ward-0' WHERE pat_id = 1");
      for (const b of ['cloud-a', 'cloud-b'] as const) {
        const left = await env.backend(b).query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()");
        expect(left.rows[0]?.n, b).toBe(0);
      }
    }, 120_000);
  }

  it('in a block: 57014 fails the block (25P02 until ROLLBACK), then reads and writes go on', async () => {
    await doc.query('BEGIN');
    const r = await cancelled(PLAIN);
    expect(r.inFlight).toBe(true);
    expect(r.error?.code).toBe('57014');
    whole(PLAIN, r.rows);
    await expect(doc.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
    await doc.query('ROLLBACK');
    expect((await doc.query(PARAM, [N - 2])).rows.map((x) => x.pat_id)).toEqual([N - 1, N]);
    await doc.query('BEGIN');
    await doc.query("UPDATE patient SET ward = 'ward-x' WHERE pat_id = 2");
    await doc.query('COMMIT');
    expect((await doc.query('SELECT ward FROM patient WHERE pat_id = 2')).rows).toEqual([{ ward: 'ward-x' }]);
    await doc.query("UPDATE patient SET ward = 'ward-1' WHERE pat_id = 2");
  }, 120_000);

  it('a cancel when nothing runs changes nothing: the next streamed read is whole', async () => {
    await cancel(doc);
    await sleep(300);
    const r = await streamed(doc, PLAIN, undefined);
    expect(r.error).toBeNull();
    expect(r.rowCount).toBe(N);
    whole(PLAIN, r.rows);
  }, 120_000);
});

/** Fragment connections of the proxy running a request now, on both backends. */
async function activeFragments(): Promise<number> {
  let n = 0;
  for (const b of ['cloud-a', 'cloud-b'] as const) {
    const r = await env.backend(b).query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'clarus-split' AND state = 'active'");
    n += r.rows[0]?.n ?? 0;
  }
  return n;
}

describe('split table: a CancelRequest during a held read (COPY TO: not streamed)', () => {
  it('while no fragment request runs (the engine computing after the scans): 57014, the session goes on', async () => {
    const SLOW = 'COPY (SELECT count(DISTINCT md5(p.pat_name || g.x::text)) AS n FROM patient p, generate_series(1, 30) g(x)) TO STDOUT';
    let done = false;
    const copied: Buffer[] = [];
    const q = pipeline(doc.query(copyTo(SLOW)), new Writable({ write: (c: Buffer, _e, cb) => { copied.push(c); cb(); } }))
      .finally(() => { done = true; });
    expect(await reached(async () => (await openScans(env)) === 1, 5), 'the home scan opened').toBe(true);
    expect(await reached(async () => (await openScans(env)) === 0 && (await activeFragments()) === 0), 'the fragment reads are over').toBe(true);
    expect(done, 'the engine still computes').toBe(false);
    await cancel(doc);
    await expect(q).rejects.toMatchObject({ code: '57014', message: 'canceling statement due to user request' });
    expect(copied).toEqual([]);
    expect((await doc.query(PARAM, [N - 2])).rows.map((x) => x.pat_id)).toEqual([N - 1, N]);
  }, 120_000);
});
