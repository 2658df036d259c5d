// Real backends for the splitting tests (issue 12): three PostgreSQL clusters (cloud-a is the
// home backend, cloud-b and cloud-c hold fragments), every statement logged (log_statement = all,
// parameters included), and the proxy in process with the protection pipeline and the split
// policy below. `backend(name)` is a superuser client straight to one cluster.
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { protectionPipeline } from '../../src/access/setup.ts';
import { TEST_KEY_FILES } from '@clarus/testing/rewriter.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import { processRunning, processState } from '@clarus/testing/wait.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { startProxyInProcess, startProxyProcess, writeProxyConfig } from '@clarus/testing/proxy.ts';
import type { HarnessUser, ProxyProcess, RunningProxy } from '@clarus/testing/proxy.ts';
import { USERS } from '../corpus/setup.ts';

export const BACKENDS = ['cloud-a', 'cloud-b', 'cloud-c'] as const;
export type BackendName = typeof BACKENDS[number];

const enc = (mode: 'randomized' | 'deterministic', searchable = false) => ({ mode, searchable, keyName: 'default' });

/**
 * Identity on cloud-a (home), clinical data on cloud-b (encrypted), the ward on cloud-c in clear
 * (split alone protects it: no other provider sees it). `visit` is not split.
 */
export const SPLIT_POLICY: RuntimePolicy = {
  name: 'ehealth-split3',
  onUnsupported: 'reject',
  defaultBackend: 'cloud-a',
  keyring: { dir: 'secrets/keyring', keys: [{ name: 'default', versions: [1], current: 1 }] },
  datasets: [{
    name: 'patients', schema: 'public', table: 'patient', rowKey: 'pat_id',
    columns: [
      { name: 'pat_id', attributeType: 'technicalIdentifier', backend: 'cloud-a' },
      { name: 'pat_name', attributeType: 'identifier', encrypt: enc('randomized'), backend: 'cloud-a' },
      { name: 'pat_ssn', attributeType: 'identifier', encrypt: enc('randomized', true), backend: 'cloud-b' },
      { name: 'diagnosis', attributeType: 'confidential', encrypt: enc('deterministic'), backend: 'cloud-b' },
      { name: 'ward', attributeType: 'confidential', backend: 'cloud-c' },
    ],
  }, {
    name: 'visits', schema: 'public', table: 'visit', rowKey: 'visit_id',
    columns: [
      { name: 'visit_id', attributeType: 'technicalIdentifier', backend: 'cloud-a' },
      { name: 'reason', attributeType: 'confidential', encrypt: enc('deterministic'), backend: 'cloud-a' },
    ],
  }],
};

/** The same on two backends: everything clinical (and the ward) on cloud-b. */
export const SPLIT2_POLICY: RuntimePolicy = {
  ...SPLIT_POLICY,
  name: 'ehealth-split2',
  datasets: SPLIT_POLICY.datasets.map((d) => ({ ...d, columns: d.columns.map((c) => (c.backend === 'cloud-c' ? { ...c, backend: 'cloud-b' } : c)) })),
};

export const CREATE_SPLIT_PATIENT = 'CREATE TABLE patient (pat_id serial PRIMARY KEY, pat_name text NOT NULL, pat_ssn text, diagnosis text, ward text, age int)';

export interface SplitEnv {
  clusters: Map<BackendName, PgCluster>;
  names: BackendName[];
  proxy: RunningProxy;
  /** With `process`: the proxy's child process (SIGKILL it, then `restartProxy`). */
  child?: ProxyProcess;
  restartProxy(): Promise<void>;
  configDir: string;
  backend(name: BackendName): pg.Client;
  url(user: HarnessUser): string;
  /** A client through the proxy (connected). */
  client(user?: HarnessUser): Promise<pg.Client>;
  /** The server log of a backend (every statement with its parameters). */
  serverLog(name: BackendName): string;
  /** A new direct client to a backend (after it restarted). */
  reconnect(name: BackendName): Promise<void>;
  close(): Promise<void>;
}

export interface SplitOptions {
  /** 3 (default, SPLIT_POLICY) or 2 (SPLIT2_POLICY). */
  backends?: 2 | 3;
  policy?: RuntimePolicy;
  residual?: boolean;
  /** Run the proxy as a child process (`clarus proxy`) instead of in this process. */
  process?: boolean;
  /** Recovery of in-doubt transactions: grace and interval in seconds. */
  recovery?: { graceSeconds: number; everySeconds: number };
  /** Log every statement on the backends (default true). */
  logStatements?: boolean;
  /** Proxy users besides the corpus USERS. */
  users?: HarnessUser[];
  /** A read-only role on every backend (READ_ONLY_ROLE: SELECT on the tables the superuser makes), for sessions without a readWrite grant. */
  readOnlyRole?: boolean;
}

/** The read-only backend role of `readOnlyRole`. */
export const READ_ONLY_ROLE = { user: 'clarus_split_ro', password: 'ro-pw' };

async function makeReadOnlyRole(c: PgCluster): Promise<void> {
  const db = new pg.Client({ connectionString: c.url(), ssl: { ca: c.caPem } });
  await db.connect();
  try {
    await db.query(`CREATE ROLE ${READ_ONLY_ROLE.user} LOGIN PASSWORD '${READ_ONLY_ROLE.password}';
      GRANT USAGE ON SCHEMA public TO ${READ_ONLY_ROLE.user};
      ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO ${READ_ONLY_ROLE.user}`);
  } finally {
    await db.end();
  }
}

export async function startSplit(opts: SplitOptions = {}): Promise<SplitEnv> {
  const names: BackendName[] = opts.backends === 2 ? ['cloud-a', 'cloud-b'] : [...BACKENDS];
  const list = await Promise.all(names.map(() => startPostgres()));
  const clusters = new Map(names.map((b, i) => [b, list[i] as PgCluster]));
  if (opts.logStatements !== false) for (const c of list) appendFileSync(join(c.dir, 'data', 'postgresql.conf'), "\nlog_statement = 'all'\nlog_min_error_statement = 'info'\nlog_parameter_max_length = -1\n");
  if (opts.readOnlyRole) for (const c of list) await makeReadOnlyRole(c);
  const readOnly = opts.readOnlyRole ? { readOnly: READ_ONLY_ROLE } : {};
  const cfg = writeProxyConfig({ backends: names.map((name) => ({ cluster: clusters.get(name) as PgCluster, name, ...readOnly })), users: [...Object.values(USERS), ...(opts.users ?? [])] });
  cfg.write({ ...cfg.config, policy: structuredClone(opts.policy ?? (opts.backends === 2 ? SPLIT2_POLICY : SPLIT_POLICY)) });
  mkdirSync(join(cfg.dir, 'secrets/keyring'), { recursive: true });
  for (const [name, text] of TEST_KEY_FILES) writeFileSync(join(cfg.dir, 'secrets/keyring', name), text);
  const scratch = mkdtempSync(join(tmpdir(), 'clarus-split-'));
  const recovery = opts.recovery ?? { graceSeconds: 2, everySeconds: 3600 };
  let child: ProxyProcess | undefined;
  let proxy: RunningProxy;
  const startChild = () => startProxyProcess(cfg.dir, [], { CLARUS_RESIDUAL: opts.residual === false ? 'off' : 'on',
    CLARUS_SPLIT_RECOVERY_GRACE_SECONDS: String(recovery.graceSeconds), CLARUS_SPLIT_RECOVERY_INTERVAL_SECONDS: String(recovery.everySeconds) });
  if (opts.process) {
    child = await startChild();
    proxy = child;
  } else {
    const pipeline = await protectionPipeline({ configDir: cfg.dir, auditFile: join(scratch, 'audit.jsonl'), ...(opts.residual === false ? {} : { residual: {} }),
      splitRecovery: recovery });
    proxy = await startProxyInProcess(cfg.dir, { pipeline, watch: false });
  }
  const direct = new Map<BackendName, pg.Client>();
  for (const [name, c] of clusters) {
    const client = new pg.Client({ connectionString: c.url(), ssl: { ca: c.caPem } });
    client.on('error', () => undefined);
    await client.connect();
    await client.query('SELECT pg_reload_conf()');
    direct.set(name, client);
  }
  const opened: pg.Client[] = [];
  const env: SplitEnv = {
    clusters, names, proxy, configDir: cfg.dir,
    ...(child ? { child } : {}),
    restartProxy: async () => {
      if (!opts.process) throw new Error('restartProxy needs { process: true }');
      await env.proxy.close().catch(() => undefined);
      child = await startChild();
      env.child = child;
      env.proxy = child;
    },
    backend: (name) => direct.get(name) as pg.Client,
    reconnect: async (name) => {
      await direct.get(name)?.end().catch(() => undefined);
      const c = clusters.get(name) as PgCluster;
      const client = new pg.Client({ connectionString: c.url(), ssl: { ca: c.caPem } });
      client.on('error', () => undefined);
      await client.connect();
      direct.set(name, client);
    },
    url: (u) => env.proxy.url(u),
    client: async (u = USERS.doctor) => { const c = new pg.Client({ connectionString: env.proxy.url(u) }); c.on('error', () => undefined); await c.connect(); opened.push(c); return c; },
    serverLog: (name) => readFileSync(join((clusters.get(name) as PgCluster).dir, 'server.log'), 'utf8'),
    close: async () => {
      for (const c of opened) await c.end().catch(() => undefined);
      for (const c of direct.values()) await c.end().catch(() => undefined);
      await env.proxy.close();
      for (const c of clusters.values()) await c.destroy();
      cfg.destroy();
      rmSync(scratch, { recursive: true, force: true });
    },
  };
  return env;
}

/**
 * SIGKILL a cluster's postmaster and every process it started (a crash), wait until they are dead,
 * then remove the lock files the killed postmaster left (as an operator does after a crash).
 */
export async function killHard(c: PgCluster): Promise<void> {
  const pidFile = join(c.dir, 'data', 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  const sleep = () => new Promise((r) => setTimeout(r, 25));
  // The postmaster is stopped first so that it cannot fork a backend between the listing of its
  // children and its death: such a backend would outlive it and keep the shared memory attached.
  try { process.kill(pid, 'SIGSTOP'); } catch { return; }
  for (let i = 0; i < 400 && !/^[TtZ]?$/.test(processState(pid)); i++) await sleep();
  const children = (() => { try { return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number); } catch { return []; } })();
  for (const p of [...children, pid]) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
  // A zombie is dead enough (processRunning): PostgreSQL would take its PID in the lock file for a
  // running server, so the lock files go once nothing runs.
  for (let i = 0; i < 800 && [pid, ...children].some(processRunning); i++) await sleep();
  if ([pid, ...children].some(processRunning)) throw new Error(`killHard: processes of the cluster on port ${c.port} still alive`);
  rmSync(pidFile, { force: true });
  rmSync(join(c.dir, `.s.PGSQL.${c.port}.lock`), { force: true });
}

/** Column names of a table on one backend, in order. */
export async function columnsOn(db: pg.Client, table: string): Promise<string[]> {
  const r = await db.query<{ c: string }>('SELECT attname AS c FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum', [table]);
  return r.rows.map((x) => x.c);
}

/** A query read row by row (split streaming tests): the rows, the row count, or the error it ended with. */
export interface Streamed { rows: Array<Record<string, unknown>>; rowCount: number | null; error: (Error & { code?: string }) | null }

/** Runs `sql` with a row callback; `first` runs at the first row (the rows keep coming meanwhile unless it pauses the socket). */
export function streamed(c: pg.Client, sql: string, values: unknown[] | undefined, first?: () => void): Promise<Streamed> {
  return new Promise((resolve) => {
    const out: Streamed = { rows: [], rowCount: null, error: null };
    const q = new pg.Query(sql, values);
    q.on('row', (row: Record<string, unknown>) => { out.rows.push(row); if (out.rows.length === 1) first?.(); });
    q.on('end', (r: pg.QueryResult) => { out.rowCount = r.rowCount; resolve(out); });
    q.on('error', (e: Error) => { out.error = e; resolve(out); });
    void c.query(q);
  });
}

/** The proxy's scans of the home fragment with their cursor open (a FETCH answered, the transaction not ended). */
export async function openScans(env: SplitEnv): Promise<number> {
  const r = await env.backend('cloud-a').query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'idle in transaction' AND query LIKE 'FETCH%'");
  return r.rows[0]?.n ?? 0;
}

/** COPY … FROM STDIN of `text` through `c`: the row count the server reports. */
export async function copyIn(c: pg.Client, sql: string, text: string): Promise<number> {
  const stream = c.query(copyFrom(sql));
  await pipeline(Readable.from([Buffer.from(text, 'utf8')]), stream);
  return stream.rowCount ?? -1;
}

/** COPY … TO STDOUT through `c`: the text it sends. */
export async function copyOut(c: pg.Client, sql: string): Promise<string> {
  const chunks: Buffer[] = [];
  await pipeline(c.query(copyTo(sql)), new Writable({ write(chunk: Buffer, _e, cb) { chunks.push(chunk); cb(); } }));
  return Buffer.concat(chunks).toString('utf8');
}
