// `make bench-split` (also run by `make bench`): splitting (issue 12) against the same table
// unsplit, both through a Clarus proxy process (`clarus proxy`, in-proxy stage on) with the same
// protections: the split proxy keeps identity on cloud-a and the clinical columns (encrypted) on
// cloud-b; the unsplit one keeps all of it on one backend. Measures, alternating the two targets
// in every round: reading 10,000 recomposed rows, select-by-key and INSERT (two-phase commit over
// two backends) throughput with CLIENTS concurrent clients. Writes bench/results/split-<date>.md
// and prints it. BENCH_QUICK=1 for a short run.
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

const quick = process.env.BENCH_QUICK === '1';
const ROUNDS = quick ? 2 : 3;
const SECONDS = quick ? 3 : 8;
const CLIENTS = 4;
const ROWS = 10_000;
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

interface Target { name: string; url: string; logs: Array<Record<string, unknown>>; stop(): Promise<void> }

async function startTarget(name: string, clusters: PgCluster[], split: boolean): Promise<Target> {
  const cfg = writeProxyConfig({ backends: clusters.map((cluster, i) => ({ cluster, name: i === 0 ? 'cloud-a' : 'cloud-b', tls: 'disable' as const })),
    users: [{ ...DEFAULT_USER, grants: [{ grant: 'bench', datasets: ['*'], access: 'readWrite', view: 'plaintext' }] }] });
  cfg.write({ ...cfg.config, policy: policy(split) });
  mkdirSync(join(cfg.dir, 'secrets/keyring'), { recursive: true });
  writeFileSync(join(cfg.dir, 'secrets/keyring/default.v1'), randomBytes(32).toString('base64'), { mode: 0o600 });
  const proc = await startProxyProcess(cfg.dir, [], { CLARUS_RESIDUAL: 'on' });
  return { name, url: proc.url(DEFAULT_USER), logs: proc.logs, stop: async () => { await proc.close(); cfg.destroy(); } };
}

async function client(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', (e) => log(`client error: ${e.message}`));
  await c.connect();
  return c;
}

/** Transactions per second of `work` with CLIENTS clients for SECONDS. */
async function tps(url: string, work: (c: pg.Client, i: number) => Promise<unknown>): Promise<number> {
  const cs = await Promise.all(Array.from({ length: CLIENTS }, () => client(url)));
  let n = 0;
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(cs.map(async (c, k) => { for (let i = k; performance.now() < end; i += CLIENTS) { await work(c, i); n++; } }));
  await Promise.all(cs.map((c) => c.end()));
  return n / SECONDS;
}

async function readAll(url: string): Promise<number> {
  const c = await client(url);
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const r = await c.query('SELECT pat_id, pat_name, diagnosis, ward FROM patient WHERE pat_id < $1', [ROWS]);
    times.push(performance.now() - t0);
    if (r.rowCount !== ROWS) throw new Error(`read ${r.rowCount} rows, expected ${ROWS}`);
  }
  await c.end();
  return median(times);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function main(): Promise<void> {
  const started = new Date();
  const load = loadavg()[0]?.toFixed(2) ?? '?';
  const clusters = await Promise.all([startPostgres(), startPostgres(), startPostgres()]);
  const [a, b, single] = clusters as [PgCluster, PgCluster, PgCluster];
  const targets = [await startTarget('split (2 backends)', [a, b], true), await startTarget('unsplit (1 backend)', [single], false)];
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
    const results = new Map<string, { read: number[]; byKey: number[]; insert: number[] }>(targets.map((t) => [t.name, { read: [], byKey: [], insert: [] }]));
    let next = 1_000_000;
    for (let r = 0; r < ROUNDS; r++) {
      for (const t of targets) {
        const m = results.get(t.name) as { read: number[]; byKey: number[]; insert: number[] };
        m.read.push(await readAll(t.url));
        m.byKey.push(await tps(t.url, (c, i) => c.query('SELECT pat_name, diagnosis, ward FROM patient WHERE pat_id = $1', [i % ROWS])));
        m.insert.push(await tps(t.url, (c) => c.query('INSERT INTO patient (pat_id, pat_name, diagnosis, ward) VALUES ($1, $2, $3, $4)', [next++, 'new', 'diag', 'ward'])));
        log(`round ${r + 1}, ${t.name}: read ${m.read.at(-1)?.toFixed(1)} ms, by key ${m.byKey.at(-1)?.toFixed(0)} tps, insert ${m.insert.at(-1)?.toFixed(0)} tps`);
      }
    }
    const [s, u] = targets.map((t) => results.get(t.name)) as [{ read: number[]; byKey: number[]; insert: number[] }, { read: number[]; byKey: number[]; insert: number[] }];
    const row = (what: string, unit: string, sv: number, uv: number, ratio: number, goal: string) => `| ${what} | ${sv.toFixed(1)} ${unit} | ${uv.toFixed(1)} ${unit} | ${ratio.toFixed(2)}× | ${goal} |`;
    const md = [
      `# Splitting benchmark, ${started.toISOString()}`, '',
      `${cpus().length} cores, load average at start ${load}, node ${process.version}; ${ROUNDS} rounds (medians), ${CLIENTS} clients, ${SECONDS} s per throughput run.`,
      'Both targets are `clarus proxy` processes with the in-proxy stage on; same protections (pat_name randomized, diagnosis deterministic, ward in clear); split: pat_id + pat_name on cloud-a, diagnosis + ward on cloud-b.', '',
      '| measure | split | unsplit | split vs unsplit | goal |', '| --- | --- | --- | --- | --- |',
      row(`read ${ROWS} recomposed rows`, 'ms', median(s.read), median(u.read), median(s.read) / median(u.read), '≤ 2× the time'),
      row('select by key', 'tps', median(s.byKey), median(u.byKey), median(s.byKey) / median(u.byKey), 'reported'),
      row('INSERT (2PC over 2 backends)', 'tps', median(s.insert), median(u.insert), median(s.insert) / median(u.insert), 'reported'),
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
