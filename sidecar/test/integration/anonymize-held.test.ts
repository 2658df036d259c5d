// Issue 13: single-row INSERTs into a k-anonymity table inside a transaction block are held by the
// proxy (the client sees INSERT 0 1) and stored at COMMIT, microaggregated as one batch, as CLARUS
// did. Checked on what the backend stores (queried directly), its pg_dump and its server log
// (log_statement = all): the canary quasi-identifiers of the held rows must never reach the backend
// unaggregated — not in the stand-in statements, not in a ROLLBACK-ed or refused transaction, not
// when the backend dies during the COMMIT.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogWindow } from '@clarus/testing/log-scan.ts';
import { achievedK, achievedT, codePointOrder } from '@clarus/testing/anonymity.ts';
import type { Row } from '@clarus/testing/anonymity.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { frontendBytes, RawClient } from '@clarus/testing/proxy.ts';
import { USERS, canariesInDump, startProtected } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';
import { EPISODE_COLUMNS as COLUMNS, EPISODE_DIA as DIA, EPISODE_QI as QI, EPISODE_TABLE_COLUMNS as TABLE_COLUMNS, episodeColumns, episodeLines, episodePolicy, storedEpisodes } from './episodes.ts';

const TABLES = ['episode_h', 'episode_r', 'episode_d', 'episode_t', 'episode_n', 'episode_m'];
const POLICY = episodePolicy('ehealth-held', TABLES, (table) => episodeColumns(5, table === 'episode_t' ? 0.3 : undefined));
const records = episodeLines().slice(1);

/**
 * A record with canary quasi-identifiers: an age no record of the data has, from powers of 3 (the
 * mean of 5 or more of them, rounded either way, is never one of them: a cluster never publishes
 * one), and a canary identifier (suppressed).
 */
function canaryRecord(i: number): string[] {
  const f = (records[1000 + i] as string).split(',');
  f[1] = canaryAge(i);
  f[7] = `CANARY-PAT-${i}`;
  return f;
}
const canaryAge = (i: number): string => String(900_000 + 3 ** ((i % 12) + 1));
const CANARIES = (n: number): string[] => Array.from({ length: n }, (_, i) => [canaryAge(i), `CANARY-PAT-${i}`]).flat();

const lit = (f: string[]): string => f.map((v, i) => (i === 1 || i === 2 || i === 6 ? v : `'${v}'`)).join(', ');
const insertConst = (table: string, f: string[]): string => `INSERT INTO ${table} (${COLUMNS}) VALUES (${lit(f)})`;
const insertParams = (table: string): string => `INSERT INTO ${table} (${COLUMNS}) VALUES (${COLUMNS.split(', ').map((_, i) => `$${i + 1}`).join(', ')})`;

let cluster: PgCluster;
let env: ProtectedEnv;
let log: LogWindow;

const doctor = (): Promise<pg.Client> => env.client(USERS.doctor);

async function stored(table: string): Promise<number> {
  return Number((await env.backend.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
}

const storedRows = (table: string): Promise<Row[]> => storedEpisodes(env.backend, table);

const canariesInLog = (list: string[]): string[] => log.canaries(list);

beforeAll(async () => {
  cluster = await startPostgres();
  await cluster.psql("ALTER SYSTEM SET log_statement = 'all'");
  await cluster.psql('SELECT pg_reload_conf()');
  env = await startProtected(cluster, POLICY);
  const c = await doctor();
  for (const t of [...TABLES, 'episode_plain']) await c.query(`CREATE TABLE ${t} ${TABLE_COLUMNS}`);
  log = new LogWindow(join(cluster.dir, 'server.log'));
  log.mark();
});
afterAll(async () => {
  await env?.close();
  await cluster?.destroy();
});

describe('single-row INSERTs held until COMMIT', () => {
  it('holds them (INSERT 0 1), stores them k-anonymous at COMMIT, and never sends a canary quasi-identifier', async () => {
    const c = await doctor();
    const notices: string[] = [];
    c.on('notice', (n) => notices.push(n.message ?? ''));
    await c.query('BEGIN');
    for (let i = 0; i < 6; i++) expect((await c.query(insertConst('episode_h', canaryRecord(i)))).rowCount).toBe(1);
    // Through the extended protocol (node-postgres parameters), named and unnamed statements.
    for (let i = 6; i < 12; i++) {
      const values = canaryRecord(i).map((v, j) => (j === 4 || j === 5 ? v.replace(/\//g, '-') : v));
      const r = await c.query(i % 2 ? { text: insertParams('episode_h'), values, name: 'held' } : { text: insertParams('episode_h'), values });
      expect(r.rowCount).toBe(1);
    }
    // Nothing reached the backend yet: not even a NULL row, and no value in its log.
    expect(await stored('episode_h')).toBe(0);
    expect(canariesInLog(CANARIES(12))).toEqual([]);
    // (The log is real: it has the stand-ins, which carry no value.)
    expect(log.since()).toContain('LOCK TABLE ONLY "public"."episode_h" IN ROW EXCLUSIVE MODE');
    await c.query('COMMIT');
    const rows = await storedRows('episode_h');
    expect(rows.length).toBe(12);
    expect(achievedK(rows, QI)).toBeGreaterThanOrEqual(5);
    expect(rows.every((r) => r[7] === null)).toBe(true);
    // Non-quasi-identifiers are stored as sent.
    expect(rows.map((r) => r[0]).sort()).toEqual(Array.from({ length: 12 }, (_, i) => canaryRecord(i)[0]).sort());
    expect(canariesInLog(CANARIES(12))).toEqual([]);
    expect(await canariesInDump(cluster, CANARIES(12))).toEqual([]);
    // The batch's report reached the client as a NOTICE, and the metrics.
    expect(notices.some((n) => /k-anonymity of public\.episode_h: 12 records in \d+ classes, achieved k=\d+/.test(n))).toBe(true);
    const metrics = await (await fetch(`http://127.0.0.1:${env.proxy.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^clarus_anonymization_last_records 12$/m);
    // And the audit log.
    const audit = readFileSync(env.auditFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { anonymization?: Record<string, unknown> });
    expect(audit.map((e) => e.anonymization).filter((a) => a?.table === 'public.episode_h')).toEqual([expect.objectContaining({ records: 12 })]);
    expect(Number(/^clarus_anonymization_last_classes (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
    // The same connection goes on normally: the next transaction starts empty.
    await c.query('BEGIN');
    await c.query('COMMIT');
    expect(await stored('episode_h')).toBe(12);
  });

  it('stores t-close batches (k=5, t=0.3) from held rows', async () => {
    const c = await doctor();
    await c.query('BEGIN');
    for (const l of records.slice(300, 340)) await c.query(insertConst('episode_t', l.split(',')));
    await c.query('COMMIT');
    const rows = await storedRows('episode_t');
    expect(rows.length).toBe(40);
    expect(achievedK(rows, QI)).toBeGreaterThanOrEqual(5);
    expect(achievedT(rows, QI, DIA, codePointOrder)).toBeLessThanOrEqual(0.3);
  });

  it('fails the COMMIT with 21000 when fewer than k rows are held, and stores nothing', async () => {
    const c = await doctor();
    const before = await stored('episode_r');
    await c.query('BEGIN');
    for (let i = 20; i < 23; i++) await c.query(insertConst('episode_r', canaryRecord(i)));
    await expect(c.query('COMMIT')).rejects.toMatchObject({ code: '21000', message: expect.stringMatching(/k=5.*at least 5 records.*has 3; nothing was stored/) });
    await c.query('ROLLBACK');
    expect(await stored('episode_r')).toBe(before);
    expect(canariesInLog(CANARIES(23))).toEqual([]);
  });

  it('stores nothing after a ROLLBACK, and the rows of a ROLLBACK-ed block never join a later batch', async () => {
    const c = await doctor();
    await c.query('BEGIN');
    for (let i = 30; i < 36; i++) await c.query(insertConst('episode_r', canaryRecord(i)));
    await c.query('ROLLBACK');
    await c.query('BEGIN');
    await c.query('COMMIT');
    expect(await stored('episode_r')).toBe(0);
    await c.query('BEGIN');
    for (const l of records.slice(0, 5)) await c.query(insertConst('episode_r', l.split(',')));
    await c.query('COMMIT');
    expect(await stored('episode_r')).toBe(5);
    expect(canariesInLog(CANARIES(36))).toEqual([]);
  });

  it('refuses a statement on the dataset while rows are held; a COMMIT with other statements in one Query', async () => {
    const c = await doctor();
    await c.query('BEGIN');
    await c.query(insertConst('episode_r', canaryRecord(40)));
    await expect(c.query('SELECT count(*) FROM episode_r')).rejects.toMatchObject({ code: '0A000', message: expect.stringMatching(/held by the proxy until COMMIT/) });
    await c.query('ROLLBACK');
    await c.query('BEGIN');
    await c.query(insertConst('episode_r', canaryRecord(41)));
    // (A COMMIT through the extended protocol stores them: anonymize-commit.test.ts.)
    await expect(c.query('COMMIT; SELECT 1')).rejects.toMatchObject({ code: '0A000' });
    await c.query('ROLLBACK');
    // Other tables are not concerned.
    await c.query('BEGIN');
    await c.query(insertConst('episode_r', canaryRecord(42)));
    expect((await c.query('SELECT count(*)::int AS n FROM episode_h')).rows[0].n).toBe(12);
    await c.query('ROLLBACK');
    expect(await stored('episode_r')).toBe(5);
  });

  it('refuses a single-row INSERT outside a transaction block (21000), constants or parameters', async () => {
    const c = await doctor();
    await expect(c.query(insertConst('episode_r', canaryRecord(50)))).rejects.toMatchObject({ code: '21000' });
    await expect(c.query(insertParams('episode_r'), canaryRecord(51).map((v, j) => (j === 4 || j === 5 ? v.replace(/\//g, '-') : v)))).rejects.toMatchObject({ code: '21000', message: expect.stringMatching(/inside a transaction block/) });
    expect(await stored('episode_r')).toBe(5);
    expect(canariesInLog(CANARIES(52))).toEqual([]);
  });

  it('refuses a held INSERT of a user who may not write the dataset (42501)', async () => {
    const c = await env.client(USERS.analyst);
    await c.query('BEGIN');
    await expect(c.query(insertConst('episode_r', canaryRecord(53)))).rejects.toMatchObject({ code: '42501' });
    await c.query('ROLLBACK');
    await c.query('BEGIN');
    await expect(c.query(insertParams('episode_r'), canaryRecord(54))).rejects.toMatchObject({ code: '42501' });
    await c.query('ROLLBACK');
    expect(await stored('episode_r')).toBe(5);
  });

  it('fails the COMMIT with the backend\'s error when storing the batch fails (a CHECK constraint), and stores nothing', async () => {
    await env.backend.query("ALTER TABLE episode_d ADD CONSTRAINT no_bad CHECK (dis_id <> 'bad')");
    const c = await doctor();
    await c.query('BEGIN');
    for (let i = 70; i < 76; i++) {
      const f = canaryRecord(i);
      if (i === 73) f[3] = 'bad';
      await c.query(insertConst('episode_d', f));
    }
    await expect(c.query('COMMIT')).rejects.toMatchObject({ code: '23514' });
    await c.query('ROLLBACK');
    expect(await stored('episode_d')).toBe(0);
    await env.backend.query('ALTER TABLE episode_d DROP CONSTRAINT no_bad');
  });

  it('loses nothing silently when the backend dies during the COMMIT', async () => {
    // A real fault: a deferred trigger makes the COMMIT slow, and the backend process serving it is terminated.
    await env.backend.query(`CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN PERFORM pg_sleep(0.5); RETURN NULL; END$$`);
    await env.backend.query('CREATE CONSTRAINT TRIGGER slow AFTER INSERT ON episode_d DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()');
    const c = await doctor();
    await c.query('BEGIN');
    for (let i = 60; i < 66; i++) await c.query(insertConst('episode_d', canaryRecord(i)));
    const commit = c.query('COMMIT').then(() => 'committed', (e: { code?: string; message: string }) => `failed: ${e.code ?? e.message}`);
    let killed = false;
    for (let n = 0; n < 100 && !killed; n++) {
      const r = await env.backend.query("SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE '%COMMIT'");
      killed = r.rows.length > 0;
      if (!killed) await new Promise((res) => setTimeout(res, 50));
    }
    expect(killed).toBe(true);
    expect(await commit).toMatch(/^failed/);
    expect(await stored('episode_d')).toBe(0);
    expect(canariesInLog(CANARIES(66))).toEqual([]);
  });
});

describe('the batch report as a NOTICE', () => {
  it('follows a multi-row INSERT and a COPY with a NOTICE (records, classes, achieved k and t, SSE/SST)', async () => {
    const c = await doctor();
    const notices: Array<{ message?: string; code?: string; severity?: string }> = [];
    c.on('notice', (n) => notices.push(n));
    const values = records.slice(500, 507).map((l) => `(${lit(l.split(','))})`).join(', ');
    expect((await c.query(`INSERT INTO episode_n (${COLUMNS}) VALUES ${values}`)).rowCount).toBe(7);
    const csv = `${records.slice(600, 611).join('\n')}\n`;
    await pipeline(Readable.from([Buffer.from(csv)]), c.query(copyFrom(`COPY episode_n (${COLUMNS}) FROM STDIN (FORMAT csv)`)));
    expect(await stored('episode_n')).toBe(18);
    const reports = notices.filter((n) => n.message?.startsWith('clarus: k-anonymity of public.episode_n'));
    expect(reports.map((n) => /: (\d+) records in (\d+) classes, achieved k=(\d+), t=n\/a, SSE\/SST=\d/.exec(n.message ?? '')?.[1])).toEqual(['7', '11']);
    expect(reports.every((n) => n.code === '00000' && n.severity === 'NOTICE')).toBe(true);
    // A refused batch has no report.
    await expect(c.query(`INSERT INTO episode_n (${COLUMNS}) VALUES ${records.slice(0, 2).map((l) => `(${lit(l.split(','))})`).join(', ')}`)).rejects.toMatchObject({ code: '21000' });
    expect(notices.filter((n) => n.message?.startsWith('clarus: k-anonymity')).length).toBe(2);
  });
});

describe('what only the backend knows', () => {
  it('holds a row only in a block the backend has open: a BEGIN bound but never executed leaves the stand-in failing (25P01) and the row out of every batch', async () => {
    const raw = await RawClient.open(env.proxy.port, USERS.doctor);
    // The proxy sees BEGIN go by (Bind) but the backend never runs it (no Execute).
    raw.socket.write(frontendBytes([{ type: 'Parse', name: '', sql: 'BEGIN', paramTypes: [] }, { type: 'Bind', portal: '', statement: '', paramFormats: [], values: [], resultFormats: [] }, { type: 'Sync' }]));
    await raw.cycle();
    raw.socket.write(frontendBytes([{ type: 'Query', sql: insertConst('episode_r', canaryRecord(80)) }]));
    const answer = await raw.cycle();
    expect(answer.find((m) => m.type === 'ErrorResponse')).toMatchObject({ fields: expect.objectContaining({ C: '25P01' }) });
    expect(answer.some((m) => m.type === 'CommandComplete')).toBe(false);
    const before = await stored('episode_r');
    raw.socket.write(frontendBytes([{ type: 'Query', sql: 'BEGIN' }]));
    await raw.cycle();
    for (const l of records.slice(10, 15)) {
      raw.socket.write(frontendBytes([{ type: 'Query', sql: insertConst('episode_r', l.split(',')) }]));
      expect((await raw.cycle()).find((m) => m.type === 'CommandComplete')).toMatchObject({ tag: 'INSERT 0 1' });
    }
    raw.socket.write(frontendBytes([{ type: 'Query', sql: 'COMMIT' }]));
    const commit = await raw.cycle();
    expect(commit.find((m) => m.type === 'CommandComplete')).toMatchObject({ tag: 'COMMIT' });
    expect(await stored('episode_r')).toBe(before + 5);
    expect((await env.backend.query("SELECT count(*)::int AS n FROM episode_r WHERE ep_id = $1", [canaryRecord(80)[0]])).rows[0].n).toBe(0);
    raw.socket.end();
  });

  it('bounds the held rows by limits.maxStatementBytes (54000 past it), and the transaction can still be committed', async () => {
    const small = await startProtected(cluster, POLICY, undefined, { limits: { maxStatementBytes: 16_384 } });
    try {
      const c = await small.client(USERS.doctor);
      await c.query('BEGIN');
      let held = 0;
      let refused: { code?: string; message?: string } | undefined;
      for (const l of records.slice(2000, 2400)) {
        try {
          await c.query(insertConst('episode_n', l.split(',')));
          held++;
        } catch (e) {
          refused = e as { code?: string; message?: string };
          break;
        }
      }
      expect(refused).toMatchObject({ code: '54000', message: expect.stringMatching(/limited to 8192 bytes/) });
      expect(held).toBeGreaterThan(20);
      // The refusal aborted the transaction (as any failed statement does): COMMIT answers ROLLBACK, as PostgreSQL's does.
      const before = await stored('episode_n');
      await expect(c.query('COMMIT')).resolves.toMatchObject({ command: 'ROLLBACK' });
      expect(await stored('episode_n')).toBe(before);
      // A new transaction starts empty.
      await c.query('BEGIN');
      for (const l of records.slice(3000, 3005)) await c.query(insertConst('episode_n', l.split(',')));
      await c.query('COMMIT');
      expect(await stored('episode_n')).toBe(before + 5);
    } finally {
      await small.close();
    }
  });
});

describe('cost', () => {
  it('measures 2,000 single-row INSERTs in one transaction: held and stored at COMMIT, against a table the policy does not list', async () => {
    const c = await doctor();
    const rows = records.slice(5000, 7000).map((l) => l.split(','));
    const load = async (table: string): Promise<{ inserts: number; commit: number }> => {
      const t0 = performance.now();
      await c.query('BEGIN');
      for (const f of rows) await c.query(insertConst(table, f));
      const t1 = performance.now();
      await c.query('COMMIT');
      return { inserts: (t1 - t0) / 1000, commit: (performance.now() - t1) / 1000 };
    };
    const held = await load('episode_m');
    const plain = await load('episode_plain');
    const stored2 = await storedRows('episode_m');
    expect(stored2.length).toBe(2000);
    expect(achievedK(stored2, QI)).toBeGreaterThanOrEqual(5);
    console.log(`2,000 single-row INSERTs in one transaction through the proxy: k-anonymity held until COMMIT ${held.inserts.toFixed(2)} s + COMMIT ${held.commit.toFixed(2)} s; plain table ${plain.inserts.toFixed(2)} s + COMMIT ${plain.commit.toFixed(2)} s`);
  });
});
