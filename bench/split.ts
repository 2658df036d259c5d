// `make bench-split` (also run by `make bench`): splitting (issue 12) against the same table
// unsplit, both through a Clarus proxy process (`clarus proxy`, in-proxy stage on) with the same
// protections: the split proxy keeps identity on cloud-a and the clinical columns (encrypted) on
// cloud-b; the unsplit one keeps all of it on one backend. Measures, alternating the two targets
// in every round: reading 10,000 recomposed rows, select-by-key and INSERT (two-phase commit over
// two backends) throughput with CLIENTS concurrent clients. Writes bench/results/split-<date>.md
// and prints it, with the proxy process's CPU per operation (/proc, its process tree: the machine is
// shared, so CPU per read is steadier than wall time). BENCH_QUICK=1 for a short run;
// BENCH_PARTS=read (a comma list of read, bykey, insert) measures only those. BENCH_AB=<another
// checkout> adds a third target in every round: that tree's proxy over the same two backends and
// keyring (an A/B of two versions of the split code in the same minutes).
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { DEFAULT_USER, startProxyProcess, writeProxyConfig } from '@clarus/testing/proxy.ts';
import { cpuSeconds } from './lib/procs.ts';

const quick = process.env.BENCH_QUICK === '1';
const ROUNDS = quick ? 2 : 3;
const SECONDS = quick ? 3 : 8;
const CLIENTS = 4;
const ROWS = 10_000;
const PARTS = new Set((process.env.BENCH_PARTS ?? 'read,bykey,insert').split(','));
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const log = (m: string) => process.stdout.write(`bench-split: ${m}\n`);

const enc = (mode: 'randomized' | 'deterministic') => ({ mode, searchable: false, keyName: 'default' });
function policy(split: boolean): RuntimePolicy {
  const side = split ? 'cloud-b' : 'cloud-a';
  return {
    name: split ? 'split' : 'unsplit', onUnsupported: 'reject', defaultBackend: 'cloud-a',
    keyring: { dir: 'secrets/keyring', keys: [{ name: 'default', versions: [1], current: 1 }] },
    datasets: [{
      name: 'patients', schema: 'public', table: 'patient', rowKey: 'pat_id', columns: [
        { name: 'pat_id', attributeType: 'technicalIdentifier', backend: 'cloud-a' },
        { name: 'pat_name', attributeType: 'identifier', encrypt: enc('randomized'), backend: 'cloud-a' },
        { name: 'diagnosis', attributeType: 'confidential', encrypt: enc('deterministic'), backend: side },
        { name: 'ward', attributeType: 'confidential', backend: side },
      ],
    }],
  };
}

interface Target { name: string; url: string; pid: number; logs: Array<Record<string, unknown>>; stop(): Promise<void> }

const AB = process.env.BENCH_AB;

async function startTarget(name: string, clusters: PgCluster[], split: boolean): Promise<Target & { configDir: string }> {
  const cfg = writeProxyConfig({ backends: clusters.map((cluster, i) => ({ cluster, name: i === 0 ? 'cloud-a' : 'cloud-b', tls: 'disable' as const })),
    users: [{ ...DEFAULT_USER, grants: [{ grant: 'bench', datasets: ['*'], access: 'readWrite', view: 'plaintext' }] }] });
  cfg.write({ ...cfg.config, policy: policy(split) });
  mkdirSync(join(cfg.dir, 'secrets/keyring'), { recursive: true });
  writeFileSync(join(cfg.dir, 'secrets/keyring/default.v1'), randomBytes(32).toString('base64'), { mode: 0o600 });
  const proc = await startProxyProcess(cfg.dir, [], { CLARUS_RESIDUAL: 'on' });
  return { name, url: proc.url(DEFAULT_USER), pid: proc.child.pid as number, logs: proc.logs, configDir: cfg.dir, stop: async () => { await proc.close(); cfg.destroy(); } };
}

/** Another tree's proxy with the configuration (backends, keyring) of `like`. */
async function startOther(name: string, like: Target & { configDir: string }, root: string): Promise<Target> {
  const proc = await startProxyProcess(like.configDir, [], { CLARUS_RESIDUAL: 'on' }, join(root, 'cli/bin/clarus'));
  return { name, url: proc.url(DEFAULT_USER), pid: proc.child.pid as number, logs: proc.logs, stop: () => proc.close() };
}

async function client(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', (e) => log(`client error: ${e.message}`));
  await c.connect();
  return c;
}

/** A measure and the proxy's CPU (ms) per operation over the same run. */
interface Measured { value: number; cpuMs: number }

/** Transactions per second of `work` with CLIENTS clients for SECONDS, and the proxy's CPU per transaction. */
async function tps(t: Target, work: (c: pg.Client, i: number) => Promise<unknown>): Promise<Measured> {
  const cs = await Promise.all(Array.from({ length: CLIENTS }, () => client(t.url)));
  let n = 0;
  const cpu0 = cpuSeconds(t.pid, true);
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(cs.map(async (c, k) => { for (let i = k; performance.now() < end; i += CLIENTS) { await work(c, i); n++; } }));
  const cpu = cpuSeconds(t.pid, true) - cpu0;
  await Promise.all(cs.map((c) => c.end()));
  return { value: n / SECONDS, cpuMs: (cpu * 1000) / Math.max(n, 1) };
}

/** The median time (ms) of 5 reads of ROWS rows, and the proxy's CPU per read. */
async function readAll(t: Target): Promise<Measured> {
  const c = await client(t.url);
  const times: number[] = [];
  const cpu0 = cpuSeconds(t.pid, true);
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const r = await c.query('SELECT pat_id, pat_name, diagnosis, ward FROM patient WHERE pat_id < $1', [ROWS]);
    times.push(performance.now() - t0);
    if (r.rowCount !== ROWS) throw new Error(`read ${r.rowCount} rows, expected ${ROWS}`);
  }
  const cpu = cpuSeconds(t.pid, true) - cpu0;
  await c.end();
  return { value: median(times), cpuMs: (cpu * 1000) / 5 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function main(): Promise<void> {
  const started = new Date();
  const load = loadavg()[0]?.toFixed(2) ?? '?';
  const clusters = await Promise.all([startPostgres(), startPostgres(), startPostgres()]);
  const [a, b, single] = clusters as [PgCluster, PgCluster, PgCluster];
  const split = await startTarget('split (2 backends)', [a, b], true);
  const targets: Target[] = [split, await startTarget('unsplit (1 backend)', [single], false)];
  try {
    for (const t of targets) {
      const c = await client(t.url);
      await c.query('CREATE TABLE patient (pat_id int PRIMARY KEY, pat_name text, diagnosis text, ward text)');
      await c.query('BEGIN');
      for (let i = 0; i < ROWS; i += 500) {
        const values: string[] = [];
        for (let k = i; k < i + 500; k++) values.push(`(${k}, 'name ${k}', 'diag ${k % 20}', 'ward ${k % 7}')`);
        await c.query(`INSERT INTO patient (pat_id, pat_name, diagnosis, ward) VALUES ${values.join(', ')}`);
      }
      await c.query('COMMIT');
      await c.end();
      log(`${t.name}: ${ROWS} rows loaded`);
    }
    // The other tree's proxy reads the rows loaded through this one (same backends, same keyring); stopped before the split one.
    if (AB) targets.unshift(await startOther(`split, ${AB}`, split, AB));
    type Runs = Record<'read' | 'byKey' | 'insert', Measured[]>;
    const results = new Map<string, Runs>(targets.map((t) => [t.name, { read: [], byKey: [], insert: [] }]));
    let next = 1_000_000;
    const fmt = (m: Measured | undefined, unit: string) => (m ? `${m.value.toFixed(1)} ${unit} (${m.cpuMs.toFixed(2)} ms CPU)` : '-');
    for (let r = 0; r < ROUNDS; r++) {
      for (const t of targets) {
        const m = results.get(t.name) as Runs;
        if (PARTS.has('read')) m.read.push(await readAll(t));
        if (PARTS.has('bykey')) m.byKey.push(await tps(t, (c, i) => c.query('SELECT pat_name, diagnosis, ward FROM patient WHERE pat_id = $1', [i % ROWS])));
        if (PARTS.has('insert')) m.insert.push(await tps(t, (c) => c.query('INSERT INTO patient (pat_id, pat_name, diagnosis, ward) VALUES ($1, $2, $3, $4)', [next++, 'new', 'diag', 'ward'])));
        log(`round ${r + 1}, ${t.name}: read ${fmt(m.read.at(-1), 'ms')}, by key ${fmt(m.byKey.at(-1), 'tps')}, insert ${fmt(m.insert.at(-1), 'tps')}`);
      }
    }
    const [s, u] = [split, targets.at(-1) as Target].map((t) => results.get(t.name)) as [Runs, Runs];
    const o = AB ? results.get((targets[0] as Target).name) as Runs : null;
    const med = (ms: Measured[]) => ({ value: median(ms.map((m) => m.value)), cpuMs: median(ms.map((m) => m.cpuMs)) });
    const row = (what: string, unit: string, key: keyof Runs, goal: string) => {
      if (s[key].length === 0) return [];
      const [sv, uv] = [med(s[key]), med(u[key])];
      return [`| ${what} | ${sv.value.toFixed(1)} ${unit} | ${uv.value.toFixed(1)} ${unit} | ${(sv.value / uv.value).toFixed(2)}× | ${goal} | ${sv.cpuMs.toFixed(2)} / ${uv.cpuMs.toFixed(2)} ms (${(sv.cpuMs / uv.cpuMs).toFixed(2)}×) |`];
    };
    const all = (key: keyof Runs) => `${key}: split ${s[key].map((m) => m.value.toFixed(1)).join(', ')}; unsplit ${u[key].map((m) => m.value.toFixed(1)).join(', ')}`;
    const md = [
      `# Splitting benchmark, ${started.toISOString()}`, '',
      `${cpus().length} cores, load average at start ${load}, node ${process.version}; ${ROUNDS} rounds (medians), ${CLIENTS} clients, ${SECONDS} s per throughput run.`,
      'Both targets are `clarus proxy` processes with the in-proxy stage on; same protections (pat_name randomized, diagnosis deterministic, ward in clear); split: pat_id + pat_name on cloud-a, diagnosis + ward on cloud-b.',
      'Proxy CPU: user + system time of the proxy process per operation (a read: 10,000 rows), split / unsplit.', '',
      '| measure | split | unsplit | split vs unsplit | goal | proxy CPU per operation |', '| --- | --- | --- | --- | --- | --- |',
      ...row(`read ${ROWS} recomposed rows`, 'ms', 'read', '≤ 2× the time'),
      ...row('select by key', 'tps', 'byKey', 'reported'),
      ...row('INSERT (2PC over 2 backends)', 'tps', 'insert', 'reported'),
      '', 'Every round:', '', ...(['read', 'byKey', 'insert'] as const).filter((k) => s[k].length > 0).map((k) => `- ${all(k)}`),
      ...(o ? ['', `A/B: the split proxy of ${AB} in the same rounds (medians; proxy CPU per operation):`, '',
        ...(['read', 'byKey', 'insert'] as const).filter((k) => o[k].length > 0).map((k) => `- ${k}: ${med(o[k]).value.toFixed(1)} (${med(o[k]).cpuMs.toFixed(2)} ms CPU) against this tree's ${med(s[k]).value.toFixed(1)} (${med(s[k]).cpuMs.toFixed(2)} ms CPU); every round: ${o[k].map((m) => m.value.toFixed(1)).join(', ')}`)] : []),
      '',
    ].join('\n');
    const dir = join(root, 'bench/results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `split-${started.toISOString().slice(0, 16).replace(':', '')}Z.md`);
    writeFileSync(file, `${md}\n`);
    process.stdout.write(`${md}\nbench-split: wrote ${file}\n`);
  } catch (e) {
    for (const t of targets) log(`${t.name} proxy log: ${JSON.stringify(t.logs.slice(-8))}`);
    throw e;
  } finally {
    for (const t of targets) await t.stop().catch(() => undefined);
    for (const c of clusters) await c.destroy().catch(() => undefined);
  }
}

await main();
