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
      // Searchable: the stored blind index must not give the hash mask away (issue 13 item 3).
      { ...enc('ssn', { function: 'hash' }), encrypt: { mode: 'randomized', searchable: true, keyName: 'default', maskedView: { function: 'hash' } } },
      enc('born', { function: 'truncate', unit: 'year' }),
      enc('note', { function: 'fixed', value: '[redacted]' }),
      enc('diag', { function: 'null' }),
      enc('card'),
    ],
  }, {
    // `visits`: reversible and irreversible pseudonyms (analyst: masked view; doctor: plaintext).
    name: 'visits', schema: 'public', table: 'member',
    columns: [
      { name: 'id', attributeType: 'technicalIdentifier', backend: B },
      { name: 'alias', attributeType: 'identifier', backend: B, anonymize: { pseudonymize: { reversible: true, format: 'hex', keyName: 'default' } } },
      { name: 'tag', attributeType: 'identifier', backend: B, anonymize: { pseudonymize: { format: 'hex', keyName: 'default' } } },
    ],
  }],
};
const COLS = 'id, phone, email, ssn, born, note, diag, card';

let cluster: PgCluster;
let env: ProtectedEnv;
const clients: pg.Client[] = [];

async function as(user: (typeof USERS)[keyof typeof USERS]): Promise<pg.Client> {
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
  await d.query('CREATE TABLE member (id integer, alias text, tag text)');
  await d.query("INSERT INTO member (id, alias, tag) VALUES (1, 'Canary Zoë', 'Canary Zoë'), (2, 'Canary Bob', 'Canary Bob')");
  await d.query('INSERT INTO member (id, alias, tag) VALUES ($1, $2, $3)', [3, 'Canary Zoë', 'Canary Zoë']);
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

  it('shows a hash mask that cannot be linked to the stored blind index of the column', async () => {
    const a = await as(USERS.analyst);
    const shown = (await a.query('SELECT id, ssn FROM person ORDER BY id')).rows.map((r) => r.ssn as string);
    // Deterministic per value: both rows hold CANARY-123-45.
    expect(shown[0]).toMatch(/^[0-9a-f]{16}$/);
    expect(shown[1]).toBe(shown[0]);
    const bidx = (await env.backend.query("SELECT encode(ssn__bidx, 'hex') AS h FROM person ORDER BY id")).rows.map((r) => r.h as string);
    expect(bidx[0]).toMatch(/^[0-9a-f]{32}$/);
    expect(bidx[1]).toBe(bidx[0]);
    // Not the blind index, nor any part of it (before issue 13 item 3 it was its first 16 digits).
    expect(bidx[0]?.includes(shown[0] as string)).toBe(false);
    // A search on the column still goes through the blind index (doctor, plaintext view).
    const d = await as(USERS.doctor);
    expect((await d.query('SELECT id FROM person WHERE ssn = $1 ORDER BY id', ['CANARY-123-45'])).rows.map((r) => r.id)).toEqual([1, 2]);
  });

  it('stores ciphertext only', async () => {
    expect(await canariesInDump(cluster, ['CANARY-123-45', 'Canary note', 'Canary flu', 'jane.doe@canary', '600 111 222'])).toEqual([]);
  });
});

describe('reversible pseudonyms', () => {
  it('are decrypted for the plaintext view only; stored and shown to others as the deterministic hex pseudonym', async () => {
    const d = await as(USERS.doctor);
    expect((await d.query('SELECT id, alias, tag FROM member ORDER BY id')).rows.map((r) => r.alias)).toEqual(['Canary Zoë', 'Canary Bob', 'Canary Zoë']);
    const tags = (await d.query('SELECT tag FROM member ORDER BY id')).rows.map((r) => r.tag as string);
    // An irreversible pseudonym stays a pseudonym in every view.
    expect(tags.every((t) => /^[0-9a-f]{32}$/.test(t))).toBe(true);
    const a = await as(USERS.analyst);
    const seen = (await a.query({ text: 'SELECT alias FROM member WHERE id = ANY($1) ORDER BY id', values: [[1, 2, 3]] })).rows.map((r) => r.alias as string);
    const stored = (await env.backend.query('SELECT alias FROM member ORDER BY id')).rows.map((r) => r.alias as string);
    expect(seen).toEqual(stored);
    expect(stored[0]).toMatch(/^[0-9a-f]+$/);
    expect(stored[0]).toBe(stored[2]);
    expect(stored[1]).not.toBe(stored[0]);
    // COPY TO for the plaintext reader decrypts too.
    const chunks: Buffer[] = [];
    await pipeline(d.query(copyTo('COPY (SELECT alias FROM member ORDER BY id) TO STDOUT')), new Writable({ write(c, _e, cb) { chunks.push(c as Buffer); cb(); } }));
    expect(Buffer.concat(chunks).toString('utf8')).toBe('Canary Zoë\nCanary Bob\nCanary Zoë\n');
    expect(await canariesInDump(cluster, ['Canary Zoë', 'Canary Bob'])).toEqual([]);
  });

  it('fails the statement (XX001) on a stored value that is no pseudonym of the column, for the plaintext view', async () => {
    await env.backend.query("INSERT INTO member (id, alias) VALUES (9, 'not-hex'), (10, 'abcd')");
    const d = await as(USERS.doctor);
    await expect(d.query('SELECT alias FROM member WHERE id = 9')).rejects.toMatchObject({ code: 'XX001' });
    await expect(d.query('SELECT alias FROM member WHERE id = 10')).rejects.toMatchObject({ code: 'XX001' });
    await env.backend.query('DELETE FROM member WHERE id >= 9');
  });
});
