// Real PostgreSQL 15 clusters for tests: initdb into a temporary folder, a free port on 127.0.0.1,
// SCRAM-SHA-256 auth (plus md5/password/trust users for backend-auth tests), TLS with test
// certificates, max_prepared_transactions for 2PC. PostgreSQL refuses to run as root, so when the
// tests run as root the server runs as the `postgres` system user.
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync, appendFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { testPki } from './certs.ts';
import { freePort, isAddressInUse, listenOn } from './ports.ts';

const run = promisify(execFile);
export const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
export const SUPERUSER = 'postgres';
export const SUPERUSER_PASSWORD = 'clarus-test-superuser';

/** Extra login roles created in every cluster, one per backend authentication method. */
export const AUTH_USERS = {
  scram: { user: 'scram_user', password: 'scram-pw' },
  md5: { user: 'md5_user', password: 'md5-pw' },
  password: { user: 'plain_user', password: 'plain-pw' },
  trust: { user: 'trust_user', password: '' },
} as const;

export interface PgCluster {
  host: string;
  port: number;
  dir: string;
  caPem: string;
  url(opts?: { user?: string; password?: string; database?: string }): string;
  /** Runs SQL with psql as the superuser, returns stdout (unaligned, tuples only). */
  psql(sql: string, database?: string): Promise<string>;
  /** Stops the server: immediate shutdown, like a crash. Data dir kept until destroy(). */
  kill(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

export { freePort, listenOn };

const asRoot = process.getuid?.() === 0;
let pgUid = -1;
let pgGid = -1;
function postgresIds(): [number, number] {
  if (pgUid < 0) {
    pgUid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    pgGid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  }
  return [pgUid, pgGid];
}

function asPostgres(cmd: string, args: string[]): [string, string[]] {
  return asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

async function pgRun(bin: string, args: string[]): Promise<string> {
  const [cmd, argv] = asPostgres(join(PG_BIN, bin), args);
  const { stdout } = await run(cmd, argv, { maxBuffer: 64 << 20 });
  return stdout;
}

function own(path: string): void {
  if (!asRoot) return;
  const [uid, gid] = postgresIds();
  chownSync(path, uid, gid);
}

const live = new Set<string>();
process.once('exit', () => {
  for (const data of live) {
    try { const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]); process.kill(pid, 'SIGQUIT'); } catch { /* already gone */ }
  }
});

function writeConfig(dir: string, data: string, port: number): void {
  const pki = testPki();
  writeFileSync(join(data, 'server.crt'), pki.server.certPem);
  writeFileSync(join(data, 'server.key'), pki.server.keyPem);
  writeFileSync(join(data, 'root.crt'), pki.ca.certPem);
  for (const f of ['server.crt', 'server.key', 'root.crt']) { own(join(data, f)); }
  chmodSync(join(data, 'server.key'), 0o600);
  appendFileSync(join(data, 'postgresql.conf'), [
    `listen_addresses = '127.0.0.1'`, `port = ${port}`, `unix_socket_directories = '${dir}'`,
    'max_connections = 300', 'max_prepared_transactions = 20', 'fsync = off',
    'synchronous_commit = off', 'full_page_writes = off', 'ssl = on',
    `ssl_cert_file = 'server.crt'`, `ssl_key_file = 'server.key'`, `ssl_ca_file = 'root.crt'`,
    `password_encryption = 'scram-sha-256'`, 'shared_buffers = 64MB', '',
  ].join('\n'));
  writeFileSync(join(data, 'pg_hba.conf'), [
    'local all all trust',
    `host all ${AUTH_USERS.md5.user} 127.0.0.1/32 md5`,
    `host all ${AUTH_USERS.password.user} 127.0.0.1/32 password`,
    `host all ${AUTH_USERS.trust.user} 127.0.0.1/32 trust`,
    'host all all 127.0.0.1/32 scram-sha-256', '',
  ].join('\n'));
}

async function createAuthUsers(cluster: PgCluster): Promise<void> {
  const q = (s: string) => `'${s.replace(/'/g, "''")}'`;
  await cluster.psql([
    `CREATE ROLE ${AUTH_USERS.scram.user} LOGIN SUPERUSER PASSWORD ${q(AUTH_USERS.scram.password)};`,
    `SET password_encryption = 'md5';`,
    `CREATE ROLE ${AUTH_USERS.md5.user} LOGIN SUPERUSER PASSWORD ${q(AUTH_USERS.md5.password)};`,
    `RESET password_encryption;`,
    `CREATE ROLE ${AUTH_USERS.password.user} LOGIN SUPERUSER PASSWORD ${q(AUTH_USERS.password.password)};`,
    `CREATE ROLE ${AUTH_USERS.trust.user} LOGIN SUPERUSER;`,
  ].join('\n'));
}

/** A fresh cluster on a free port (`firstPort`: the port to try first, for the harness's own test of a taken port). */
export async function startPostgres(opts: { firstPort?: number } = {}): Promise<PgCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'clarus-pg-'));
  chmodSync(dir, 0o755);
  own(dir);
  const data = join(dir, 'data');
  const pwfile = join(dir, 'pw');
  writeFileSync(pwfile, SUPERUSER_PASSWORD);
  own(pwfile);
  await pgRun('initdb', ['-D', data, '-U', SUPERUSER, '-A', 'scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--no-sync', '--locale=C']);
  let port = opts.firstPort ?? await freePort();
  writeConfig(dir, data, port);
  const serverLog = (): string => existsSync(join(dir, 'server.log')) ? readFileSync(join(dir, 'server.log'), 'utf8') : '';
  const cluster: PgCluster = {
    host: '127.0.0.1', port, dir, caPem: testPki().ca.certPem,
    url: (o = {}) => `postgres://${encodeURIComponent(o.user ?? SUPERUSER)}:${encodeURIComponent(o.password ?? SUPERUSER_PASSWORD)}@127.0.0.1:${port}/${o.database ?? 'postgres'}`,
    psql: async (sql, database = 'postgres') => {
      const { stdout } = await run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-At', '-h', dir, '-p', String(port), '-U', SUPERUSER, '-d', database, '-c', sql],
        { maxBuffer: 64 << 20, env: { ...process.env, PGPASSWORD: SUPERUSER_PASSWORD } });
      return stdout;
    },
    start: async () => {
      const logFrom = serverLog().length;
      try {
        await pgRun('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start']);
      } catch (e) {
        // pg_ctl says only "examine the log output": the error carries what the server wrote on
        // this start (its last 20 lines in the message).
        const log = serverLog().slice(logFrom);
        throw Object.assign(e as Error, { message: `${(e as Error).message}\nserver log:\n${log.trim().split('\n').slice(-20).join('\n')}`, serverLog: log });
      }
      live.add(data);
    },
    kill: async () => {
      live.delete(data);
      if (existsSync(join(data, 'postmaster.pid'))) await pgRun('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
    },
    destroy: async () => {
      await cluster.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  // Another process may bind the port between freePort()'s check and the server's start: then the
  // server starts again on another port (a later `port =` line of postgresql.conf wins).
  for (let attempt = 1; ; attempt++) {
    try {
      await cluster.start();
      break;
    } catch (e) {
      // Only this attempt's lines (start() attaches them): an earlier attempt's bind failure must not explain another failure.
      if (attempt >= 3 || !isAddressInUse((e as { serverLog?: string }).serverLog ?? '')) throw e;
      port = await freePort();
      cluster.port = port;
      appendFileSync(join(data, 'postgresql.conf'), `port = ${port}\n`);
    }
  }
  await createAuthUsers(cluster);
  return cluster;
}
