// The fast path of the in-proxy stage (rewrite/two-stage/fast-path.ts, residual/fast-eval.ts):
// simple row-local projections computed per row without the engine. Differential against an
// oracle PostgreSQL 15 holding the same rows in plain tables: random strings (ASCII, ß, Turkish
// dotted/dotless i, Greek sigma, emoji, empty, spaces, NULL) in text, varchar and char(n)
// columns, each encrypted (randomized), through statements the fast path answers (ASCII rows) and
// the same statements over rows it sends to the engine (non-ASCII case mapping); rows and result
// types must be PostgreSQL's, the fast path's RowDescription the engine's, and the backend's dump
// and statement log must hold no canary.
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startPostgres, SUPERUSER, SUPERUSER_PASSWORD } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { EHEALTH_POLICY } from '@clarus/testing/rewriter.ts';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { canariesInDump, startProtected, USERS } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';
import { residualStats } from '../../src/residual/stats.ts';
import { analysisCounts } from '../../src/metrics/analyses.ts';
import { frontendBytes, RawClient } from '@clarus/testing/proxy.ts';
import type { FrontendMessage } from '../../src/protocol/frontend.ts';
import type { BackendMessage } from '../../src/protocol/backend.ts';
import { rng } from './two-stage-sqlgen.ts';

const SEED = Number(process.env.FAST_PATH_SEED ?? 20261202);
/** Rows 1..ASCII_ROWS hold only ASCII strings (fast path); the others anything (engine). */
const ASCII_ROWS = 40;
const ROWS = 80;
const CANARY = 'fastcanary';
const TRICKY = ['', ' ', '  ', 'ß', 'straße', 'ı', 'İ', 'i', 'I', 'Σ', 'ΣΑΣ', 'ǅ', 'é', 'Ω', '😀', 'a\tb', "o'k", 'x\\y', 'ﬁ'];

const POLICY: RuntimePolicy = {
  ...EHEALTH_POLICY,
  datasets: [...EHEALTH_POLICY.datasets, {
    name: 'strings', schema: 'public', table: 'fstr', rowKey: 'id',
    columns: [
      { name: 'id', attributeType: 'technicalIdentifier', backend: 'cloud-a' },
      ...['t', 'v', 'b'].map((name) => ({ name, attributeType: 'identifier' as const, encrypt: { mode: 'randomized' as const, searchable: false, keyName: 'default' }, backend: 'cloud-a' })),
    ],
  }],
};
const CREATE = 'CREATE TABLE fstr (id integer PRIMARY KEY, t text, v varchar(24), b char(6))';

function randomString(rnd: () => number, ascii: boolean, max: number): string | null {
  const r = rnd();
  if (r < 0.1) return null;
  if (r < 0.3 && !ascii) return (TRICKY[Math.floor(rnd() * TRICKY.length)] as string).slice(0, max);
  const len = Math.floor(rnd() * max);
  let s = '';
  for (let i = 0; i < len; i++) {
    const c = rnd();
    if (ascii || c < 0.6) s += String.fromCharCode(32 + Math.floor(rnd() * 95));
    else s += [...TRICKY.join('')][Math.floor(rnd() * 20)] ?? 'x';
  }
  return [...s].slice(0, max).join('');
}

function rowsOf(seed: number): unknown[][] {
  const rnd = rng(seed);
  return Array.from({ length: ROWS }, (_, k) => {
    const ascii = k < ASCII_ROWS;
    // A canary in some text values: it must never reach the backend, whatever path computes them.
    const t = k % 7 === 3 ? `${CANARY} ${k}` : randomString(rnd, ascii, 12);
    return [k + 1, t, randomString(rnd, ascii, 24), randomString(rnd, ascii, 6)];
  });
}

/** Select lists of the fast path's allowlist (and how PostgreSQL names and types them). */
const LISTS = [
  'id, upper(t)',
  'id, upper(t) AS u, lower(v), upper(b), lower(b)',
  'id, length(t), char_length(v), character_length(b), length(b)',
  "id, t || '|' || v, b || '|', v || b, NULL || t",
  "id, coalesce(t, 'none'), coalesce(b, 'z'), coalesce(v, v), coalesce(NULL, 'y')",
  "id, b, v, t, b::text, v::text, upper(b::text), 'lit', NULL",
  "id, upper(coalesce(t, 'n/a')), lower(t || b), length(upper(t)), coalesce(upper(t), lower(v))",
];

let cluster: PgCluster;
let oracleCluster: PgCluster;
let env: ProtectedEnv;
let c: pg.Client;
let oracle: pg.Client;

beforeAll(async () => {
  [cluster, oracleCluster] = await Promise.all([startPostgres(), startPostgres()]);
  appendFileSync(join(cluster.dir, 'data', 'postgresql.conf'), "\nlog_statement = 'all'\nlog_min_error_statement = 'info'\nlog_parameter_max_length = -1\n");
  oracle = new pg.Client({ connectionString: oracleCluster.url(), ssl: { ca: oracleCluster.caPem } });
  await oracle.connect();
  env = await startProtected(cluster, POLICY, undefined, { residual: {} });
  await env.backend.query('SELECT pg_reload_conf()');
  c = new pg.Client({ connectionString: env.url(USERS.doctor) });
  await c.connect();
  process.stdout.write(`fast path differential: FAST_PATH_SEED=${SEED}\n`);
  for (const db of [c, oracle]) {
    await db.query(CREATE);
    for (const r of rowsOf(SEED)) await db.query('INSERT INTO fstr (id, t, v, b) VALUES ($1, $2, $3, $4)', r);
  }
}, 300_000);

afterAll(async () => {
  await c?.end().catch(() => undefined);
  await oracle?.end().catch(() => undefined);
  await env?.close();
  await cluster?.destroy();
  await oracleCluster?.destroy();
});

type Result = pg.QueryResult<Record<string, unknown>>;
const byId = (r: Result): unknown[] => [...r.rows].sort((a, b) => Number(a.id) - Number(b.id));
const fields = (r: Result): unknown[] => r.fields.map((f) => [f.name, f.dataTypeID]);
const described = (r: Result): unknown[] => r.fields.map((f) => [f.name, f.dataTypeID, f.dataTypeModifier, f.dataTypeSize]);

/** The statement through the proxy and on the oracle; the fast path's candidate rows it used. */
async function both(q: pg.QueryConfig): Promise<{ enc: Result; plain: Result; fast: number }> {
  const before = residualStats.fastRows;
  const enc = await c.query<Record<string, unknown>>(q);
  const fast = residualStats.fastRows - before;
  const plain = await oracle.query<Record<string, unknown>>(q);
  expect(fields(enc)).toEqual(fields(plain));
  expect(byId(enc)).toEqual(byId(plain));
  return { enc, plain, fast };
}

const rowIsAscii = (k: number): boolean => k <= ASCII_ROWS;

describe('fast path: PostgreSQL answers, with and without the engine', () => {
  it.each(LISTS)('%s (simple and extended protocol, fast and engine rows)', async (list) => {
    const ascii = await both({ text: `SELECT ${list} FROM fstr WHERE id <= ${ASCII_ROWS}` });
    expect(ascii.fast).toBe(ASCII_ROWS);
    const extended = await both({ text: `SELECT ${list} FROM fstr WHERE id <= $1`, values: [ASCII_ROWS] });
    expect(extended.fast).toBe(ASCII_ROWS);
    // All rows: where a non-ASCII value meets a case mapping, the batch goes to the engine.
    const all = await both({ text: `SELECT ${list} FROM fstr` });
    if (all.fast === 0) expect(described(all.enc)).toEqual(described(ascii.enc));
    // The same rows through the engine (a condition left to the proxy: no fast plan): the fast
    // path's RowDescription is the engine's (types, type modifiers, sizes).
    const engine = await both({ text: `SELECT ${list} FROM fstr WHERE id <= ${ASCII_ROWS} AND length(coalesce(t, '')) >= 0` });
    expect(engine.fast).toBe(0);
    expect(described(ascii.enc)).toEqual(described(engine.enc));
    await both({ text: `SELECT ${list} FROM fstr WHERE id > ${ASCII_ROWS}` });
  }, 120_000);

  it('answers each row by key (the bench statement), prepared, through the fast path or the engine per value', async () => {
    const q = { name: 'by-key', text: 'SELECT id, upper(t) FROM fstr WHERE id = $1' };
    let fast = 0;
    for (let k = 1; k <= ROWS; k++) {
      const r = await both({ ...q, values: [k] });
      fast += r.fast;
      const t = rowsOf(SEED)[k - 1]?.[1];
      if (rowIsAscii(k) || t === null || /^[\x00-\x7f]*$/.test(String(t))) expect(r.fast).toBe(1);
      else expect(r.fast).toBe(0);
    }
    expect(fast).toBeGreaterThanOrEqual(ASCII_ROWS);
  }, 120_000);

  it('answers each row by key in the simple protocol (one plan per shape, from the shape cache) like PostgreSQL', async () => {
    // The key literal changes with each text: after a shape's first two texts the plan and its
    // in-proxy stage come from the shape cache, shared by the texts (and their kept fast program
    // and RowDescription); two shapes alternate, and rows the engine answers come between.
    const before = analysisCounts().shape;
    let fast = 0;
    for (let k = 1; k <= ROWS; k++) {
      const r = await both({ text: `SELECT id, upper(t) FROM fstr WHERE id = ${k}` });
      fast += r.fast;
      expect(described(r.enc)).toEqual(described(r.plain));
      const t = rowsOf(SEED)[k - 1]?.[1];
      if (rowIsAscii(k) || t === null || /^[\x00-\x7f]*$/.test(String(t))) expect(r.fast).toBe(1);
      else expect(r.fast).toBe(0);
      const other = await both({ text: `SELECT id, lower(v) AS l, length(b) FROM fstr WHERE id = ${ROWS + 1 - k}` });
      expect(described(other.enc)).toEqual(described(other.plain));
    }
    expect(fast).toBeGreaterThanOrEqual(ASCII_ROWS);
    expect(analysisCounts().shape - before).toBeGreaterThanOrEqual(2 * ROWS - 4);
  }, 120_000);

  it('answers an Execute with or without the client\'s Describe of its portal just before it like PostgreSQL', async () => {
    // With the Describe just before, its answer gives the Execute's candidate fields; otherwise the
    // proxy describes the portal itself (another portal described, none, a row limit, binary results).
    const [r, o] = await Promise.all([RawClient.open(env.proxy.port, USERS.doctor), RawClient.open(oracleCluster.port, { name: SUPERUSER, password: SUPERUSER_PASSWORD })]);
    const bind = (portal: string, id: string, formats: Array<0 | 1> = []): FrontendMessage =>
      ({ type: 'Bind', portal, statement: 'k', paramFormats: [], values: [Buffer.from(id)], resultFormats: formats });
    const exec = (portal: string, maxRows = 0): FrontendMessage => ({ type: 'Execute', portal, maxRows });
    const describeP = (name: string): FrontendMessage => ({ type: 'Describe', target: 'P', name });
    try {
      const batches: FrontendMessage[][] = [
        [{ type: 'Parse', name: 'k', sql: 'SELECT id, upper(t), length(v) FROM fstr WHERE id <= $1', paramTypes: [] }, { type: 'Sync' }],
        [bind('', '3'), describeP(''), exec(''), { type: 'Sync' }],
        [bind('', '2'), exec(''), { type: 'Sync' }],
        [bind('a', '4'), bind('b', '2', [1]), describeP('a'), exec('b'), exec('a'), { type: 'Sync' }],
        [{ type: 'Query', sql: 'BEGIN' }],
        [bind('c', '5', [1]), describeP('c'), exec('c', 2), describeP('c'), exec('c', 2), exec('c'), { type: 'Sync' }],
        [{ type: 'Query', sql: 'COMMIT' }],
        [bind('', '3'), describeP(''), { type: 'Flush' }],
        [exec(''), { type: 'Sync' }],
      ];
      const shape = (ms: BackendMessage[]): unknown[] => ms.map((m) => {
        if (m.type === 'RowDescription') return m.fields.map((f) => `${f.name}:${f.typeOid}:${f.typeModifier}:${f.format}`);
        if (m.type === 'DataRow') return m.values.map((v) => (v === null ? null : Buffer.from(v).toString('hex')));
        if (m.type === 'ErrorResponse') return `ErrorResponse ${m.fields.C ?? ''}`;
        return m.type === 'CommandComplete' ? m.tag : m.type;
      });
      for (const b of batches) {
        r.socket.write(frontendBytes(b));
        o.socket.write(frontendBytes(b));
        const flushOnly = b[b.length - 1]?.type === 'Flush';
        const read = async (c: RawClient): Promise<BackendMessage[]> => (flushOnly ? [await c.read(), await c.read()] : c.cycle());
        const [got, want] = await Promise.all([read(r), read(o)]);
        expect(shape(got)).toEqual(shape(want));
      }
    } finally {
      r.socket.destroy();
      o.socket.destroy();
    }
  }, 120_000);

  it('keeps the engine for what is not on the allowlist or not exact', async () => {
    for (const sql of ['SELECT id, initcap(t) FROM fstr', 'SELECT id, coalesce(v, t) FROM fstr', "SELECT id, length('abc') FROM fstr", 'SELECT id, upper(t) FROM fstr ORDER BY id']) {
      const r = await both({ text: sql.replace(' FROM fstr', ` FROM fstr WHERE id <= ${ASCII_ROWS}`) });
      expect(r.fast).toBe(0);
    }
    const where = await both({ text: "SELECT id, upper(t) FROM fstr WHERE t LIKE 'a%'" });
    expect(where.fast).toBe(0);
  }, 120_000);

  it('streams a large result chunk by chunk through the fast path, counting one statement', async () => {
    const insert = "INSERT INTO fstr (id, t, v, b) SELECT 1000 + g, 'row ' || g, 'v' || g, 'b' FROM generate_series(1, 12000) g";
    for (const db of [c, oracle]) await db.query(insert);
    const before = { ...residualStats };
    const r = await both({ text: 'SELECT id, upper(t), length(v), b || v FROM fstr WHERE id > 1000' });
    expect(r.enc.rows.length).toBe(12_000);
    expect(r.fast).toBe(12_000);
    expect(residualStats.statements - before.statements).toBe(1);
    expect(residualStats.resultRows - before.resultRows).toBe(12_000);
  }, 300_000);

  it('stores and sends no plaintext: the dump and the statement log hold no canary', async () => {
    const canaries = [CANARY, CANARY.toUpperCase()];
    expect(await canariesInDump(cluster, canaries)).toEqual([]);
    const log = readFileSync(join(cluster.dir, 'server.log'), 'utf8').split('\n');
    expect(log.filter((l) => canaries.some((x) => l.includes(x)))).toEqual([]);
  });
});
