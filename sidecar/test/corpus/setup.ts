// Shared setup of the protection integration tests and the statement corpus: a real PostgreSQL,
// the real proxy with the protection pipeline and the eHealth policy, users with different grants,
// and checks of what the backend actually stores (table text incl. hidden columns, and pg_dump).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import type { RuntimeConfig, RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { protectionPipeline } from '../../src/access/setup.ts';
import type { ResidualOptions } from '@clarus/sidecar/access/residual-setup.ts';
import { EHEALTH_POLICY, TEST_KEY_FILES } from '@clarus/testing/rewriter.ts';
import { PG_BIN, SUPERUSER, SUPERUSER_PASSWORD } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { startProxyInProcess, writeProxyConfig } from '@clarus/testing/proxy.ts';
import type { HarnessUser, RunningProxy } from '@clarus/testing/proxy.ts';

const run = promisify(execFile);

export const USERS = {
  doctor: { name: 'doctor', password: 'doctor-pw', grants: [{ grant: 'g1', datasets: ['*'], access: 'readWrite' as const, view: 'plaintext' as const }] },
  analyst: { name: 'analyst', password: 'analyst-pw', grants: [{ grant: 'g2', datasets: ['patients', 'visits'], access: 'read' as const, view: 'masked' as const }] },
  auditor: { name: 'auditor', password: 'auditor-pw', grants: [{ grant: 'g3', datasets: ['patients'], access: 'read' as const, view: 'protected' as const }] },
  expired: { name: 'expired', password: 'expired-pw', grants: [{ grant: 'g4', datasets: ['*'], access: 'readWrite' as const, view: 'plaintext' as const, expires: '2020-01-01T00:00:00Z' }] },
  nobody: { name: 'nobody', password: 'nobody-pw', grants: [] },
} satisfies Record<string, HarnessUser>;

export interface ProtectedEnv {
  proxy: RunningProxy;
  configDir: string;
  auditFile: string;
  /** A client straight to the backend (superuser), bypassing the proxy. */
  backend: pg.Client;
  url(user: HarnessUser): string;
  /** A node-postgres client of `user` through the proxy, connected; ended by close(). */
  client(user: HarnessUser): Promise<pg.Client>;
  /** Rewrites config.json through `change` and reloads the proxy (as SIGHUP would); true when it took. */
  reload(change: (c: RuntimeConfig) => void): boolean;
  close(): Promise<void>;
}

export async function startProtected(cluster: PgCluster, policy: RuntimePolicy = EHEALTH_POLICY, keyFiles: Map<string, string> = TEST_KEY_FILES,
  opts: { residual?: ResidualOptions; limits?: Partial<RuntimeConfig['limits']> } = {}): Promise<ProtectedEnv> {
  const cfg = writeProxyConfig({ backends: [{ cluster }], users: Object.values(USERS), ...(opts.limits ? { limits: opts.limits } : {}) });
  const config = { ...cfg.config, policy: structuredClone(policy) };
  cfg.write(config);
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(cfg.dir, 'secrets/keyring'), { recursive: true });
  for (const [name, text] of keyFiles) writeFileSync(join(cfg.dir, 'secrets/keyring', name), text);
  const scratch = mkdtempSync(join(tmpdir(), 'clarus-audit-'));
  const auditFile = join(scratch, 'audit.jsonl');
  const pipeline = await protectionPipeline({ configDir: cfg.dir, auditFile, ...(opts.residual ? { residual: opts.residual } : {}) });
  const proxy = await startProxyInProcess(cfg.dir, { pipeline, watch: false });
  const backend = new pg.Client({ connectionString: cluster.url() , ssl: { ca: cluster.caPem } });
  await backend.connect();
  const clients: pg.Client[] = [];
  return {
    proxy, auditFile, backend, configDir: cfg.dir,
    url: (u) => proxy.url(u),
    client: async (u) => {
      const c = new pg.Client({ connectionString: proxy.url(u) });
      c.on('error', () => undefined);
      await c.connect();
      clients.push(c);
      return c;
    },
    reload: (change) => reloadConfig(cfg.dir, () => proxy.handle.reload(), change),
    close: async () => {
      for (const c of clients) await c.end().catch(() => undefined);
      await backend.end();
      await proxy.close();
      cfg.destroy();
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}

function reloadConfig(dir: string, reload: () => boolean, change: (c: RuntimeConfig) => void): boolean {
  const file = join(dir, 'config.json');
  const config = JSON.parse(readFileSync(file, 'utf8')) as RuntimeConfig;
  change(config);
  writeFileSync(file, JSON.stringify(config, null, 2));
  return reload();
}

/** Every canary found in the text form of every row (all columns, hidden ones included). */
export async function canariesInTable(backend: pg.Client, table: string, canaries: string[]): Promise<string[]> {
  const r = await backend.query<{ t: string }>(`SELECT t::text AS t FROM ${table} t`);
  const all = r.rows.map((x) => x.t).join('\n');
  const decodedHex = [...all.matchAll(/\\\\x([0-9a-f]+)/g)].map((m) => Buffer.from(m[1] as string, 'hex').toString('latin1')).join('\n');
  return canaries.filter((c) => all.includes(c) || decodedHex.includes(c));
}

/** Every canary found in a plain-format pg_dump of the whole database (data and schema). */
export async function canariesInDump(cluster: PgCluster, canaries: string[]): Promise<string[]> {
  const { stdout } = await run(join(PG_BIN, 'pg_dump'), ['-h', cluster.host, '-p', String(cluster.port), '-U', SUPERUSER, 'postgres'], {
    env: { ...process.env, PGPASSWORD: SUPERUSER_PASSWORD }, maxBuffer: 256 << 20,
  });
  if (!stdout.includes('PostgreSQL database dump')) throw new Error('pg_dump produced no dump');
  return canaries.filter((c) => stdout.includes(c));
}

export const CREATE_PATIENT = `CREATE TABLE patient (
  pat_id integer PRIMARY KEY, pat_name text NOT NULL, pat_ssn varchar(11), pat_zip text, pat_birth date, diagnosis text)`;
export const CREATE_VISIT = 'CREATE TABLE visit (visit_id integer PRIMARY KEY, pat_id integer, reason text, notes text)';
