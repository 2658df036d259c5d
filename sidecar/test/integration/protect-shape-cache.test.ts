// The shape cache (issue 15) through the real proxy: two protected backends behind two proxies,
// one with the analysis caches (default) and one without (limits.analysisCacheBytes: 0), get the
// same writes and reads as simple-protocol texts whose literals vary (so that the first proxy
// reuses plans). Both must answer the same, store the same (deterministic ciphertexts, blind
// indexes and plain columns byte for byte; randomized ciphertexts by length), and the cached
// backend's statement log (log_statement = all) and pg_dump must never show a canary.
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { analysisCounts } from '../../src/metrics/analyses.ts';
import { CREATE_PATIENT, CREATE_VISIT, USERS, canariesInDump, startProtected } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';
import { generate } from './two-stage-sqlgen.ts';
import { literalVariants } from './literal-variants.ts';

const CANARY = 'shapecanary';
const COUNT = Number(process.env.SHAPE_DIFF_COUNT ?? 200);

interface Side { cluster: PgCluster; env: ProtectedEnv; c: pg.Client }
let cached: Side;
let uncached: Side;

async function side(limits: { analysisCacheBytes?: number }, logAll: boolean): Promise<Side> {
  const cluster = await startPostgres();
  if (logAll) appendFileSync(join(cluster.dir, 'data', 'postgresql.conf'), "\nlog_statement = 'all'\nlog_min_error_statement = 'info'\n");
  const env = await startProtected(cluster, undefined, undefined, { residual: {}, limits });
  if (logAll) await env.backend.query('SELECT pg_reload_conf()');
  const c = new pg.Client({ connectionString: env.url(USERS.doctor) });
  await c.connect();
  return { cluster, env, c };
}

beforeAll(async () => {
  [cached, uncached] = await Promise.all([side({}, true), side({ analysisCacheBytes: 0 }, false)]);
}, 120_000);

afterAll(async () => {
  for (const s of [cached, uncached]) {
    if (!s) continue;
    await s.c.end().catch(() => undefined);
    await s.env.close();
    await s.cluster.destroy();
  }
});

type Answer = { rows: unknown[][]; fields: string; count: number | null } | { code: string };

async function answer(c: pg.Client, sql: string): Promise<Answer> {
  try {
    const r = await c.query({ text: sql, rowMode: 'array' });
    // The RowDescription as the client reads it (a shared in-proxy stage must describe each text as its own analysis does).
    const fields = (r.fields ?? []).map((f) => `${f.name}:${f.dataTypeID}:${f.dataTypeSize}:${f.dataTypeModifier}:${f.format}`).join(',');
    return { rows: r.rows as unknown[][], fields, count: r.rowCount };
  } catch (e) {
    return { code: (e as { code?: string }).code ?? '?' };
  }
}

/** Rows in a comparable order: as sent when ORDER BY fixes it, else sorted. */
function comparable(a: Answer, ordered: boolean): Answer {
  return 'rows' in a && !ordered ? { ...a, rows: [...a.rows].sort((x, y) => (JSON.stringify(x) < JSON.stringify(y) ? -1 : 1)) } : a;
}

/** Both proxies answer each text the same; returns the differences. */
async function both(texts: readonly string[], ordered = (_: string) => true): Promise<string[]> {
  const out: string[] = [];
  for (const sql of texts) {
    const o = ordered(sql);
    const [a, b] = [comparable(await answer(cached.c, sql), o), comparable(await answer(uncached.c, sql), o)];
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${sql}\n  cached:   ${JSON.stringify(a).slice(0, 300)}\n  uncached: ${JSON.stringify(b).slice(0, 300)}`);
  }
  return out;
}

/** What the backend stores, randomized ciphertexts (pat_name, pat_ssn, notes) by length only. */
async function stored(s: Side, table: string, key: string): Promise<string[]> {
  const r = await s.env.backend.query<{ j: Record<string, unknown> }>(`SELECT to_jsonb(t) AS j FROM ${table} t ORDER BY ${key}`);
  return r.rows.map(({ j }) => JSON.stringify(Object.fromEntries(Object.entries(j).sort()
    .map(([k, v]) => [k, ['pat_name', 'pat_ssn', 'notes'].includes(k) && typeof v === 'string' ? `len:${v.length}` : v]))));
}

const name = (i: number): string => `${['Ann', 'Bob', "O'Neil", 'Zoë'][i % 4]} ${CANARY} ${i}`;

describe('shape cache through the proxy', () => {
  it('writes what the proxy without caches writes, and reuses plans while doing so', async () => {
    const before = analysisCounts().shape;
    const writes: string[] = [CREATE_PATIENT, CREATE_VISIT];
    for (let i = 0; i < 40; i++) {
      writes.push(`INSERT INTO patient (pat_id, pat_name, pat_ssn, pat_zip, pat_birth, diagnosis) VALUES (${i}, '${name(i).replace("'", "''")}', '123-45-${1000 + i}', '0${8000 + i}', '19${50 + (i % 40)}-01-1${i % 9}', '${['flu', 'asthma', 'covid'][i % 3]}')`);
    }
    for (let i = 0; i < 80; i++) writes.push(`INSERT INTO visit (visit_id, pat_id, reason, notes) VALUES (${i}, ${i % 40}, 'check', 'note ${CANARY}')`);
    for (let i = 0; i < 20; i++) writes.push(`UPDATE visit SET pat_id = ${(i * 7) % 40} WHERE visit_id = ${i}`);
    for (let i = 0; i < 10; i++) writes.push(`UPDATE patient SET diagnosis = 'flu', pat_zip = '0${9000 + i}' WHERE pat_id = ${i}`);
    for (let i = 70; i < 80; i++) writes.push(`DELETE FROM visit WHERE visit_id = ${i}`);
    expect(await both(writes)).toEqual([]);
    expect(analysisCounts().shape - before).toBeGreaterThan(20);
    expect(await stored(cached, 'patient', 'pat_id')).toEqual(await stored(uncached, 'patient', 'pat_id'));
    expect(await stored(cached, 'visit', 'visit_id')).toEqual(await stored(uncached, 'visit', 'visit_id'));
  }, 120_000);

  it(`answers ${COUNT} generated statements and variants of their constants as the proxy without caches`, async () => {
    const before = analysisCounts().shape;
    const texts: string[] = [];
    const unordered = new Set<string>();
    for (let i = 0; i < COUNT; i++) {
      const g = generate(20261201 + i);
      const vs = literalVariants(g.sql);
      texts.push(...vs);
      if (!g.ordered) for (const v of vs) unordered.add(v);
    }
    for (let i = 0; i < 40; i++) texts.push(`SELECT pat_name, pat_ssn, diagnosis FROM patient WHERE pat_id = ${i}`, `SELECT * FROM visit WHERE visit_id < ${i} ORDER BY visit_id`);
    const diffs = await both(texts, (sql) => !unordered.has(sql));
    expect(diffs, diffs.slice(0, 5).join('\n')).toEqual([]);
    expect(analysisCounts().shape - before).toBeGreaterThan(60);
  }, 900_000);

  it('fills a kept plan with a protected value only as its ciphertext', async () => {
    // Templates made with a protected value 'flu' (deterministic, so kept, re-bound), then texts of
    // the same shapes whose protected value is a canary: a plan that reused 'flu' or sent the
    // canary in clear would answer or store differently from the proxy without caches (and the
    // next test scans the statement log and pg_dump for the canary).
    const shapes = [
      (id: number, v: string) => `SELECT pat_id, pat_name FROM patient WHERE pat_id = ${id} AND diagnosis = '${v}'`,
      (id: number, v: string) => `UPDATE patient SET diagnosis = '${v}' WHERE pat_id = ${10 + id}`,
      (id: number, v: string) => `INSERT INTO visit (visit_id, pat_id, reason) VALUES (${300 + id}, 1, '${v}')`,
      (id: number, v: string) => `DELETE FROM visit WHERE visit_id = ${300 + id} AND reason = '${v}'`,
    ];
    const before = analysisCounts().shape;
    for (const f of shapes) for (let i = 0; i < 4; i++) expect(await both([f(i, 'flu')])).toEqual([]);
    expect(analysisCounts().shape - before).toBeGreaterThanOrEqual(shapes.length * 2);
    for (const f of shapes) for (let i = 4; i < 8; i++) expect(await both([f(i, `${CANARY}-${i}`)])).toEqual([]);
    expect(await stored(cached, 'patient', 'pat_id')).toEqual(await stored(uncached, 'patient', 'pat_id'));
    expect(await stored(cached, 'visit', 'visit_id')).toEqual(await stored(uncached, 'visit', 'visit_id'));
  });

  it('answers two-stage statements whose literals vary as the proxy without caches, reusing their plans', async () => {
    // Two-stage plans (issue 10) from templates: the key compared in the backend stage varies (plain,
    // blind-indexed with a canary), values the in-proxy stage computes with stay in the key (a
    // compared upper(), substring's arguments, LIMIT), and the fast path and the engine both answer.
    const texts: string[] = [];
    for (let i = 0; i < 12; i++) {
      texts.push(
        `SELECT pat_id, upper(pat_name) FROM patient WHERE pat_id = ${i}`,
        `SELECT pat_id, upper(pat_name) AS u, length(pat_name) FROM patient WHERE pat_id = ${(i * 7) % 40}`,
        `SELECT pat_id, lower(pat_name) FROM patient WHERE pat_ssn = '123-45-${1000 + i}'`,
        `SELECT pat_id FROM patient WHERE pat_ssn = '${CANARY}-${i}' AND lower(pat_name) LIKE '%${CANARY}%'`,
        `SELECT substring(pat_name, ${1 + (i % 3)}, ${2 + (i % 2)}) FROM patient WHERE pat_id = ${i}`,
        `SELECT pat_id FROM patient WHERE pat_id < ${i + 5} AND lower(pat_name) = '${name(i % 4).toLowerCase().replace("'", "''")}' ORDER BY 1`,
        `SELECT pat_id, upper(pat_name) FROM patient WHERE pat_id >= ${i} ORDER BY pat_name LIMIT ${1 + (i % 2)}`,
        `SELECT pat_id, upper(pat_name) FROM patient WHERE pat_id = ${i} AND diagnosis = '${['flu', 'asthma', `${CANARY}-d${i}`][i % 3]}'`,
      );
    }
    const before = analysisCounts().shape;
    const diffs = await both(texts);
    expect(diffs, diffs.slice(0, 5).join('\n')).toEqual([]);
    // Most texts come from templates (each shape's first two are analysed in full).
    expect(analysisCounts().shape - before).toBeGreaterThan(40);
    // A value the in-proxy stage computes with, in a text of a kept shape with another value: answered for this value.
    const lower = await cached.c.query(`SELECT pat_id FROM patient WHERE pat_id < 40 AND lower(pat_name) = 'bob ${CANARY} 1' ORDER BY 1`);
    expect(lower.rows).toEqual([{ pat_id: 1 }]);
  }, 300_000);

  it('caches a plan with a randomized constant and encrypts the constant afresh at each execution', async () => {
    // The plan holds a placeholder, not ciphertext (issue 9): the second text is a cache hit, and
    // the backend still gets (and stores) a new ciphertext of the same value.
    const sql = `UPDATE visit SET notes = 'again ${CANARY}' WHERE visit_id = 5`;
    const notes = async () => (await cached.env.backend.query<{ n: string }>("SELECT encode(notes, 'hex') AS n FROM visit WHERE visit_id = 5")).rows[0]?.n;
    expect(await both([sql])).toEqual([]);
    const first = await notes();
    const before = analysisCounts();
    const [cache, full] = [before.cache, before.full];
    await cached.c.query(sql);
    expect([analysisCounts().cache - cache, analysisCounts().full - full]).toEqual([1, 0]);
    const second = await notes();
    expect(second).toMatch(/^[0-9a-f]{40,}$/);
    expect(second).not.toBe(first);
    expect((await cached.c.query('SELECT notes FROM visit WHERE visit_id = 5')).rows).toEqual([{ notes: `again ${CANARY}` }]);
  });

  it('never lets a canary reach the backend in clear', async () => {
    const log = readFileSync(join(cached.cluster.dir, 'server.log'), 'utf8');
    expect(log).toContain('INSERT INTO visit');
    expect(log.split('\n').filter((l) => l.includes(CANARY))).toEqual([]);
    expect(await canariesInDump(cached.cluster, [CANARY, '123-45-10'])).toEqual([]);
  });
});
