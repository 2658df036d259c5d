// The encrypted-column scenarios of issue 4: select by key, insert, COPY FROM STDIN / TO STDOUT,
// each against PostgreSQL directly, the proxy without encrypted columns (the baseline) and the
// proxy encrypting 2 and 5 columns. Tables are created THROUGH each target, so the rewriter stores
// encrypted columns as bytea plus helper columns. Before a scenario is measured on an encrypting
// target, one row is checked on the backend: a scenario whose backend holds plaintext of an
// encrypted column is aborted (its numbers would describe a broken configuration).
import { appendFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Endpoint } from '@clarus/testing/endpoint.ts';
import { copyIn, copyOut } from './copy.ts';
import {
  COPY3_VARIANT, COPY_TABLE, copyText, createTableSql, DATA_COLUMNS, INSERT_TABLE, notBytea, plaintextLeaks, rowValues,
  SELECT_ROWS, SELECT_TABLE, TABLES, VARIANTS,
} from './encrypted.ts';
import { rssMiB } from './procs.ts';
import type { MeasuredRun, Scenario, ScenarioContext } from './scenarios.ts';

const SCRIPTS = join(dirname(fileURLToPath(import.meta.url)), '../scripts');
export const ENC_TARGETS = ['direct', 'clarus', ...VARIANTS.map((v) => v.target)];

async function withClient<T>(e: Endpoint, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ host: e.host, port: e.port, user: e.user, password: e.password, database: e.database });
  await c.connect();
  try { return await fn(c); } finally { await c.end(); }
}

/** Writes rows 1..rows in COPY text format to a file in the work directory, once per size. */
function dataFile(ctx: ScenarioContext, rows: number): Promise<string> {
  return ctx.once(`file:${rows}`, async () => {
    const file = join(ctx.workDir, `rows-${rows}.tsv`);
    writeFileSync(file, '');
    for (let from = 1; from <= rows; from += 50_000) appendFileSync(file, copyText(from, Math.min(rows, from + 49_999)));
    return file;
  });
}

/** Creates the tables through the target (once per backend database) and loads the select table. */
function ensureTables(ctx: ScenarioContext): Promise<void> {
  const { target: t } = ctx;
  return ctx.once(`tables:${t.database}`, async () => {
    await withClient(t.endpoint, async (c) => { for (const table of TABLES) await c.query(createTableSql(table)); });
    await copyIn(t.endpoint, SELECT_TABLE, await dataFile(ctx, SELECT_ROWS), SELECT_ROWS);
    await ctx.pg.psql('ANALYZE', t.database);
  });
}

/**
 * Reads row `id` as the application sees it (through the target) and as the backend stores it
 * (directly): every encrypted column must be bytea and its plaintext must not appear anywhere in
 * the stored row. `expected`, when given, is what the application must see.
 */
export async function verifyStored(ctx: ScenarioContext, table: string, id: number, expected?: Record<string, string>): Promise<void> {
  const { target: t } = ctx;
  if (t.encrypted.length === 0) return;
  const fail = (why: string) => new Error(`${ctx.targetName} stores ${table} wrongly, scenario aborted: ${why}`);
  const typeLines = await ctx.pg.psql(`SELECT column_name || '|' || data_type FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '${table}'`, t.database);
  const types = Object.fromEntries(typeLines.trim().split('\n').map((l) => l.split('|')));
  const untyped = notBytea(types, t.encrypted);
  if (untyped.length) throw fail(`encrypted column(s) ${untyped.join(', ')} not stored as bytea (${untyped.map((c) => types[c] ?? 'missing').join(', ')})`);
  const seen = await withClient(t.endpoint, (c) => c.query<Record<string, string>>(`SELECT ${DATA_COLUMNS.join(', ')} FROM ${table} WHERE id = $1 LIMIT 1`, [id]));
  const row = seen.rows[0];
  if (!row) throw fail(`row id=${id} not found through the proxy`);
  if (expected) {
    const wrong = DATA_COLUMNS.filter((c) => row[c] !== expected[c]);
    if (wrong.length) throw fail(`the application reads wrong values in ${wrong.join(', ')} (e.g. ${JSON.stringify(row[wrong[0] as string])})`);
  }
  const stored = await ctx.pg.psql(`SELECT t::text FROM ${table} t WHERE id = ${id}`, t.database);
  const leaks = plaintextLeaks(stored, row, t.encrypted);
  if (leaks.length) throw fail(`PLAINTEXT of encrypted column(s) ${leaks.join(', ')} found in the backend row id=${id}`);
}

const selectByKey = (mode: 'prepared' | 'simple'): Scenario => ({
  name: `enc-select-${mode}`,
  description: `SELECT of one row by primary key from ${SELECT_TABLE} (${SELECT_ROWS} rows), -M ${mode}`,
  pgbenchArgs: ['-f', join(SCRIPTS, 'select-by-key.sql'), '-M', mode, '-D', `rows=${SELECT_ROWS}`],
  clients: [1, 8],
  rounds: 2,
  targets: ENC_TARGETS,
  prepare: async (ctx) => {
    await ensureTables(ctx);
    await verifyStored(ctx, SELECT_TABLE, 1, rowValues(1));
  },
});

const insert: Scenario = {
  name: 'enc-insert-prepared',
  description: `INSERT of one row of random values into ${INSERT_TABLE}, -M prepared`,
  pgbenchArgs: ['-f', join(SCRIPTS, 'insert.sql'), '-M', 'prepared'],
  clients: [1, 8],
  rounds: 2,
  targets: ENC_TARGETS,
  prepare: async (ctx) => {
    await ensureTables(ctx);
    // A canary row through the extended protocol (values encrypted at Bind, like pgbench -M prepared).
    const v = rowValues(0);
    await withClient(ctx.target.endpoint, (c) => c.query(`INSERT INTO ${INSERT_TABLE} (id, ${DATA_COLUMNS.join(', ')}) VALUES ($1, ${DATA_COLUMNS.map((_, i) => `$${i + 2}`).join(', ')})`,
      [0, ...DATA_COLUMNS.map((col) => v[col])]));
    await verifyStored(ctx, INSERT_TABLE, 0, v);
  },
};

const copyInScenario: Scenario = {
  name: 'enc-copy-in',
  description: `COPY ${COPY_TABLE} FROM STDIN (text format) of BENCH_COPY_ROWS rows through psql; rows/s`,
  clients: [1],
  rounds: 1,
  targets: ENC_TARGETS,
  prepare: async (ctx) => {
    await ensureTables(ctx);
    // A few rows first: the COPY path must encrypt before a million rows are timed.
    await copyIn(ctx.target.endpoint, COPY_TABLE, await dataFile(ctx, 10), 10);
    await verifyStored(ctx, COPY_TABLE, 1, rowValues(1));
    await ctx.pg.psql(`TRUNCATE ${COPY_TABLE}`, ctx.target.database);
    await dataFile(ctx, ctx.settings.copyRows);
  },
  run: async (ctx): Promise<MeasuredRun> => {
    await ctx.pg.psql(`TRUNCATE ${COPY_TABLE}`, ctx.target.database);
    return copyRun(await copyIn(ctx.target.endpoint, COPY_TABLE, await dataFile(ctx, ctx.settings.copyRows), ctx.settings.copyRows));
  },
};

const copyOutScenario: Scenario = {
  name: 'enc-copy-out',
  description: `COPY ${COPY_TABLE} TO STDOUT of the rows enc-copy-in loaded, through psql; rows/s`,
  clients: [1],
  rounds: 1,
  targets: ENC_TARGETS,
  requires: 'enc-copy-in',
  prepare: ensureTables,
  run: async (ctx) => copyRun(await copyOut(ctx.target.endpoint, COPY_TABLE, ctx.settings.copyRows)),
};

/** Runs `fn` while sampling the target process's RSS every 100 ms; adds the largest sample. */
async function withRss(ctx: ScenarioContext, fn: () => Promise<MeasuredRun>): Promise<MeasuredRun> {
  const pid = ctx.target.pid;
  if (pid === undefined) return fn();
  let max = rssMiB(pid);
  const timer = setInterval(() => { try { max = Math.max(max, rssMiB(pid)); } catch { /* exited */ } }, 100);
  try {
    const r = await fn();
    return { ...r, rssMaxMiB: Math.round(Math.max(max, rssMiB(pid)) * 10) / 10 };
  } finally {
    clearInterval(timer);
  }
}

/** Creates the benchmark tables through the target (no select-table load: the COPY scenarios need none). */
function ensureCopyTables(ctx: ScenarioContext): Promise<void> {
  return ctx.once(`copy-tables:${ctx.target.database}`, async () => {
    await withClient(ctx.target.endpoint, async (c) => { for (const table of TABLES) await c.query(createTableSql(table)); });
  });
}

/**
 * Issue 15, goal 4: a COPY of BENCH_COPY_ROWS rows with 3 encrypted columns (clarus-enc3), in and
 * out, with the proxy's CPU per row (→ encrypted values per CPU-second) and its largest RSS during
 * the COPY; `clarus` is the pass-through baseline.
 */
const COPY3_TARGETS = ['clarus', COPY3_VARIANT.target];

const copy3In: Scenario = {
  name: 'enc-copy3-in',
  description: `COPY ${COPY_TABLE} FROM STDIN of BENCH_COPY_ROWS rows, 3 encrypted columns; rows/s, CPU per row, RSS during the COPY`,
  clients: [1],
  rounds: 1,
  targets: COPY3_TARGETS,
  prepare: async (ctx) => {
    await ensureCopyTables(ctx);
    await copyIn(ctx.target.endpoint, COPY_TABLE, await dataFile(ctx, 10), 10);
    await verifyStored(ctx, COPY_TABLE, 1, rowValues(1));
    await dataFile(ctx, ctx.settings.copyRows);
  },
  run: async (ctx) => {
    await ctx.pg.psql(`TRUNCATE ${COPY_TABLE}`, ctx.target.database);
    const file = await dataFile(ctx, ctx.settings.copyRows);
    return withRss(ctx, async () => copyRun(await copyIn(ctx.target.endpoint, COPY_TABLE, file, ctx.settings.copyRows)));
  },
};

const copy3Out: Scenario = {
  name: 'enc-copy3-out',
  description: `COPY ${COPY_TABLE} TO STDOUT of what enc-copy3-in loaded, 3 encrypted columns; rows/s, CPU per row, RSS during the COPY`,
  clients: [1],
  rounds: 1,
  targets: COPY3_TARGETS,
  requires: 'enc-copy3-in',
  prepare: ensureCopyTables,
  run: async (ctx) => withRss(ctx, async () => copyRun(await copyOut(ctx.target.endpoint, COPY_TABLE, ctx.settings.copyRows))),
};

/** A COPY as a run record: throughput in rows/s, "latency" is the whole COPY's duration. */
function copyRun(r: { rows: number; seconds: number }): MeasuredRun {
  const ms = r.seconds * 1000;
  return { tps: r.rows / r.seconds, transactions: r.rows, failed: 0, latencyAvgMs: ms, p50Ms: ms, p99Ms: ms, seconds: r.seconds };
}

/**
 * Two-stage statements (issue 10): upper() of an encrypted column by key (compare with
 * enc-select-* on the same target), and ORDER BY an encrypted column LIMIT 20 over 10,000 and
 * 100,000 candidate rows. On `direct` and `clarus` the same statements run on plain columns.
 */
const upperByKey = (mode: 'prepared' | 'simple'): Scenario => ({
  name: `enc-upper-by-key-${mode}`,
  description: `SELECT id, upper(name) of one row by primary key from ${SELECT_TABLE} (two stages on encrypting targets), -M ${mode}`,
  pgbenchArgs: ['-f', join(SCRIPTS, 'upper-by-key.sql'), '-M', mode, '-D', `rows=${SELECT_ROWS}`],
  clients: [1, 8],
  rounds: 2,
  targets: ENC_TARGETS,
  prepare: async (ctx) => {
    await ensureTables(ctx);
    await verifyStored(ctx, SELECT_TABLE, 1, rowValues(1));
    const r = await withClient(ctx.target.endpoint, (c) => c.query<{ upper: string }>(`SELECT upper(name) FROM ${SELECT_TABLE} WHERE id = 1`));
    if (r.rows[0]?.upper !== rowValues(1).name.toUpperCase()) throw new Error(`${ctx.targetName} computes upper(name) wrongly: ${JSON.stringify(r.rows[0])}`);
  },
});

const orderLimit = (rows: number): Scenario => ({
  name: `enc-order-limit-${rows / 1000}k`,
  description: `SELECT id, name … WHERE id <= ${rows} ORDER BY name, id LIMIT 20 (${rows} candidate rows sorted in the proxy on encrypting targets), -M prepared`,
  pgbenchArgs: ['-f', join(SCRIPTS, 'order-limit.sql'), '-M', 'prepared', '-D', `n=${rows}`],
  clients: [1],
  rounds: 2,
  targets: ENC_TARGETS,
  prepare: async (ctx) => {
    await ensureTables(ctx);
    const sql = `SELECT id, name FROM ${SELECT_TABLE} WHERE id <= 50 ORDER BY name, id LIMIT 20`;
    const seen = await withClient(ctx.target.endpoint, (c) => c.query<{ id: string; name: string }>(sql));
    const expected = Array.from({ length: 50 }, (_, i) => ({ id: String(i + 1), name: rowValues(i + 1).name }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : Number(a.id) - Number(b.id))).slice(0, 20);
    if (JSON.stringify(seen.rows) !== JSON.stringify(expected)) throw new Error(`${ctx.targetName} sorts wrongly: ${JSON.stringify(seen.rows.slice(0, 3))}`);
  },
});

export const ENC_SCENARIOS: Scenario[] = [selectByKey('prepared'), selectByKey('simple'), insert, copyInScenario, copyOutScenario, copy3In, copy3Out,
  upperByKey('prepared'), upperByKey('simple'), orderLimit(10_000), orderLimit(100_000)];
