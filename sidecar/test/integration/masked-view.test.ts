// Issue 13: read-time masking per column for the masked view (encrypt.maskedView): what a reader
// whose AccessGrant says `view: masked` sees, through the real proxy, in the simple and extended
// protocols and COPY TO; what is stored stays the ciphertext.
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeColumn, RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { USERS, canariesInDump, startProtected } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';

const B = 'cloud-a';
const enc = (name: string, maskedView?: NonNullable<RuntimeColumn['encrypt']>['maskedView']): RuntimeColumn =>
  ({ name, attributeType: 'identifier', backend: B, encrypt: { mode: 'randomized', searchable: false, keyName: 'default', ...(maskedView ? { maskedView } : {}) } });
const POLICY: RuntimePolicy = {
  name: 'masks', onUnsupported: 'reject', defaultBackend: B,
  keyring: { dir: 'secrets/keyring', keys: [{ name: 'default', versions: [1], current: 1 }] },
  datasets: [{
    // `patients`: the test users' analyst reads it with the masked view, the doctor in plaintext.
    name: 'patients', schema: 'public', table: 'person',
    columns: [
      { name: 'id', attributeType: 'technicalIdentifier', backend: B },
      enc('phone', { function: 'partial', keepFirst: 3, keepLast: 2 }),
      enc('email', { function: 'email' }),
      enc('ssn', { function: 'hash' }),
      enc('born', { function: 'truncate', unit: 'year' }),
      enc('note', { function: 'fixed', value: '[redacted]' }),
      enc('diag', { function: 'null' }),
      enc('card'),
    ],
  }],
};
const COLS = 'id, phone, email, ssn, born, note, diag, card';

let cluster: PgCluster;
let env: ProtectedEnv;
const clients: pg.Client[] = [];

async function as(user: typeof USERS.doctor): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: env.url(user) });
  c.on('error', () => undefined);
  await c.connect();
  clients.push(c);
  return c;
}

beforeAll(async () => {
  cluster = await startPostgres();
  env = await startProtected(cluster, POLICY);
  const d = await as(USERS.doctor);
  await d.query('CREATE TABLE person (id integer, phone text, email text, ssn text, born date, note text, diag text, card text)');
  await d.query(`INSERT INTO person (${COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [1, '+34 600 111 222', 'jane.doe@canary.example', 'CANARY-123-45', '1984-07-23', 'Canary note', 'Canary flu', '4111111111111111']);
  await d.query(`INSERT INTO person (${COLS}) VALUES (2, '12', 'x@y', 'CANARY-123-45', '2001-01-05', 'n', 'd', '12')`);
});
afterAll(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
  await env?.close();
  await cluster?.destroy();
});

describe('masked view per column', () => {
  it('shows each column through its mask function (simple and extended protocol); plaintext readers see the values', async () => {
    const a = await as(USERS.analyst);
    for (const q of [`SELECT ${COLS} FROM person ORDER BY id`, { text: `SELECT ${COLS} FROM person WHERE id = ANY($1) ORDER BY id`, values: [[1, 2]] }]) {
      const rows = (await a.query(q)).rows as Array<Record<string, string | null>>;
      expect(rows[0]).toMatchObject({ phone: '+34**********22', email: 'j***@canary.example', born: '1984-01-01', note: '[redacted]', diag: null, card: '****1111' });
      expect(rows[1]).toMatchObject({ phone: '**', email: 'x***@y', born: '2001-01-01', card: '****' });
      // A keyed hash: equal values show equal hashes, and never the value.
      expect(rows[0]?.ssn).toMatch(/^[0-9a-f]{16}$/);
      expect(rows[1]?.ssn).toBe(rows[0]?.ssn);
    }
    const d = await as(USERS.doctor);
    const row = (await d.query('SELECT phone, born, diag FROM person WHERE id = 1')).rows[0] as { phone: string; born: Date; diag: string };
    expect([row.phone, row.diag, row.born.getFullYear(), row.born.getMonth() + 1, row.born.getDate()]).toEqual(['+34 600 111 222', 'Canary flu', 1984, 7, 23]);
  });

  it('masks COPY TO the same way', async () => {
    const a = await as(USERS.analyst);
    const chunks: Buffer[] = [];
    await pipeline(a.query(copyTo(`COPY (SELECT ${COLS} FROM person ORDER BY id) TO STDOUT`)), new Writable({ write(c, _e, cb) { chunks.push(c as Buffer); cb(); } }));
    const first = Buffer.concat(chunks).toString('utf8').split('\n')[0]?.split('\t');
    expect(first?.slice(1)).toEqual(['+34**********22', 'j***@canary.example', expect.stringMatching(/^[0-9a-f]{16}$/), '1984-01-01', '[redacted]', '\\N', '****1111']);
  });

  it('stores ciphertext only', async () => {
    expect(await canariesInDump(cluster, ['CANARY-123-45', 'Canary note', 'Canary flu', 'jane.doe@canary', '600 111 222'])).toEqual([]);
  });
});
