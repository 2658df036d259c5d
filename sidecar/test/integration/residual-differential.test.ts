// Differential test of the residual engine (sidecar/src/residual): random SELECTs (residual-sqlgen.ts) over
// random candidate rows run on a real PostgreSQL 15 (the oracle) and through the engine (PGlite,
// PostgreSQL 18) over the same rows, fetched from the oracle in text format as the proxy would
// fetch them. Rows must be equal (in order when ORDER BY fixes it, else as multisets), and so must
// result types and the SQLSTATE class of errors.
//
// RESIDUAL_DIFF_COUNT (default 3000) statements over C-locale databases; RESIDUAL_DIFF_SEED fixes
// the data and statements (default 20240601; "random" for a new seed, printed). A C.UTF-8 database
// and an ICU database check what localeSupport() claims about other backend locales.
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startPostgres, type PgCluster } from '@clarus/testing/pg.ts';
import { ResidualEngine } from '../../src/residual/engine.ts';
import { localeSupport, backendLocaleSql, type BackendLocale, type EngineLocale } from '../../src/residual/collation.ts';
import { GEN_COLUMNS, genRows, genStatement, type GenStatement } from './residual-sqlgen.ts';
import { ENGINE_DIFFERENCES, usesEngineDifference } from '../../src/residual/versions.ts';
import type { ResidualCall } from '../../src/residual/types.ts';

const COUNT = Number(process.env.RESIDUAL_DIFF_COUNT ?? 3000);
const SEED = process.env.RESIDUAL_DIFF_SEED === 'random' ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.RESIDUAL_DIFF_SEED ?? 20240601);
const PER_DATASET = 100;
const ZONES = ['UTC', 'Europe/Madrid', 'America/New_York', 'Asia/Kolkata', 'Pacific/Kiritimati'];

type Answer = { ok: true; types: number[]; rows: string[] } | { ok: false; code: string; message: string };

interface Difference { sql: string; oracle: string; engine: string; statement: GenStatement }

const raw = { getTypeParser: () => (v: string) => v };

function rowKey(r: ReadonlyArray<string | null>): string { return JSON.stringify(r); }

async function oracleAnswer(client: pg.Client, sql: string): Promise<Answer> {
  try {
    const r = await client.query({ text: sql, rowMode: 'array', types: raw });
    return { ok: true, types: r.fields.map((f) => f.dataTypeID), rows: (r.rows as Array<Array<string | null>>).map(rowKey) };
  } catch (e) {
    const err = e as { code?: string; message: string };
    return { ok: false, code: err.code ?? '?????', message: err.message };
  }
}

async function engineAnswer(engine: ResidualEngine, call: ResidualCall): Promise<Answer> {
  try {
    const r = await engine.run(call);
    return { ok: true, types: r.fields.map((f) => f.typeOid), rows: r.rows.map(rowKey) };
  } catch (e) {
    const err = e as { code?: string; message: string };
    return { ok: false, code: err.code ?? 'XXXXX', message: err.message };
  }
}

/**
 * PostgreSQL 18 does not read an input of INTERSECT / EXCEPT whose rows cannot change the result
 * (the other input is empty), so an error that PostgreSQL 15 raises while reading it does not
 * happen. Neither promises to evaluate expressions of rows that do not contribute: not a wrong
 * answer, counted apart.
 */
function skippedInput(o: Answer, e: Answer, sql: string): boolean {
  return !o.ok && e.ok && e.rows.length === 0 && /\b(INTERSECT|EXCEPT)\b/.test(sql);
}

/** numeric values equal but printed with another scale (0.1, 0.10), and float -0 / 0, become one text. */
function canonical(rows: string[], types: number[]): string[] {
  return rows.map((r) => JSON.stringify((JSON.parse(r) as Array<string | null>).map((v, i) => {
    if (v === null) return v;
    if (types[i] === 1700 && v.includes('.')) return v.replace(/\.?0+$/, '');
    if ((types[i] === 701 || types[i] === 700) && v === '-0') return '0';
    return v;
  }))).sort();
}

/**
 * Where PostgreSQL merges equal values (DISTINCT, GROUP BY, UNION, INTERSECT, EXCEPT), which of
 * several equal but differently printed values (numeric 0.1 and 0.10, float -0 and 0) represents
 * the group is unspecified, and depends on the plan: both answers are PostgreSQL's. Counted apart.
 */
function otherRepresentative(o: Answer, e: Answer, sql: string): boolean {
  if (!o.ok || !e.ok || !/\b(DISTINCT|GROUP BY|UNION(?! ALL)|INTERSECT|EXCEPT)\b/.test(sql) || usesEngineDifference(sql, 15)) return false;
  return JSON.stringify(canonical(o.rows, o.types)) === JSON.stringify(canonical(e.rows, e.types));
}

/** Why two answers differ, or null when they agree. */
function compare(o: Answer, e: Answer, ordered: boolean): string | null {
  if (!o.ok || !e.ok) {
    if (!o.ok && !e.ok) return o.code.slice(0, 2) === e.code.slice(0, 2) ? null : `SQLSTATE ${o.code} vs ${e.code}`;
    return o.ok ? `oracle ok, engine ${(e as { code: string }).code}` : `oracle ${o.code}, engine ok`;
  }
  if (o.types.join() !== e.types.join()) return `types ${o.types.join()} vs ${e.types.join()}`;
  const a = ordered ? o.rows : [...o.rows].sort();
  const b = ordered ? e.rows : [...e.rows].sort();
  if (a.length !== b.length) return `${a.length} rows vs ${b.length}`;
  const i = a.findIndex((r, k) => r !== b[k]);
  return i < 0 ? null : `row ${i}: ${a[i]} vs ${b[i]}`;
}

const show = (a: Answer) => (a.ok ? `${a.rows.length} rows ${a.rows.slice(0, 3).join(' ')}` : `${a.code} ${a.message}`);

interface Target { client: pg.Client; engine: ResidualEngine }

/** Loads one dataset into the oracle's table t and returns the candidates as the proxy would fetch them. */
async function loadDataset(client: pg.Client, rows: Array<Array<string | null>>, zone: string): Promise<ResidualCall['relations'][number]> {
  await client.query(`SET TimeZone = '${zone}'`);
  await client.query('DROP TABLE IF EXISTS t');
  await client.query(`CREATE TABLE t (${GEN_COLUMNS.map((c) => `${c.name} ${c.type}`).join(', ')})`);
  const width = GEN_COLUMNS.length;
  for (const r of rows) {
    await client.query(`INSERT INTO t VALUES (${r.map((_, i) => `$${i + 1}`).join(', ')})`, r.slice(0, width));
  }
  const fetched = await client.query({ text: 'SELECT * FROM t', rowMode: 'array', types: raw });
  return { name: 't', columns: fetched.fields.map((f) => ({ name: f.name, typeOid: f.dataTypeID })), rows: fetched.rows as Array<Array<string | null>> };
}

interface RunResult { run: number; diffs: Difference[]; errors: number; skipped: number; representative: number }

async function runDifferential(target: Target, count: number, seed: number): Promise<RunResult> {
  const datasets = fc.sample(genRows(30), { numRuns: Math.ceil(count / PER_DATASET), seed });
  const statements = fc.sample(genStatement(), { numRuns: count, seed: seed + 1 });
  const diffs: Difference[] = [];
  let errors = 0;
  let skipped = 0;
  let representative = 0;
  for (const [k, rows] of datasets.entries()) {
    const zone = ZONES[k % ZONES.length] as string;
    const relation = await loadDataset(target.client, rows, zone);
    for (const s of statements.slice(k * PER_DATASET, (k + 1) * PER_DATASET)) {
      const o = await oracleAnswer(target.client, s.sql);
      const e = await engineAnswer(target.engine, { relations: [relation], sql: s.sql, limits: { maxRows: 10_000, maxBytes: 1 << 24 }, settings: { timeZone: zone } });
      if (!o.ok) errors += 1;
      if (skippedInput(o, e, s.sql)) { skipped += 1; continue; }
      const why = compare(o, e, s.ordered);
      if (why !== null && otherRepresentative(o, e, s.sql)) { representative += 1; console.log(`  (equal values, another representative) ${s.sql}\n    oracle: ${show(o)}\n    engine: ${show(e)}`); continue; }
      if (why !== null) diffs.push({ sql: s.sql, oracle: show(o), engine: `${why} | ${show(e)}`, statement: s });
    }
  }
  return { run: statements.length, diffs, errors, skipped, representative };
}

function report(label: string, r: RunResult, seed: number): void {
  console.log(`residual differential [${label}] seed ${seed}: ${r.run} statements (${r.errors} errors on the oracle; ${r.skipped} of them in an INTERSECT/EXCEPT input the engine does not read), ${r.representative} with another representative of equal values, ${r.diffs.length} differences`);
  for (const d of r.diffs.slice(0, 15)) console.log(`  ${d.sql}\n    oracle: ${d.oracle}\n    engine: ${d.engine}`);
}

async function startTarget(cluster: PgCluster, database: string, locale: EngineLocale): Promise<Target> {
  const client = new pg.Client({ connectionString: cluster.url({ database }) });
  await client.connect();
  return { client, engine: await ResidualEngine.start({ locale }) };
}

async function readLocale(client: pg.Client): Promise<BackendLocale> {
  const r = await client.query(backendLocaleSql(15));
  const row = r.rows[0] as { provider: 'c' | 'i' | 'b'; collate: string; ctype: string; locale: string | null; encoding: string };
  return { ...row, serverMajor: 15 };
}

/** Every code point U+0001..U+2FFFF but surrogates, once each. */
function allCodePoints(): string[][] {
  const out: string[][] = [];
  for (let cp = 1; cp <= 0x2ffff; cp++) if (cp < 0xd800 || cp > 0xdfff) out.push([String.fromCodePoint(cp)]);
  return out;
}

const CHAR_SQL = `SELECT c, upper(c), lower(c), initcap(c || 'a' || c), c ~ '[[:alpha:]]', c ~ '[[:upper:]]', c ~ '[[:lower:]]',
  c ~ '[[:space:]]', c ~ '[[:digit:]]', c ~ '[[:punct:]]', c ~* 'a', ('x' || c) ILIKE ('X' || translate(upper(c), '\\%_', 'zzz')),
  c < 'a', length(c), octet_length(c) FROM t ORDER BY c`;
const CHAR_COLUMNS = ['order', 'upper', 'lower', 'initcap', '[[:alpha:]]', '[[:upper:]]', '[[:lower:]]', '[[:space:]]', '[[:digit:]]', '[[:punct:]]', '~*', 'ILIKE', '<', 'length', 'octet_length'];

/** Per function, how many code points give another answer in the engine than in the oracle. */
async function codePointDifferences(target: Target): Promise<Record<string, number>> {
  await target.client.query('DROP TABLE IF EXISTS t');
  await target.client.query('CREATE TABLE t (c text)');
  await target.client.query('INSERT INTO t SELECT unnest($1::text[])', [allCodePoints().map((r) => r[0])]);
  const o = (await target.client.query({ text: CHAR_SQL, rowMode: 'array', types: raw })).rows as string[][];
  const fetched = (await target.client.query({ text: 'SELECT c FROM t', rowMode: 'array', types: raw })).rows as string[][];
  const e = (await target.engine.run({ relations: [{ name: 't', columns: [{ name: 'c', typeOid: 25 }], rows: fetched }], sql: CHAR_SQL, limits: { maxRows: 1e6, maxBytes: 1e8 } })).rows;
  expect(e.length).toBe(o.length);
  const counts: Record<string, number> = {};
  o.forEach((row, i) => row.forEach((v, k) => { if (v !== e[i]?.[k]) counts[CHAR_COLUMNS[k] as string] = (counts[CHAR_COLUMNS[k] as string] ?? 0) + 1; }));
  return counts;
}

describe('residual engine vs PostgreSQL 15', () => {
  let cluster: PgCluster;
  const targets: Target[] = [];

  beforeAll(async () => {
    cluster = await startPostgres();
    await cluster.psql("CREATE DATABASE cutf8 TEMPLATE template0 LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'");
    await cluster.psql("CREATE DATABASE icu TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'");
  }, 300_000);

  afterAll(async () => {
    for (const t of targets.splice(0)) await stopTarget(t);
    await cluster?.destroy();
  });

  /** Each test stops its engine when done: one PGlite instance (~400 MiB) alive at a time. */
  async function stopTarget(t: Target): Promise<void> {
    const i = targets.indexOf(t);
    if (i >= 0) targets.splice(i, 1);
    await t.client.end();
    await t.engine.close();
  }

  test('C locale: no difference in rows, types or SQLSTATE class', async () => {
    const target = await startTarget(cluster, 'postgres', 'c');
    targets.push(target);
    const support = localeSupport(await readLocale(target.client));
    expect(support).toMatchObject({ ordering: true, caseMapping: true, engine: 'c' });
    const r = await runDifferential(target, COUNT, SEED);
    const known = r.diffs.filter((d) => usesEngineDifference(d.sql, 15));
    report('C', { ...r, diffs: r.diffs.filter((d) => !known.includes(d)) }, SEED);
    console.log(`  (${known.length} differences in statements calling functions of ENGINE_DIFFERENCES: ${[...ENGINE_DIFFERENCES.keys()].join(', ')})`);
    for (const d of known.slice(0, Number(process.env.RESIDUAL_DIFF_SHOW_KNOWN ?? 0))) console.log(`  ${d.sql}\n    oracle: ${d.oracle}\n    engine: ${d.engine}`);
    expect(r.diffs.filter((d) => !known.includes(d)).map((d) => `${d.sql} → ${d.engine}`)).toEqual([]);
    const chars = await codePointDifferences(target);
    console.log(`C locale, every code point to U+2FFFF: ${JSON.stringify(chars)}`);
    expect(chars).toEqual({});
    await stopTarget(target);
  }, 900_000);

  test('libc C.UTF-8: ordering reproduced, case mapping of non-ASCII text not', async () => {
    const target = await startTarget(cluster, 'cutf8', 'builtin-c-utf8');
    targets.push(target);
    const support = localeSupport(await readLocale(target.client));
    expect(support).toMatchObject({ ordering: true, caseMapping: false, engine: 'builtin-c-utf8' });
    const r = await runDifferential(target, Math.ceil(COUNT / 3), SEED + 7);
    const rest = r.diffs.filter((d) => !d.statement.caseMapping && !usesEngineDifference(d.sql, 15));
    report('C.UTF-8, statements without case mapping', { ...r, diffs: rest }, SEED + 7);
    console.log(`  case-mapping statements that differ: ${r.diffs.filter((d) => d.statement.caseMapping).length} of ${r.run} (refused by the caller on such backends)`);
    for (const d of r.diffs.filter((x) => x.statement.caseMapping).slice(0, 5)) console.log(`  ${d.sql}\n    oracle: ${d.oracle}\n    engine: ${d.engine}`);
    expect(rest.map((d) => `${d.sql} → ${d.engine}`)).toEqual([]);
    // Order (code point) is the same; glibc's case tables and character classes are not PostgreSQL's.
    const chars = await codePointDifferences(target);
    console.log(`C.UTF-8, every code point to U+2FFFF, code points answered differently: ${JSON.stringify(chars)}`);
    expect(chars.order).toBeUndefined();
    expect(chars.upper).toBeGreaterThan(0);
    await stopTarget(target);
  }, 900_000);

  test('ICU en-US: text order differs from the engine, so localeSupport refuses it', async () => {
    const target = await startTarget(cluster, 'icu', 'c');
    targets.push(target);
    const support = localeSupport(await readLocale(target.client));
    expect(support).toMatchObject({ ordering: false, caseMapping: false });
    const rows = ['a', 'B', 'c', 'É', 'e', 'z', 'Z', '_x', ' y', '10', '9'].map((v, i) => [String(i + 1), v, ...Array(GEN_COLUMNS.length - 2).fill(null)]);
    const relation = await loadDataset(target.client, rows, 'UTC');
    const sql = 'SELECT name FROM t ORDER BY name, id';
    const o = await oracleAnswer(target.client, sql);
    const e = await engineAnswer(target.engine, { relations: [relation], sql, limits: { maxRows: 100, maxBytes: 10_000 } });
    console.log(`ICU en-US order: ${show(o)}\nengine (C) order: ${show(e)}`);
    expect(compare(o, e, true)).not.toBeNull();
    await stopTarget(target);
  }, 300_000);
});
