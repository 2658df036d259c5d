// The second wall: the database itself refuses what a read-only user must not do, even where the
// proxy's grant check does not reach. The backend is set up as docs/security-model.md ("Least-
// privilege backend setup") says: an owner role that owns the tables (migrations run through a
// proxy that logs in as it), an application read-write role with DML only, a read-only role with
// SELECT only, and no CREATE on schema public for anyone else. The application proxy logs sessions
// of users without a readWrite grant in as the read-only role.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { protectionPipeline } from '../../src/access/setup.ts';
import { EHEALTH_POLICY, TEST_KEY_FILES } from '@clarus/testing/rewriter.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { startProxyInProcess, writeProxyConfig } from '@clarus/testing/proxy.ts';
import type { HarnessBackend, HarnessUser, RunningProxy } from '@clarus/testing/proxy.ts';

const ROLES = {
  owner: { user: 'ehealth_owner', password: 'owner-pw' },
  readWrite: { user: 'ehealth_app', password: 'app-pw' },
  readOnly: { user: 'ehealth_readonly', password: 'readonly-pw' },
} as const;

const all = (access: 'read' | 'readWrite', expires?: string) =>
  [{ grant: `g-${access}`, datasets: ['*'], access, view: 'plaintext' as const, ...(expires ? { expires } : {}) }];
const USERS = {
  migrator: { name: 'migrator', password: 'migrator-pw', grants: all('readWrite') },
  writer: { name: 'writer', password: 'writer-pw', grants: all('readWrite') },
  reader: { name: 'reader', password: 'reader-pw', grants: [{ grant: 'g-patients', datasets: ['patients'], access: 'read' as const, view: 'plaintext' as const }] },
  lapsed: { name: 'lapsed', password: 'lapsed-pw', grants: [...all('read'), ...all('readWrite', '2020-01-01T00:00:00Z')] },
  nobody: { name: 'nobody', password: 'nobody-pw', grants: [] },
} satisfies Record<string, HarnessUser>;

/** The least-privilege setup of docs/security-model.md, run by the superuser. */
const SETUP_SQL = `
REVOKE ALL ON DATABASE postgres FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
CREATE ROLE ${ROLES.owner.user} LOGIN PASSWORD '${ROLES.owner.password}';
CREATE ROLE ${ROLES.readWrite.user} LOGIN PASSWORD '${ROLES.readWrite.password}';
CREATE ROLE ${ROLES.readOnly.user} LOGIN PASSWORD '${ROLES.readOnly.password}';
GRANT CONNECT ON DATABASE postgres TO ${ROLES.owner.user}, ${ROLES.readWrite.user}, ${ROLES.readOnly.user};
GRANT USAGE, CREATE ON SCHEMA public TO ${ROLES.owner.user};
GRANT USAGE ON SCHEMA public TO ${ROLES.readWrite.user}, ${ROLES.readOnly.user};
ALTER DEFAULT PRIVILEGES FOR ROLE ${ROLES.owner.user} IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${ROLES.readWrite.user};
ALTER DEFAULT PRIVILEGES FOR ROLE ${ROLES.owner.user} IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO ${ROLES.readWrite.user};
ALTER DEFAULT PRIVILEGES FOR ROLE ${ROLES.owner.user} IN SCHEMA public GRANT SELECT ON TABLES TO ${ROLES.readOnly.user};
`;

interface Proxy { proxy: RunningProxy; close(): Promise<void> }

/** The real proxy with the protection pipeline (grant checks, encryption) in front of `backend`. */
async function startApp(backend: HarnessBackend): Promise<Proxy> {
  const cfg = writeProxyConfig({ backends: [{ name: 'cloud-a', ...backend }], users: Object.values(USERS) });
  cfg.write({ ...cfg.config, policy: structuredClone(EHEALTH_POLICY) });
  mkdirSync(join(cfg.dir, 'secrets/keyring'), { recursive: true });
  for (const [name, text] of TEST_KEY_FILES) writeFileSync(join(cfg.dir, 'secrets/keyring', name), text);
  const scratch = mkdtempSync(join(tmpdir(), 'clarus-audit-'));
  const pipeline = await protectionPipeline({ configDir: cfg.dir, auditFile: join(scratch, 'audit.jsonl') });
  const proxy = await startProxyInProcess(cfg.dir, { pipeline, watch: false });
  return { proxy, close: async () => { await proxy.close(); cfg.destroy(); rmSync(scratch, { recursive: true, force: true }); } };
}

let cluster: PgCluster;
let superuser: pg.Client;
let migration: Proxy;
let app: Proxy;
let legacy: Proxy;
const clients: pg.Client[] = [];

async function session(p: Proxy, user: HarnessUser): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: p.proxy.url(user) });
  await c.connect();
  clients.push(c);
  return c;
}

const currentUser = async (c: pg.Client): Promise<string> => (await c.query<{ u: string }>('SELECT current_user AS u')).rows[0]?.u ?? '';
const notes = async (): Promise<string[]> => (await superuser.query<{ t: string }>('SELECT id || \':\' || body AS t FROM note ORDER BY id')).rows.map((r) => r.t);

beforeAll(async () => {
  cluster = await startPostgres();
  await cluster.psql(SETUP_SQL);
  superuser = new pg.Client({ connectionString: cluster.url() });
  await superuser.connect();
  // Migrations go through a proxy that logs in as the owner, so protected columns get their
  // encrypted types; the tables belong to the owner and the default privileges grant the app roles.
  migration = await startApp({ cluster, user: ROLES.owner.user, password: ROLES.owner.password });
  const m = await session(migration, USERS.migrator);
  await m.query('CREATE TABLE patient (pat_id integer PRIMARY KEY, pat_name text NOT NULL, pat_ssn varchar(11), pat_zip text, pat_birth date, diagnosis text)');
  await m.query('CREATE TABLE note (id integer PRIMARY KEY, body text)'); // in no dataset: the proxy does not check grants on it
  await m.query("INSERT INTO patient (pat_id, pat_name, diagnosis) VALUES (1, 'Alice Martin', 'diabetes')");
  await m.query("INSERT INTO note VALUES (1, 'first')");
  app = await startApp({ cluster, user: ROLES.readWrite.user, password: ROLES.readWrite.password, readOnly: ROLES.readOnly });
  legacy = await startApp({ cluster, user: ROLES.readWrite.user, password: ROLES.readWrite.password });
});
afterAll(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
  await superuser?.end().catch(() => undefined);
  for (const p of [migration, app, legacy]) await p?.close();
  await cluster?.destroy();
});

describe('a backend with a read-only role', () => {
  it('logs sessions in by the user\'s grants: read-only unless a valid readWrite grant', async () => {
    expect(await currentUser(await session(app, USERS.writer))).toBe(ROLES.readWrite.user);
    expect(await currentUser(await session(app, USERS.reader))).toBe(ROLES.readOnly.user);
    expect(await currentUser(await session(app, USERS.lapsed))).toBe(ROLES.readOnly.user); // expired readWrite grants do not count
    expect(await currentUser(await session(app, USERS.nobody))).toBe(ROLES.readOnly.user);
  });

  it('a read-only user reads protected data in its view through the read-only role', async () => {
    const r = await (await session(app, USERS.reader)).query('SELECT pat_name, diagnosis FROM patient');
    expect(r.rows).toEqual([{ pat_name: 'Alice Martin', diagnosis: 'diabetes' }]);
  });

  it('a read-only user\'s writes to a table no dataset covers are refused (42501: by the proxy, and by the read-only role behind it), and nothing changes', async () => {
    const reader = await session(app, USERS.reader);
    expect((await reader.query('SELECT body FROM note')).rows).toEqual([{ body: 'first' }]);
    for (const sql of ["INSERT INTO note VALUES (2, 'sneaked in')", "UPDATE note SET body = 'overwritten'", 'DELETE FROM note', 'TRUNCATE note']) {
      await expect(reader.query(sql), sql).rejects.toMatchObject({ code: '42501', message: expect.stringMatching(/may only read|permission denied for table note/) });
    }
    expect(await notes()).toEqual(['1:first']);
  });

  it('the proxy still refuses a read-only user\'s writes to a dataset first (42501 naming the missing read-write grant)', async () => {
    const reader = await session(app, USERS.reader);
    await expect(reader.query("UPDATE patient SET pat_zip = '99999'")).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('may only read') });
    expect((await superuser.query('SELECT pat_zip FROM patient')).rows).toEqual([{ pat_zip: null }]);
  });

  it('a readWrite user writes normally, to datasets and other tables', async () => {
    const writer = await session(app, USERS.writer);
    await writer.query("INSERT INTO note VALUES (2, 'by the writer')");
    await writer.query("INSERT INTO patient (pat_id, pat_name, diagnosis) VALUES (2, 'Bruno Keller', 'asthma')");
    await writer.query("UPDATE note SET body = 'edited' WHERE id = 2");
    expect(await notes()).toEqual(['1:first', '2:edited']);
    const stored = await superuser.query<{ pat_name: Buffer }>('SELECT pat_name FROM patient WHERE pat_id = 2');
    expect(Buffer.isBuffer(stored.rows[0]?.pat_name)).toBe(true); // encrypted, as ever
    expect(stored.rows[0]?.pat_name.toString('latin1')).not.toContain('Bruno');
    await writer.query('DELETE FROM note WHERE id = 2');
    await writer.query('DELETE FROM patient WHERE pat_id = 2');
  });

  it('neither application role can create objects: no tables, views or functions beside the protected tables', async () => {
    const writer = await session(app, USERS.writer);
    const reader = await session(app, USERS.reader);
    for (const c of [writer, reader]) {
      await expect(c.query('CREATE TABLE public.shadow (id integer)')).rejects.toMatchObject({ code: '42501' });
      await expect(c.query('CREATE VIEW public.note_view AS SELECT id FROM note')).rejects.toMatchObject({ code: '42501' });
      await expect(c.query('CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE sql AS $$ SELECT $1 $$')).rejects.toMatchObject({ code: expect.stringMatching(/^(42501|0A000)$/) });
    }
    expect((await superuser.query("SELECT count(*)::int AS n FROM pg_class WHERE relname IN ('shadow', 'note_view')")).rows[0]?.n).toBe(0);
    expect((await superuser.query("SELECT count(*)::int AS n FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace WHERE s.nspname = 'public' AND p.proname = 'lower'")).rows[0]?.n).toBe(0);
  });
});

describe('the roles themselves (straight to the database, bypassing the proxy)', () => {
  it('neither application role can create tables, views, functions, triggers or temporary tables; the read-only role cannot write', async () => {
    for (const role of [ROLES.readWrite, ROLES.readOnly]) {
      const c = new pg.Client({ connectionString: cluster.url({ user: role.user, password: role.password }) });
      await c.connect();
      clients.push(c);
      for (const sql of [
        'CREATE TABLE public.shadow (id integer)',
        'CREATE VIEW public.note_view AS SELECT id FROM note',
        'CREATE FUNCTION public.lower(varchar) RETURNS text LANGUAGE sql AS $$ SELECT $1::text $$',
        'CREATE TEMPORARY TABLE patient (pat_id integer)',
        'CREATE TRIGGER t BEFORE INSERT ON note FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()',
        'ALTER TABLE note ADD COLUMN extra text',
      ]) await expect(c.query(sql), `${role.user}: ${sql}`).rejects.toMatchObject({ code: '42501' });
      if (role === ROLES.readOnly) await expect(c.query("INSERT INTO note VALUES (9, 'x')")).rejects.toMatchObject({ code: '42501' });
    }
    expect(await notes()).toEqual(['1:first']);
  });
});

describe('a backend without a read-only role', () => {
  it('keeps working as before: every session uses the read-write role, so only the proxy guards writes', async () => {
    const reader = await session(legacy, USERS.reader);
    expect(await currentUser(reader)).toBe(ROLES.readWrite.user);
    expect((await reader.query('SELECT pat_name FROM patient')).rows).toEqual([{ pat_name: 'Alice Martin' }]);
    await expect(reader.query("UPDATE patient SET pat_zip = '99999'")).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('may only read') });
    // The proxy refuses every write of a user without a read-write grant, also to a table no dataset
    // covers; here the session runs as the read-write role, so the database would not back that up.
    await expect(reader.query("INSERT INTO note VALUES (3, 'through the read-write role')")).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('may only read') });
    expect(await notes()).toEqual(['1:first']);
    expect(await currentUser(await session(legacy, USERS.writer))).toBe(ROLES.readWrite.user);
  });
});

describe('temporary PL/pgSQL functions (Sequelize findOrCreate) under the least-privilege setup', () => {
  const text = (id: number) => 'CREATE OR REPLACE FUNCTION pg_temp.testfunc(OUT response "patient", OUT sequelize_caught_exception text) RETURNS RECORD AS $f$ '
    + `BEGIN INSERT INTO "patient" ("pat_id","pat_name") VALUES (${id},'Temp Fncanary') RETURNING * INTO response; `
    + 'EXCEPTION WHEN unique_violation THEN GET STACKED DIAGNOSTICS sequelize_caught_exception = PG_EXCEPTION_DETAIL; END $f$ LANGUAGE plpgsql; '
    + 'SELECT (testfunc.response)."pat_id", (testfunc.response)."pat_name", testfunc.sequelize_caught_exception FROM pg_temp.testfunc(); DROP FUNCTION IF EXISTS pg_temp.testfunc();';
  const rows = async (c: pg.Client, sql: string) => ((await c.query(sql)) as unknown as pg.QueryResult[])[1]?.rows;

  it('need TEMPORARY for the read-write role only; a read-only user is refused by the proxy, and its role cannot create one either', async () => {
    const writer = await session(app, USERS.writer);
    const reader = await session(app, USERS.reader);
    await expect(reader.query(text(30))).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('may only read') });
    // Without TEMPORARY on the database, the backend refuses the temporary function itself.
    await expect(writer.query(text(31))).rejects.toMatchObject({ code: '42501' });
    await superuser.query(`GRANT TEMPORARY ON DATABASE postgres TO ${ROLES.readWrite.user}`);
    try {
      const fresh = await session(app, USERS.writer);
      expect(await rows(fresh, text(32))).toEqual([{ pat_id: 32, pat_name: 'Temp Fncanary', sequelize_caught_exception: null }]);
      const stored = await superuser.query<{ pat_name: Buffer }>('SELECT pat_name FROM patient WHERE pat_id = 32');
      expect(stored.rows[0]?.pat_name.toString('latin1')).not.toContain('Fncanary');
      // The second wall: the read-only role cannot create a temporary function, whatever its body.
      const ro = new pg.Client({ connectionString: cluster.url({ user: ROLES.readOnly.user, password: ROLES.readOnly.password }) });
      await ro.connect();
      clients.push(ro);
      await expect(ro.query('CREATE FUNCTION pg_temp.f(OUT x text) LANGUAGE plpgsql AS $$ BEGIN x := 1; END $$')).rejects.toMatchObject({ code: '42501' });
    } finally {
      await superuser.query(`REVOKE TEMPORARY ON DATABASE postgres FROM ${ROLES.readWrite.user}`);
      await superuser.query('DELETE FROM patient WHERE pat_id IN (30, 31, 32)');
    }
  });
});
