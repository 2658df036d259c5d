// Real backends for the splitting tests (issue 12): three PostgreSQL clusters (cloud-a is the
// home backend, cloud-b and cloud-c hold fragments), every statement logged (log_statement = all,
// parameters included), and the proxy in process with the protection pipeline and the split
// policy below. `backend(name)` is a superuser client straight to one cluster.
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { protectionPipeline } from '../../src/access/setup.ts';
import { TEST_KEY_FILES } from '@clarus/testing/rewriter.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { startProxyInProcess, writeProxyConfig } from '@clarus/testing/proxy.ts';
import type { HarnessUser, RunningProxy } from '@clarus/testing/proxy.ts';
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

export const CREATE_SPLIT_PATIENT = 'CREATE TABLE patient (pat_id serial PRIMARY KEY, pat_name text NOT NULL, pat_ssn text, diagnosis text, ward text, age int)';

export interface SplitEnv {
  clusters: Map<BackendName, PgCluster>;
  proxy: RunningProxy;
  configDir: string;
  backend(name: BackendName): pg.Client;
  url(user: HarnessUser): string;
  /** A client through the proxy (connected). */
  client(user?: HarnessUser): Promise<pg.Client>;
  /** The server log of a backend (every statement with its parameters). */
  serverLog(name: BackendName): string;
  close(): Promise<void>;
}

export async function startSplit(opts: { policy?: RuntimePolicy; residual?: boolean } = {}): Promise<SplitEnv> {
  const list = await Promise.all(BACKENDS.map(() => startPostgres()));
  const clusters = new Map(BACKENDS.map((b, i) => [b, list[i] as PgCluster]));
  for (const c of list) appendFileSync(join(c.dir, 'data', 'postgresql.conf'), "\nlog_statement = 'all'\nlog_min_error_statement = 'info'\nlog_parameter_max_length = -1\n");
  const cfg = writeProxyConfig({ backends: BACKENDS.map((name) => ({ cluster: clusters.get(name) as PgCluster, name })), users: Object.values(USERS) });
  cfg.write({ ...cfg.config, policy: structuredClone(opts.policy ?? SPLIT_POLICY) });
  mkdirSync(join(cfg.dir, 'secrets/keyring'), { recursive: true });
  for (const [name, text] of TEST_KEY_FILES) writeFileSync(join(cfg.dir, 'secrets/keyring', name), text);
  const scratch = mkdtempSync(join(tmpdir(), 'clarus-split-'));
  const pipeline = await protectionPipeline({ configDir: cfg.dir, auditFile: join(scratch, 'audit.jsonl'), ...(opts.residual === false ? {} : { residual: {} }),
    splitRecovery: { graceSeconds: 2, everySeconds: 3600 } });
  const proxy = await startProxyInProcess(cfg.dir, { pipeline, watch: false });
  const direct = new Map<BackendName, pg.Client>();
  for (const [name, c] of clusters) {
    const client = new pg.Client({ connectionString: c.url(), ssl: { ca: c.caPem } });
    await client.connect();
    await client.query('SELECT pg_reload_conf()');
    direct.set(name, client);
  }
  const opened: pg.Client[] = [];
  return {
    clusters, proxy, configDir: cfg.dir,
    backend: (name) => direct.get(name) as pg.Client,
    url: (u) => proxy.url(u),
    client: async (u = USERS.doctor) => { const c = new pg.Client({ connectionString: proxy.url(u) }); await c.connect(); opened.push(c); return c; },
    serverLog: (name) => readFileSync(join((clusters.get(name) as PgCluster).dir, 'server.log'), 'utf8'),
    close: async () => {
      for (const c of opened) await c.end().catch(() => undefined);
      for (const c of direct.values()) await c.end().catch(() => undefined);
      await proxy.close();
      for (const c of clusters.values()) await c.destroy();
      cfg.destroy();
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}

/** Column names of a table on one backend, in order. */
export async function columnsOn(db: pg.Client, table: string): Promise<string[]> {
  const r = await db.query<{ c: string }>('SELECT attname AS c FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum', [table]);
  return r.rows.map((x) => x.c);
}
