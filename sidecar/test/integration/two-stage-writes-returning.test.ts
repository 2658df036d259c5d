// Writes that compute, with RETURNING (issue 10): `UPDATE … SET enc = f(enc) … RETURNING …`,
// `DELETE … WHERE f(enc) RETURNING …`, `INSERT … SELECT f(enc) … RETURNING …`, the RETURNING list
// itself computing (`RETURNING upper(pat_name)`). Each statement is compared with the same statement
// on an oracle PostgreSQL with plain tables: the returned rows (as a multiset: RETURNING has no
// order), their column names and types, the command tag, the whole tables afterwards, errors. Also:
// the declared length of an encrypted varchar(n) is checked on the write-back (22001). The backend's
// dump and its log_statement=all log never show a canary, computed ones (upper case) included.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USERS, canariesInDump } from '../corpus/setup.ts';
import { CANARIES, startTwoStage } from './two-stage-env.ts';
import type { TwoStageEnv } from './two-stage-env.ts';

let t: TwoStageEnv;
let c: pg.Client;
let oracle: pg.Client;

beforeAll(async () => {
  t = await startTwoStage(5000);
  ({ c, oracle } = t);
}, 120_000);

afterAll(async () => {
  await t?.close();
});

const PATIENTS = 'SELECT pat_id, pat_name, pat_ssn, diagnosis FROM patient ORDER BY pat_id';
const VISITS = 'SELECT visit_id, pat_id, reason, notes FROM visit ORDER BY visit_id';
const code = (e: unknown): string => (e as { code?: string }).code ?? String(e);

interface Outcome { command?: string; rowCount?: number | null; fields?: string[]; rows?: string[]; error?: string }

async function outcome(db: pg.Client, q: pg.QueryConfig): Promise<Outcome> {
  try {
    const r = await db.query({ ...q, rowMode: 'array' });
    const rows = (r.rows as unknown[][]).map((x) => JSON.stringify(x)).sort();
    return { command: r.command, rowCount: r.rowCount, fields: r.fields.map((f) => `${f.name}:${f.dataTypeID}`), rows };
  } catch (e) {
    return { error: code(e) };
  }
}

/** Runs `sql` through the proxy and on the oracle: same rows, fields, tag or error, same tables afterwards. */
async function same(sql: string, params?: unknown[]): Promise<Outcome> {
  const q = { text: sql, ...(params ? { values: params } : {}) };
  const enc = await outcome(c, q);
  const plain = await outcome(oracle, q);
  expect(enc).toEqual(plain);
  expect((await c.query(PATIENTS)).rows).toEqual((await oracle.query(PATIENTS)).rows);
  expect((await c.query(VISITS)).rows).toEqual((await oracle.query(VISITS)).rows);
  return enc;
}

describe('writes that compute, with RETURNING', () => {
  it.each([
    'UPDATE patient SET pat_name = upper(pat_name) WHERE pat_id = 1 RETURNING pat_id, pat_name',
    "UPDATE patient p SET pat_name = p.pat_name || '!' WHERE p.pat_name LIKE 'a%' RETURNING upper(p.pat_name) AS u, length(pat_ssn), pat_id, diagnosis",
    "UPDATE patient SET pat_id = pat_id + 1000 WHERE upper(pat_name) LIKE 'BOB%' RETURNING pat_id, pat_name, pat_ssn, diagnosis",
    "UPDATE patient SET diagnosis = coalesce(diagnosis, 'none') || ' (' || left(pat_name, 3) || ')' WHERE pat_id BETWEEN 10 AND 16 RETURNING pat_id * 2 AS twice, diagnosis, pat_ssn || '/' || diagnosis",
    'UPDATE patient SET pat_name = upper(pat_name) WHERE pat_id = -1 RETURNING pat_name',
    "DELETE FROM visit WHERE notes ILIKE '%3 LEE%' RETURNING visit_id, upper(notes), reason",
    "DELETE FROM visit WHERE reason LIKE 'fev%' AND visit_id > 60 RETURNING *",
    "INSERT INTO visit (visit_id, pat_id, reason, notes) SELECT 500 + pat_id, pat_id, upper(pat_name), 'copied' FROM patient WHERE pat_id < 5 RETURNING visit_id, reason, lower(reason) AS l, notes",
    'INSERT INTO visit (visit_id, pat_id, reason) SELECT 600 + pat_id, pat_id, pat_ssn FROM patient WHERE pat_id < 3 RETURNING *',
  ])('%s', async (sql) => {
    await same(sql);
  });

  it('runs in the extended protocol with parameters (the client describes the portal)', async () => {
    const r = await same('UPDATE patient SET pat_name = $1 || pat_name WHERE pat_ssn = $2 RETURNING pat_id, pat_name, length(pat_name) AS n', ['Dr ', '123-45-1007']);
    expect(r.rows).toHaveLength(1);
    await same('DELETE FROM visit WHERE notes LIKE $1 RETURNING visit_id, notes', ['%note 7 %']);
    await same('INSERT INTO visit (visit_id, pat_id, reason) SELECT $1 + pat_id, pat_id, lower(pat_name) FROM patient WHERE pat_id < $2 RETURNING visit_id, reason', [800, 4]);
  });

  it('returns thousands of rows (batched write-backs)', async () => {
    const r = await same('INSERT INTO visit (visit_id, pat_id, reason) SELECT 10000 + p.pat_id * 100 + g, p.pat_id, upper(p.pat_name) FROM patient p, generate_series(1, 60) g RETURNING visit_id, reason');
    expect(r.rows).toHaveLength(2400);
    expect((await same("UPDATE visit SET notes = reason || ' x' WHERE visit_id >= 10000 RETURNING visit_id, notes")).rows).toHaveLength(2400);
    expect((await same('DELETE FROM visit WHERE visit_id >= 10000 RETURNING visit_id, lower(notes)')).rows).toHaveLength(2400);
  });

  it('fails like PostgreSQL when the RETURNING list fails: nothing written', async () => {
    expect((await same('UPDATE patient SET pat_name = upper(pat_name) WHERE pat_id = 5 RETURNING pat_name::int')).error).toBe('22P02');
    expect((await same('DELETE FROM visit WHERE notes LIKE $1 RETURNING notes::int', ['%note 9 %'])).error).toBe('22P02');
  });

  it('refuses RETURNING an anonymized column (its stored form is not its value), as before: nothing written', async () => {
    expect(await c.query("UPDATE patient SET pat_name = upper(pat_name) WHERE pat_id = 1 RETURNING *").catch(code)).toBe('0A000');
    expect(await c.query("DELETE FROM patient WHERE upper(pat_name) = 'BOB' RETURNING pat_zip").catch(code)).toBe('0A000');
    expect((await c.query(PATIENTS)).rows).toEqual((await oracle.query(PATIENTS)).rows);
  });

  it('refuses a user who may only read', async () => {
    const a = new pg.Client({ connectionString: t.env.url(USERS.analyst) });
    await a.connect();
    try {
      expect(await a.query('UPDATE patient SET pat_name = upper(pat_name) WHERE pat_id = 1 RETURNING pat_name').catch(code)).toBe('42501');
      expect(await a.query("DELETE FROM visit WHERE notes ILIKE '%lee%' RETURNING notes").catch(code)).toBe('42501');
      expect(await a.query('INSERT INTO visit (visit_id, pat_id, reason) SELECT 900 + pat_id, pat_id, upper(pat_name) FROM patient RETURNING reason').catch(code)).toBe('42501');
    } finally {
      await a.end();
    }
    expect((await c.query(PATIENTS)).rows).toEqual((await oracle.query(PATIENTS)).rows);
  });
});

describe('writes that compute with another table: UPDATE … FROM, DELETE … USING', () => {
  beforeAll(async () => {
    for (const db of [c, oracle]) {
      await db.query('CREATE TABLE ward (pat_id integer PRIMARY KEY, label text)');
      await db.query("INSERT INTO ward SELECT g, 'ward ' || (g % 3) FROM generate_series(0, 39, 2) g");
    }
  });

  it.each([
    'UPDATE patient p SET pat_name = upper(v.notes) FROM visit v WHERE v.pat_id = p.pat_id AND v.visit_id = 3',
    "UPDATE patient p SET diagnosis = coalesce(p.diagnosis, '-') || '/' || v.reason FROM visit v WHERE v.pat_id = p.pat_id AND v.visit_id < 40 AND v.notes LIKE '%1%' RETURNING p.pat_id, p.diagnosis",
    "UPDATE patient p SET pat_name = w.label || ' ' || lower(p.pat_name), pat_id = p.pat_id + 3000 FROM ward w WHERE w.pat_id = p.pat_id AND w.label <> 'ward 1' RETURNING p.pat_id, p.pat_name, length(pat_name)",
    "UPDATE visit SET notes = upper(notes) FROM ward WHERE ward.pat_id = visit.pat_id AND ward.label = 'ward 1' AND visit.reason LIKE 'c%'",
    "DELETE FROM visit v USING patient p WHERE v.pat_id = p.pat_id AND upper(p.pat_name) LIKE 'ANN%' AND v.visit_id > 40 RETURNING v.visit_id, upper(v.notes)",
    "DELETE FROM visit USING ward w WHERE w.pat_id = visit.pat_id AND w.label = 'ward 2' AND visit.notes ILIKE '%5 lee%'",
  ])('%s', async (sql) => {
    await same(sql);
  });

  it('runs in the extended protocol with parameters', async () => {
    await same('UPDATE visit v SET notes = v.notes || $1 FROM patient p WHERE p.pat_id = v.pat_id AND p.pat_name LIKE $2 RETURNING v.visit_id, v.notes', [' (seen)', '%lee%']);
  });

  it('refuses a plain SET item that reads the other table (the write-back by row key has no FROM), and a read-only user', async () => {
    expect(await c.query('UPDATE patient p SET pat_name = upper(pat_name), pat_id = v.visit_id + 5000 FROM visit v WHERE v.pat_id = p.pat_id AND v.visit_id = 7').catch(code)).toBe('0A000');
    const a = new pg.Client({ connectionString: t.env.url(USERS.analyst) });
    await a.connect();
    try {
      expect(await a.query('UPDATE patient p SET pat_name = upper(v.notes) FROM visit v WHERE v.pat_id = p.pat_id').catch(code)).toBe('42501');
      expect(await a.query("DELETE FROM visit v USING patient p WHERE v.pat_id = p.pat_id AND upper(p.pat_name) LIKE 'A%'").catch(code)).toBe('42501');
    } finally {
      await a.end();
    }
    expect((await c.query(PATIENTS)).rows).toEqual((await oracle.query(PATIENTS)).rows);
  });
});

describe('INSERT … SELECT computed … ON CONFLICT', () => {
  it.each([
    'INSERT INTO visit (visit_id, pat_id, reason) SELECT pat_id, pat_id, upper(pat_name) FROM patient WHERE pat_id < 12 ON CONFLICT (visit_id) DO NOTHING RETURNING visit_id, reason',
    "INSERT INTO visit (visit_id, pat_id, reason, notes) SELECT pat_id + 1, pat_id, lower(pat_name), 'n' FROM patient WHERE pat_id BETWEEN 4 AND 20 ON CONFLICT (visit_id) DO UPDATE SET reason = EXCLUDED.reason, notes = 'merged' RETURNING visit_id, reason, notes",
    'INSERT INTO visit (visit_id, pat_id, reason) SELECT pat_id + 2, pat_id, pat_ssn FROM patient WHERE pat_id < 30 ON CONFLICT (visit_id) DO UPDATE SET reason = EXCLUDED.reason WHERE visit.pat_id < 10',
    'INSERT INTO visit (visit_id, pat_id, reason) SELECT pat_id + 3, pat_id, upper(pat_name) FROM patient ON CONFLICT DO NOTHING',
  ])('%s', async (sql) => {
    await same(sql);
  });

  it('fails like PostgreSQL when two computed rows update the same row (21000), and refuses a read-only user', async () => {
    expect((await same('INSERT INTO visit (visit_id, pat_id, reason) SELECT 1, pat_id, upper(pat_name) FROM patient WHERE pat_id < 40 ON CONFLICT (visit_id) DO UPDATE SET reason = EXCLUDED.reason')).error).toBe('21000');
    const a = new pg.Client({ connectionString: t.env.url(USERS.analyst) });
    await a.connect();
    try {
      expect(await a.query('INSERT INTO visit (visit_id, pat_id, reason) SELECT pat_id, pat_id, upper(pat_name) FROM patient ON CONFLICT DO NOTHING').catch(code)).toBe('42501');
    } finally {
      await a.end();
    }
  });
});

describe('the candidate-row limit on a write that computes', () => {
  it('fails with 54000 (not a hang), simple and extended, in and out of a block; nothing written, the session goes on', async () => {
    // 40 patients × 200 = 8,000 candidate rows, over the limit of 5,000.
    const over = 'INSERT INTO visit (visit_id, pat_id, reason) SELECT 20000 + p.pat_id * 1000 + g, p.pat_id, upper(p.pat_name) FROM patient p, generate_series(1, 200) g';
    expect(await c.query(over).catch(code)).toBe('54000');
    expect(await c.query({ text: `${over} WHERE g > $1 RETURNING visit_id`, values: [0] }).catch(code)).toBe('54000');
    await c.query('BEGIN');
    try {
      expect(await c.query(over).catch(code)).toBe('54000');
      expect(await c.query('SELECT 1').catch(code)).toBe('25P02');
    } finally {
      await c.query('ROLLBACK');
    }
    expect((await c.query(VISITS)).rows).toEqual((await oracle.query(VISITS)).rows);
  }, 60_000);
});

describe('the declared length of an encrypted varchar(n) on the write-back', () => {
  it('fails a computed value longer than n with 22001, as PostgreSQL, and writes nothing', async () => {
    // The rows exist: the same statements without the overflow write them.
    expect((await same("UPDATE patient SET pat_ssn = left(pat_name, 4) || '-fits' WHERE pat_id = 7")).rowCount).toBe(1);
    expect((await same("UPDATE patient SET pat_ssn = pat_name || '-too-long-for-eleven' WHERE pat_id = 7")).error).toBe('22001');
    expect((await same("UPDATE patient SET pat_ssn = left(pat_name, 3) || 'xxxxxxxxxxxx' WHERE pat_id < 40 RETURNING pat_ssn")).error).toBe('22001');
    // Trailing spaces past n are cut, not an error (PostgreSQL's rule for varchar(n)).
    expect((await same("UPDATE patient SET pat_ssn = left(pat_name, 3) || '            ' WHERE pat_id = 9 RETURNING pat_ssn, length(pat_ssn)")).rowCount).toBe(1);
    expect((await same('UPDATE patient SET pat_ssn = left(pat_name, 11) WHERE pat_id = 4')).rowCount).toBe(1);
  });
});

describe('what the backend sees', () => {
  it('stores and sends no plaintext: the dump and the statement log hold no canary, computed ones included', async () => {
    const canaries = [...CANARIES, ...CANARIES.map((x) => x.toUpperCase()), 'Dr Ömer'];
    expect(await canariesInDump(t.cluster, canaries)).toEqual([]);
    expect(t.serverLog().filter((l) => canaries.some((x) => l.includes(x)))).toEqual([]);
    expect(t.serverLog().some((l) => l.includes('RETURNING'))).toBe(true);
  });
});
