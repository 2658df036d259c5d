// Splitting (issue 12): the proxy's memory and time to recompose ROWS (default 200,000) rows of a
// table split over two backends (`SELECT pat_id, pat_name, ward FROM patient`, a plain projection:
// no engine), through a Clarus proxy process. The rows are loaded straight into each fragment
// (nothing is encrypted: the recomposition is what is measured). Prints the time of each of
// READS reads (and of its first row; the client keeps no row) and the proxy's peak RSS above its
// idle RSS (the process tree's VmRSS, sampled every 20 ms). Run: `node bench/split-recompose.ts`
// (ROWS=…, READS=…).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { DEFAULT_USER, startProxyProcess, writeProxyConfig } from '@clarus/testing/proxy.ts';

const ROWS = Number(process.env.ROWS ?? 200_000);
const READS = Number(process.env.READS ?? 3);
const log = (m: string) => process.stdout.write(`split-recompose: ${m}\n`);

const POLICY: RuntimePolicy = {
  name: 'split-recompose', onUnsupported: 'reject', defaultBackend: 'cloud-a',
  keyring: { dir: 'secrets/keyring', keys: [{ name: 'default', versions: [1], current: 1 }] },
  datasets: [{
    name: 'patients', schema: 'public', table: 'patient', rowKey: 'pat_id', columns: [
      { name: 'pat_id', attributeType: 'technicalIdentifier', backend: 'cloud-a' },
      { name: 'pat_name', attributeType: 'identifier', backend: 'cloud-a' },
      { name: 'ward', attributeType: 'confidential', backend: 'cloud-b' },
    ],
  }],
};

/** Reads `sql` row by row (none kept): the rows counted, the time to the first one. */
function read(c: pg.Client, sql: string, t0: bigint): Promise<{ rows: number; firstMs: number }> {
  return new Promise((resolve, reject) => {
    let rows = 0;
    let firstMs = 0;
    const q = new pg.Query(sql);
    q.on('row', () => { if (rows++ === 0) firstMs = Number(process.hrtime.bigint() - t0) / 1e6; });
    q.on('end', () => resolve({ rows, firstMs }));
    q.on('error', reject);
    void c.query(q);
  });
}

/** The process and its children (found once: sampling must not block this process's reads). */
function tree(pid: number): number[] {
  try { return [pid, ...execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number)]; } catch { return [pid]; }
}

function treeRssKb(pids: readonly number[]): number {
  let kb = 0;
  for (const p of pids) {
    try { kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0); } catch { /* gone */ }
  }
  return kb;
}

async function direct(c: PgCluster): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: c.url(), ssl: { ca: c.caPem } });
  await client.connect();
  return client;
}

async function main(): Promise<void> {
  const clusters = await Promise.all([startPostgres(), startPostgres()]);
  const cfg = writeProxyConfig({ backends: clusters.map((cluster, i) => ({ cluster, name: i === 0 ? 'cloud-a' : 'cloud-b', tls: 'disable' as const })),
    users: [{ ...DEFAULT_USER, grants: [{ grant: 'bench', datasets: ['*'], access: 'readWrite', view: 'plaintext' }] }] });
  cfg.write({ ...cfg.config, policy: POLICY });
  mkdirSync(join(cfg.dir, 'secrets/keyring'), { recursive: true });
  writeFileSync(join(cfg.dir, 'secrets/keyring/default.v1'), randomBytes(32).toString('base64'), { mode: 0o600 });
  const proc = await startProxyProcess(cfg.dir, [], { CLARUS_RESIDUAL: 'on', ...(process.env.PROF ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${process.env.PROF}` } : {}) });
  try {
    const c = new pg.Client({ connectionString: proc.url(DEFAULT_USER) });
    await c.connect();
    await c.query('CREATE TABLE patient (pat_id int PRIMARY KEY, pat_name text, ward text)');
    const [a, b] = await Promise.all(clusters.map(direct)) as [pg.Client, pg.Client];
    await a.query(`INSERT INTO patient (pat_id, pat_name) SELECT g, 'name-' || g || '-' || md5(g::text) FROM generate_series(1, ${ROWS}) g`);
    await b.query(`INSERT INTO patient (pat_id, ward) SELECT g, 'ward-' || (g % 97) || '-' || md5(g::text) FROM generate_series(1, ${ROWS}) g`);
    for (const x of [a, b]) { await x.query('VACUUM ANALYZE patient'); await x.end(); }
    await c.query('SELECT pat_id FROM patient WHERE pat_id = 1');
    await new Promise((r) => setTimeout(r, 500));
    const pids = tree(proc.child.pid as number);
    const idle = treeRssKb(pids);
    for (let i = 0; i < READS; i++) {
      let peak = idle;
      const timer = setInterval(() => { peak = Math.max(peak, treeRssKb(pids)); }, 20);
      const t0 = process.hrtime.bigint();
      const r = await read(c, 'SELECT pat_id, pat_name, ward FROM patient', t0);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      clearInterval(timer);
      if (r.rows !== ROWS) throw new Error(`read ${r.rows} rows, not ${ROWS}`);
      log(`read ${i + 1}: ${ROWS} rows in ${ms.toFixed(0)} ms (first row after ${r.firstMs.toFixed(0)} ms); proxy RSS idle ${(idle / 1024).toFixed(0)} MiB, peak ${(peak / 1024).toFixed(0)} MiB (+${((peak - idle) / 1024).toFixed(0)} MiB)`);
    }
    await c.end();
  } finally {
    await proc.close();
    cfg.destroy();
    for (const c of clusters) await c.destroy();
  }
}

await main();
