// Where a client suite or a benchmark connects: a real PostgreSQL directly, or the Clarus proxy in
// front of it. Shared by compat/run.ts and bench/run.ts so both exercise the proxy the same way.
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PgCluster } from './pg.ts';
import { AUTH_USERS } from './pg.ts';

export interface Endpoint {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /** libpq sslmode the client should use (verify-full whenever a CA is given). */
  sslmode: 'disable' | 'require' | 'verify-full';
  /** PEM file of the CA that signed the server certificate, when TLS is on. */
  caFile?: string;
}

/** A running Clarus proxy: its client endpoint, its process id (for RSS) and how to stop it. */
export interface ProxyHandle {
  endpoint: Endpoint;
  pid: number | undefined;
  stop(): Promise<void>;
}

/** Thrown when the proxy cannot be started here (not built yet, or it failed to come up). */
export class ProxyUnavailable extends Error {}

/** Writes the cluster's CA to a file the non-Node clients can read. */
export function writeCa(cluster: PgCluster): { file: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'clarus-ca-'));
  const file = join(dir, 'ca.crt');
  writeFileSync(file, cluster.caPem);
  return { file, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The backend as the proxy's own service account sees it (SCRAM, TLS verified). */
export function directEndpoint(cluster: PgCluster, caFile: string, database = 'postgres'): Endpoint {
  return {
    host: cluster.host, port: cluster.port, database,
    user: AUTH_USERS.scram.user, password: AUTH_USERS.scram.password,
    sslmode: 'verify-full', caFile,
  };
}

/** Environment variables for a suite: PREFIX_HOST, _PORT, _USER, _PASSWORD, _DATABASE, _SSLMODE, _SSLROOTCERT. */
export function endpointEnv(prefix: string, e: Endpoint): Record<string, string> {
  return {
    [`${prefix}_HOST`]: e.host,
    [`${prefix}_PORT`]: String(e.port),
    [`${prefix}_USER`]: e.user,
    [`${prefix}_PASSWORD`]: e.password,
    [`${prefix}_DATABASE`]: e.database,
    [`${prefix}_SSLMODE`]: e.sslmode,
    [`${prefix}_SSLROOTCERT`]: e.caFile ?? '',
  };
}

/** libpq-style key/value connection string (psql, pgbench). */
export function libpqConninfo(e: Endpoint): string {
  const q = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const parts = [`host=${q(e.host)}`, `port=${e.port}`, `user=${q(e.user)}`, `dbname=${q(e.database)}`, `sslmode=${e.sslmode}`];
  if (e.caFile) parts.push(`sslrootcert=${q(e.caFile)}`);
  return parts.join(' ');
}
