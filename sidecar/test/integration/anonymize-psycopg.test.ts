// Issue 13 with a real Python client: psycopg 3 (compat/python/anon_psycopg.py, in the compat
// suite's pinned venv) loads the CLARUS eHealth set into k-anonymity tables through the proxy by
// COPY, a multi-row INSERT, and executemany of single-row INSERTs in a transaction (held until
// COMMIT); this test checks what the backend stores with the independent checker.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { achievedK } from '@clarus/testing/anonymity.ts';
import type { Row } from '@clarus/testing/anonymity.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { USERS, startProtected } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';
import { clarusFile } from '@clarus/testing/clarus-data.ts';
import { EPISODE_QI as QI, EPISODE_TABLE_COLUMNS as TABLE_COLUMNS, episodeColumns, episodePolicy } from './episodes.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '../../..');
const DATA = clarusFile('data_clarus2.txt');
const COLUMNS = episodeColumns();
const TABLES = ['episode_copy', 'episode_ins', 'episode_held'];
const POLICY = episodePolicy('ehealth-psycopg', TABLES);
/** The ep_id of the records the script sends with binary parameters (rows 450..459 of the data). */
const records450 = readFileSync(DATA, 'utf8').split('\n').slice(451, 461).map((l) => l.split(',')[0] as string);

let cluster: PgCluster;
let env: ProtectedEnv;

async function storedRows(table: string): Promise<Row[]> {
  const names = COLUMNS.map((c) => `${c.name}::text`).join(', ');
  return (await env.backend.query({ text: `SELECT ${names} FROM ${table}`, rowMode: 'array' })).rows as Row[];
}

beforeAll(async () => {
  cluster = await startPostgres();
  env = await startProtected(cluster, POLICY);
  for (const t of TABLES) await env.backend.query(`CREATE TABLE ${t} ${TABLE_COLUMNS}`);
});
afterAll(async () => {
  await env?.close();
  await cluster?.destroy();
});

describe('psycopg 3 into k-anonymity tables', () => {
  it('COPY, a multi-row INSERT and executemany in a transaction store k-anonymous batches; what cannot be is refused', async () => {
    const { stdout: venv } = await run(join(ROOT, 'compat/python/ensure-venv.sh'), [join(ROOT, 'compat/python/requirements.txt')]);
    const { stdout } = await run(join(venv.trim(), 'bin/python'), [join(ROOT, 'compat/python/anon_psycopg.py')], {
      env: { ...process.env, CLARUS_URL: `${env.url(USERS.doctor)}?sslmode=disable`, CLARUS_DATA: DATA },
    });
    const seen = JSON.parse(stdout) as Record<string, unknown> & { notices: string[] };
    console.log(`psycopg through the proxy, seconds per step: ${JSON.stringify(seen.seconds)}`);
    expect(seen).toMatchObject({
      copy: 300, insert: 60, params: '0A000', held_rowcount: 40, held_binary: 10, held_pipeline: 'IDLE',
      few_pipeline: '21000', few_pipeline_status: 'IDLE', few: '21000', few_status: 'IDLE', autocommit: '21000',
    });
    for (const [table, n] of [['episode_copy', 300], ['episode_ins', 60], ['episode_held', 56]] as const) {
      const rows = await storedRows(table);
      expect(rows.length, table).toBe(n);
      expect(achievedK(rows, QI), table).toBeGreaterThanOrEqual(5);
      expect(rows.every((r) => r[7] === null), table).toBe(true);
    }
    // One NOTICE with the report per stored batch, none for the refused ones.
    const reports = seen.notices.filter((n) => n.startsWith('clarus: k-anonymity of'));
    expect(reports.map((n) => /of public\.(\w+): (\d+) records/.exec(n)?.slice(1).join(':'))).toEqual(['episode_copy:300', 'episode_ins:60', 'episode_held:40', 'episode_held:10', 'episode_held:6']);
    // The binary batch stored the values the client sent (non-quasi-identifiers as they were).
    const binary = (await storedRows('episode_held')).filter((r) => records450.includes(r[0] as string));
    expect(binary.length).toBe(10);
    expect(achievedK(binary, QI)).toBeGreaterThanOrEqual(5);
  });
});
