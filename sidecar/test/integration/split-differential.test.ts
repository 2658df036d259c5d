// Split tables answer as one table would (issue 12): seeded random statements (INSERT with and
// without a column list, upserts,
// INSERT … SELECT, WITH, TRUNCATE, UPDATE,
// DELETE, SELECT with conditions on columns of one or several backends, ordering, grouping, in
// and out of transaction blocks) run through the proxy over three backends and against an
// unsplit PostgreSQL oracle; every result, row count and the final table must be the same.
// SPLIT_DIFF_COUNT sets the number of statements (default 400), SPLIT_DIFF_SEED the seed.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { CREATE_SPLIT_PATIENT, startSplit } from './split-env.ts';
import type { SplitEnv } from './split-env.ts';

const COUNT = Number(process.env.SPLIT_DIFF_COUNT ?? 400);
const SEED = Number(process.env.SPLIT_DIFF_SEED ?? 12);

let env: SplitEnv;
let oracleCluster: PgCluster;
let oracle: pg.Client;
let proxy: pg.Client;

function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >> 17; x ^= x << 5; x >>>= 0; return x / 0x100000000; };
}

const NAMES = ['Ann', 'Bob', 'Cy', 'Dee', "O'Neil", 'Élodie', 'Zoë'];
const DIAG = ['flu', 'cold', 'asthma', 'fracture'];
const WARDS = ['w1', 'w2', 'w3'];

interface Stmt { sql: string; params?: unknown[]; kind: 'read' | 'write' | 'tx' }

function generator(rand: () => number) {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  let nextId = 1;
  const value = (col: string): unknown => {
    if (rand() < 0.1) return null;
    switch (col) {
      case 'pat_name': return `${pick(NAMES)} ${Math.floor(rand() * 50)}`;
      case 'pat_ssn': return `${100 + Math.floor(rand() * 900)}-${10 + Math.floor(rand() * 90)}`;
      case 'diagnosis': return pick(DIAG);
      case 'ward': return pick(WARDS);
      default: return Math.floor(rand() * 90);
    }
  };
  const literal = (v: unknown) => (v === null ? 'NULL' : typeof v === 'number' ? String(v) : `'${String(v).replace(/'/g, "''")}'`);
  // Conditions on one backend's columns (cloud-a: pat_id, pat_name, age; cloud-b: pat_ssn, diagnosis; cloud-c: ward).
  const cond = (): string => pick([
    () => `pat_id = ${1 + Math.floor(rand() * nextId)}`,
    () => `pat_id < ${1 + Math.floor(rand() * nextId)}`,
    () => `age > ${Math.floor(rand() * 90)}`,
    () => `diagnosis = ${literal(pick(DIAG))}`,
    () => `ward = ${literal(pick(WARDS))}`,
    () => `pat_ssn IS NULL`,
    () => `pat_name LIKE ${literal(`${pick(NAMES).slice(0, 1)}%`)}`,
    () => `ward IN ('w1', 'w3')`,
  ])();
  const where = (n: number) => Array.from({ length: n }, cond).join(' AND ');
  const cols = ['pat_name', 'pat_ssn', 'diagnosis', 'ward', 'age'];
  let copies = 0;
  return (): Stmt => {
    const r = rand();
    if (r < 0.25) {
      const rows = 1 + Math.floor(rand() * 3);
      const params: unknown[] = [];
      const useParams = rand() < 0.5;
      const values = Array.from({ length: rows }, () => {
        const row = [nextId++, ...cols.map(value)];
        if (row[1] === null) row[1] = 'anon';
        if (!useParams) return `(${row.map(literal).join(', ')})`;
        return `(${row.map((v) => { params.push(v); return `$${params.length}`; }).join(', ')})`;
      });
      // Without a column list too: the values by position in the CREATE TABLE order (column-order.ts).
      const list = rand() < 0.3 ? '' : `(pat_id, ${cols.join(', ')}) `;
      return { sql: `INSERT INTO patient ${list}VALUES ${values.join(', ')}`, ...(useParams ? { params } : {}), kind: 'write' };
    }
    if (r < 0.40) {
      const set = cols.filter(() => rand() < 0.4);
      if (set.length === 0) set.push(pick(cols));
      return { sql: `UPDATE patient SET ${set.map((c) => `${c} = ${literal(c === 'pat_name' ? (value(c) ?? 'anon') : value(c))}`).join(', ')} WHERE ${where(1 + Math.floor(rand() * 2))}`, kind: 'write' };
    }
    if (r < 0.45) return { sql: `DELETE FROM patient WHERE ${where(1 + Math.floor(rand() * 2))}`, kind: 'write' };
    if (r < 0.50) return { sql: pick(['BEGIN', 'COMMIT', 'ROLLBACK', 'SAVEPOINT sp', 'ROLLBACK TO SAVEPOINT sp']), kind: 'tx' };
    if (r < 0.60) return { sql: `SELECT ward, count(*)::int AS n, max(age) AS oldest, min(pat_name) AS first FROM patient WHERE ${where(1)} GROUP BY ward ORDER BY ward NULLS FIRST`, kind: 'read' };
    if (r < 0.70) return { sql: `SELECT pat_id, upper(pat_name) AS u, length(pat_ssn) AS l, coalesce(diagnosis, '-') AS d FROM patient WHERE ${where(1)} OR ${cond()} ORDER BY pat_id`, kind: 'read' };
    if (r < 0.80) return { sql: 'SELECT pat_id, pat_name, pat_ssn, diagnosis, ward, age FROM patient WHERE pat_id = $1', params: [1 + Math.floor(rand() * nextId)], kind: 'read' };
    if (r < 0.84) {
      // An upsert on the row key: an existing row or a new one, SETs on every backend.
      const id = rand() < 0.6 ? 1 + Math.floor(rand() * nextId) : nextId++;
      const row = [id, value('pat_name') ?? 'anon', value('diagnosis'), value('ward'), value('age')];
      const head = `INSERT INTO patient (pat_id, pat_name, diagnosis, ward, age) VALUES (${row.map(literal).join(', ')}) ON CONFLICT (pat_id)`;
      if (rand() < 0.4) return { sql: `${head} DO NOTHING`, kind: 'write' };
      const set = ['pat_name', 'diagnosis', 'ward', 'age'].filter(() => rand() < 0.5);
      if (set.length === 0) set.push('ward');
      return { sql: `${head} DO UPDATE SET ${set.map((c) => `${c} = EXCLUDED.${c}`).join(', ')}${rand() < 0.3 ? ' RETURNING pat_id' : ''}`, kind: 'write' };
    }
    if (r < 0.87) {
      // INSERT … SELECT of the table itself, under keys no other statement uses.
      const offset = 100_000 * ++copies;
      return { sql: `INSERT INTO patient (pat_id, pat_name, ward, age) SELECT pat_id + ${offset}, upper(pat_name), ward, age FROM patient WHERE pat_id < 100000 AND ${where(1)}`, kind: 'write' };
    }
    if (r < 0.90) return { sql: `WITH x AS (SELECT ward, upper(pat_name) AS pat_name, age FROM patient WHERE ${where(1)}) SELECT ward, count(*)::int AS n, max(pat_name) AS m FROM x WHERE age IS NOT NULL OR ${cond()} GROUP BY ward ORDER BY ward NULLS FIRST`, kind: 'read' };
    if (r < 0.905) return { sql: 'TRUNCATE patient', kind: 'write' };
    const list = rand() < 0.4 ? '*' : 'pat_id, pat_name, pat_ssn, diagnosis, ward, age';
    return { sql: `SELECT ${list} FROM patient WHERE ${where(1 + Math.floor(rand() * 3))} ORDER BY pat_id${rand() < 0.3 ? ' LIMIT 3' : ''}`, kind: 'read' };
  };
}

async function outcome(db: pg.Client, s: Stmt): Promise<unknown> {
  try {
    const r = await db.query(s.sql, s.params);
    // The field names in order (SELECT *: the CREATE TABLE order), not only the rows' keys.
    return { command: r.command, rowCount: r.rowCount, fields: (r.fields ?? []).map((f) => f.name), rows: r.rows };
  } catch (e) {
    return { error: (e as { code?: string }).code };
  }
}

beforeAll(async () => {
  [env, oracleCluster] = await Promise.all([startSplit({ logStatements: false }), startPostgres()]);
  oracle = new pg.Client({ connectionString: oracleCluster.url(), ssl: { ca: oracleCluster.caPem } });
  await oracle.connect();
  proxy = await env.client();
  const create = CREATE_SPLIT_PATIENT.replace('serial', 'int');
  await proxy.query(create);
  await oracle.query(create);
}, 180_000);
afterAll(async () => {
  await oracle?.end();
  await env?.close();
  await oracleCluster?.destroy();
});

describe('split vs unsplit oracle', () => {
  it(`${COUNT} random statements (seed ${SEED}) give the same results`, async () => {
    const next = generator(prng(SEED));
    let compared = 0;
    for (let i = 0; i < COUNT; i++) {
      const s = next();
      const [a, b] = [await outcome(proxy, s), await outcome(oracle, s)];
      expect(a, `statement ${i}: ${s.sql} ${JSON.stringify(s.params ?? [])}`).toEqual(b);
      compared++;
    }
    await proxy.query('ROLLBACK').catch(() => undefined);
    await oracle.query('ROLLBACK').catch(() => undefined);
    const all = 'SELECT pat_id, pat_name, pat_ssn, diagnosis, ward, age FROM patient ORDER BY pat_id';
    expect((await proxy.query(all)).rows).toEqual((await oracle.query(all)).rows);
    expect(compared).toBe(COUNT);
  }, 1_800_000);
});
