// Residual stage engine measurements (issue 10): startup time and memory of a PGlite instance, and
// the latency of one call (load the candidate rows + run the residual query) for 1, 100, 10,000
// and 100,000 candidate rows, next to (a) a real PostgreSQL 15 on a local socket doing the same
// (COPY into a temporary table in a transaction, query, roll back) — the out-of-process
// alternative — and (b) a sketch of an evaluator of our own for the same few queries (exact only
// for C-locale ASCII case mapping; a lower bound of what such an evaluator costs). Prints markdown
// tables. Run: `node bench/residual.ts` (RESIDUAL_BENCH_QUICK=1 for fewer iterations; the PostgreSQL
// column needs the test harness's PG_BIN). Not part of `make bench` or `make test`.
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { startPostgres, type PgCluster } from '@clarus/testing/pg.ts';
import { ResidualEngine, ResidualPool } from '@clarus/sidecar/residual/engine.ts';
import { copyChunks, newBudget } from '@clarus/sidecar/residual/copy.ts';
import { tableSignature } from '@clarus/sidecar/residual/plan.ts';
import type { ResidualRelation } from '@clarus/sidecar/residual/types.ts';

const QUICK = process.env.RESIDUAL_BENCH_QUICK === '1';
const MiB = 1 << 20;
const rss = () => process.memoryUsage().rss / MiB;
const out = (s: string) => process.stdout.write(s + '\n');

// ------------------------------------------------------------------ data

const SYLLABLES = ['an', 'be', 'ca', 'do', 'el', 'fa', 'gi', 'ho', 'is', 'ju', 'ka', 'lo', 'mé', 'nü', 'ós', 'pe'];
const WARDS = ['cardio', 'neuro', 'onco', 'pedia', 'ortho', 'derma', 'psych', 'uro'];

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; };
}

function makeRows(n: number, seed = 1): string[][] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)] as T;
  return Array.from({ length: n }, (_, i) => {
    const name = Array.from({ length: 2 + Math.floor(r() * 3) }, () => pick(SYLLABLES)).join('');
    const first = r() < 0.5 ? name.charAt(0).toUpperCase() + name.slice(1) : name;
    const born = `19${40 + Math.floor(r() * 60)}-0${1 + Math.floor(r() * 9)}-1${Math.floor(r() * 9)}`;
    return [String(i + 1), first, pick(WARDS), born, (r() * 1000).toFixed(2), '2024-05-01 10:00:00+00'];
  });
}

const COLUMNS = [{ name: 'id', typeOid: 23 }, { name: 'name', typeOid: 25 }, { name: 'ward', typeOid: 1043 }, { name: 'born', typeOid: 1082 },
  { name: 'score', typeOid: 1700 }, { name: 'seen', typeOid: 1184 }];

const QUERIES: Record<string, string> = {
  'load only': 'SELECT 1',
  'upper(name)': 'SELECT id, upper(name) AS u FROM rel',
  "ILIKE 'a%'": "SELECT id, name FROM rel WHERE name ILIKE 'a%'",
  'ORDER BY name LIMIT 20': 'SELECT id, name FROM rel ORDER BY name, id LIMIT 20',
  'GROUP BY ward': 'SELECT ward, count(*), max(name), avg(score) FROM rel GROUP BY ward',
  'row_number() window': 'SELECT id, row_number() OVER (PARTITION BY ward ORDER BY name, id) FROM rel',
};

// ------------------------------------------------------------------ measuring

interface Timing { median: number; p95: number; n: number }

async function measure(f: () => unknown, iterations: number): Promise<Timing> {
  for (let i = 0; i < Math.min(3, iterations); i++) await f();
  const t: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const s = performance.now();
    await f();
    t.push(performance.now() - s);
  }
  t.sort((a, b) => a - b);
  return { median: t[Math.floor(t.length / 2)] as number, p95: t[Math.min(t.length - 1, Math.floor(t.length * 0.95))] as number, n: iterations };
}

const fmt = (ms: number) => (ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0));
const iterationsFor = (rows: number) => (QUICK ? 3 : rows <= 100 ? 200 : rows <= 10_000 ? 20 : 5);

// ------------------------------------------------------------------ own-evaluator sketch

const utf8 = (s: string) => Buffer.from(s, 'utf8');
const asciiUpper = (s: string) => s.replace(/[a-z]+/g, (m) => m.toUpperCase());
const asciiLower = (s: string) => s.replace(/[A-Z]+/g, (m) => m.toLowerCase());

/** The same queries over parsed rows, C-locale semantics for ASCII only (what a small evaluator would do). */
const SKETCH: Record<string, (rows: string[][]) => unknown[]> = {
  'load only': (rows) => rows.map((r) => [Number(r[0])]).slice(0, 1),
  'upper(name)': (rows) => rows.map((r) => [r[0], asciiUpper(r[1] as string)]),
  "ILIKE 'a%'": (rows) => rows.filter((r) => asciiLower(r[1] as string).startsWith('a')).map((r) => [r[0], r[1]]),
  'ORDER BY name LIMIT 20': (rows) => rows.map((r) => ({ id: Number(r[0]), key: utf8(r[1] as string), r }))
    .sort((a, b) => Buffer.compare(a.key, b.key) || a.id - b.id).slice(0, 20).map((x) => [x.r[0], x.r[1]]),
  'GROUP BY ward': (rows) => {
    const g = new Map<string, { n: number; max: Buffer; sum: number }>();
    for (const r of rows) {
      const k = g.get(r[2] as string) ?? { n: 0, max: Buffer.alloc(0), sum: 0 };
      const name = utf8(r[1] as string);
      g.set(r[2] as string, { n: k.n + 1, max: Buffer.compare(name, k.max) > 0 ? name : k.max, sum: k.sum + Number(r[4]) });
    }
    // avg(numeric) would need decimal arithmetic to be exact; a float sum is what a sketch does.
    return [...g].map(([w, k]) => [w, k.n, k.max.toString(), k.sum / k.n]);
  },
  'row_number() window': (rows) => {
    const parts = new Map<string, string[][]>();
    for (const r of rows) {
      const p = parts.get(r[2] as string);
      if (p) p.push(r); else parts.set(r[2] as string, [r]);
    }
    return [...parts.values()].flatMap((p) => p.map((r) => ({ r, key: utf8(r[1] as string) }))
      .sort((a, b) => Buffer.compare(a.key, b.key) || Number(a.r[0]) - Number(b.r[0])).map((x, i) => [x.r[0], i + 1]));
  },
};

// ------------------------------------------------------------------ main

interface Started { inline: ResidualEngine; worker: ResidualEngine; firstMs: number; workerMs: number; rssBase: number; rssOne: number; rssTwo: number }

async function startup(): Promise<Started> {
  const rssBase = rss();
  let s = performance.now();
  const inline = await ResidualEngine.start({ locale: 'c', thread: 'inline' });
  const firstMs = performance.now() - s;
  const rssOne = rss();
  s = performance.now();
  const worker = await ResidualEngine.start({ locale: 'c' });
  const workerMs = performance.now() - s;
  return { inline, worker, firstMs, workerMs, rssBase, rssOne, rssTwo: rss() };
}

/** The same call against a real PostgreSQL over a local connection: COPY in a transaction, query, rollback. */
class NativeResidual {
  private readonly client: pg.Client;
  private constructor(client: pg.Client) { this.client = client; }

  static async start(cluster: PgCluster): Promise<NativeResidual> {
    const client = new pg.Client({ connectionString: cluster.url() });
    await client.connect();
    const rel: ResidualRelation = { name: 'rel', columns: COLUMNS, rows: [] };
    await client.query(`CREATE TEMP TABLE IF NOT EXISTS rel (${tableSignature(rel)})`);
    return new NativeResidual(client);
  }

  async run(rows: string[][], sql: string): Promise<number> {
    await this.client.query('BEGIN');
    const chunks = copyChunks(rows, COLUMNS.length, newBudget(1e9, 1e12));
    await pipeline(Readable.from(chunks), this.client.query(copyFrom('COPY rel FROM STDIN')));
    const r = await this.client.query({ text: sql, rowMode: 'array', types: { getTypeParser: () => (v: string) => v } });
    await this.client.query('ROLLBACK');
    return r.rows.length;
  }

  async close(): Promise<void> { await this.client.end(); }
}

async function latencyTable(s: Started, native: NativeResidual | null, sizes: number[]): Promise<string[]> {
  const lines = ['| query | rows | PGlite worker median ms | PGlite worker p95 ms | PGlite inline median ms | PostgreSQL 15 (local socket) median ms | sketch median ms | result rows |',
    '|---|---:|---:|---:|---:|---:|---:|---:|'];
  for (const n of sizes) {
    const rows = makeRows(n);
    for (const [label, sql] of Object.entries(QUERIES)) {
      const relation: ResidualRelation = { name: 'rel', columns: COLUMNS, rows };
      const call = { relations: [relation], sql, limits: { maxRows: 1_000_000, maxBytes: 1 << 30 } };
      let resultRows = 0;
      const lite = await measure(async () => { resultRows = (await s.worker.run(call)).rows.length; }, iterationsFor(n));
      const inline = await measure(() => s.inline.run(call), iterationsFor(n));
      const real = native === null ? null : await measure(() => native.run(rows, sql), iterationsFor(n));
      const sketch = await measure(() => SKETCH[label]?.(rows), iterationsFor(n));
      lines.push(`| ${label} | ${n} | ${fmt(lite.median)} | ${fmt(lite.p95)} | ${fmt(inline.median)} | ${real === null ? 'n/a' : fmt(real.median)} | ${fmt(sketch.median)} | ${resultRows} |`);
    }
  }
  return lines;
}

/** The longest gap between ticks of a 1 ms timer while calls over 10,000 rows run: what every other session waits. */
async function eventLoopStall(engine: ResidualEngine, calls: number): Promise<number> {
  const call = { relations: [{ name: 'rel', columns: COLUMNS, rows: makeRows(10_000) }], sql: QUERIES['ORDER BY name LIMIT 20'] as string, limits: { maxRows: 1e6, maxBytes: 1 << 30 } };
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => { const now = performance.now(); longest = Math.max(longest, now - last); last = now; }, 1);
  for (let i = 0; i < calls; i++) {
    await engine.run(call);
    await new Promise((r) => setTimeout(r, 5));
  }
  clearInterval(timer);
  return longest;
}

/** RSS and WebAssembly/ArrayBuffer memory of a fresh instance in this thread as calls load more rows. */
async function memoryByLoad(): Promise<string[]> {
  const engine = await ResidualEngine.start({ locale: 'c', thread: 'inline' });
  const lines = ['| after | loaded MiB | RSS MiB | ArrayBuffer (incl. WebAssembly memory) MiB |', '|---|---:|---:|---:|'];
  const mem = () => `${rss().toFixed(0)} | ${(process.memoryUsage().arrayBuffers / MiB).toFixed(0)}`;
  lines.push(`| start | 0 | ${mem()} |`);
  for (const n of QUICK ? [10_000, 100_000] : [10_000, 100_000, 100_000, 300_000]) {
    const r = await engine.run({ relations: [{ name: 'rel', columns: COLUMNS, rows: makeRows(n) }], sql: QUERIES['ORDER BY name LIMIT 20'] as string, limits: { maxRows: 1e7, maxBytes: 1e10 } });
    lines.push(`| a call over ${n} rows | ${(r.loadedBytes / MiB).toFixed(1)} | ${mem()} |`);
  }
  await engine.close();
  return lines;
}

/** Calls per second with `concurrency` calls over 100 rows in flight. */
async function throughput(run: (c: Parameters<ResidualEngine['run']>[0]) => Promise<unknown>, concurrency: number, total: number): Promise<number> {
  const call = { relations: [{ name: 'rel', columns: COLUMNS, rows: makeRows(100) }], sql: QUERIES['upper(name)'] as string, limits: { maxRows: 1e6, maxBytes: 1 << 30 } };
  const start = performance.now();
  let issued = 0;
  const lane = async () => { while (issued < total) { issued += 1; await run(call); } };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return total / ((performance.now() - start) / 1000);
}

async function drift(engine: ResidualEngine, calls: number): Promise<string[]> {
  const rows = makeRows(100);
  const call = { relations: [{ name: 'rel', columns: COLUMNS, rows }], sql: QUERIES['ORDER BY name LIMIT 20'] as string, limits: { maxRows: 1000, maxBytes: 1 << 20 } };
  const lines = ['| calls so far | median ms of the last 500 | RSS MiB |', '|---:|---:|---:|'];
  for (let done = 0; done < calls; done += 500) {
    const t = await measure(() => engine.run(call), 500);
    lines.push(`| ${done + 500} | ${fmt(t.median)} | ${rss().toFixed(0)} |`);
  }
  return lines;
}

async function main(): Promise<void> {
  out(`# Residual engine (PGlite) — node ${process.version}, ${new Date().toISOString()}`);
  const s = await startup();
  out('\n## Startup and memory\n');
  out('| what | value |\n|---|---:|');
  out(`| first instance start, this thread (WebAssembly compile + initdb), ms | ${s.firstMs.toFixed(0)} |`);
  out(`| instance start in a worker thread, ms | ${s.workerMs.toFixed(0)} |`);
  out(`| RSS before, MiB | ${s.rssBase.toFixed(0)} |`);
  out(`| RSS growth, first instance, MiB | ${(s.rssOne - s.rssBase).toFixed(0)} |`);
  out(`| RSS growth, worker-thread instance, MiB | ${(s.rssTwo - s.rssOne).toFixed(0)} |`);
  out('\n## Latency of one call (load + query)\n');
  const sizes = QUICK ? [1, 100, 10_000] : [1, 100, 10_000, 100_000];
  const cluster = await startPostgres().catch((e: Error) => { out(`(no PostgreSQL for the comparison: ${e.message.split('\n')[0]})`); return null; });
  const native = cluster === null ? null : await NativeResidual.start(cluster);
  const before = rss();
  for (const line of await latencyTable(s, native, sizes)) out(line);
  await native?.close();
  await cluster?.destroy();
  out(`\nRSS after the latency runs: ${rss().toFixed(0)} MiB (+${(rss() - before).toFixed(0)} MiB over the runs)`);
  out('\n## Event loop and concurrency\n');
  out('| what | value |\n|---|---:|');
  out(`| longest event-loop stall, 10,000-row calls, this thread, ms | ${(await eventLoopStall(s.inline, 5)).toFixed(0)} |`);
  out(`| longest event-loop stall, 10,000-row calls, worker thread, ms | ${(await eventLoopStall(s.worker, 5)).toFixed(0)} |`);
  const total = QUICK ? 200 : 1000;
  out(`| calls/s, 100 rows, 1 engine (worker), 4 in flight | ${(await throughput((c) => s.worker.run(c), 4, total)).toFixed(0)} |`);
  const pool = await ResidualPool.start(2, { locale: 'c' });
  out(`| calls/s, 100 rows, pool of 2 workers, 4 in flight | ${(await throughput((c) => pool.run(c), 4, total)).toFixed(0)} |`);
  out(`| RSS with 4 instances (2 pool workers), MiB | ${rss().toFixed(0)} |`);
  await pool.close();
  out('\n## Memory of one instance by the size of its calls (a fresh instance in this thread)\n');
  await s.inline.close();
  for (const line of await memoryByLoad()) out(line);
  out('\n## Drift over many calls (100 candidate rows, ORDER BY name LIMIT 20, worker)\n');
  for (const line of await drift(s.worker, QUICK ? 1000 : 5000)) out(line);
  out(`\nengine stats: ${JSON.stringify(s.worker.stats)}`);
  await s.worker.close();
}

await main();
