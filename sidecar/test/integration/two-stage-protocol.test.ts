// Two-stage statements (issue 10) in the protocol's less common forms: Execute with a row limit
// (portals fetched in chunks: node-postgres cursors, JDBC setFetchSize) served from the result the
// proxy holds, with PortalSuspended while rows remain, exactly as PostgreSQL serves a portal; and
// parameters in binary format, read by their declared types. Results are compared with an oracle
// PostgreSQL holding the same rows in plain tables; the backend's dump and log hold no canary.
import pg from 'pg';
import Cursor from 'pg-cursor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USERS, canariesInDump } from '../corpus/setup.ts';
import { SUPERUSER, SUPERUSER_PASSWORD } from '@clarus/testing/pg.ts';
import { frontendBytes, RawClient } from '@clarus/testing/proxy.ts';
import type { FrontendMessage } from '../../src/protocol/frontend.ts';
import type { BackendMessage } from '../../src/protocol/backend.ts';
import { CANARIES, startTwoStage } from './two-stage-env.ts';
import type { TwoStageEnv } from './two-stage-env.ts';

let t: TwoStageEnv;
beforeAll(async () => { t = await startTwoStage(5000); }, 120_000);
afterAll(async () => { await t?.close(); });

/** Reads the statement with a cursor, `n` rows at a time, until a short read. */
async function chunks(c: pg.Client, sql: string, params: unknown[], n: number): Promise<unknown[][]> {
  const cursor = c.query(new Cursor(sql, params));
  const out: unknown[][] = [];
  for (;;) {
    const rows = await cursor.read(n);
    out.push(rows);
    if (rows.length < n) break;
  }
  await cursor.close();
  return out;
}

/** The messages of one cycle, as type names (DataRow values elided), and the DataRows' text. */
const shape = (ms: BackendMessage[]): string[] => ms.map((m) => (m.type === 'CommandComplete' ? `CommandComplete ${m.tag}` : m.type === 'ErrorResponse' ? `ErrorResponse ${m.fields.C ?? ''}` : m.type));
const texts = (ms: BackendMessage[]): string[] => ms.flatMap((m) => (m.type === 'DataRow' ? [m.values.map((v) => (v === null ? 'NULL' : Buffer.from(v).toString())).join('|')] : []));

describe('Execute with a row limit', () => {
  it.each([
    { sql: 'SELECT pat_id, upper(pat_name) AS u FROM patient ORDER BY pat_name, pat_id', params: [], n: 7 },
    // 40 rows in chunks of 8: the fifth read gets 8 and the portal stays suspended; the sixth gets none.
    { sql: 'SELECT pat_id, length(pat_ssn) FROM patient WHERE pat_id >= $1 ORDER BY 1', params: [0], n: 8 },
    { sql: "SELECT left(pat_name, 1) AS i, count(*) FROM patient WHERE pat_name LIKE $1 GROUP BY 1 ORDER BY 1", params: ['%canary%'], n: 1 },
    { sql: 'SELECT pat_name FROM patient UNION SELECT notes FROM visit UNION SELECT reason FROM visit ORDER BY 1', params: [], n: 50 },
  ])('$sql in chunks of $n', async ({ sql, params, n }) => {
    const got = await chunks(t.c, sql, params, n);
    const want = await chunks(t.oracle, sql, params, n);
    expect(got).toEqual(want);
    expect(got.length).toBeGreaterThan(1);
  });

  it('answers each Execute of a pipelined batch in order, as PostgreSQL does: rows, PortalSuspended, the last tag counting its own rows', async () => {
    const [r, o] = await Promise.all([RawClient.open(t.env.proxy.port, USERS.doctor), RawClient.open(t.oracle.port, { name: SUPERUSER, password: SUPERUSER_PASSWORD })]);
    try {
      const parse: FrontendMessage = { type: 'Parse', name: '', sql: 'SELECT pat_id, upper(pat_name) FROM patient WHERE pat_id < $1 ORDER BY pat_id', paramTypes: [23] };
      const bind: FrontendMessage = { type: 'Bind', portal: 'c1', statement: '', paramFormats: [0], values: [Buffer.from('5')], resultFormats: [] };
      const exec = (maxRows: number): FrontendMessage => ({ type: 'Execute', portal: 'c1', maxRows });
      const batches: FrontendMessage[][] = [
        [parse, bind, exec(2), exec(2), exec(2), exec(2), { type: 'Sync' }],
        // Outside a transaction block the portal is gone after Sync, on the backend and in the proxy.
        [exec(2), { type: 'Sync' }],
        // In a block the portal lives on; a new Bind of its name starts afresh.
        [{ type: 'Query', sql: 'BEGIN' }],
        [parse, bind, exec(3), { type: 'Sync' }],
        [exec(0), { type: 'Sync' }],
        [exec(1), { type: 'Sync' }],
        [{ type: 'Query', sql: 'COMMIT' }],
      ];
      const seen: string[][] = [];
      for (const b of batches) {
        r.socket.write(frontendBytes(b));
        o.socket.write(frontendBytes(b));
        const [got, want] = await Promise.all([r.cycle(), o.cycle()]);
        expect([shape(got), texts(got)]).toEqual([shape(want), texts(want)]);
        seen.push(shape(got));
      }
      expect(seen[0]).toEqual(['ParseComplete', 'BindComplete', 'DataRow', 'DataRow', 'PortalSuspended', 'DataRow', 'DataRow', 'PortalSuspended',
        'DataRow', 'CommandComplete SELECT 1', 'CommandComplete SELECT 0', 'ReadyForQuery']);
      expect(seen[1]).toEqual(['ErrorResponse 34000', 'ReadyForQuery']);
      expect(seen[4]).toEqual(['DataRow', 'DataRow', 'CommandComplete SELECT 2', 'ReadyForQuery']);
    } finally {
      r.socket.destroy();
      o.socket.destroy();
    }
  });
});

describe('parameters in binary format', () => {
  const int4 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b; };

  it('reads them by the types the Parse declares, as PostgreSQL would', async () => {
    const r = await RawClient.open(t.env.proxy.port, USERS.doctor);
    try {
      const sql = 'SELECT pat_id, lower(pat_name) FROM patient WHERE pat_id < $1 AND pat_name ILIKE $2 AND ($3 OR pat_id > 100) ORDER BY 1';
      r.socket.write(frontendBytes([
        { type: 'Parse', name: '', sql, paramTypes: [23, 25, 16] },
        { type: 'Bind', portal: '', statement: '', paramFormats: [1], values: [int4(30), Buffer.from('%LEE%'), Buffer.from([1])], resultFormats: [] },
        { type: 'Execute', portal: '', maxRows: 0 }, { type: 'Sync' },
      ]));
      const got = await r.cycle();
      const want = await t.oracle.query({ text: sql, values: [30, '%LEE%', true], rowMode: 'array' });
      expect(texts(got)).toEqual(want.rows.map((x: unknown[]) => x.join('|')));
      expect(want.rows.length).toBeGreaterThan(1);
      // Bytes that are not an int4: PostgreSQL's 22P03; an undeclared type cannot be read: refused.
      r.socket.write(frontendBytes([
        { type: 'Bind', portal: '', statement: '', paramFormats: [1], values: [Buffer.from([0, 1, 2]), Buffer.from('%'), Buffer.from([1])], resultFormats: [] },
        { type: 'Execute', portal: '', maxRows: 0 }, { type: 'Sync' },
      ]));
      expect(shape(await r.cycle())).toEqual(['ErrorResponse 22P03', 'ReadyForQuery']);
      r.socket.write(frontendBytes([
        { type: 'Parse', name: '', sql, paramTypes: [] },
        { type: 'Bind', portal: '', statement: '', paramFormats: [1], values: [int4(30), Buffer.from('%LEE%'), Buffer.from([1])], resultFormats: [] },
        { type: 'Execute', portal: '', maxRows: 0 }, { type: 'Sync' },
      ]));
      expect(shape(await r.cycle())).toEqual(['ParseComplete', 'BindComplete', 'ErrorResponse 0A000', 'ReadyForQuery']);
    } finally {
      r.socket.destroy();
    }
  });

  it('stores and sends no plaintext: the dump and the statement log of the backend hold no canary', async () => {
    expect(await canariesInDump(t.cluster, CANARIES)).toEqual([]);
    for (const canary of [...CANARIES, '%LEE%']) expect(t.serverLog().filter((l) => l.includes(canary)), canary).toEqual([]);
  });
});
