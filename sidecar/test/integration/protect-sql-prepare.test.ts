// Issue 11: SQL-level PREPARE / EXECUTE / DEALLOCATE over protected tables with real clients —
// node-postgres (simple Query, and EXECUTE sent with Parse/Bind as a named statement) and psycopg 3
// (plain SQL text: `conn.execute`, and a ClientCursor that binds its arguments into the text) —
// against a real PostgreSQL 15 logging every statement: the application sees its values, the
// backend stores, logs and dumps only ciphertext; after a policy reload a statement is planned again
// (the same one: it goes on) or refused with 26000 until it is prepared again (it became protected).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlstate } from '@clarus/testing/outcome.ts';
import type { RuntimeConfig } from '@clarus/policy/runtime/config.ts';
import { CREATE_PATIENT, USERS, canariesInDump, canariesInTable, startProtected } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import type { HarnessUser } from '@clarus/testing/proxy.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '../../..');
let cluster: PgCluster;
let env: ProtectedEnv;
const canaries: string[] = [];
const canary = (tag: string): string => {
  const c = `Prep${tag}Canary${canaries.length}`;
  canaries.push(c);
  return c;
};

const as = (user: HarnessUser): Promise<pg.Client> => env.client(user);


const reload = (change: (c: RuntimeConfig) => void): void => { expect(env.reload(change)).toBe(true); };

/** Canaries in clear in the server log (log_statement = all: EXECUTE's arguments are logged). */
const serverLog = (): string => readFileSync(join(cluster.dir, 'server.log'), 'utf8');
const inLog = (): string[] => {
  const log = serverLog();
  return canaries.filter((c) => log.includes(c) || log.includes(Buffer.from(c).toString('hex')));
};

beforeAll(async () => {
  cluster = await startPostgres();
  env = await startProtected(cluster);
  await env.backend.query("ALTER SYSTEM SET log_statement = 'all'");
  await env.backend.query('SELECT pg_reload_conf()');
  const doc = await as(USERS.doctor);
  await doc.query(CREATE_PATIENT);
  // A plain table whose column a later policy encrypts (already in its stored form, bytea).
  await env.backend.query('CREATE TABLE memo (id integer PRIMARY KEY, body bytea)');
});
afterAll(async () => {
  await env?.close();
  await cluster?.destroy();
});

describe('SQL-level PREPARE / EXECUTE through the proxy', () => {
  it('node-postgres: PREPARE and EXECUTE in simple Queries and as a named Parse; values back in clear, ciphertext stored and logged', async () => {
    const doc = await as(USERS.doctor);
    const name = canary('Name');
    const ssn = '555-12-3456';
    canaries.push(ssn);
    await doc.query('PREPARE ins (int, text, varchar, text) AS INSERT INTO patient (pat_id, pat_name, pat_ssn, diagnosis) VALUES ($1, $2, $3, $4)');
    await doc.query(`EXECUTE ins(10, '${name}', '${ssn}', 'flu')`);
    await doc.query('PREPARE by_ssn (varchar) AS SELECT pat_id, pat_name, diagnosis FROM patient WHERE pat_ssn = $1');
    expect((await doc.query(`EXECUTE by_ssn('${ssn}')`)).rows).toEqual([{ pat_id: 10, pat_name: name, diagnosis: 'flu' }]);
    // The extended protocol: node-postgres sends a named statement as Parse/Bind/Execute.
    expect((await doc.query({ name: 'run-by-ssn', text: `EXECUTE by_ssn('${ssn}')` })).rows).toEqual([{ pat_id: 10, pat_name: name, diagnosis: 'flu' }]);
    expect((await doc.query({ name: 'run-by-ssn', text: `EXECUTE by_ssn('${ssn}')` })).rows).toHaveLength(1);
    // One text: PREPARE, EXECUTE, DEALLOCATE.
    const other = canary('Multi');
    await doc.query(`PREPARE m (int, text) AS INSERT INTO patient (pat_id, pat_name) VALUES ($1, $2); EXECUTE m(11, '${other}'); DEALLOCATE m`);
    expect((await doc.query('SELECT pat_name FROM patient WHERE pat_id = 11')).rows).toEqual([{ pat_name: other }]);
    expect(await sqlstate(doc.query('EXECUTE m(12, \'x\')'))).toBe('26000');
    expect(await canariesInTable(env.backend, 'patient', canaries)).toEqual([]);
    expect(await canariesInDump(cluster, canaries)).toEqual([]);
    // The log shows EXECUTE's arguments: ciphertext only.
    expect(serverLog()).toMatch(/statement: EXECUTE ins \(10, '\\x[0-9a-f]+', '\\x[0-9a-f]+', '\\x[0-9a-f]+'\)/);
    expect(inLog()).toEqual([]);
  });

  it('cost: EXECUTE of a prepared INSERT against the same INSERT sent with Parse/Bind (measured, printed, not asserted)', async () => {
    const doc = await as(USERS.doctor);
    await doc.query('PREPARE cost (int, text) AS INSERT INTO patient (pat_id, pat_name) VALUES ($1, $2)');
    const n = 300;
    // Warm-up first (the proxy's code paths, the parser, the column's key), then the measured runs.
    for (let i = 0; i < 50; i++) await doc.query(`EXECUTE cost(${4000 + i}, 'Warm Name ${i}')`);
    let t = performance.now();
    for (let i = 0; i < n; i++) await doc.query(`EXECUTE cost(${1000 + i}, 'Cost Name ${i}')`);
    const execute = (performance.now() - t) / n;
    t = performance.now();
    for (let i = 0; i < n; i++) await doc.query({ name: 'cost-bind', text: 'INSERT INTO patient (pat_id, pat_name) VALUES ($1, $2)', values: [2000 + i, `Cost Name ${i}`] });
    const bind = (performance.now() - t) / n;
    t = performance.now();
    for (let i = 0; i < n; i++) await doc.query(`INSERT INTO patient (pat_id, pat_name) VALUES (${3000 + i}, 'Cost Name ${i}')`);
    const literal = (performance.now() - t) / n;
    await doc.query('PREPARE costp (int) AS SELECT $1');
    t = performance.now();
    for (let i = 0; i < n; i++) await doc.query(`EXECUTE costp(${i})`);
    const plain = (performance.now() - t) / n;
    console.log(`SQL EXECUTE through the proxy: ${execute.toFixed(2)} ms per statement; the same INSERT as a prepared Parse/Bind: ${bind.toFixed(2)} ms; as a simple Query with literals: ${literal.toFixed(2)} ms; EXECUTE of a plain SELECT: ${plain.toFixed(2)} ms`);
    expect((await doc.query('SELECT count(*)::int AS n FROM patient WHERE pat_id >= 1000 AND pat_id < 5000')).rows).toEqual([{ n: 3 * n + 50 }]);
  });

  it('a masked reader EXECUTEs a prepared SELECT and sees the masked view', async () => {
    const doc = await as(USERS.doctor);
    const secret = canary('Secret');
    await doc.query(`INSERT INTO patient (pat_id, pat_name, pat_zip) VALUES (20, '${secret}', '12345')`);
    const analyst = await as(USERS.analyst);
    await analyst.query('PREPARE a1 (int) AS SELECT pat_name, pat_zip FROM patient WHERE pat_id = $1');
    const rows = (await analyst.query('EXECUTE a1(20)')).rows as Array<Record<string, unknown>>;
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(secret);
    expect(await sqlstate(analyst.query('PREPARE a2 (int, text) AS INSERT INTO patient (pat_id, pat_name) VALUES ($1, $2)'))).toBe('42501');
  });

  it('psycopg 3 with plain SQL text (conn.execute, ClientCursor binding into the text)', async () => {
    const { stdout: venv } = await run(join(ROOT, 'compat/python/ensure-venv.sh'), [join(ROOT, 'compat/python/requirements.txt')]);
    const name = canary('Psycopg');
    const script = `
import json, sys, psycopg
conn = psycopg.connect(sys.argv[1], autocommit=True)
conn.execute("PREPARE pins (int, text, varchar) AS INSERT INTO patient (pat_id, pat_name, pat_ssn) VALUES ($1, $2, $3)")
cur = psycopg.ClientCursor(conn)
cur.execute("EXECUTE pins(%s, %s, %s)", (30, sys.argv[2], "300-00-0030"))
conn.execute("PREPARE psel (varchar) AS SELECT pat_id, pat_name FROM patient WHERE pat_ssn = $1")
cur.execute("EXECUTE psel(%s)", ("300-00-0030",))
rows = cur.fetchall()
try:
    conn.execute("EXECUTE nosuch(1)")
    missing = None
except psycopg.Error as e:
    missing = e.sqlstate
conn.execute("DEALLOCATE ALL")
print(json.dumps({"rows": rows, "missing": missing}))
`;
    const { stdout } = await run(join(venv.trim(), 'bin/python'), ['-c', script, `${env.url(USERS.doctor)}?sslmode=disable`, name]);
    expect(JSON.parse(stdout)).toEqual({ rows: [[30, name]], missing: '26000' });
    expect(await canariesInTable(env.backend, 'patient', canaries)).toEqual([]);
    expect(inLog()).toEqual([]);
  });

  it('after a reload: the same plan goes on; a statement that became protected is refused with 26000 until prepared again', async () => {
    const doc = await as(USERS.doctor);
    await doc.query('PREPARE keep (int, text) AS INSERT INTO patient (pat_id, pat_name) VALUES ($1, $2)');
    await doc.query('PREPARE plain (int) AS INSERT INTO memo (id, body) VALUES ($1, $2)');
    await doc.query("EXECUTE plain(1, 'before the reload')");
    reload((c) => {
      c.policy.datasets.push({ name: 'memos', schema: 'public', table: 'memo', rowKey: 'id', columns: [
        { name: 'id', attributeType: 'technicalIdentifier', backend: c.policy.defaultBackend },
        { name: 'body', attributeType: 'confidential', encrypt: { mode: 'randomized', searchable: false, keyName: 'default' }, backend: c.policy.defaultBackend },
      ] });
    });
    const kept = canary('Kept');
    await doc.query(`EXECUTE keep(40, '${kept}')`);
    expect((await doc.query('SELECT pat_name FROM patient WHERE pat_id = 40')).rows).toEqual([{ pat_name: kept }]);
    const memo = canary('Memo');
    expect(await sqlstate(doc.query(`EXECUTE plain(2, '${memo}')`))).toBe('26000');
    await doc.query('DEALLOCATE plain');
    await doc.query('PREPARE plain (int) AS INSERT INTO memo (id, body) VALUES ($1, $2)');
    await doc.query(`EXECUTE plain(3, '${memo}')`);
    // The column's declared type is its stored one (bytea, created on the backend): the value comes back as bytes.
    const back = (await doc.query<{ body: Buffer }>('SELECT body FROM memo WHERE id = 3')).rows;
    expect(back.map((r) => Buffer.from(r.body).toString('utf8'))).toEqual([memo]);
    expect(await canariesInTable(env.backend, 'memo', canaries)).toEqual([]);
    expect(await canariesInTable(env.backend, 'patient', canaries)).toEqual([]);
    expect(inLog()).toEqual([]);
  });
});
