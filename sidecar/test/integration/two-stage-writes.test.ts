// Writes that compute on protected values through the proxy (issue 10): `UPDATE … SET enc =
// f(enc)`, copies between encrypted columns of other modes, `INSERT … SELECT f(enc)`. The backend
// stage reads the rows (an UPDATE locks them FOR UPDATE), the proxy computes the new values and
// writes them back encrypted, one statement per row, in the client's transaction. Each statement is
// compared with the same statement on an oracle PostgreSQL with plain tables: the command tag, the
// whole table afterwards, errors and their effect on the transaction. The backend's dump and its
// log_statement=all log never show a canary, computed ones (upper case) included.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USERS, canariesInDump } from '../corpus/setup.ts';
import { SUPERUSER, SUPERUSER_PASSWORD } from '@clarus/testing/pg.ts';
import { frontendBytes, RawClient } from '@clarus/testing/proxy.ts';
import type { FrontendMessage } from '../../src/protocol/frontend.ts';
import type { BackendMessage } from '../../src/protocol/backend.ts';
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
async function same(sql: string, params?: unknown[], name?: string): Promise<number | string> {
  const q = { text: sql, ...(params ? { values: params } : {}), ...(name ? { name } : {}) };
  const enc = await c.query(q).then((r) => r.rowCount ?? -1, code);
  const plain = await oracle.query(q).then((r) => r.rowCount ?? -1, code);
  expect(enc).toEqual(plain);
  expect((await c.query(PATIENTS)).rows).toEqual((await oracle.query(PATIENTS)).rows);
  expect((await c.query(VISITS)).rows).toEqual((await oracle.query(VISITS)).rows);
  return enc;
}

describe('writes that compute', () => {
  it.each([
    { sql: 'UPDATE patient SET pat_name = upper(pat_name) WHERE pat_id = 1', n: 'some' },
    { sql: 'UPDATE patient SET pat_name = pat_ssn WHERE pat_id = 2', n: 'some' },
    { sql: "UPDATE patient p SET pat_ssn = left(p.pat_name, 4) || '-x', diagnosis = upper(diagnosis) WHERE p.pat_name LIKE 'a%'", n: 'some' },
    { sql: "UPDATE patient SET diagnosis = CASE WHEN pat_id % 2 = 0 THEN 'even ' || coalesce(diagnosis, '?') ELSE diagnosis END WHERE pat_id < 10 AND diagnosis <> 'covid'", n: 'some' },
    { sql: "UPDATE patient SET pat_name = initcap(pat_name), pat_id = pat_id + 1000 WHERE length(pat_name) > 14 AND pat_id > 30", n: 'some' },
    { sql: 'UPDATE patient SET pat_name = upper(pat_name) WHERE pat_id = -1', n: 0 },
    { sql: "UPDATE patient SET pat_id = pat_id + 2000 WHERE upper(pat_name) LIKE 'BOB %'", n: 'some' },
    { sql: "DELETE FROM visit WHERE notes ILIKE '%1 LEE%' AND visit_id > 10", n: 'some' },
    { sql: "INSERT INTO visit (visit_id, pat_id, reason, notes) SELECT 500 + pat_id, pat_id, upper(pat_name), 'copied' FROM patient WHERE pat_name LIKE '%lee%'", n: 'some' },
    { sql: 'INSERT INTO visit (visit_id, pat_id, reason) SELECT 700 + v.visit_id, v.pat_id, p.pat_ssn FROM visit v JOIN patient p ON p.pat_id = v.pat_id WHERE v.visit_id < 4', n: 'some' },
  ])('$sql', async ({ sql, n }) => {
    const r = await same(sql);
    if (n === 0) expect(r).toBe(0); else expect(r).toBeGreaterThan(0);
  });

  it('runs in the extended protocol with parameters (a search term and a value), and as a named prepared statement', async () => {
    expect(await same('UPDATE patient SET pat_name = $1 || pat_name WHERE pat_ssn = $2', ['Dr ', '123-45-1007'])).toBe(1);
    for (const [id, suffix] of [[3, '!'], [6, '?']] as const) {
      expect(await same('UPDATE patient SET pat_name = pat_name || $2 WHERE pat_id = $1 AND pat_name NOT LIKE $3', [id, suffix, '%?'], 'computed_update')).toBe(1);
    }
  });

  it('writes thousands of rows in one statement (batched write-backs)', async () => {
    const t0 = performance.now();
    expect(await same('INSERT INTO visit (visit_id, pat_id, reason) SELECT 10000 + p.pat_id * 100 + g, p.pat_id, upper(p.pat_name) FROM patient p, generate_series(1, 100) g')).toBe(4000);
    process.stdout.write(`4,000-row computed INSERT through the proxy (and its checks): ${Math.round(performance.now() - t0)} ms\n`);
    expect(await same('UPDATE visit SET notes = reason || $1 WHERE visit_id >= 10000', [' (copied)'])).toBe(4000);
    expect(await same('DELETE FROM visit WHERE visit_id >= 10000')).toBe(4000);
  });

  it('stores a searchable column with its blind index: the new value is found by equality', async () => {
    expect(await same("UPDATE patient SET pat_ssn = 'zq-' || left(upper(pat_name), 5) WHERE pat_id = 8")).toBe(1);
    const ssn = (await oracle.query<{ pat_ssn: string }>('SELECT pat_ssn FROM patient WHERE pat_id = 8')).rows[0]?.pat_ssn;
    expect(ssn).toMatch(/^zq-/);
    expect((await c.query('SELECT pat_id FROM patient WHERE pat_ssn = $1', [ssn])).rows).toEqual([{ pat_id: 8 }]);
    expect((await c.query(`SELECT pat_id FROM patient WHERE pat_ssn = '${ssn ?? ''}'`)).rows).toEqual([{ pat_id: 8 }]);
  });

  it('is atomic: a write-back that fails half-way leaves nothing, in autocommit and in a transaction block', async () => {
    // The second row written takes the first one's key: PostgreSQL fails the whole UPDATE.
    expect(await same('UPDATE patient SET pat_name = upper(pat_name), pat_id = 7777 WHERE pat_id < 20')).toBe('23505');
    expect(await same('UPDATE patient SET pat_name = upper(pat_name), pat_id = 7777 WHERE pat_id < $1', [20])).toBe('23505');
    await c.query('BEGIN');
    try {
      expect(await c.query('UPDATE patient SET pat_name = lower(pat_name) WHERE pat_id = 4').then((r) => r.rowCount)).toBe(1);
    } finally {
      await c.query('ROLLBACK');
    }
    expect((await c.query(PATIENTS)).rows).toEqual((await oracle.query(PATIENTS)).rows);
  });

  it('fails like PostgreSQL when the computation fails: nothing written, the block aborted, the session goes on', async () => {
    expect(await same('UPDATE patient SET pat_name = (pat_name::int + 1)::text WHERE pat_id = 5')).toBe('22P02');
    await c.query('BEGIN');
    try {
      expect(await c.query('UPDATE patient SET pat_name = (pat_name::int)::text WHERE pat_id = 5').catch(code)).toBe('22P02');
      expect(await c.query('SELECT 1').catch(code)).toBe('25P02');
    } finally {
      await c.query('ROLLBACK');
    }
    expect(await same('UPDATE patient SET pat_name = pat_name || pat_name WHERE pat_id = 5')).toBe(1);
  });

  it('is correct under concurrency: the rows are locked from the read to the write (no lost update)', async () => {
    const other = new pg.Client({ connectionString: t.env.url(USERS.doctor) });
    await other.connect();
    try {
      await c.query('BEGIN');
      await c.query("UPDATE patient SET pat_name = pat_name || ' A' WHERE pat_id = 9");
      let done = false;
      const second = other.query("UPDATE patient SET pat_name = pat_name || ' B' WHERE pat_id = 9").then((r) => { done = true; return r.rowCount; });
      await new Promise((r) => setTimeout(r, 500));
      expect(done).toBe(false);
      await c.query('COMMIT');
      expect(await second).toBe(1);
      await oracle.query("UPDATE patient SET pat_name = pat_name || ' A' || ' B' WHERE pat_id = 9");
      expect((await c.query(PATIENTS)).rows).toEqual((await oracle.query(PATIENTS)).rows);
    } finally {
      await c.query('ROLLBACK').catch(() => undefined);
      await other.end();
    }
  });

  it('refuses users who may only read, and what it cannot write back: a plain column from encrypted values, RETURNING an anonymized column', async () => {
    const a = new pg.Client({ connectionString: t.env.url(USERS.analyst) });
    await a.connect();
    try {
      expect(await a.query('UPDATE patient SET pat_name = upper(pat_name) WHERE pat_id = 1').catch(code)).toBe('42501');
      expect(await a.query('INSERT INTO visit (visit_id, pat_id, reason) SELECT 900 + pat_id, pat_id, upper(pat_name) FROM patient').catch(code)).toBe('42501');
    } finally {
      await a.end();
    }
    // The plaintext of an encrypted value would reach the backend in a plain column.
    expect(await c.query('UPDATE visit SET pat_id = length(reason) WHERE visit_id = 1').catch(code)).toBe('0A000');
    expect(await c.query('INSERT INTO visit (visit_id, pat_id) SELECT 900 + pat_id, length(pat_name) FROM patient').catch(code)).toBe('0A000');
    expect(await c.query('UPDATE patient SET pat_name = upper(pat_name) WHERE pat_id = 1 RETURNING pat_zip').catch(code)).toBe('0A000');
    expect((await c.query(PATIENTS)).rows).toEqual((await oracle.query(PATIENTS)).rows);
    expect((await c.query(VISITS)).rows).toEqual((await oracle.query(VISITS)).rows);
  });

  it('leaves no unnamed statement behind a simple Query, as PostgreSQL: a Bind of it fails with 26000', async () => {
    const [r, o] = await Promise.all([RawClient.open(t.env.proxy.port, USERS.doctor), RawClient.open(t.oracle.port, { name: SUPERUSER, password: SUPERUSER_PASSWORD })]);
    try {
      const batches: FrontendMessage[][] = [
        [{ type: 'Parse', name: '', sql: 'SELECT 1', paramTypes: [] }, { type: 'Sync' }],
        [{ type: 'Query', sql: 'UPDATE patient SET pat_name = upper(pat_name) WHERE pat_id = 6' }],
        [{ type: 'Bind', portal: '', statement: '', paramFormats: [], values: [], resultFormats: [] }, { type: 'Execute', portal: '', maxRows: 0 }, { type: 'Sync' }],
      ];
      const seen: string[][] = [];
      for (const b of batches) {
        r.socket.write(frontendBytes(b));
        o.socket.write(frontendBytes(b));
        const [got, want] = await Promise.all([r.cycle(), o.cycle()]);
        const shape = (ms: BackendMessage[]): string[] => ms.map((m) => (m.type === 'ErrorResponse' ? `ErrorResponse ${m.fields.C ?? ''}` : m.type === 'CommandComplete' ? m.tag : m.type));
        expect(shape(got)).toEqual(shape(want));
        seen.push(shape(got));
      }
      expect(seen[1]).toEqual(['UPDATE 1', 'ReadyForQuery']);
      expect(seen[2]).toEqual(['ErrorResponse 26000', 'ReadyForQuery']);
      // The session goes on.
      expect(await same('UPDATE patient SET pat_name = lower(pat_name) WHERE pat_id = 6')).toBe(1);
    } finally {
      r.socket.destroy();
      o.socket.destroy();
    }
  });

  it('stores and sends no plaintext: the dump and the statement log hold no canary, computed ones included', async () => {
    const canaries = [...CANARIES, ...CANARIES.map((x) => x.toUpperCase()), 'Dr Ömer'];
    expect(await canariesInDump(t.cluster, canaries)).toEqual([]);
    const log = t.serverLog().filter((l) => canaries.some((x) => l.includes(x)));
    expect(log).toEqual([]);
    // The statement log shows the write-backs: batches by row key, with ciphertext only.
    expect(t.serverLog().some((l) => l.includes('WHERE patient.tableoid = clarus_wb.clarus_wb_1 AND patient.ctid = clarus_wb.clarus_wb_2'))).toBe(true);
  });
});
