// `node bench/memory-rest.ts` (issue 15, goal 5): where an encrypting proxy's resident memory goes
// at rest. Starts PostgreSQL and clarus-enc2 (2 encrypted columns), then reads the proxy's RSS
// (/proc/PID/status), /proc/PID/smaps_rollup and its V8 heap / external / ArrayBuffer memory (its
// own /metrics) at start, after a first statement of each kind through one session (simple,
// prepared, COPY FROM STDIN, a two-stage statement) and with MEMORY_IDLE (200) idle sessions,
// plus the backend connections the proxy holds (pg_stat_activity) and whether the in-proxy engine
// (PGlite) or which parser WebAssembly modules are loaded; last, a statement that starts the engine,
// and the RSS after its idle stop (CLARUS_RESIDUAL_IDLE_SECONDS = MEMORY_ENGINE_IDLE, default 10 s),
// twice. Writes bench/results/<date>-memory-rest.md/.json.
// MEMORY_NODE_OPTIONS: the proxy's NODE_OPTIONS; MEMORY_LABEL names the run (file name and title); the
// proxy's environment (MALLOC_*, CLARUS_V8_FLAGS) is this script's.
import { readFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startPostgres } from '@clarus/testing/pg.ts';
import { until } from '@clarus/testing/wait.ts';
import { encryptedTarget } from './lib/enc-target.ts';
import { COPY_TABLE, createTableSql, copyText, DATA_COLUMNS, INSERT_TABLE, SELECT_TABLE, VARIANTS } from './lib/encrypted.ts';
import { openIdle } from './lib/idle.ts';
import { rssMiB } from './lib/procs.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const idleCount = Number(process.env.MEMORY_IDLE ?? 200);
const nodeOptions = process.env.MEMORY_NODE_OPTIONS;
const engineIdle = Number(process.env.MEMORY_ENGINE_IDLE ?? 10);
const label = (process.env.MEMORY_LABEL ?? '').replace(/[^A-Za-z0-9_.-]+/g, '-');
const log = (m: string) => process.stdout.write(`memory-rest: ${m}\n`);
const mib = (b: number | undefined) => Math.round(((b ?? 0) / 1048576) * 10) / 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function metrics(port: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^clarus_(nodejs_heap_size_used_bytes|nodejs_heap_size_total_bytes|nodejs_external_memory_bytes|residual_engine_stops_total)(?:\{[^}]*\})? (\S+)$/gm)) out[m[1] as string] = Number(m[2]);
  return out;
}

function smaps(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').matchAll(/^(Rss|Pss|Anonymous|Private_Clean|Private_Dirty|Shared_Clean):\s+(\d+) kB/gm)) out[m[1] as string] = Math.round(Number(m[2]) / 102.4) / 10;
  return out;
}

/** VmHWM: the highest RSS so far (the parsers' WebAssembly tiering up peaks between two points). */
function peak(pid: number): number {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 102.4) / 10 : 0;
}

/** File-backed mappings by name (shared objects, the node binary) with their RSS, and what PGlite / wasm code shows. */
function mappedFiles(pid: number): string[] {
  const files = new Set<string>();
  for (const l of readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) { const f = l.split(/\s+/)[5]; if (f && f.startsWith('/')) files.add(f); }
  return [...files];
}

interface Point { phase: string; rssMiB: number; peakMiB: number; smaps: Record<string, number>; heapUsedMiB: number; heapTotalMiB: number; externalMiB: number; backendConnections: number }

const cluster = await startPostgres();
const variant = VARIANTS[0] as (typeof VARIANTS)[number];
const target = await encryptedTarget(variant).start(cluster, { maxSessions: idleCount + 10, env: { CLARUS_RESIDUAL_IDLE_SECONDS: String(engineIdle) }, ...(nodeOptions ? { nodeOptions } : {}) });
const pid = target.pid as number;
const points: Point[] = [];
const backends = async () => Number((await cluster.psql(`SELECT count(*) FROM pg_stat_activity WHERE datname = '${variant.database}' AND pid <> pg_backend_pid()`, 'postgres')).trim());
const point = async (phase: string) => {
  await sleep(1000);
  const m = await metrics(target.metricsPort as number).catch(() => ({} as Record<string, number>));
  const p = { phase, rssMiB: Math.round(rssMiB(pid) * 10) / 10, peakMiB: peak(pid), smaps: smaps(pid), heapUsedMiB: mib(m.nodejs_heap_size_used_bytes), heapTotalMiB: mib(m.nodejs_heap_size_total_bytes),
    externalMiB: mib(m.nodejs_external_memory_bytes), backendConnections: await backends() };
  points.push(p);
  log(`${phase}: RSS ${p.rssMiB} MiB (peak so far ${p.peakMiB}; anon ${p.smaps.Anonymous}, file ${(p.smaps.Rss ?? 0) - (p.smaps.Anonymous ?? 0)}), heap ${p.heapUsedMiB}/${p.heapTotalMiB}, external ${p.externalMiB}, backend connections ${p.backendConnections}`);
};
let files: string[] = [];
try {
  await sleep(500);
  await point('at start');
  const e = target.endpoint;
  const c = new pg.Client({ host: e.host, port: e.port, user: e.user, password: e.password, database: e.database });
  await c.connect();
  await point('one session, no statement');
  await c.query('SELECT 1');
  await point('after SELECT 1');
  for (const t of [SELECT_TABLE, INSERT_TABLE, COPY_TABLE]) await c.query(createTableSql(t));
  await point('after CREATE TABLE (3 encrypted tables)');
  await c.query(`INSERT INTO ${SELECT_TABLE} (id, ${DATA_COLUMNS.join(', ')}) SELECT 0, 'n', 'e', 's', 'c', 'd', 'x' WHERE false`);
  await c.query(`SELECT * FROM ${SELECT_TABLE} WHERE id = 1`);
  await point('after a simple SELECT by key');
  await c.query({ name: 'ins', text: `INSERT INTO ${INSERT_TABLE} (id, ${DATA_COLUMNS.join(', ')}) VALUES ($1, $2, $3, $4, $5, $6, $7)`, values: [1, 'a', 'b', 'c', 'd', 'e', 'f'] });
  await c.query({ name: 'sel', text: `SELECT * FROM ${SELECT_TABLE} WHERE id = $1`, values: [1] });
  await point('after prepared INSERT + SELECT');
  await cluster.psql('SELECT 1', 'postgres');
  const { copyIn } = await import('./lib/copy.ts');
  const file = join(tmpdir(), `clarus-memory-rest-${process.pid}.tsv`);
  writeFileSync(file, copyText(1, 1000));
  await copyIn(e, COPY_TABLE, file, 1000);
  await point('after COPY FROM STDIN (1,000 rows)');
  await c.query(`SELECT upper(name) FROM ${COPY_TABLE} WHERE id = 1`);
  await point('after a two-stage SELECT on the fast path (upper(name), no engine)');
  files = mappedFiles(pid);
  const idle = await openIdle(e, idleCount);
  await point(`with ${idleCount} idle sessions`);
  rmSync(file, { force: true });
  await idle.close();
  await point('after the idle sessions closed');
  // Last, as it starts the in-proxy engine (PGlite): GROUP BY a randomized column.
  const grouped = `SELECT name, count(*) FROM ${COPY_TABLE} GROUP BY name ORDER BY name LIMIT 3`;
  const timed = async () => { const t0 = performance.now(); await c.query(grouped); return Math.round(performance.now() - t0); };
  const firstMs = await timed();
  const warmMs = await timed();
  await point(`after a two-stage SELECT through the engine (GROUP BY a randomized column: PGlite; ${firstMs} ms with the engine's start, ${warmMs} ms after)`);
  const stopped = (n: number) => until(`idle stop ${n} of the engine (${engineIdle} s idle)`,
    async () => ((await metrics(target.metricsPort as number)).residual_engine_stops_total ?? 0) >= n, (engineIdle + 60) * 1000, 500);
  await stopped(1);
  await point(`after the engine's idle stop (${engineIdle} s without a two-stage statement)`);
  const againMs = await timed();
  await point(`after the engine started again (that statement: ${againMs} ms)`);
  await stopped(2);
  await point('after its second idle stop');
  await c.end();
} finally {
  await target.stop().catch(() => undefined);
  await cluster.destroy();
}
const stamp = new Date().toISOString().slice(0, 16).replace(':', '') + 'Z';
const base = join(root, 'bench/results', `${stamp}-memory-rest${label ? `-${label}` : ''}`);
mkdirSync(dirname(base), { recursive: true });
const idleP = points.find((p) => p.phase.startsWith('with '));
const before = points.find((p) => p.phase.startsWith('after a two-stage SELECT on the fast path'));
const perConn = idleP && before ? Math.round(((idleP.rssMiB - before.rssMiB) / idleCount) * 1024) : null;
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('MALLOC_') || k === 'CLARUS_V8_FLAGS'));
writeFileSync(`${base}.json`, JSON.stringify({ label, env, nodeOptions: nodeOptions ?? null, loadAverage: loadavg(), points, perConnectionKiB: perConn, files }, null, 1));
writeFileSync(`${base}.md`, [`# RSS of clarus-enc2 at rest (${stamp}${label ? `, ${label}` : ''})`, '',
  `Proxy NODE_OPTIONS: ${nodeOptions ?? 'none'}; environment: ${JSON.stringify(env)} (cli/bin/clarus's defaults for what is unset); load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}. MiB; each point 1 s after the step. Per idle session: ${perConn} KiB.`,
  '',
  '| phase | RSS | peak RSS so far (VmHWM) | anonymous | file-backed | V8 heap used / total | external | backend connections |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...points.map((p) => `| ${p.phase} | ${p.rssMiB} | ${p.peakMiB} | ${p.smaps.Anonymous} | ${Math.round(((p.smaps.Rss ?? 0) - (p.smaps.Anonymous ?? 0)) * 10) / 10} | ${p.heapUsedMiB} / ${p.heapTotalMiB} | ${p.externalMiB} | ${p.backendConnections} |`), ''].join('\n'));
log(`wrote ${base}.md`);
