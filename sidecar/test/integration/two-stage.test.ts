// Two-stage statements through the proxy (issue 10): statements that compute on encrypted columns
// (functions, LIKE, ranges, ORDER BY, aggregates, windows, DISTINCT) are answered by fetching the
// candidate rows (every pushable predicate pushed) and finishing in the proxy's engine. Each
// statement is compared with the same statement over identical plain tables on another PostgreSQL
// server (the oracle, reached directly), in the simple protocol, the extended protocol with parameters and as a named
// prepared statement; the backend's dump and its log_statement=all log never show a canary.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USERS, canariesInDump, startProtected } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { startProxyProcess } from '@clarus/testing/proxy.ts';
import { CANARIES, startTwoStage } from './two-stage-env.ts';
import type { TwoStageEnv } from './two-stage-env.ts';

const MAX_ROWS = 5000;

let t: TwoStageEnv;
let cluster: PgCluster;
let env: ProtectedEnv;
let c: pg.Client;
let oracle: pg.Client;

beforeAll(async () => {
  t = await startTwoStage(MAX_ROWS);
  ({ cluster, env, c, oracle } = t);
}, 120_000);

afterAll(async () => {
  await t?.close();
});

/** The statement through the proxy and on the oracle. */
async function both(sql: string, params: unknown[] = [], name?: string): Promise<{ enc: pg.QueryResult; plain: pg.QueryResult }> {
  const q = { text: sql, values: params, ...(name ? { name } : {}) };
  return { enc: await c.query(q), plain: await oracle.query(q) };
}

const sorted = (rows: unknown[]): string[] => rows.map((r) => JSON.stringify(r)).sort();

/** Statements the rules alone refuse; the two stages answer them exactly like PostgreSQL. */
const STATEMENTS: Array<{ sql: string; params?: unknown[]; ordered?: boolean }> = [
  { sql: 'SELECT upper(pat_name) FROM patient WHERE pat_id = 5' },
  { sql: 'SELECT upper(pat_name) AS u, lower(pat_name), initcap(pat_name) FROM patient WHERE pat_id = $1', params: [6] },
  { sql: 'SELECT length(pat_ssn) AS n, pat_id FROM patient' },
  { sql: "SELECT pat_name || ' (' || coalesce(diagnosis, 'none') || ')' AS label FROM patient" },
  { sql: "SELECT coalesce(pat_ssn, 'anon') FROM patient" },
  { sql: "SELECT pat_id, CASE WHEN diagnosis = 'flu' THEN 'F' ELSE 'O' END FROM patient" },
  { sql: 'SELECT substring(pat_name from 1 for 3), substr(pat_ssn, 8) FROM patient' },
  { sql: 'SELECT pat_id, pat_name FROM patient ORDER BY pat_name, pat_id', ordered: true },
  { sql: 'SELECT pat_id, pat_name FROM patient ORDER BY pat_name DESC LIMIT 5 OFFSET 2', ordered: true },
  { sql: 'SELECT pat_id FROM patient p WHERE EXISTS (SELECT 1 FROM visit v WHERE v.pat_id = p.pat_id) ORDER BY pat_name, pat_id', ordered: true },
  { sql: "SELECT max(pat_name), min(pat_ssn), count(DISTINCT pat_name) FROM patient WHERE diagnosis = 'flu'" },
  { sql: "SELECT pat_id FROM patient WHERE pat_name ILIKE '%LEE%'" },
  { sql: "SELECT pat_id FROM patient WHERE upper(pat_name::text) = upper('ann lee-canary')" },
  { sql: "SELECT pat_id FROM patient WHERE pat_name LIKE 'a%' AND pat_id > 3" },
  { sql: "SELECT pat_id FROM patient WHERE pat_ssn > '123-45-1020' ORDER BY pat_ssn", ordered: true },
  { sql: 'SELECT pat_id, row_number() OVER (PARTITION BY diagnosis ORDER BY pat_name, pat_id) AS rn FROM patient ORDER BY pat_id', ordered: true },
  { sql: 'SELECT left(pat_name, 1) AS initial, count(*) FROM patient GROUP BY left(pat_name, 1) ORDER BY 1', ordered: true },
  { sql: 'SELECT DISTINCT lower(pat_name) FROM patient WHERE pat_id < 16' },
  { sql: 'SELECT p.pat_name, v.reason FROM patient p JOIN visit v ON v.pat_id = p.pat_id WHERE p.pat_id = $1 ORDER BY v.visit_id', params: [3], ordered: true },
  { sql: 'SELECT p.pat_id, count(v.visit_id) FROM patient p LEFT JOIN visit v ON v.pat_id = p.pat_id GROUP BY p.pat_id HAVING max(v.notes) > $$note 5$$ ORDER BY 1', ordered: true },
  { sql: 'SELECT pat_id FROM patient WHERE pat_ssn = $1 AND length(pat_name) > 3', params: ['123-45-1007'] },
  { sql: 'SELECT pat_id FROM patient WHERE pat_name ILIKE $1', params: ['%quintanilla-CANARY%'] },
  { sql: 'SELECT pat_id, upper($2) AS x FROM patient WHERE pat_id > $1 AND length(pat_name) > $3 ORDER BY pat_name', params: [3, 'smith-canary', 12], ordered: true },
  { sql: "SELECT pat_id FROM patient WHERE diagnosis = $1 AND pat_name LIKE $2 || '%'", params: ['flu', 'Zo'] },
  { sql: 'SELECT pat_name FROM patient UNION SELECT notes FROM visit WHERE visit_id < $1 ORDER BY 1 LIMIT 12', params: [10], ordered: true },
  { sql: "SELECT upper(pat_name) AS n, pat_id FROM patient WHERE diagnosis = 'flu' EXCEPT SELECT upper(notes), pat_id FROM visit ORDER BY 2", ordered: true },
  { sql: '(SELECT pat_ssn FROM patient ORDER BY pat_ssn LIMIT 3) UNION ALL (SELECT reason FROM visit ORDER BY visit_id LIMIT 2)' },
  { sql: 'SELECT pat_id FROM patient WHERE pat_name LIKE $$a%$$ INTERSECT SELECT pat_id FROM visit WHERE notes LIKE $$%1 lee%$$' },
  { sql: "WITH f AS (SELECT pat_id, pat_name FROM patient WHERE diagnosis = 'flu') SELECT upper(pat_name) AS u FROM f ORDER BY 1", ordered: true },
  { sql: 'SELECT upper(x.n), x.pat_id FROM (SELECT pat_name AS n, pat_id FROM patient WHERE pat_id < 10) x WHERE x.n LIKE $1 ORDER BY 1, 2', params: ['%n%'], ordered: true },
  { sql: 'WITH v AS (SELECT pat_id, notes FROM visit) SELECT pat_name FROM patient UNION SELECT notes FROM v ORDER BY 1 DESC LIMIT 4', ordered: true },
  { sql: 'SELECT pat_id * 2 AS y, pat_name FROM patient WHERE pat_id IN (1, 2, 3) ORDER BY pat_name', ordered: true },
  // Set operations of three arms and more, nested, each arm's columns typed by its own arm.
  { sql: 'SELECT pat_name FROM patient UNION SELECT notes FROM visit UNION SELECT reason FROM visit ORDER BY 1', ordered: true },
  { sql: 'SELECT pat_ssn, pat_id FROM patient WHERE pat_id < $1 UNION ALL SELECT reason, visit_id FROM visit WHERE notes LIKE $2 EXCEPT SELECT upper(pat_name), pat_id FROM patient ORDER BY 2, 1', params: [10, '%1%'], ordered: true },
  { sql: "SELECT diagnosis FROM patient INTERSECT (SELECT reason FROM visit UNION SELECT 'flu' FROM patient WHERE pat_name LIKE 'a%') ORDER BY 1", ordered: true },
  { sql: '(SELECT pat_id, length(pat_name) FROM patient ORDER BY 2 DESC, 1 LIMIT $1) UNION (SELECT pat_id, length(notes) FROM visit UNION SELECT visit_id, 0 FROM visit WHERE reason = $2) ORDER BY 1, 2 LIMIT 15', params: [4, 'fever'], ordered: true },
  // WITH queries that themselves compute: in the engine, each over its own arm of the backend stage.
  { sql: 'WITH x AS (SELECT upper(pat_name) AS u FROM patient) SELECT u FROM x ORDER BY u', ordered: true },
  { sql: 'WITH t AS (SELECT pat_id, lower(pat_name) AS n FROM patient WHERE diagnosis = $1), v AS (SELECT pat_id, upper(notes) AS u FROM visit WHERE notes LIKE $2) SELECT t.n, count(*), max(v.u) FROM t JOIN v ON v.pat_id = t.pat_id GROUP BY t.n ORDER BY 1', params: ['flu', '%lee%'], ordered: true },
  { sql: 'WITH s(k, len) AS (SELECT pat_id, length(pat_ssn) FROM patient) SELECT len, count(*) FROM s GROUP BY len ORDER BY len NULLS FIRST', ordered: true },
  // What no split places runs in the engine as written, over the tables read whole.
  { sql: 'SELECT pat_id FROM patient WHERE pat_name IN (SELECT upper(notes) FROM visit UNION SELECT pat_name FROM patient WHERE pat_id < $1) ORDER BY 1', params: [4], ordered: true },
  { sql: "WITH x AS (SELECT pat_id, upper(pat_name) AS u FROM patient) SELECT x.u, v.notes FROM x JOIN visit v ON v.pat_id = x.pat_id WHERE v.visit_id < 6 ORDER BY 1, 2", ordered: true },
  { sql: 'SELECT diagnosis, (SELECT max(notes) FROM visit v WHERE v.pat_id = min(p.pat_id)) AS n FROM patient p GROUP BY diagnosis ORDER BY 1 NULLS FIRST', ordered: true },
];

describe('two-stage statements', () => {
  it.each(STATEMENTS)('$sql', async ({ sql, params, ordered }) => {
    const { enc, plain } = await both(sql, params);
    expect(enc.fields.map((f) => [f.name, f.dataTypeID])).toEqual(plain.fields.map((f) => [f.name, f.dataTypeID]));
    expect(enc.rows.length).toBeGreaterThan(0);
    if (ordered) expect(enc.rows).toEqual(plain.rows);
    else expect(sorted(enc.rows)).toEqual(sorted(plain.rows));
  });

  it('keeps the protocol order when many candidate rows arrive while the proxy computes (Describe, Execute, several chunks)', async () => {
    // node-postgres sends Parse/Bind/Describe/Execute/Sync: the proxy computes the Describe's fields
    // while the Execute's 4,000 candidate rows (hundreds of KiB) keep arriving from the backend.
    const sql = 'SELECT upper(p.pat_name) AS u, count(*) AS n, max(g) AS g FROM patient p, generate_series(1, 100) g WHERE p.pat_name LIKE $1 GROUP BY 1 ORDER BY 1';
    for (let i = 0; i < 3; i++) {
      const { enc, plain } = await both(sql, ['%-canary%']);
      expect(enc.rows).toEqual(plain.rows);
      expect(enc.rows.length).toBeGreaterThan(20);
    }
  });

  it('runs as a named prepared statement, executed again with other parameters', async () => {
    for (const id of [1, 7, 8]) {
      const { enc, plain } = await both('SELECT upper(pat_name) AS u, length(pat_ssn) FROM patient WHERE pat_id = $1', [id], 'two_stage_named');
      expect(enc.rows).toEqual(plain.rows);
    }
  });

  it('answers like PostgreSQL when the computation fails, and the session goes on', async () => {
    const enc = await c.query("SELECT pat_name::int FROM patient WHERE pat_id = 1").catch((e: { code: string }) => e.code);
    const plain = await oracle.query("SELECT pat_name::int FROM patient WHERE pat_id = 1").catch((e: { code: string }) => e.code);
    expect(enc).toBe('22P02');
    expect(enc).toBe(plain);
    // The backend database has the C locale: upper() maps ASCII letters only, and so does the stage.
    expect((await c.query('SELECT upper(pat_name) AS u FROM patient WHERE pat_id = 2')).rows).toEqual([{ u: 'ÉMILE BRONTë-CANARY' }]);
  });

  it('computes on what the user may see: a masked view computes on masked values, never on plaintext', async () => {
    const a = new pg.Client({ connectionString: env.url(USERS.analyst) });
    await a.connect();
    try {
      const r = await a.query('SELECT pat_id, pat_name, upper(pat_name) AS u FROM patient ORDER BY pat_name, pat_id');
      const expected = (await oracle.query<{ pat_id: number; pat_name: string }>('SELECT pat_id, pat_name FROM patient')).rows
        .map((x) => ({ pat_id: x.pat_id, pat_name: x.pat_name.length <= 4 ? '****' : `****${x.pat_name.slice(-4)}` }))
        .map((x) => ({ ...x, u: x.pat_name.toUpperCase() }))
        .sort((x, y) => (x.pat_name < y.pat_name ? -1 : x.pat_name > y.pat_name ? 1 : x.pat_id - y.pat_id));
      expect(r.rows).toEqual(expected);
      // A filter on the masked value finds nothing the mask hides.
      expect((await a.query("SELECT count(*)::int AS n FROM patient WHERE pat_name LIKE 'Zo%'")).rows).toEqual([{ n: 0 }]);
      // Reading is all the analyst may do; writes stay refused.
      expect(await a.query("UPDATE patient SET pat_name = upper(pat_name) WHERE pat_id = 1").catch((e: { code: string }) => e.code)).toBe('42501');
    } finally {
      await a.end();
    }
  });

  it('keeps refusing what the two stages cannot reproduce: anonymized columns, parameters in the computed part, users without a grant', async () => {
    expect(await c.query('SELECT extract(year FROM pat_birth) FROM patient').catch((e: { code: string }) => e.code)).toBe('0A000');
    const n = new pg.Client({ connectionString: env.url(USERS.nobody) });
    await n.connect();
    try {
      expect(await n.query('SELECT upper(pat_name) FROM patient').catch((e: { code: string }) => e.code)).toBe('42501');
    } finally {
      await n.end();
    }
  });

  it('refuses past the candidate row limit with 54000, aborting an open transaction like a failed statement', async () => {
    await c.query('BEGIN');
    // ORDER BY: the stage must hold its rows (a row-local one streams, with no limit: two-stage-stream.test.ts).
    const err = await c.query('SELECT upper(p.pat_name) FROM patient p, visit v, generate_series(1, 2) g ORDER BY 1').catch((e: { code: string; message: string }) => e);
    expect((err as { code: string }).code).toBe('54000');
    expect((err as { message: string }).message).toMatch(/residual row limit/);
    expect(await c.query('SELECT 1').catch((e: { code: string }) => e.code)).toBe('25P02');
    await c.query('ROLLBACK');
    expect((await c.query('SELECT count(*)::int AS n FROM patient WHERE pat_name LIKE $$%canary%$$')).rows).toEqual([{ n: 35 }]);
  });

  it('counts the stages in the metrics: statements, candidate rows fetched and rows returned', async () => {
    const read = async (): Promise<Map<string, number>> => {
      const text = await (await fetch(`http://127.0.0.1:${env.proxy.metricsPort}/metrics`)).text();
      const m = new Map([...text.matchAll(/^(clarus_residual_\w+|clarus_refusals_total\{code="0A000",reason="\w+"\}) ([0-9.e+-]+)$/gm)].map((x) => [x[1] as string, Number(x[2])]));
      // Refusals by SQLSTATE, whatever their reason.
      m.set('0A000', [...m].reduce((n, [k, v]) => (k.startsWith('clarus_refusals_total') ? n + v : n), 0));
      return m;
    };
    const before = await read();
    await c.query("SELECT pat_id FROM patient WHERE pat_name LIKE 'a%'");
    await c.query('SELECT extract(year FROM pat_birth) FROM patient').catch(() => undefined);
    const after = await read();
    const delta = (k: string): number => (after.get(k) ?? 0) - (before.get(k) ?? 0);
    expect(delta('clarus_residual_statements_total')).toBe(1);
    expect(delta('clarus_residual_candidate_rows_total')).toBe(40);
    expect(delta('clarus_residual_result_rows_total')).toBe(10);
    expect(delta('clarus_residual_engine_seconds_total')).toBeGreaterThan(0);
    // Refusals by SQLSTATE (what kubectl clarus metrics shows): the anonymized column's extract().
    expect(delta('0A000')).toBe(1);
  });

  it('refuses instead when the configuration turns the in-proxy stage off (ClarusProxy limits.computeInProxy: false)', async () => {
    const off = await startProtected(cluster, undefined, undefined, { residual: {}, limits: { computeInProxy: false } });
    const p = new pg.Client({ connectionString: off.url(USERS.doctor) });
    await p.connect();
    try {
      expect(await p.query('SELECT upper(pat_name) FROM patient WHERE pat_id = 1').catch((e: { code: string }) => e.code)).toBe('0A000');
      expect((await p.query('SELECT pat_name FROM patient WHERE pat_id = 1')).rows).toEqual([{ pat_name: 'adam smith-canary' }]);
    } finally {
      await p.end();
      await off.close();
    }
  });

  it('runs in the clarus proxy command (on by default) and the process still exits on SIGTERM', async () => {
    const proc = await startProxyProcess(env.configDir, [], { CLARUS_RESIDUAL: 'on' });
    try {
      const p = new pg.Client({ connectionString: proc.url(USERS.doctor) });
      await p.connect();
      expect((await p.query('SELECT upper(pat_name) AS u FROM patient WHERE pat_id = 1')).rows).toEqual([{ u: 'ADAM SMITH-CANARY' }]);
      await p.end();
    } finally {
      proc.child.kill('SIGTERM');
      const code = await Promise.race([proc.exited, new Promise((r) => setTimeout(() => r('still running'), 20_000))]);
      if (code === 'still running') proc.child.kill('SIGKILL');
      expect(code).toBe(0);
    }
  }, 120_000);

  it('stores and sends no plaintext: the dump and the statement log of the backend hold no canary', async () => {
    expect(await canariesInDump(cluster, CANARIES)).toEqual([]);
    const log = t.serverLog();
    expect(log.filter((l) => /AS c1/.test(l)).length).toBeGreaterThan(10);
    for (const canary of CANARIES) expect(log.filter((l) => l.includes(canary)), canary).toEqual([]);
  });
});
