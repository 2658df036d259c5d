// Issue 9: the plan's result directives (rewrite/result-directives.ts) drive what the proxy does to
// each result column, through the real proxy and PostgreSQL 15: a column to reverse whose position
// a `*` of an unknown relation makes unknown is refused (adversarial first); decrypted columns per
// the user's view; deterministic constants of a cached plan (kept by the executor's memo) are the
// same ciphertext at every execution and randomized ones fresh, with no plaintext in the backend's
// storage or log.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeColumn, RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { LogWindow } from '@clarus/testing/log-scan.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { USERS, canariesInDump, startProtected } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';

const B = 'cloud-a';
const enc = (name: string, mode: 'randomized' | 'deterministic'): RuntimeColumn =>
  ({ name, attributeType: 'identifier', backend: B, encrypt: { mode, searchable: false, keyName: 'default' } });
const POLICY: RuntimePolicy = {
  name: 'directives', onUnsupported: 'reject', defaultBackend: B,
  keyring: { dir: 'secrets/keyring', keys: [{ name: 'default', versions: [1], current: 1 }] },
  datasets: [{
    name: 'patients', schema: 'public', table: 'person',
    columns: [{ name: 'id', attributeType: 'technicalIdentifier', backend: B }, enc('name', 'randomized'), enc('diag', 'deterministic')],
  }, {
    name: 'visits', schema: 'public', table: 'member',
    columns: [
      { name: 'id', attributeType: 'technicalIdentifier', backend: B },
      { name: 'alias', attributeType: 'identifier', backend: B, anonymize: { pseudonymize: { reversible: true, format: 'hex', keyName: 'default' } } },
    ],
  }],
};
const CANARIES = ['Canary Ann', 'Canary flu', 'Canary Zoë'];

let cluster: PgCluster;
let env: ProtectedEnv;
let log: LogWindow;

const errorOf = (p: Promise<unknown>): Promise<{ code?: string; message?: string } | null> => p.then(() => null, (e: { code?: string; message?: string }) => e);

beforeAll(async () => {
  cluster = await startPostgres();
  await cluster.psql("ALTER SYSTEM SET log_statement = 'all'");
  await cluster.psql('SELECT pg_reload_conf()');
  log = new LogWindow(join(cluster.dir, 'server.log'));
  log.mark();
  env = await startProtected(cluster, POLICY);
  const d = await env.client(USERS.doctor);
  await d.query('CREATE TABLE person (id integer, name text, diag text)');
  await d.query('CREATE TABLE member (id integer, alias text)');
  await d.query("INSERT INTO member (id, alias) VALUES (1, 'Canary Zoë')");
  // A table the policy does not know, whose second column holds a stored pseudonym copied there.
  await env.backend.query('CREATE TABLE other (x text, y text)');
  await env.backend.query("INSERT INTO other (x, y) SELECT 'plain', alias FROM member");
}, 120_000);
afterAll(async () => {
  await env?.close();
  await cluster?.destroy();
});

describe('result directives through the proxy', () => {
  it('refuses a column to reverse after a * of a relation unknown to the policy, for users who would see it reversed', async () => {
    const d = await env.client(USERS.doctor);
    const pseudonym = ((await env.backend.query('SELECT alias FROM member')).rows[0] as { alias: string }).alias;
    expect(pseudonym).toMatch(/^[0-9a-f]+$/);
    // The star returns two columns: the directive's position (1) would be other.y, not member.alias.
    for (const q of ['SELECT o.*, m.alias FROM other o, member m', { text: 'SELECT o.*, m.alias FROM other o, member m WHERE m.id = $1', values: [1] }]) {
      expect(await errorOf(d.query(q))).toMatchObject({ code: '0A000', message: expect.stringMatching(/before pseudonymized column member\.alias; list the columns/) });
    }
    expect(await errorOf(d.query('SELECT o.*, p.name FROM other o, person p'))).toMatchObject({ code: '0A000', message: expect.stringMatching(/before encrypted column person\.name/) });
    // A reader who sees pseudonyms as stored gets the row as stored: nothing is reversed.
    const a = await env.client(USERS.analyst);
    expect((await a.query('SELECT o.*, m.alias FROM other o, member m')).rows).toEqual([{ x: 'plain', y: pseudonym, alias: pseudonym }]);
    // Listing the columns places them: the doctor sees the alias reversed, other.y as stored.
    expect((await d.query('SELECT o.x, o.y, m.alias FROM other o, member m')).rows).toEqual([{ x: 'plain', y: pseudonym, alias: 'Canary Zoë' }]);
  });

  it('decrypts each column as its directive says, per the user\'s view', async () => {
    const d = await env.client(USERS.doctor);
    await d.query("INSERT INTO person (id, name, diag) VALUES (1, 'Canary Ann', 'Canary flu')");
    expect((await d.query('SELECT name AS n, diag, id FROM person WHERE id = 1')).rows).toEqual([{ n: 'Canary Ann', diag: 'Canary flu', id: 1 }]);
    const a = await env.client(USERS.analyst);
    const masked = (await a.query('SELECT name AS n, diag, id FROM person WHERE id = 1')).rows[0] as Record<string, unknown>;
    expect(masked.id).toBe(1);
    expect(JSON.stringify(masked)).not.toMatch(/Canary/);
    const auditor = await env.client(USERS.auditor);
    const shown = (await auditor.query('SELECT diag FROM person WHERE id = 1')).rows[0] as { diag: string };
    const stored = ((await env.backend.query("SELECT encode(diag, 'base64') AS b FROM person WHERE id = 1")).rows[0] as { b: string }).b.replace(/\n/g, '');
    expect(shown.diag).toBe(stored);
  });

  it('sends the same ciphertext for a deterministic constant at every execution of a cached plan, a fresh one for a randomized constant', async () => {
    const d = await env.client(USERS.doctor);
    const insert = "INSERT INTO person (id, name, diag) VALUES (2, 'Canary Ann', 'Canary flu')";
    await d.query(insert);
    await d.query(insert);
    await d.query(insert.replace('(2,', '(3,'));
    const rows = (await env.backend.query("SELECT encode(name, 'hex') AS n, encode(diag, 'hex') AS g FROM person WHERE id IN (1, 2, 3)")).rows as Array<{ n: string; g: string }>;
    expect(rows).toHaveLength(4);
    expect(new Set(rows.map((r) => r.g)).size).toBe(1);
    expect(new Set(rows.map((r) => r.n)).size).toBe(4);
    for (let i = 0; i < 2; i++) expect((await d.query("SELECT id FROM person WHERE diag = 'Canary flu' ORDER BY id")).rows.map((r) => r.id)).toEqual([1, 2, 2, 3]);
  });

  it('stores and logs ciphertext only', async () => {
    expect(await canariesInDump(cluster, CANARIES)).toEqual([]);
    expect(log.since()).toMatch(/INSERT INTO person/);
    expect(log.canaries(CANARIES)).toEqual([]);
  });
});
