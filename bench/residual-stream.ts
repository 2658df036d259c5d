// Streaming of row-local two-stage statements (issue 10): time to the first row, total time and the
// proxy's peak memory for a projection and filter computed in the proxy over 200,000 candidate rows,
// streamed (`SELECT visit_id, upper(notes) … WHERE notes LIKE …`) and buffered (the same statement
// with `LIMIT 1000000`, which is not row-local and takes the path every statement took before:
// all candidate rows held, one engine call). Each variant runs in a proxy process of its own
// (`clarus proxy`, the engine started by a small statement first), the client discards rows as they
// come; the rows are loaded by a proxy process of their own first, and the proxy's RSS is sampled
// every 20 ms during the statement. Run: `node bench/residual-stream.ts` (RESIDUAL_STREAM_ROWS to change 200,000). Not part of
// `make bench` or `make test`; prints a markdown table.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { startPostgres } from '@clarus/testing/pg.ts';
import { DEFAULT_USER, startProxyProcess, writeProxyConfig } from '@clarus/testing/proxy.ts';
import { EHEALTH_POLICY, TEST_KEY_FILES } from '@clarus/testing/rewriter.ts';
import { serverPid } from './lib/procs.ts';

const ROWS = Number(process.env.RESIDUAL_STREAM_ROWS ?? 200_000);
const RUNS = 3;
const out = (s: string) => process.stdout.write(s + '\n');
const status = (pid: number, field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

const STREAMED = "SELECT visit_id, upper(notes) AS n FROM visit WHERE notes LIKE '%canary%'";
const VARIANTS = { streamed: STREAMED, 'buffered (before)': `${STREAMED} LIMIT 1000000` };

interface Result { firstMs: number; totalMs: number; rows: number; baseMiB: number; peakMiB: number }

/** Runs `sql`, discarding rows: time to the first row and to the end. */
function timed(c: pg.Client, sql: string): Promise<{ firstMs: number; totalMs: number; rows: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let first = -1;
    let rows = 0;
    const q = c.query(new pg.Query(sql));
    q.on('row', () => { if (first < 0) first = performance.now() - t0; rows++; });
    q.on('error', reject);
    q.on('end', () => resolve({ firstMs: first, totalMs: performance.now() - t0, rows }));
  });
}

/** The 200,000 rows, written through the proxy (a computed INSERT … SELECT, 50,000 rows at a time). */
async function load(c: pg.Client): Promise<void> {
  await c.query('CREATE TABLE visit (visit_id integer PRIMARY KEY, pat_id integer, reason text, notes text)');
  for (let k = 0; k < ROWS; k += 50_000) {
    await c.query(`INSERT INTO visit (visit_id, pat_id, reason, notes) SELECT g, g % 40, 'r' || g, 'note ' || g || ' lee-canary' FROM generate_series(${k + 1}, ${Math.min(ROWS, k + 50_000)}) g`);
  }
}

/** One variant, three runs: median times, the proxy's RSS before and its peak during the runs (sampled every 20 ms). */
async function measureVariant(c: pg.Client, pid: number, sql: string): Promise<Result> {
  // The engine starts with the first two-stage statement.
  await c.query('SELECT upper(notes) FROM visit WHERE visit_id = 1');
  const baseMiB = status(pid, 'VmRSS');
  let peakMiB = baseMiB;
  // Sampled during the statement (VmHWM would also hold the engine's start-up peak).
  const sampler = setInterval(() => { peakMiB = Math.max(peakMiB, status(pid, 'VmRSS')); }, 20);
  const runs: Array<Awaited<ReturnType<typeof timed>>> = [];
  for (let i = 0; i < RUNS; i++) runs.push(await timed(c, sql));
  clearInterval(sampler);
  const median = (k: 'firstMs' | 'totalMs'): number => (runs.map((x) => x[k]).sort((a, b) => a - b)[Math.floor(RUNS / 2)] as number);
  return { rows: runs[0]?.rows ?? 0, firstMs: median('firstMs'), totalMs: median('totalMs'), baseMiB, peakMiB: Math.max(peakMiB, status(pid, 'VmRSS')) };
}

/** Runs `f` with a client of a proxy process of its own (`clarus proxy` on `configDir`). */
async function withProxy<T>(configDir: string, f: (c: pg.Client, pid: number) => Promise<T>): Promise<T> {
  const proc = await startProxyProcess(configDir, [], { CLARUS_RESIDUAL: 'on' });
  const c = new pg.Client({ host: proc.host, port: proc.port, database: 'postgres', user: DEFAULT_USER.name, password: DEFAULT_USER.password });
  try {
    await c.connect();
    return await f(c, serverPid(proc.child.pid as number));
  } finally {
    await c.end().catch(() => undefined);
    await proc.close();
  }
}

async function main(): Promise<void> {
  const cluster = await startPostgres();
  const cfg = writeProxyConfig({ backends: [{ cluster, name: 'cloud-a', tls: 'disable' }], users: [{ ...DEFAULT_USER, grants: [{ grant: 'bench', datasets: ['*'], access: 'readWrite', view: 'plaintext' }] }],
    limits: { computeMaxRows: ROWS + 1000, computeMaxBytes: 256 << 20 } });
  cfg.config.policy = structuredClone(EHEALTH_POLICY);
  cfg.write(cfg.config);
  mkdirSync(join(cfg.dir, 'secrets/keyring'), { recursive: true });
  for (const [name, text] of TEST_KEY_FILES) writeFileSync(join(cfg.dir, 'secrets/keyring', name), text);
  const results: Record<string, Result> = {};
  try {
    await withProxy(cfg.dir, (c) => load(c));
    for (const [name, sql] of Object.entries(VARIANTS)) results[name] = await withProxy(cfg.dir, (c, pid) => measureVariant(c, pid, sql));
  } finally {
    cfg.destroy();
    await cluster.destroy();
  }
  out(`\n${ROWS.toLocaleString('en')} candidate rows, \`${STREAMED}\`\n`);
  out('| path | rows | first row (ms, median of 3) | total (ms, median of 3) | proxy RSS before (MiB) | proxy peak RSS during it (MiB) |');
  out('|---|---:|---:|---:|---:|---:|');
  for (const [name, r] of Object.entries(results)) out(`| ${name} | ${r.rows} | ${r.firstMs.toFixed(0)} | ${r.totalMs.toFixed(0)} | ${r.baseMiB.toFixed(0)} | ${r.peakMiB.toFixed(0)} |`);
}

await main();
