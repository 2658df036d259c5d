// SQL cursors over statements computed in two stages (issue 10): `DECLARE … CURSOR FOR <a SELECT
// the proxy computes>`, then FETCH n / FETCH ALL / scrolling / MOVE / CLOSE, WITH HOLD, errors.
// The proxy computes the result once at DECLARE and the backend holds a cursor over the row numbers,
// so every statement is compared with the same statements on an oracle PostgreSQL with plain
// tables: rows, command tags, row counts and SQLSTATEs. The backend's dump and its
// log_statement=all log never show a canary.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { canariesInDump, USERS } from '../corpus/setup.ts';
import { SUPERUSER, SUPERUSER_PASSWORD } from '@clarus/testing/pg.ts';
import { frontendBytes, RawClient } from '@clarus/testing/proxy.ts';
import type { FrontendMessage } from '../../src/protocol/frontend.ts';
import type { BackendMessage } from '../../src/protocol/backend.ts';
import { CANARIES, startTwoStage } from './two-stage-env.ts';
import { MAX_AGE_MS } from '../../src/access/refresh.ts';
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

type Step = string | { text: string; values?: unknown[]; name?: string };
type Outcome = { command: string; rowCount: number | null; rows: unknown[]; fields: string[] } | { code: string };

async function outcome(db: pg.Client, s: Step): Promise<Outcome> {
  try {
    const r = await db.query(typeof s === 'string' ? s : s);
    return { command: r.command, rowCount: r.rowCount, rows: r.rows, fields: r.fields.map((f) => `${f.name}:${f.dataTypeID}`) };
  } catch (e) {
    return { code: (e as { code?: string }).code ?? String(e) };
  }
}

/** Runs the steps on both, one by one: the same outcome each time. */
async function same(steps: Step[]): Promise<Outcome[]> {
  const out: Outcome[] = [];
  try {
    for (const s of steps) {
      const [got, want] = [await outcome(c, s), await outcome(oracle, s)];
      expect(got, typeof s === 'string' ? s : s.text).toEqual(want);
      out.push(got);
    }
  } finally {
    await c.query('ROLLBACK').catch(() => undefined);
    await oracle.query('ROLLBACK').catch(() => undefined);
  }
  return out;
}

const SORTED = "SELECT pat_id, upper(pat_name) AS name, length(pat_ssn) AS l, diagnosis FROM patient WHERE pat_name ILIKE '%a%' ORDER BY pat_name, pat_id";

describe('SQL cursors over statements computed in two stages', () => {
  it('FETCH n, FETCH ALL, FETCH past the end, MOVE, CLOSE in a block', async () => {
    const out = await same(['BEGIN', `DECLARE c CURSOR FOR ${SORTED}`, 'FETCH 3 FROM c', 'MOVE FORWARD 2 IN c', 'FETCH NEXT FROM c', 'FETCH ALL FROM c', 'FETCH 1 FROM c', 'MOVE 5 IN c', 'CLOSE c']);
    expect((out[2] as { rowCount: number }).rowCount).toBe(3);
    expect((out[5] as { rowCount: number }).rowCount).toBeGreaterThan(3);
    // A FETCH of a closed cursor is refused by the proxy (0A000, access/cursors.ts), as for every cursor over protected data.
    await c.query('BEGIN');
    expect(await outcome(c, 'FETCH 1 FROM c')).toEqual({ code: '0A000' });
    await c.query('ROLLBACK');
  });

  it('scrolls like PostgreSQL: SCROLL, FETCH LAST / PRIOR / ABSOLUTE / RELATIVE / BACKWARD; NO SCROLL refuses going back', async () => {
    await same(['BEGIN', `DECLARE s SCROLL CURSOR FOR ${SORTED}`, 'FETCH LAST FROM s', 'FETCH PRIOR FROM s', 'FETCH ABSOLUTE 2 FROM s', 'FETCH RELATIVE 3 FROM s',
      'FETCH BACKWARD 2 FROM s', 'MOVE ABSOLUTE 0 IN s', 'FETCH FORWARD 4 FROM s', 'FETCH ABSOLUTE -1 FROM s', 'COMMIT']);
    await same(['BEGIN', `DECLARE n NO SCROLL CURSOR FOR ${SORTED}`, 'FETCH 2 FROM n', 'FETCH PRIOR FROM n', 'FETCH 1 FROM n']);
  });

  it('takes parameters, aggregates and an empty result; FETCH through the extended protocol', async () => {
    await same(['BEGIN', { text: 'DECLARE p CURSOR FOR SELECT pat_id, pat_name || $2 AS n FROM patient WHERE pat_name ILIKE $1 ORDER BY upper(pat_name) DESC, pat_id', values: ['%lee%', '!'] },
      { text: 'FETCH 2 FROM p', name: 'fetch_p' }, { text: 'FETCH 2 FROM p', name: 'fetch_p' }, 'FETCH ALL FROM p',
      'DECLARE g CURSOR FOR SELECT diagnosis, max(pat_name) AS m, count(*) FROM patient GROUP BY diagnosis ORDER BY 1', 'FETCH ALL FROM g',
      "DECLARE e CURSOR FOR SELECT upper(pat_name) FROM patient WHERE pat_name LIKE 'nobody%'", 'FETCH ALL FROM e', 'MOVE ALL IN e', 'COMMIT']);
  });

  it('fails like PostgreSQL: outside a block, a name already open (which keeps its rows), an error in the computation', async () => {
    const out = await same([`DECLARE c CURSOR FOR ${SORTED}`]);
    expect((out[0] as { code: string }).code).toBe('25P01');
    await same(['BEGIN', `DECLARE d CURSOR FOR ${SORTED} LIMIT 2`, "DECLARE d CURSOR FOR SELECT lower(pat_name) FROM patient WHERE pat_id = 1", 'ROLLBACK']);
    // The first DECLARE d stays: its rows, not the refused one's.
    await same(['BEGIN', `DECLARE d CURSOR FOR ${SORTED} LIMIT 2`, 'SAVEPOINT a', "DECLARE d CURSOR FOR SELECT lower(pat_name) FROM patient WHERE pat_id = 1", 'ROLLBACK TO a', 'FETCH ALL FROM d', 'COMMIT']);
    // The result is computed at DECLARE: a failing expression fails the DECLARE (PostgreSQL fails the first FETCH that reaches it), same SQLSTATE.
    for (const s of ['BEGIN', 'DECLARE x CURSOR FOR SELECT pat_name::int FROM patient WHERE pat_id = 1']) await oracle.query(s);
    expect(await outcome(oracle, 'FETCH 1 FROM x')).toEqual({ code: '22P02' });
    await oracle.query('ROLLBACK');
    expect(await outcome(c, 'BEGIN')).toMatchObject({ command: 'BEGIN' });
    expect(await outcome(c, 'DECLARE x CURSOR FOR SELECT pat_name::int FROM patient WHERE pat_id = 1')).toEqual({ code: '22P02' });
    expect(await outcome(c, 'SELECT 1')).toEqual({ code: '25P02' });
    await c.query('ROLLBACK');
  });

  it('WITH HOLD outlives its transaction; without HOLD the cursor ends with it', async () => {
    await same(['BEGIN', `DECLARE h CURSOR WITH HOLD FOR ${SORTED}`, 'FETCH 2 FROM h', 'COMMIT', 'FETCH 2 FROM h', 'FETCH ALL FROM h', 'CLOSE h']);
    await same([`DECLARE h2 CURSOR WITH HOLD FOR ${SORTED}`, 'FETCH 1 FROM h2', 'CLOSE h2']);
    await same(['BEGIN', `DECLARE k CURSOR FOR ${SORTED}`, 'COMMIT', 'FETCH 1 FROM k']);
    await same(['BEGIN', `DECLARE k CURSOR WITH HOLD FOR ${SORTED}`, 'ROLLBACK', 'FETCH 1 FROM k']);
  });

  it('answers a protocol Describe of the cursor as a portal (psycopg\'s named cursors) and a binary FETCH like PostgreSQL', async () => {
    const [r, o] = await Promise.all([RawClient.open(t.env.proxy.port, USERS.doctor), RawClient.open(t.oracle.port, { name: SUPERUSER, password: SUPERUSER_PASSWORD })]);
    try {
      const batches: FrontendMessage[][] = [
        [{ type: 'Query', sql: 'BEGIN' }],
        [{ type: 'Query', sql: 'DECLARE pc CURSOR FOR SELECT pat_id, upper(pat_name) AS name FROM patient WHERE pat_id < 6 ORDER BY pat_name' }],
        [{ type: 'Describe', target: 'P', name: 'pc' }, { type: 'Sync' }],
        [{ type: 'Parse', name: '', sql: 'FETCH 2 FROM pc', paramTypes: [] }, { type: 'Bind', portal: '', statement: '', paramFormats: [], values: [], resultFormats: [1] },
          { type: 'Describe', target: 'P', name: '' }, { type: 'Execute', portal: '', maxRows: 0 }, { type: 'Sync' }],
        [{ type: 'Query', sql: 'FETCH ALL FROM pc' }],
        [{ type: 'Query', sql: 'COMMIT' }],
      ];
      const shape = (ms: BackendMessage[]): unknown[] => ms.map((m) => {
        if (m.type === 'RowDescription') return m.fields.map((f) => `${f.name}:${f.typeOid}:${f.format}`);
        if (m.type === 'DataRow') return m.values.map((v) => (v === null ? null : Buffer.from(v).toString('hex')));
        if (m.type === 'ErrorResponse') return `ErrorResponse ${m.fields.C ?? ''}`;
        return m.type === 'CommandComplete' ? m.tag : m.type;
      });
      for (const b of batches) {
        r.socket.write(frontendBytes(b));
        o.socket.write(frontendBytes(b));
        const [got, want] = await Promise.all([r.cycle(), o.cycle()]);
        expect(shape(got)).toEqual(shape(want));
      }
    } finally {
      r.socket.destroy();
      o.socket.destroy();
    }
  });

  it('declares and writes after a catalog reload (the decision waits for the load; what it sends goes out before the client is held)', async () => {
    // Past MAX_AGE_MS the proxy loads the catalog again before the next statement naming a protected table.
    await new Promise((r) => setTimeout(r, MAX_AGE_MS + 1000));
    await same(['BEGIN', `DECLARE r CURSOR FOR ${SORTED}`, 'FETCH 2 FROM r', 'ROLLBACK']);
    await new Promise((r) => setTimeout(r, MAX_AGE_MS + 1000));
    await same(['BEGIN', "UPDATE patient SET pat_name = upper(pat_name) WHERE pat_id = 3", 'SELECT pat_id, pat_name FROM patient WHERE pat_id = 3', 'ROLLBACK']);
  }, 120_000);

  it('stores and sends no plaintext: the dump and the statement log hold no canary, computed ones included', async () => {
    const canaries = [...CANARIES, ...CANARIES.map((x) => x.toUpperCase())];
    expect(await canariesInDump(t.cluster, canaries)).toEqual([]);
    expect(t.serverLog().filter((l) => canaries.some((x) => l.includes(x)))).toEqual([]);
    // The backend's cursors are over row numbers.
    expect(t.serverLog().some((l) => l.includes('CURSOR FOR SELECT clarus_row FROM generate_series(1, CAST($1 AS int4)) AS clarus_row'))).toBe(true);
  });
});
