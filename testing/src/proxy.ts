// Test harness for the proxy: writes a runtime configuration directory (config.json + secrets, the
// layout documented in docs/proxy.md) for harness PostgreSQL clusters, and starts the proxy either
// in-process (startProxy) or as a child process (`cli/bin/clarus proxy`), which prints its bound
// addresses in a JSON log line {"msg":"listening","address":{...},"metricsAddress":{...}}.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { RuntimeConfig, RuntimeUser } from '@clarus/policy/runtime/config.ts';
import type { TlsMode } from '@clarus/crds/types.ts';
import { makeVerifier, SCRAM_MECHANISM, ScramClient } from '@clarus/sidecar/auth/scram.ts';
import { decodeBackend } from '@clarus/sidecar/protocol/backend.ts';
import type { BackendMessage } from '@clarus/sidecar/protocol/backend.ts';
import { frameAt } from '@clarus/sidecar/protocol/framer.ts';
import { encodeFrontend } from '@clarus/sidecar/protocol/frontend.ts';
import type { FrontendMessage } from '@clarus/sidecar/protocol/frontend.ts';
import { encodeStartup } from '@clarus/sidecar/protocol/startup.ts';
import { startProxy } from '@clarus/sidecar/index.ts';
import { createLogger } from '@clarus/log/logger.ts';
import type { ProxyHandle, StartOptions } from '@clarus/sidecar/index.ts';
import { testPki } from './certs.ts';
import { SUPERUSER, SUPERUSER_PASSWORD } from './pg.ts';
import type { PgCluster } from './pg.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CLARUS_BIN = join(ROOT, 'cli/bin/clarus');

export interface HarnessBackend {
  cluster: PgCluster;
  name?: string;
  /** Backend credentials the proxy uses (default: the cluster's superuser, SCRAM). */
  user?: string;
  password?: string;
  /** A read-only role for sessions of users without a readWrite grant (RuntimeBackend.readOnly). */
  readOnly?: { user: string; password: string };
  database?: string;
  tls?: TlsMode;
  maxConnections?: number;
}

export interface HarnessUser { name: string; password: string; grants?: RuntimeUser['grants'] }
/** A partner proxy that authenticates with a TLS client certificate (needs tls.clientCa). */
export interface HarnessExternalProxy { name: string; certificateSubject: string; grants?: RuntimeUser['grants'] }

export interface ProxyConfigOptions {
  backends: HarnessBackend[];
  /** Users clients log in to the proxy as (default: app / app-pw). */
  users?: HarnessUser[];
  /** Serve TLS to clients with the harness server certificate; clientCa: ask for client certificates. */
  tls?: { allowPlaintext: boolean; clientCa?: boolean };
  externalProxies?: HarnessExternalProxy[];
  limits?: Partial<RuntimeConfig['limits']>;
  proxyName?: string;
}

export const DEFAULT_USER: HarnessUser = { name: 'app', password: 'app-pw' };

export interface ProxyConfigDir {
  dir: string;
  config: RuntimeConfig;
  /** Rewrites config.json (e.g. to test reload). */
  write(config: RuntimeConfig): void;
  destroy(): void;
}

function put(dir: string, rel: string, content: string): string {
  mkdirSync(dirname(join(dir, rel)), { recursive: true });
  writeFileSync(join(dir, rel), content, { mode: 0o600 });
  return rel;
}

function backendEntry(dir: string, b: HarnessBackend, i: number): RuntimeConfig['backends'][number] {
  const name = b.name ?? (i === 0 ? 'primary' : `backend${i}`);
  const mode = b.tls ?? 'disable';
  const entry: RuntimeConfig['backends'][number] = {
    name, host: b.cluster.host, port: b.cluster.port, database: b.database ?? 'postgres',
    usernameFile: put(dir, `secrets/backends/${name}/username`, b.user ?? SUPERUSER),
    passwordFile: put(dir, `secrets/backends/${name}/password`, b.password ?? SUPERUSER_PASSWORD),
    tls: { mode }, pool: { maxConnections: b.maxConnections ?? 100 },
  };
  if (mode !== 'disable') entry.tls.caFile = put(dir, `secrets/backends/${name}/ca.crt`, b.cluster.caPem);
  if (b.readOnly) {
    entry.readOnly = { usernameFile: put(dir, `secrets/backends/${name}/readonly-username`, b.readOnly.user),
      passwordFile: put(dir, `secrets/backends/${name}/readonly-password`, b.readOnly.password) };
  }
  return entry;
}

/** Writes a complete runtime configuration directory in a fresh temporary folder. */
export function writeProxyConfig(opts: ProxyConfigOptions): ProxyConfigDir {
  const dir = mkdtempSync(join(tmpdir(), 'clarus-proxy-'));
  const backends = opts.backends.map((b, i) => backendEntry(dir, b, i));
  const users: RuntimeUser[] = (opts.users ?? [DEFAULT_USER]).map((u) => ({
    name: u.name, kind: 'user', grants: u.grants ?? [],
    verifierFile: put(dir, `secrets/users/${u.name}.scram`, makeVerifier(u.password)),
  }));
  for (const e of opts.externalProxies ?? []) {
    users.push({ name: e.name, kind: 'externalProxy', certificateSubject: e.certificateSubject, grants: e.grants ?? [] });
  }
  const config: RuntimeConfig = {
    version: 1,
    proxy: { name: opts.proxyName ?? 'test-proxy', namespace: 'default' },
    listen: { host: '127.0.0.1', port: 0 },
    metricsListen: { host: '127.0.0.1', port: 0 },
    backends, users,
    policy: { name: 'test', onUnsupported: 'reject', defaultBackend: backends[0]?.name ?? 'primary',
      keyring: { dir: 'secrets/keyring', keys: [] }, datasets: [] },
    limits: { maxConnections: 200, maxMessageBytes: 64 << 20, connectTimeoutSeconds: 10, idleTimeoutSeconds: 0,
      drainSeconds: 10, ...opts.limits },
  };
  if (opts.tls) {
    const pki = testPki();
    config.tls = { certFile: put(dir, 'secrets/tls/tls.crt', pki.server.certPem),
      keyFile: put(dir, 'secrets/tls/tls.key', pki.server.keyPem), allowPlaintext: opts.tls.allowPlaintext };
    if (opts.tls.clientCa) config.tls.clientCaFile = put(dir, 'secrets/tls/ca.crt', pki.ca.certPem);
  }
  const write = (c: RuntimeConfig) => put(dir, 'config.json', `${JSON.stringify(c, null, 2)}\n`);
  write(config);
  return { dir, config, write, destroy: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface RunningProxy {
  host: string;
  port: number;
  metricsPort: number;
  /** postgres:// URL through the proxy. */
  url(user?: HarnessUser, database?: string): string;
  close(): Promise<void>;
}

/**
 * The database a harness client asks for by default: the default backend's `database` (the proxy
 * connects a client only to a database its configuration maps; any other name gets 3D000).
 */
export function defaultDatabase(configDir: string): string {
  try {
    const c = JSON.parse(readFileSync(join(configDir, 'config.json'), 'utf8')) as RuntimeConfig;
    return (c.backends.find((b) => b.name === c.policy.defaultBackend) ?? c.backends[0])?.database ?? 'postgres';
  } catch {
    return 'postgres';
  }
}

function urlFor(host: string, port: number, database = 'postgres'): RunningProxy['url'] {
  return (u = DEFAULT_USER, db = database) =>
    `postgres://${encodeURIComponent(u.name)}:${encodeURIComponent(u.password)}@${host}:${port}/${db}`;
}

/** Starts the proxy in this process (listens on a free port on 127.0.0.1). */
export async function startProxyInProcess(configDir: string, opts: Partial<StartOptions> = {}): Promise<RunningProxy & { handle: ProxyHandle }> {
  const handle = await startProxy({ configDir, listen: '127.0.0.1:0', metricsListen: '127.0.0.1:0',
    logger: createLogger({ level: 'error' }), ...opts });
  return { handle, host: handle.address.host, port: handle.address.port, metricsPort: handle.metricsAddress.port,
    url: urlFor(handle.address.host, handle.address.port, defaultDatabase(configDir)), close: () => handle.close() };
}

export interface ProxyProcess extends RunningProxy {
  child: ChildProcess;
  /** Every JSON log line the child printed so far. */
  logs: Array<Record<string, unknown>>;
  exited: Promise<number | null>;
}

/**
 * Starts `cli/bin/clarus proxy --config DIR` as a child process and waits for its listening line.
 * `env` adds variables (e.g. NODE_OPTIONS=--cpu-prof, CLARUS_LOG_LEVEL=debug); `bin` is another
 * checkout's executable (a benchmark comparing two versions of the proxy).
 */
export async function startProxyProcess(configDir: string, extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}, bin = CLARUS_BIN): Promise<ProxyProcess> {
  const child = spawn(bin, ['proxy', '--config', configDir, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', ...extraArgs],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, CLARUS_RESIDUAL: process.env.CLARUS_RESIDUAL ?? 'off', CLARUS_WORKERS: process.env.CLARUS_WORKERS ?? '1', ...env } });
  const logs: Array<Record<string, unknown>> = [];
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const listening = new Promise<Record<string, unknown>>((res, rej) => {
    const rl = createInterface({ input: child.stderr as NodeJS.ReadableStream });
    rl.on('line', (line) => {
      let rec: Record<string, unknown>;
      try { rec = JSON.parse(line) as Record<string, unknown>; } catch { rec = { msg: line }; }
      logs.push(rec);
      if (rec.msg === 'listening') res(rec);
    });
    void exited.then((code) => rej(new Error(`proxy exited with ${code}: ${JSON.stringify(logs.slice(-5))}`)));
  });
  const rec = await listening;
  const address = rec.address as { host: string; port: number };
  const metrics = rec.metricsAddress as { host: string; port: number };
  return {
    child, logs, exited, host: address.host, port: address.port, metricsPort: metrics.port,
    url: urlFor(address.host, address.port, defaultDatabase(configDir)),
    close: async () => { if (child.exitCode === null) { child.kill('SIGTERM'); await exited; } },
  };
}

/**
 * A proxy configuration for one backend with a `people` table (`id`, `name` encrypted at random
 * with a fresh key), DEFAULT_USER reading and writing it in plaintext: the smallest encrypting proxy.
 */
export function writePeopleConfig(cluster: PgCluster): ProxyConfigDir {
  const cfg = writeProxyConfig({ backends: [{ cluster, tls: 'disable' }],
    users: [{ ...DEFAULT_USER, grants: [{ grant: 'all', datasets: ['*'], access: 'readWrite', view: 'plaintext' }] }] });
  const backend = cfg.config.backends[0]?.name ?? 'primary';
  cfg.config.policy.keyring.keys = [{ name: 'default', versions: [1], current: 1 }];
  cfg.config.policy.datasets = [{ name: 'people', schema: 'public', table: 'people', rowKey: 'id', columns: [
    { name: 'id', attributeType: 'technicalIdentifier', backend },
    { name: 'name', attributeType: 'identifier', encrypt: { mode: 'randomized', searchable: false, keyName: 'default' }, backend },
  ] }];
  cfg.write(cfg.config);
  mkdirSync(join(cfg.dir, 'secrets/keyring'), { recursive: true });
  writeFileSync(join(cfg.dir, 'secrets/keyring/default.v1'), randomBytes(32).toString('base64'), { mode: 0o600 });
  return cfg;
}

/** A hand-driven protocol client: authenticates with SCRAM, then sends whatever bytes a test wants. */
/** Frontend messages as one buffer (to send them in a single write, e.g. pipelined). */
export function frontendBytes(ms: FrontendMessage[]): Buffer {
  return Buffer.concat(ms.map((m) => encodeFrontend(m).finish()));
}

/**
 * Backend messages as short strings for assertions: `E <sqlstate>`, `C <tag>`, `Z <status>`, the
 * message type otherwise; with `rows`, DataRows show their values (`D a|b|NULL`).
 */
export function summarize(ms: BackendMessage[], rows = false): string[] {
  return ms.map((m) => {
    if (m.type === 'ErrorResponse') return `E ${m.fields.C}`;
    if (m.type === 'CommandComplete') return `C ${m.tag}`;
    if (m.type === 'ReadyForQuery') return `Z ${m.status}`;
    if (rows && m.type === 'DataRow') return `D ${m.values.map((v) => (v === null ? 'NULL' : Buffer.from(v).toString())).join('|')}`;
    return m.type;
  });
}

/** Test clients read whatever the proxy sends: only a corrupt length stops them. */
const RAW_CLIENT_LIMITS = { maxMessageBytes: 1 << 30 };

export class RawClient {
  private buf = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  closed = false;
  readonly socket: Socket;
  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (c) => { this.buf = Buffer.concat([this.buf, c]); this.wake(); });
    socket.on('close', () => { this.closed = true; this.wake(); });
    socket.on('error', () => undefined);
  }
  private wake() { for (const w of this.waiters.splice(0)) w(); }
  static async open(port: number, user: HarnessUser = DEFAULT_USER, database = 'postgres'): Promise<RawClient> {
    const s = connect(port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    const c = new RawClient(s);
    s.write(encodeStartup({ type: 'StartupMessage', major: 3, minor: 0, params: { user: user.name, database } }));
    const scram = new ScramClient(user.password);
    await c.until('AuthenticationSASL');
    const first = Buffer.from(scram.first());
    s.write(frontendBytes([{ type: 'SASLInitialResponse', mechanism: SCRAM_MECHANISM, data: first }]));
    const cont = await c.until('AuthenticationSASLContinue');
    const final = scram.final(Buffer.from(cont.type === 'AuthenticationSASLContinue' ? cont.data : []).toString()) ?? '';
    s.write(frontendBytes([{ type: 'SASLResponse', data: Buffer.from(final) }]));
    await c.until('ReadyForQuery');
    return c;
  }
  next(): BackendMessage | null {
    const f = frameAt(this.buf, RAW_CLIENT_LIMITS);
    if (f.kind === 'incomplete') return null;
    if (f.kind === 'error') throw f.error;
    const d = decodeBackend(f.tag, this.buf, f.start, f.end);
    this.buf = this.buf.subarray(f.end);
    if (!d.ok) throw d.error;
    return d.msg;
  }
  /** The next message, whatever it is. */
  async read(): Promise<BackendMessage> {
    for (;;) {
      const m = this.next();
      if (m) return m;
      if (this.closed) throw new Error('closed');
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }
  /** Every message up to and including the next ReadyForQuery. */
  async cycle(): Promise<BackendMessage[]> {
    const out: BackendMessage[] = [];
    for (;;) {
      const m = await this.read();
      out.push(m);
      if (m.type === 'ReadyForQuery') return out;
    }
  }
  /** The next message of `type` (or an ErrorResponse), skipping others. */
  async until(type: BackendMessage['type']): Promise<BackendMessage> {
    for (;;) {
      for (let m = this.next(); m; m = this.next()) if (m.type === type || m.type === 'ErrorResponse') return m;
      if (this.closed) throw new Error(`closed before ${type}`);
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }
  async closedSoon(): Promise<boolean> {
    if (!this.closed) await new Promise<void>((r) => { this.waiters.push(r); setTimeout(r, 3000); });
    while (!this.closed) { await new Promise<void>((r) => { this.waiters.push(r); setTimeout(r, 100); }); if (this.buf.length === 0) break; }
    return this.closed;
  }
}
