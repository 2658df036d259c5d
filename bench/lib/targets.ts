// The endpoints a benchmark compares: PostgreSQL directly, PgBouncer in session mode, and the
// Clarus proxy. Each target starts in front of the same cluster and reports its server pid (RSS).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AUTH_USERS, freePort, type PgCluster } from '@clarus/testing/pg.ts';
import type { RuntimeConfig } from '@clarus/policy/runtime/config.ts';
import type { Endpoint } from '@clarus/testing/endpoint.ts';
import { startClarus } from '@clarus/testing/clarus-process.ts';
import { serverPid } from './procs.ts';

export interface RunningTarget {
  endpoint: Endpoint;
  pid: number | undefined;
  /** The backend database the target stores into (where the harness checks what is stored). */
  database: string;
  /** Columns of the benchmark tables the target's policy encrypts (none: pass-through). */
  encrypted: readonly string[];
  /** CPU and RSS are the sum over the process and its descendants (a proxy with worker processes). */
  tree?: boolean;
  /** The proxy's metrics port (Clarus targets). */
  metricsPort?: number;
  stop(): Promise<void>;
}

export interface Target {
  name: string;
  description: string;
  start(pg: PgCluster, opts: TargetOptions): Promise<RunningTarget>;
}

export interface TargetOptions {
  /** Sessions that must fit at once (largest client count, or the idle connections of the RSS test). */
  maxSessions: number;
  /** Extra environment for a Node-based target (e.g. NODE_OPTIONS=--cpu-prof). */
  nodeOptions?: string;
  /** Scenario additions to the proxy's runtime configuration. */
  configureProxy?: (config: RuntimeConfig) => void;
  /** The `clarus` executable of another checkout (bench/enc-ab.ts: the proxy before a change). */
  bin?: string;
  /** More environment for a Clarus target (bench/enc-ab.ts AB_B_ENV). */
  env?: Record<string, string>;
  /** PgBouncer and the pass-through proxy reach PostgreSQL over TLS, verifying its certificate (bench/relay-ab.ts RELAY_AB_BACKEND_TLS). */
  backendTls?: boolean;
}

/** The service account every target authenticates to PostgreSQL with (SCRAM). */
export const SERVICE = AUTH_USERS.scram;

export function plainEndpoint(host: string, port: number, user = SERVICE.user, password = SERVICE.password): Endpoint {
  return { host, port, user, password, database: 'postgres', sslmode: 'disable' };
}

async function waitForPort(port: number, child: ChildProcess, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((res) => {
      const s = connect(port, '127.0.0.1', () => { s.destroy(); res(true); });
      s.on('error', () => res(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`${what} did not listen on ${port}`);
}

/** PgBouncer's configuration; with `serverCaFile` it reaches PostgreSQL over TLS, verifying the server's certificate and name. */
export function pgbouncerIni(dir: string, listenPort: number, pgPort: number, poolSize: number, serverCaFile?: string): string {
  return [
    '[databases]',
    `postgres = host=127.0.0.1 port=${pgPort} dbname=postgres`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1', `listen_port = ${listenPort}`, 'unix_socket_dir =',
    'auth_type = scram-sha-256', `auth_file = ${join(dir, 'userlist.txt')}`,
    'pool_mode = session', `max_client_conn = ${poolSize + 50}`, `default_pool_size = ${poolSize}`,
    `max_db_connections = ${poolSize}`,
    ...(serverCaFile ? ['server_tls_sslmode = verify-full', `server_tls_ca_file = ${serverCaFile}`] : ['server_tls_sslmode = disable']),
    `logfile = ${join(dir, 'pgbouncer.log')}`, 'log_connections = 0', 'log_disconnections = 0',
    'ignore_startup_parameters = extra_float_digits', '',
  ].join('\n');
}

const asRoot = process.getuid?.() === 0;

function giveToPostgres(paths: string[]): void {
  if (!asRoot) return;
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  for (const p of paths) chownSync(p, uid, gid);
}

const direct: Target = {
  name: 'direct',
  description: 'PostgreSQL 15 directly',
  start: async (pg) => ({ endpoint: plainEndpoint(pg.host, pg.port), pid: undefined, database: 'postgres', encrypted: [], stop: async () => undefined }),
};

const pgbouncer: Target = {
  name: 'pgbouncer',
  description: 'PgBouncer (Debian package), session pooling, SCRAM',
  start: async (pg, opts) => {
    const dir = mkdtempSync(join(tmpdir(), 'clarus-pgbouncer-'));
    chmodSync(dir, 0o755);
    const port = await freePort();
    // PgBouncer signs in to PostgreSQL with the plain password from the auth_file and checks
    // clients with SCRAM against it, as a typical deployment does.
    writeFileSync(join(dir, 'userlist.txt'), `"${SERVICE.user}" "${SERVICE.password}"\n`, { mode: 0o600 });
    const ca = opts.backendTls ? join(dir, 'server-ca.crt') : undefined;
    if (ca) writeFileSync(ca, pg.caPem);
    writeFileSync(join(dir, 'pgbouncer.ini'), pgbouncerIni(dir, port, pg.port, opts.maxSessions + 10, ca));
    giveToPostgres([dir, join(dir, 'userlist.txt'), join(dir, 'pgbouncer.ini'), ...(ca ? [ca] : [])]);
    // PgBouncer refuses to run as root, like PostgreSQL.
    const [cmd, args] = asRoot ? ['runuser', ['-u', 'postgres', '--', 'pgbouncer', join(dir, 'pgbouncer.ini')]] : ['pgbouncer', [join(dir, 'pgbouncer.ini')]];
    const child = spawn(cmd, args, { stdio: 'ignore' });
    try {
      await waitForPort(port, child, 'pgbouncer');
    } catch (e) {
      let log = '';
      try { log = readFileSync(join(dir, 'pgbouncer.log'), 'utf8').slice(-1000); } catch { /* no log yet */ }
      child.kill('SIGTERM');
      throw new Error(`${(e as Error).message}\n${log}`);
    }
    const pid = child.pid === undefined ? undefined : serverPid(child.pid);
    return {
      endpoint: plainEndpoint('127.0.0.1', port), pid, database: 'postgres', encrypted: [],
      stop: async () => {
        const exited = new Promise((res) => child.once('exit', res));
        if (pid !== undefined) process.kill(pid, 'SIGTERM'); else child.kill('SIGTERM');
        await Promise.race([exited, sleep(5000)]);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

/** The pass-through proxy with `workers` worker processes (issue 15, goal 3); 1 is the plain single process. */
function clarusTarget(name: string, workers: number, description: string): Target {
  return {
    name, description,
    start: async (pg, opts) => {
      const h = await startClarus(pg, '', {
        clientTls: false, backendTls: opts.backendTls ? 'verify-full' : 'disable', backendConnections: opts.maxSessions + 10, maxClientConnections: opts.maxSessions + 50,
        backendUser: SERVICE.user, backendPassword: SERVICE.password, configure: opts.configureProxy,
        env: { CLARUS_WORKERS: String(workers), ...(opts.nodeOptions ? { NODE_OPTIONS: opts.nodeOptions } : {}), ...opts.env },
      });
      return { endpoint: h.endpoint, pid: h.pid === undefined ? undefined : serverPid(h.pid), database: 'postgres', encrypted: [], tree: workers > 1, stop: h.stop };
    },
  };
}

const clarus = clarusTarget('clarus', 1, 'Clarus proxy (cli/bin/clarus proxy --workers 1), one backend session per client, no encrypted column (the baseline of the encrypted scenarios)');
const clarusW2 = clarusTarget('clarus-w2', 2, 'Clarus proxy with 2 worker processes (--workers 2), pass-through; CPU and RSS summed over the primary and the workers');

export const TARGETS: Target[] = [direct, pgbouncer, clarus, clarusW2];
