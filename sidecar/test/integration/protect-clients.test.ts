// End to end through the real proxy into a real PostgreSQL 15, with the eHealth policy: the app
// sees plaintext (with its declared types), the backend only ever holds ciphertext for encrypted
// columns (checked in every row incl. hidden blind-index columns, and in pg_dump), grants and
// views are enforced, refusals leave the backend unchanged, the audit chain verifies.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlstate } from '@clarus/testing/outcome.ts';
import { readAuditLines } from '../../src/access/audit-file.ts';
import { verifyChain } from '../../src/access/audit.ts';
import { CREATE_PATIENT, CREATE_VISIT, USERS, canariesInDump, canariesInTable, startProtected } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';
import { PG_BIN, startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';

const CANARIES = ['Zelda Canaryname', '987-65-4321', 'canary-flu-X', 'Quentin Canarytwo', '111-22-3333', 'canary-notes-secret'];

let cluster: PgCluster;
let env: ProtectedEnv;
const clients: pg.Client[] = [];

async function as(user: typeof USERS[keyof typeof USERS]): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: env.url(user) });
  await c.connect();
  clients.push(c);
  return c;
}


beforeAll(async () => {
  cluster = await startPostgres();
  env = await startProtected(cluster);
});
afterAll(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
  await env?.close();
  await cluster?.destroy();
});

describe('protection through the proxy (node-postgres)', () => {
  it('creates protected tables with bytea storage and a hidden blind index', async () => {
    const doc = await as(USERS.doctor);
    await doc.query(CREATE_PATIENT);
    await doc.query(CREATE_VISIT);
    const cols = await env.backend.query("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'patient' ORDER BY ordinal_position");
    expect(cols.rows.map((r) => `${r.column_name}:${r.data_type}`)).toEqual([
      'pat_id:integer', 'pat_name:bytea', 'pat_ssn:bytea', 'pat_zip:text', 'pat_birth:date', 'diagnosis:bytea', 'pat_ssn__bidx:bytea',
    ]);
  });

  it('writes with literals and parameters, reads plaintext with declared types', async () => {
    const doc = await as(USERS.doctor);
    await doc.query("INSERT INTO patient (pat_id, pat_name, pat_ssn, pat_zip, pat_birth, diagnosis) VALUES (1, 'Zelda Canaryname', '987-65-4321', '08001', '1980-05-17', 'canary-flu-X')");
    await doc.query('INSERT INTO patient (pat_id, pat_name, pat_ssn, pat_zip, pat_birth, diagnosis) VALUES ($1, $2, $3, $4, $5, $6)',
      [2, 'Quentin Canarytwo', '111-22-3333', '08002', '1975-01-02', 'canary-flu-X']);
    await doc.query("INSERT INTO visit (visit_id, pat_id, reason, notes) VALUES (10, 1, 'canary-flu-X', 'canary-notes-secret')");
    const r = await doc.query('SELECT * FROM patient ORDER BY pat_id');
    expect(r.fields.map((f) => f.name)).toEqual(['pat_id', 'pat_name', 'pat_ssn', 'pat_zip', 'pat_birth', 'diagnosis']);
    expect(r.rows[0]).toMatchObject({ pat_id: 1, pat_name: 'Zelda Canaryname', pat_ssn: '987-65-4321', pat_zip: '080**', diagnosis: 'canary-flu-X' });
    expect((r.rows[1].pat_birth as Date).getFullYear()).toBe(1975);
    expect(r.rows[1].pat_name).toBe('Quentin Canarytwo');
  });

  it('finds rows by searchable and deterministic equality (literal and parameter), joins and groups', async () => {
    const doc = await as(USERS.doctor);
    expect((await doc.query("SELECT pat_id FROM patient WHERE pat_ssn = '987-65-4321'")).rows).toEqual([{ pat_id: 1 }]);
    expect((await doc.query('SELECT pat_name FROM patient WHERE pat_ssn = $1', ['111-22-3333'])).rows).toEqual([{ pat_name: 'Quentin Canarytwo' }]);
    expect((await doc.query('SELECT count(*)::int AS n FROM patient WHERE diagnosis IN ($1, $2)', ['canary-flu-X', 'other'])).rows).toEqual([{ n: 2 }]);
    expect((await doc.query('SELECT diagnosis, count(*)::int AS n FROM patient GROUP BY diagnosis')).rows).toEqual([{ diagnosis: 'canary-flu-X', n: 2 }]);
    const j = await doc.query('SELECT p.pat_name, v.notes FROM patient p JOIN visit v ON v.reason = p.diagnosis AND v.pat_id = p.pat_id');
    expect(j.rows).toEqual([{ pat_name: 'Zelda Canaryname', notes: 'canary-notes-secret' }]);
    const u = await doc.query("UPDATE patient SET pat_ssn = $1 WHERE pat_id = $2 RETURNING pat_ssn", ['111-22-3334', 2]);
    expect(u.rows).toEqual([{ pat_ssn: '111-22-3334' }]);
    expect((await doc.query("SELECT pat_id FROM patient WHERE pat_ssn = '111-22-3334'")).rows).toEqual([{ pat_id: 2 }]);
    expect((await doc.query("SELECT pat_id FROM patient WHERE pat_ssn IS NULL")).rows).toEqual([]);
  });

  it('refuses what cannot be done on ciphertext, leaving the backend unchanged', async () => {
    const doc = await as(USERS.doctor);
    const before = (await env.backend.query('SELECT t::text FROM patient t ORDER BY pat_id')).rows;
    expect(await sqlstate(doc.query('SELECT pat_name FROM patient ORDER BY pat_name'))).toBe('0A000');
    expect(await sqlstate(doc.query("SELECT * FROM patient WHERE pat_name LIKE 'Z%'"))).toBe('0A000');
    expect(await sqlstate(doc.query("UPDATE patient SET pat_name = upper('x') WHERE pat_id = 1"))).toBe('0A000');
    expect(await sqlstate(doc.query("DELETE FROM patient WHERE pat_name = 'Zelda Canaryname'"))).toBe('0A000');
    expect((await env.backend.query('SELECT t::text FROM patient t ORDER BY pat_id')).rows).toEqual(before);
    expect((await doc.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
  });

  it('enforces grants and views', async () => {
    const analyst = await as(USERS.analyst);
    expect((await analyst.query('SELECT pat_ssn, pat_id FROM patient WHERE pat_id = 1')).rows).toEqual([{ pat_ssn: '****4321', pat_id: 1 }]);
    expect(await sqlstate(analyst.query("INSERT INTO patient (pat_id, pat_name) VALUES (9, 'x')"))).toBe('42501');
    const auditor = await as(USERS.auditor);
    const stored = (await env.backend.query('SELECT pat_name FROM patient WHERE pat_id = 1')).rows[0].pat_name as Buffer;
    expect((await auditor.query('SELECT pat_name FROM patient WHERE pat_id = 1')).rows).toEqual([{ pat_name: stored.toString('base64') }]);
    expect(await sqlstate(auditor.query('SELECT * FROM visit'))).toBe('42501');
    const nobody = await as(USERS.nobody);
    expect(await sqlstate(nobody.query('SELECT pat_id FROM patient'))).toBe('42501');
    expect((await nobody.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
    const expired = await as(USERS.expired);
    expect(await sqlstate(expired.query('SELECT pat_id FROM patient'))).toBe('42501');
  });
});

describe('binary formats', () => {
  it('returns results in binary with the declared types restored, accepts binary parameters', async () => {
    const c = new pg.Client({ connectionString: env.url(USERS.doctor), binary: true } as pg.ClientConfig);
    await c.connect();
    clients.push(c);
    // A Buffer parameter is sent in binary format: for a text column its bytes are the UTF-8 text.
    await c.query('INSERT INTO patient (pat_id, pat_name, diagnosis) VALUES ($1, $2, $3)', [6, Buffer.from('Binary Canarysix'), Buffer.from('canary-flu-X')]);
    const r = await c.query('SELECT pat_id, pat_name, diagnosis FROM patient WHERE pat_id = $1', [6]);
    expect(r.fields.map((f) => f.format)).toEqual(['binary', 'binary', 'binary']);
    expect(r.fields.map((f) => f.dataTypeID)).toEqual([23, 25, 25]);
    expect(r.rows).toEqual([{ pat_id: 6, pat_name: 'Binary Canarysix', diagnosis: 'canary-flu-X' }]);
    expect(await canariesInTable(env.backend, 'patient', ['Binary Canarysix'])).toEqual([]);
  });
});

describe('other real clients', () => {
  it('postgres.js: prepared statements with parameters encrypted at Bind', async () => {
    const sql = postgres(env.url(USERS.doctor), { max: 1, onnotice: () => undefined });
    try {
      await sql`INSERT INTO patient (pat_id, pat_name, pat_ssn, diagnosis) VALUES (${3}, ${'Pjs Canarythree'}, ${'555-00-1234'}, ${'canary-flu-X'})`;
      const rows = await sql`SELECT pat_id, pat_name, diagnosis FROM patient WHERE pat_ssn = ${'555-00-1234'}`;
      expect(rows.map((r) => ({ ...r }))).toEqual([{ pat_id: 3, pat_name: 'Pjs Canarythree', diagnosis: 'canary-flu-X' }]);
    } finally {
      await sql.end();
    }
    expect(await canariesInTable(env.backend, 'patient', ['Pjs Canarythree', '555-00-1234'])).toEqual([]);
  });

  it('psql: queries and COPY FROM STDIN / TO STDOUT through encryption', async () => {
    const url = env.url(USERS.doctor);
    const psql = (args: string[], input?: string) => new Promise<string>((resolve, reject) => {
      const child = execFile(join(PG_BIN, 'psql'), ['-X', '-v', 'ON_ERROR_STOP=1', '-At', url, ...args], (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout)));
      if (input !== undefined) child.stdin?.end(input);
    });
    await psql(['-c', 'COPY patient (pat_id, pat_name, pat_ssn, diagnosis) FROM STDIN'], '4\tCopy Canaryfour\t444-44-4444\tcanary-flu-X\n5\tNull Canaryfive\t\\N\t\\N\n\\.\n');
    expect(await psql(['-c', "SELECT pat_name FROM patient WHERE pat_ssn = '444-44-4444'"])).toBe('Copy Canaryfour\n');
    const out = await psql(['-c', 'COPY patient (pat_id, pat_name, diagnosis) TO STDOUT']);
    expect(out).toContain('4\tCopy Canaryfour\tcanary-flu-X\n');
    expect(out).toContain('5\tNull Canaryfive\t\\N\n');
    expect(await canariesInTable(env.backend, 'patient', ['Copy Canaryfour', '444-44-4444'])).toEqual([]);
    await psql(['-c', 'COPY patient (pat_id, pat_name, pat_ssn, diagnosis) FROM STDIN (FORMAT csv, HEADER)'],
      'pat_id,pat_name,pat_ssn,diagnosis\n7,"Csv, Canaryseven\nsecond line",777-77-7777,canary-flu-X\n8,Csv Canaryeight,,""\n\\.\n');
    expect(await psql(['-c', "SELECT pat_id FROM patient WHERE pat_ssn = '777-77-7777'"])).toBe('7\n');
    const csv = await psql(['-c', 'COPY (SELECT pat_id, pat_name, pat_ssn, diagnosis FROM patient WHERE pat_id IN (7, 8) ORDER BY pat_id) TO STDOUT (FORMAT csv)']);
    expect(csv).toBe('7,"Csv, Canaryseven\nsecond line",777-77-7777,canary-flu-X\n8,Csv Canaryeight,,""\n');
    expect(await canariesInTable(env.backend, 'patient', ['Csv, Canaryseven', 'Csv Canaryeight', '777-77-7777'])).toEqual([]);
    // \d shows the logical schema (issue 11: declared types, no hidden blind index or type records).
    const described = await psql(['-c', '\\d patient']);
    expect(described).toMatch(/^pat_ssn\|/m);
    expect(described).not.toMatch(/__bidx|bytea|clarus:/);
    const explain = await psql(['-c', "EXPLAIN SELECT * FROM patient WHERE pat_ssn = '444-44-4444'"]);
    expect(explain).toContain('pat_ssn__bidx');
    expect(explain).not.toContain('444-44-4444');
  });
});

describe('what the backend stores', () => {
  it('holds no canary plaintext in any column (hidden ones included) nor in pg_dump', async () => {
    expect(await canariesInTable(env.backend, 'patient', CANARIES)).toEqual([]);
    expect(await canariesInTable(env.backend, 'visit', CANARIES)).toEqual([]);
    expect(await canariesInDump(cluster, [...CANARIES, 'Pjs Canarythree', 'Copy Canaryfour'])).toEqual([]);
    const zip = await env.backend.query('SELECT pat_zip, pat_birth::text AS b FROM patient WHERE pat_id = 1');
    expect(zip.rows[0]).toEqual({ pat_zip: '080**', b: '1980-01-01' });
  });

  it('audit log: one chained line per decision, verifiable, no plaintext', () => {
    const lines = readAuditLines(env.auditFile);
    expect(lines.length).toBeGreaterThan(10);
    expect(verifyChain(lines)).toMatchObject({ ok: true });
    const text = lines.join('\n');
    for (const c of CANARIES) expect(text).not.toContain(c);
    expect(lines.some((l) => l.includes('"outcome":"refuse"') && l.includes('"code":"42501"'))).toBe(true);
  });
});
