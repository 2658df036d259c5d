// COPY through the byte paths (protection/copy-in-text.ts, copy-out-text.ts) against real
// PostgreSQL: `visit` has only text columns encrypted (reason deterministic, notes randomized), so
// COPY FROM in text format takes the byte path for its plain lines and the general path for lines
// with escapes or NULL, all in one COPY; COPY TO (many batches) must give back exactly what was
// sent, and the backend (its table and a pg_dump) holds none of the plaintext.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CREATE_VISIT, USERS, canariesInDump, canariesInTable, startProtected } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';

let cluster: PgCluster;
let env: ProtectedEnv;
let doc: pg.Client;

const ROWS = 3000;
/** Line i as COPY text: plain lines (byte path), and every 10th with an escape or a NULL (general path). */
function line(i: number): string {
  const reason = i % 10 === 3 ? '\\N' : `Reason Bytecanary${i % 7}`;
  const notes = i % 10 === 5 ? `Note\\twith tab Bytecanary${i}` : i % 10 === 7 ? `back\\\\slash Bytecanary${i}` : `Note Bytecanary${i} ünï ✓`;
  return `${i}\t${i % 50}\t${reason}\t${notes}`;
}
const CANARIES = ['Bytecanary', 'ünï', 'with tab'];

beforeAll(async () => {
  cluster = await startPostgres();
  env = await startProtected(cluster);
  doc = new pg.Client({ connectionString: env.url(USERS.doctor) });
  await doc.connect();
  await doc.query(CREATE_VISIT);
});
afterAll(async () => {
  await doc?.end().catch(() => undefined);
  await env?.close();
  await cluster?.destroy();
});

describe('COPY of a table whose encrypted columns are text, through the byte paths', () => {
  it('stores ciphertext only, and COPY TO gives back exactly the lines sent, over many batches', async () => {
    const lines = Array.from({ length: ROWS }, (_, i) => line(i + 1));
    // Chunks that split lines anywhere (pg-copy-streams forwards each as one CopyData).
    const text = `${lines.join('\n')}\n`;
    const chunks: string[] = [];
    for (let at = 0; at < text.length; at += 997) chunks.push(text.slice(at, at + 997));
    await pipeline(Readable.from(chunks), doc.query(copyFrom('COPY visit (visit_id, pat_id, reason, notes) FROM STDIN')));

    // The backend: bytea ciphertexts, the deterministic column equal for equal plaintexts.
    const stored = await env.backend.query<{ r: string | null; n: string | null }>('SELECT reason::text AS r, notes::text AS n FROM visit ORDER BY visit_id');
    expect(stored.rows).toHaveLength(ROWS);
    expect(stored.rows.every((x) => (x.r === null || x.r.startsWith('\\x')) && x.n?.startsWith('\\x'))).toBe(true);
    expect(stored.rows[0]?.r).toBe(stored.rows[7]?.r);
    expect(stored.rows[0]?.n).not.toBe(stored.rows[7]?.n);
    expect(stored.rows[2]?.r).toBeNull();
    expect(await canariesInTable(env.backend, 'visit', CANARIES)).toEqual([]);
    expect(await canariesInDump(cluster, CANARIES)).toEqual([]);

    // The application: COPY TO returns every line as sent; SELECT decrypts the same values.
    const out: Buffer[] = [];
    const stream = doc.query(copyTo('COPY visit (visit_id, pat_id, reason, notes) TO STDOUT'));
    for await (const c of stream) out.push(c as Buffer);
    const back = Buffer.concat(out).toString('utf8').split('\n').filter((l) => l !== '');
    back.sort((a, b) => Number(a.split('\t')[0]) - Number(b.split('\t')[0]));
    expect(back).toEqual(lines);
    const r = await doc.query('SELECT reason, notes FROM visit WHERE visit_id IN (5, 7) ORDER BY visit_id');
    expect(r.rows).toEqual([{ reason: 'Reason Bytecanary5', notes: 'Note\twith tab Bytecanary5' }, { reason: 'Reason Bytecanary0', notes: 'back\\slash Bytecanary7' }]);
  });

  it('a line the backend would refuse fails the whole COPY with its SQLSTATE and stores nothing of it', async () => {
    const bad = ['9001\t1\tok\tok', '9002\t1\tbad\\000nul\tx', '9003\t1\tok\tok'].join('\n');
    await expect(pipeline(Readable.from([`${bad}\n`]), doc.query(copyFrom('COPY visit (visit_id, pat_id, reason, notes) FROM STDIN'))))
      .rejects.toMatchObject({ code: '22021' });
    expect((await env.backend.query('SELECT count(*)::int AS n FROM visit WHERE visit_id > 9000')).rows[0]).toEqual({ n: 0 });
  });
});
