// The benchmark workload (test/corpus/workload.ts) through the proxy: 5 encrypted columns next to
// an identical plain table; prepared inserts, a large COPY FROM STDIN in arbitrary chunks
// (pg-copy-streams), select by key and COPY TO STDOUT give the same values for both tables,
// and the backend stores no plaintext of the encrypted one.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USERS, canariesInTable, startProtected } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';
import { encryptedWorkload } from '../corpus/workload.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';

const W = encryptedWorkload(5);
const COPY_ROWS = 3000;
let cluster: PgCluster;
let env: ProtectedEnv;
let c: pg.Client;

beforeAll(async () => {
  cluster = await startPostgres();
  env = await startProtected(cluster, W.policy, W.keyFiles);
  c = new pg.Client({ connectionString: env.url(USERS.doctor) });
  await c.connect();
});
afterAll(async () => {
  await c?.end();
  await env?.close();
  await cluster?.destroy();
});

async function copyIn(table: string): Promise<void> {
  // Chunks of 777 bytes: rows are split across CopyData messages on purpose.
  const text = Array.from({ length: COPY_ROWS }, (_, i) => W.copyLine(1000 + i)).join('');
  const chunks = Array.from({ length: Math.ceil(text.length / 777) }, (_, i) => text.slice(i * 777, (i + 1) * 777));
  await pipeline(Readable.from(chunks), c.query(copyStreams.from(W.copyInSql(table))));
}

async function copyOut(table: string): Promise<string> {
  const parts: Buffer[] = [];
  const stream = c.query(copyStreams.to(`COPY (SELECT * FROM ${table} ORDER BY id) TO STDOUT`));
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString();
}

describe('encrypted benchmark workload', () => {
  it('loads and reads the encrypted table exactly like the plain one', async () => {
    for (const t of ['bench_enc', 'bench_plain']) {
      await c.query(W.createSql(t));
      for (let i = 0; i < 50; i++) await c.query(W.insertSql(t), W.row(i));
      await copyIn(t);
    }
    for (const id of [7, 1000, 1000 + COPY_ROWS - 1]) {
      const [enc, plain] = await Promise.all(['bench_enc', 'bench_plain'].map((t) => c.query(W.selectByKeySql(t), [id])));
      expect(enc?.rows).toEqual(plain?.rows);
      expect(enc?.rows[0]?.c3).toBe(`c3-value-${id}`);
    }
    expect(await copyOut('bench_enc')).toBe(await copyOut('bench_plain'));
    expect((await c.query("SELECT count(*)::int AS n FROM bench_enc WHERE c1 = 'c1-value-1500'")).rows[0].n).toBe(1);
    expect((await c.query('SELECT id FROM bench_enc WHERE c2 = $1', ['c2-value-2999'])).rows).toEqual([{ id: '2999' }]);
    expect(await canariesInTable(env.backend, 'bench_enc', ['value-'])).toEqual([]);
    expect(await canariesInTable(env.backend, 'bench_plain', ['value-'])).toEqual(['value-']);
  });
});
