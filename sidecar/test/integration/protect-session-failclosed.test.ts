// Issue 8, protocol and session state: malformed Parse/Bind end the session with 08P01 (never
// XX000) before anything reaches the backend; a value in a protected column that is not a
// ciphertext of that column fails the statement (XX001, table and column named) and the session
// goes on, without its stored bytes ever reaching the client, with PostgreSQL's transaction
// semantics; grants are checked again at every Bind and Execute (expiry) and reloaded grants and
// policies apply to open sessions and to statements prepared before the reload; every decision,
// pass-through included, is in the hash-chained audit log. Real PostgreSQL 15, the real proxy,
// node-postgres, pg-cursor and hand-written protocol messages.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import Cursor from 'pg-cursor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlstate } from '@clarus/testing/outcome.ts';
import type { RuntimeConfig, RuntimeUser } from '@clarus/policy/runtime/config.ts';
import { readAuditLines } from '../../src/access/audit-file.ts';
import { LARGE_OBJECT_FUNCTIONS } from '../../src/access/pipeline.ts';
import { verifyChain } from '../../src/access/audit.ts';
import { makeVerifier } from '../../src/auth/scram.ts';
import type { BackendMessage } from '../../src/protocol/backend.ts';
import { Writer } from '../../src/protocol/codec.ts';
import type { FrontendMessage } from '../../src/protocol/frontend.ts';
import { CREATE_PATIENT, USERS, canariesInTable, startProtected } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';
import { PG_BIN, startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { frontendBytes, RawClient, summarize } from '@clarus/testing/proxy.ts';
import type { HarnessUser } from '@clarus/testing/proxy.ts';

const run = promisify(execFile);
let cluster: PgCluster;
let env: ProtectedEnv;
const clients: Array<{ end(): Promise<void> }> = [];

async function as(user: HarnessUser): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: env.url(user) });
  c.on('error', () => undefined);
  await c.connect();
  clients.push(c);
  return c;
}

/** A protocol client that also keeps every byte the proxy sent it. */
async function raw(user: HarnessUser = USERS.doctor): Promise<RawClient & { received: () => string }> {
  const r = await RawClient.open(env.proxy.port, user);
  const got: Buffer[] = [];
  r.socket.on('data', (c: Buffer) => got.push(Buffer.from(c)));
  clients.push({ end: async () => { r.socket.destroy(); } });
  return Object.assign(r, { received: () => Buffer.concat(got).toString('latin1') });
}

const bytes = frontendBytes;
const SYNC: FrontendMessage = { type: 'Sync' };

const cycle = (r: RawClient): Promise<BackendMessage[]> => r.cycle();

const summary = (ms: BackendMessage[]): string[] => summarize(ms, true);



/** Rewrites config.json through `change` and reloads the proxy (as SIGHUP or the file watch would). */
const reload = (change: (c: RuntimeConfig) => void): void => { expect(env.reload(change)).toBe(true); };

function setUser(c: RuntimeConfig, u: HarnessUser & { grants: RuntimeUser['grants'] }): void {
  const verifierFile = `secrets/users/${u.name}.scram`;
  if (!c.users.some((x) => x.name === u.name)) writeFileSync(join(env.configDir, verifierFile), makeVerifier(u.password));
  c.users = [...c.users.filter((x) => x.name !== u.name), { name: u.name, kind: 'user', verifierFile, grants: u.grants }];
}

beforeAll(async () => {
  cluster = await startPostgres();
  env = await startProtected(cluster);
  const doc = await as(USERS.doctor);
  await doc.query(CREATE_PATIENT);
  await doc.query("INSERT INTO patient (pat_id, pat_name, pat_ssn) VALUES (1, 'Good Canaryone', '111-11-1111'), (2, 'Good Canarytwo', '222-22-2222')");
});
afterAll(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
  await env?.close();
  await cluster?.destroy();
});

describe('malformed Parse and Bind messages', () => {
  async function fatal(payload: Buffer, canary?: string): Promise<void> {
    const r = await raw();
    r.socket.write(payload);
    const m = await r.until('ReadyForQuery');
    expect(m.type === 'ErrorResponse' && { code: m.fields.C, severity: m.fields.S }).toEqual({ code: '08P01', severity: 'FATAL' });
    expect(await r.closedSoon()).toBe(true);
    if (canary) expect(await canariesInTable(env.backend, 'patient', [canary])).toEqual([]);
  }

  it('a Bind whose value is longer than the message', async () => {
    const bind = new Writer().begin(0x42).cstring('').cstring('').int16(0).int16(1).int32(100).bytes(Buffer.from('abc')).int16(0).end().finish();
    await fatal(Buffer.concat([bytes([{ type: 'Parse', name: '', sql: 'SELECT pat_name FROM patient WHERE pat_ssn = $1', paramTypes: [] }]), bind, bytes([SYNC])]));
  });

  it('a Parse announcing more parameter types than it carries', async () => {
    const parse = new Writer().begin(0x50).cstring('').cstring('SELECT pat_id FROM patient WHERE pat_ssn = $1').int16(5).int32(25).end().finish();
    await fatal(Buffer.concat([parse, bytes([SYNC])]));
  });

  it('a Bind with fewer values than the protected statement has parameters', async () => {
    await fatal(bytes([
      { type: 'Parse', name: '', sql: 'INSERT INTO patient (pat_id, pat_name, pat_ssn) VALUES ($1, $2, $3)', paramTypes: [] },
      { type: 'Bind', portal: '', statement: '', paramFormats: [], values: [Buffer.from('50'), Buffer.from('Short Canarybind')], resultFormats: [] },
      { type: 'Execute', portal: '', maxRows: 0 }, SYNC,
    ]), 'Short Canarybind');
  });

  it('a Bind with more format codes than values', async () => {
    await fatal(bytes([
      { type: 'Parse', name: '', sql: 'INSERT INTO patient (pat_id, pat_name) VALUES ($1, $2)', paramTypes: [] },
      { type: 'Bind', portal: '', statement: '', paramFormats: [0, 0, 0], values: [Buffer.from('51'), Buffer.from('Format Canarybind')], resultFormats: [] },
      { type: 'Execute', portal: '', maxRows: 0 }, SYNC,
    ]), 'Format Canarybind');
  });

  it('a well-formed Bind whose binary value does not fit its protected column is a statement error (22P03), the session goes on', async () => {
    const r = await raw();
    r.socket.write(bytes([
      { type: 'Parse', name: '', sql: 'INSERT INTO patient (pat_id, pat_name, pat_birth) VALUES ($1, $2, $3)', paramTypes: [23, 25, 1082] },
      { type: 'Bind', portal: '', statement: '', paramFormats: [0, 0, 1], values: [Buffer.from('52'), Buffer.from('Binary Canarydate'), Buffer.from([1, 2])], resultFormats: [] },
      { type: 'Execute', portal: '', maxRows: 0 }, SYNC,
    ]));
    expect(summary(await cycle(r))).toEqual(['ParseComplete', 'E 22P03', 'Z I']);
    r.socket.write(bytes([{ type: 'Query', sql: 'SELECT 7' }]));
    expect(summary(await cycle(r))).toEqual(['RowDescription', 'D 7', 'C SELECT 1', 'Z I']);
    expect(await canariesInTable(env.backend, 'patient', ['Binary Canarydate'])).toEqual([]);
  });
});

describe('a stored value that is not a ciphertext of its column', () => {
  beforeAll(async () => {
    // A DBA writes straight into the cloud database, bypassing the proxy.
    await env.backend.query("INSERT INTO patient (pat_id, pat_name) VALUES (3, convert_to('DBA Canaryraw', 'UTF8'))");
    const doc = await as(USERS.doctor);
    await doc.query("INSERT INTO patient (pat_id, pat_name) VALUES (4, 'Good Canaryfour')");
  });

  it('fails the statement with XX001 naming the column, after the rows already sent, and the session goes on', async () => {
    const r = await raw();
    r.socket.write(bytes([{ type: 'Query', sql: 'SELECT pat_id, pat_name FROM patient WHERE pat_id <= 4 ORDER BY pat_id' }]));
    const answer = await cycle(r);
    expect(summary(answer)).toEqual(['RowDescription', 'D 1|Good Canaryone', 'D 2|Good Canarytwo', 'E XX001', 'Z I']);
    const err = answer.find((m) => m.type === 'ErrorResponse');
    expect(err?.type === 'ErrorResponse' && err.fields.M).toMatch(/patient\.pat_name/);
    r.socket.write(bytes([{ type: 'Query', sql: 'SELECT pat_name FROM patient WHERE pat_id = 4' }]));
    expect(summary(await cycle(r))).toEqual(['RowDescription', 'D Good Canaryfour', 'C SELECT 1', 'Z I']);
    expect(r.received()).not.toContain('DBA Canaryraw');
  });

  it('for every view: plaintext, masked and protected readers get the error, never the stored bytes', async () => {
    for (const user of [USERS.doctor, USERS.analyst, USERS.auditor]) {
      const r = await raw(user);
      r.socket.write(bytes([{ type: 'Query', sql: 'SELECT pat_name FROM patient WHERE pat_id = 3' }]));
      expect(summary(await cycle(r)), user.name).toEqual(['RowDescription', 'E XX001', 'Z I']);
      expect(r.received()).not.toContain('DBA Canaryraw');
      expect(r.received()).not.toContain(Buffer.from('DBA Canaryraw').toString('base64'));
    }
  });

  it('in the extended protocol: the error ends the batch, later messages up to Sync are skipped, prepared statements stay usable', async () => {
    const r = await raw();
    r.socket.write(bytes([
      { type: 'Parse', name: 'byid', sql: 'SELECT pat_name FROM patient WHERE pat_id = $1', paramTypes: [23] },
      { type: 'Bind', portal: '', statement: 'byid', paramFormats: [], values: [Buffer.from('3')], resultFormats: [] },
      { type: 'Execute', portal: '', maxRows: 0 },
      { type: 'Bind', portal: '', statement: 'byid', paramFormats: [], values: [Buffer.from('4')], resultFormats: [] },
      { type: 'Execute', portal: '', maxRows: 0 }, SYNC,
    ]));
    expect(summary(await cycle(r))).toEqual(['ParseComplete', 'BindComplete', 'E XX001', 'Z I']);
    r.socket.write(bytes([
      { type: 'Bind', portal: '', statement: 'byid', paramFormats: [], values: [Buffer.from('4')], resultFormats: [] },
      { type: 'Execute', portal: '', maxRows: 0 }, SYNC,
    ]));
    expect(summary(await cycle(r))).toEqual(['BindComplete', 'D Good Canaryfour', 'C SELECT 1', 'Z I']);
    expect(r.received()).not.toContain('DBA Canaryraw');
  });

  it('inside a transaction block: the block is aborted as PostgreSQL aborts it, COMMIT rolls back', async () => {
    const doc = await as(USERS.doctor);
    await doc.query('BEGIN');
    await doc.query("INSERT INTO patient (pat_id, pat_name) VALUES (5, 'Rolled Canaryfive')");
    expect(await sqlstate(doc.query('SELECT pat_name FROM patient WHERE pat_id = 3'))).toBe('XX001');
    expect(await sqlstate(doc.query('SELECT 1'))).toBe('25P02');
    expect((await doc.query('COMMIT')).command).toBe('ROLLBACK');
    expect((await doc.query('SELECT count(*)::int AS n FROM patient WHERE pat_id = 5')).rows).toEqual([{ n: 0 }]);
  });

  it('COPY TO STDOUT: the error ends the copy, the session goes on', async () => {
    const r = await raw();
    r.socket.write(bytes([{ type: 'Query', sql: 'COPY (SELECT pat_id, pat_name FROM patient WHERE pat_id <= 4 ORDER BY pat_id) TO STDOUT' }]));
    const answer = summary(await cycle(r));
    expect(answer[0]).toBe('CopyOutResponse');
    expect(answer.slice(-2)).toEqual(['E XX001', 'Z I']);
    r.socket.write(bytes([{ type: 'Query', sql: 'SELECT 8' }]));
    expect(summary(await cycle(r))).toEqual(['RowDescription', 'D 8', 'C SELECT 1', 'Z I']);
    expect(r.received()).not.toContain('DBA Canaryraw');
    await env.backend.query('DELETE FROM patient WHERE pat_id = 3');
  });
});

describe('grants checked at every Bind and Execute, reloads applied to open sessions', () => {
  it('a prepared statement and an open cursor are refused once the grant has expired', async () => {
    const temp = { name: 'temp', password: 'temp-pw', grants: [{ grant: 'gt', datasets: ['*'], access: 'readWrite' as const, view: 'plaintext' as const, expires: new Date(Date.now() + 6000).toISOString() }] };
    reload((c) => setUser(c, temp));
    const c = await as(temp);
    const q = { name: 'names', text: 'SELECT pat_name FROM patient WHERE pat_id = $1', values: [1] };
    expect((await c.query(q)).rows).toEqual([{ pat_name: 'Good Canaryone' }]);
    const cursor = c.query(new Cursor('SELECT pat_id, pat_name FROM patient ORDER BY pat_id'));
    const first = await cursor.read(1);
    expect(first).toEqual([{ pat_id: 1, pat_name: 'Good Canaryone' }]);
    const wait = Date.parse(temp.grants[0]?.expires ?? '') - Date.now() + 300;
    await new Promise((r) => setTimeout(r, Math.max(0, wait)));
    // The portal was bound while the grant was valid; its next Execute is refused.
    expect(await sqlstate(cursor.read(1))).toBe('42501');
    await cursor.close().catch(() => undefined);
    await c.query('ROLLBACK').catch(() => undefined);
    expect(await sqlstate(c.query(q))).toBe('42501');
    expect(await sqlstate(c.query('SELECT pat_name FROM patient WHERE pat_id = 1'))).toBe('42501');
    expect((await c.query('SELECT 9 AS n')).rows).toEqual([{ n: 9 }]);
    const lines = readAuditLines(env.auditFile);
    expect(verifyChain(lines).ok).toBe(true);
    expect(lines.map((l) => JSON.parse(l) as { user: string; outcome: string; code?: string }).filter((e) => e.user === 'temp' && e.outcome === 'refuse').map((e) => e.code))
      .toEqual(['42501', '42501', '42501']);
  });

  it('a reload that downgrades readWrite to read applies to the open session and to statements prepared before it', async () => {
    const writer = { name: 'writer', password: 'writer-pw', grants: [{ grant: 'gw', datasets: ['*'], access: 'readWrite' as const, view: 'plaintext' as const }] };
    reload((c) => setUser(c, writer));
    const c = await as(writer);
    const ins = { name: 'ins', text: 'INSERT INTO patient (pat_id, pat_name) VALUES ($1, $2)' };
    await c.query({ ...ins, values: [20, 'Writer Canarytwenty'] });
    reload((cfg) => setUser(cfg, { ...writer, grants: [{ ...writer.grants[0] as RuntimeUser['grants'][number], access: 'read' }] }));
    // The very next statement of the open session runs under the reloaded grants.
    expect(await sqlstate(c.query({ ...ins, values: [21, 'Writer Canarytwentyone'] }))).toBe('42501');
    expect(await sqlstate(c.query("INSERT INTO patient (pat_id, pat_name) VALUES (22, 'Writer Canarytwentytwo')"))).toBe('42501');
    expect((await c.query('SELECT pat_name FROM patient WHERE pat_id = 20')).rows).toEqual([{ pat_name: 'Writer Canarytwenty' }]);
    expect((await env.backend.query('SELECT pat_id FROM patient WHERE pat_id BETWEEN 20 AND 22')).rows).toEqual([{ pat_id: 20 }]);
  });

  it('a reload that changes the view: a statement whose result types stay the same shows the new view, one whose types change must be prepared again', async () => {
    const viewer = { name: 'viewer', password: 'viewer-pw', grants: [{ grant: 'gv', datasets: ['patients'], access: 'read' as const, view: 'plaintext' as const }] };
    reload((c) => setUser(c, viewer));
    const c = await as(viewer);
    const byName = { name: 'by_name', text: 'SELECT pat_name FROM patient WHERE pat_id = $1', values: [2] };
    const bySsn = { name: 'by_ssn', text: 'SELECT pat_ssn FROM patient WHERE pat_id = $1', values: [2] };
    expect((await c.query(byName)).rows).toEqual([{ pat_name: 'Good Canarytwo' }]);
    expect((await c.query(bySsn)).rows).toEqual([{ pat_ssn: '222-22-2222' }]);
    reload((cfg) => setUser(cfg, { ...viewer, grants: [{ ...viewer.grants[0] as RuntimeUser['grants'][number], view: 'masked' }] }));
    expect((await c.query(byName)).rows).toEqual([{ pat_name: '****ytwo' }]);
    const err = await c.query(bySsn).catch((e: unknown) => e as { code?: string; message?: string });
    expect(err).toMatchObject({ code: '26000' });
    expect((err as { message?: string }).message).toMatch(/prepared again after a policy reload/);
    // Prepared again under a new name, it runs with the new view.
    expect((await c.query({ ...bySsn, name: 'by_ssn2' })).rows).toEqual([{ pat_ssn: '****2222' }]);
  });
});

describe('FunctionCall and multi-statement Parse', () => {
  it('psql large objects still work; any other FunctionCall is refused (0A000); the allowed OIDs are the real ones', async () => {
    const rows = await env.backend.query<{ oid: number; proname: string }>(
      "SELECT oid::int, proname FROM pg_proc WHERE pronamespace = 'pg_catalog'::regnamespace AND proname IN ('lo_open', 'lo_close', 'lo_creat', 'lo_create', 'lo_unlink', 'lo_lseek', 'lo_lseek64', 'lo_tell', 'lo_tell64', 'lo_truncate', 'lo_truncate64', 'loread', 'lowrite') ORDER BY oid");
    expect(new Map(rows.rows.map((r) => [r.oid, r.proname]))).toEqual(new Map([...LARGE_OBJECT_FUNCTIONS].sort((a, b) => a[0] - b[0])));
    const dir = mkdtempSync(join(tmpdir(), 'clarus-lo-'));
    writeFileSync(join(dir, 'in'), 'large object through the protected proxy');
    const { stdout } = await run(join(PG_BIN, 'psql'), ['-X', '-At', '-v', 'ON_ERROR_STOP=1', env.url(USERS.doctor), '-c', `\\lo_import '${join(dir, 'in')}'`, '-c', '\\echo :LASTOID']);
    const oid = Number(stdout.trim().split('\n').at(-1));
    expect((await env.backend.query('SELECT convert_from(lo_get($1::oid), \'UTF8\') AS v', [oid])).rows).toEqual([{ v: 'large object through the protected proxy' }]);
    rmSync(dir, { recursive: true, force: true });
    const fn = (await env.backend.query<{ oid: number }>("SELECT 'query_to_xml(text,boolean,boolean,text)'::regprocedure::oid::int AS oid")).rows[0]?.oid ?? 0;
    const r = await raw(USERS.nobody);
    const arg = (v: string) => Buffer.from(v);
    r.socket.write(bytes([{ type: 'FunctionCall', oid: fn, argFormats: [], args: [arg('SELECT pat_name FROM patient'), arg('t'), arg('f'), arg('')], resultFormat: 0 }]));
    expect(summary(await cycle(r))).toEqual(['E 0A000', 'Z I']);
    r.socket.write(bytes([{ type: 'Query', sql: 'SELECT 5' }]));
    expect(summary(await cycle(r))).toEqual(['RowDescription', 'D 5', 'C SELECT 1', 'Z I']);
  });

  it('a Parse of two statements holding a protected value is refused (42601) and never stored', async () => {
    const r = await raw();
    r.socket.write(bytes([{ type: 'Parse', name: '', sql: "INSERT INTO patient (pat_id, pat_name) VALUES (60, 'Two Canarystatements'); SELECT 1", paramTypes: [] }, SYNC]));
    expect(summary(await cycle(r))).toEqual(['E 42601', 'Z I']);
    expect(await canariesInTable(env.backend, 'patient', ['Two Canarystatements'])).toEqual([]);
  });
});

describe('audit of every decision', () => {
  it('pass-through statements are audited with outcome pass, and the chain verifies', async () => {
    const c = await as(USERS.nobody);
    const before = readAuditLines(env.auditFile).length;
    await c.query('SELECT 42 AS unprotected_answer');
    await c.query('SELECT count(*) FROM pg_class');
    expect(await sqlstate(c.query('SELECT pat_id FROM patient'))).toBe('42501');
    const entries = readAuditLines(env.auditFile).slice(before).map((l) => JSON.parse(l) as { user: string; outcome: string; datasets: string[]; code?: string; fingerprint: string });
    const mine = entries.filter((e) => e.user === 'nobody');
    expect(mine.map((e) => e.outcome)).toEqual(['pass', 'pass', 'refuse']);
    expect(mine[0]).toMatchObject({ datasets: [] });
    expect(mine[0]?.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(JSON.stringify(mine)).not.toContain('42 AS');
    expect(verifyChain(readAuditLines(env.auditFile)).ok).toBe(true);
  });
});
