// `node bench/copy-memory.ts` (issue 15, goals 4 and 5): where an encrypting proxy's memory goes
// during and after a large COPY. Starts PostgreSQL 15 and the clarus-enc3 proxy (3 encrypted
// columns), then COPY FROM STDIN of COPY_MEMORY_ROWS rows (default 1,000,000) and COPY TO STDOUT
// of them with psql, sampling every 250 ms the proxy's RSS (/proc) and its V8 heap, external and
// ArrayBuffer memory (the proxy's own metrics: prom-client's nodejs_* gauges), and its CPU per row.
// Writes bench/results/<date>-copy-memory.md and .json. NODE_OPTIONS / MALLOC_ARENA_MAX given to
// this script reach the proxy (COPY_MEMORY_NODE_OPTIONS: NODE_OPTIONS for the proxy only).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPostgres } from '@clarus/testing/pg.ts';
import { copyIn, copyOut } from './lib/copy.ts';
import { encryptedTarget } from './lib/enc-target.ts';
import { COPY3_VARIANT, COPY_TABLE, copyText, createTableSql } from './lib/encrypted.ts';
import { cpuSeconds, rssMiB } from './lib/procs.ts';
import pg from 'pg';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const rows = Number(process.env.COPY_MEMORY_ROWS ?? 1_000_000);
const nodeOptions = process.env.COPY_MEMORY_NODE_OPTIONS;
const log = (m: string) => process.stdout.write(`copy-memory: ${m}\n`);

interface Sample { s: number; phase: string; rssMiB: number; heapUsedMiB: number; heapTotalMiB: number; externalMiB: number }

async function metrics(port: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^clarus_(nodejs_heap_size_used_bytes|nodejs_heap_size_total_bytes|nodejs_external_memory_bytes|process_resident_memory_bytes)(?:\{[^}]*\})? (\S+)$/gm)) out[m[1] as string] = Number(m[2]);
  return out;
}

const cluster = await startPostgres();
const work = mkdtempSync(join(tmpdir(), 'clarus-copy-memory-'));
const target = await encryptedTarget(COPY3_VARIANT).start(cluster, { maxSessions: 10, ...(nodeOptions ? { nodeOptions } : {}) });
const pid = target.pid as number;
const metricsPort = target.metricsPort as number;
const samples: Sample[] = [];
const t0 = Date.now();
let phase = 'at rest';
const mib = (b: number | undefined) => Math.round(((b ?? 0) / 1048576) * 10) / 10;
const sample = async (): Promise<void> => {
  const m = await metrics(metricsPort).catch(() => ({} as Record<string, number>));
  samples.push({ s: (Date.now() - t0) / 1000, phase, rssMiB: Math.round(rssMiB(pid) * 10) / 10, heapUsedMiB: mib(m.nodejs_heap_size_used_bytes),
    heapTotalMiB: mib(m.nodejs_heap_size_total_bytes), externalMiB: mib(m.nodejs_external_memory_bytes) });
};
const timer = setInterval(() => { void sample(); }, 250);
const runs: Array<{ what: string; seconds: number; cpuUsPerRow: number; rssMaxMiB: number }> = [];
try {
  const e = target.endpoint;
  const c = new pg.Client({ host: e.host, port: e.port, user: e.user, password: e.password, database: e.database });
  await c.connect();
  await c.query(createTableSql(COPY_TABLE));
  await c.end();
  const file = join(work, 'rows.tsv');
  writeFileSync(file, '');
  for (let from = 1; from <= rows; from += 50_000) appendFileSync(file, copyText(from, Math.min(rows, from + 49_999)));
  await new Promise((r) => setTimeout(r, 2000));
  for (const [what, fn] of [['COPY FROM STDIN', () => copyIn(target.endpoint, COPY_TABLE, file, rows)], ['COPY TO STDOUT', () => copyOut(target.endpoint, COPY_TABLE, rows)]] as const) {
    phase = what;
    const from = samples.length;
    const cpu0 = cpuSeconds(pid);
    const r = await fn();
    const cpu = cpuSeconds(pid) - cpu0;
    await sample();
    runs.push({ what, seconds: r.seconds, cpuUsPerRow: Math.round((cpu / rows) * 1e7) / 10, rssMaxMiB: Math.max(...samples.slice(from).map((x) => x.rssMiB)) });
    log(`${what}: ${rows} rows in ${r.seconds.toFixed(1)} s, ${(cpu / rows * 1e6).toFixed(1)} µs proxy CPU per row, RSS at most ${runs[runs.length - 1]?.rssMaxMiB} MiB`);
    phase = `after ${what}`;
    await new Promise((res) => setTimeout(res, 10_000));
  }
} finally {
  clearInterval(timer);
  await target.stop();
  await cluster.destroy();
  rmSync(work, { recursive: true, force: true });
}

const at = (p: string) => samples.filter((x) => x.phase === p);
const last = (p: string) => at(p)[at(p).length - 1];
const max = (p: string, k: keyof Sample) => Math.max(...at(p).map((x) => x[k] as number));
const stamp = new Date(t0).toISOString().slice(0, 16).replace(':', '') + 'Z';
const base = join(root, 'bench/results', `${stamp}-copy-memory`);
mkdirSync(dirname(base), { recursive: true });
writeFileSync(`${base}.json`, JSON.stringify({ rows, nodeOptions: nodeOptions ?? null, mallocArenaMax: process.env.MALLOC_ARENA_MAX ?? null, loadAverage: loadavg(), runs, samples }, null, 1));
const row = (p: string) => {
  const l = last(p);
  return `| ${p} | ${max(p, 'rssMiB')} | ${l?.rssMiB} | ${max(p, 'heapUsedMiB')} / ${l?.heapUsedMiB} | ${max(p, 'heapTotalMiB')} / ${l?.heapTotalMiB} | ${max(p, 'externalMiB')} / ${l?.externalMiB} |`;
};
writeFileSync(`${base}.md`, [
  `# COPY memory of clarus-enc3 (${stamp}, ${rows} rows, 3 encrypted columns)`, '',
  `Proxy NODE_OPTIONS: ${nodeOptions ?? 'none'}; MALLOC_ARENA_MAX: ${process.env.MALLOC_ARENA_MAX ?? 'unset'}; CLARUS_NODE_FLAGS: ${process.env.CLARUS_NODE_FLAGS ?? 'unset'}; load average at the end ${loadavg().map((x) => x.toFixed(1)).join(' ')}.`, '',
  '| COPY | seconds | proxy CPU µs per row | values per CPU-second | RSS at most (MiB) |', '| --- | ---: | ---: | ---: | ---: |',
  ...runs.map((r) => `| ${r.what} | ${r.seconds.toFixed(1)} | ${r.cpuUsPerRow} | ${Math.round(3e6 / r.cpuUsPerRow).toLocaleString('en')} | ${r.rssMaxMiB} |`), '',
  'MiB, sampled every 250 ms: maximum, and the last sample of the phase (V8 heap used and total, external: Buffers outside the heap).', '',
  '| phase | RSS max | RSS last | heap used max / last | heap total max / last | external max / last |', '| --- | ---: | ---: | ---: | ---: | ---: |',
  ...['at rest', 'COPY FROM STDIN', 'after COPY FROM STDIN', 'COPY TO STDOUT', 'after COPY TO STDOUT'].filter((p) => at(p).length).map(row), ''].join('\n'));
log(`wrote ${base}.md`);
