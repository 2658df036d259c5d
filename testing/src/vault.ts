// A real HashiCorp Vault server for tests, built once by e2e/setup-vault.sh into
// ${CLARUS_CACHE:-~/.cache/clarus}/vault-<version>/bin/vault. Two modes, both on loopback:
//   dev        `vault server -dev` (in-memory, unsealed, a known root token): most tests;
//   persistent file storage, initialised and unsealed here through the HTTP API: for tests where
//              Vault goes away (the process is killed, its port closes) and comes back with the same
//              transit keys after a restart and an unseal.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.ts';
import { poll } from './wait.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The cached Vault binary (version from e2e/go/versions.env); throws naming the setup script when missing. */
export function vaultBinary(env: NodeJS.ProcessEnv = process.env): string {
  const versions = readFileSync(join(ROOT, 'e2e/go/versions.env'), 'utf8');
  const version = /^VAULT_VERSION=v?(\S+)$/m.exec(versions)?.[1];
  if (!version) throw new Error('e2e/go/versions.env has no VAULT_VERSION');
  const path = join(env.CLARUS_CACHE ?? join(homedir(), '.cache', 'clarus'), `vault-${version}`, 'bin', 'vault');
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`${path} is missing: run \`bash e2e/setup-vault.sh\` (make e2e-setup) to build Vault`);
  }
  return path;
}


export interface VaultAnswer { status: number; body: Record<string, any> } // eslint-disable-line @typescript-eslint/no-explicit-any

export interface VaultServer {
  address: string;
  /** Persistent mode with `tls`: a second listener serving HTTPS with the given certificate. */
  tlsAddress?: string;
  /** Root token (dev: fixed; persistent: from the initialisation). */
  rootToken: string;
  /** Calls the HTTP API with the root token (or `token`). */
  api(method: string, path: string, body?: unknown, token?: string): Promise<VaultAnswer>;
  /** Enables the transit engine at `mount` and creates key `name` (aes256-gcm96). */
  transitKey(name: string, mount?: string): Promise<void>;
  /** A token limited to decrypt/encrypt/rewrap/datakey with `key` (a policy of that name is written). */
  transitToken(key: string, mount?: string, ttl?: string): Promise<string>;
  /** Persistent mode: kills the process (the port closes). */
  stop(): Promise<void>;
  /** Persistent mode: starts it again on the same port and storage, and unseals it. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

async function call(address: string, token: string, method: string, path: string, body?: unknown): Promise<VaultAnswer> {
  const res = await fetch(`${address}/v1/${path}`, {
    method, headers: { 'x-vault-token': token, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) as Record<string, unknown> : {} };
}

async function waitHealthy(address: string, child: ChildProcess, log: () => string, sealedOk = false): Promise<void> {
  await poll('vault to be healthy', async () => {
    const r = await fetch(`${address}/v1/sys/health`);
    // 200 active; 501 not initialised; 503 sealed.
    return r.status === 200 || (sealedOk && (r.status === 501 || r.status === 503)) ? true : undefined;
  }, {
    ms: 60_000,
    abort: () => (child.exitCode !== null || child.signalCode !== null ? `vault exited with ${child.exitCode ?? child.signalCode}` : undefined),
    context: log,
  });
}

function launch(args: string[]): { child: ChildProcess; log: () => string } {
  const child = spawn(vaultBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, VAULT_LOG_LEVEL: 'warn', HOME: tmpdir() } });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => { out = (out + c.toString()).slice(-4000); });
  child.stderr?.on('data', (c: Buffer) => { out = (out + c.toString()).slice(-4000); });
  return { child, log: () => out };
}

function kill(child: ChildProcess | undefined): Promise<void> {
  // A process ended by a signal has signalCode set and exitCode null.
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    child.once('exit', () => res());
    child.kill('SIGKILL');
  });
}

/** Starts Vault on a free loopback port. */
export async function startVault(opts: { persistent?: boolean; tls?: { certPem: string; keyPem: string } } = {}): Promise<VaultServer> {
  if (opts.tls && !opts.persistent) throw new Error('a TLS listener needs a persistent Vault (a configuration file)');
  const port = await freePort();
  const tlsPort = opts.tls ? await freePort() : 0;
  const address = `http://127.0.0.1:${port}`;
  const dir = mkdtempSync(join(tmpdir(), 'clarus-vault-'));
  let rootToken = 'clarus-root';
  let unsealKey = '';
  let proc: { child: ChildProcess; log: () => string } | undefined;
  const run = async (): Promise<void> => {
    if (!opts.persistent) {
      proc = launch(['server', '-dev', `-dev-root-token-id=${rootToken}`, `-dev-listen-address=127.0.0.1:${port}`, '-dev-no-store-token']);
      await waitHealthy(address, proc.child, proc.log);
      return;
    }
    const config = join(dir, 'vault.hcl');
    // The harness talks to the plain listener; the HTTPS one is for the client under test.
    let tlsListener = '';
    if (opts.tls) {
      writeFileSync(join(dir, 'tls.crt'), opts.tls.certPem);
      writeFileSync(join(dir, 'tls.key'), opts.tls.keyPem);
      tlsListener = `listener "tcp" {\n  address = "127.0.0.1:${tlsPort}"\n  tls_cert_file = "${join(dir, 'tls.crt')}"\n  tls_key_file = "${join(dir, 'tls.key')}"\n}\n`;
    }
    writeFileSync(config, `storage "file" { path = "${join(dir, 'data')}" }\nlistener "tcp" {\n  address = "127.0.0.1:${port}"\n  tls_disable = true\n}\n${tlsListener}disable_mlock = true\napi_addr = "${address}"\nui = false\n`);
    proc = launch(['server', `-config=${config}`]);
    await waitHealthy(address, proc.child, proc.log, true);
    if (!unsealKey) {
      const init = await call(address, '', 'PUT', 'sys/init', { secret_shares: 1, secret_threshold: 1 });
      unsealKey = String(init.body.keys?.[0] ?? '');
      rootToken = String(init.body.root_token ?? '');
      if (!unsealKey || !rootToken) throw new Error(`vault init failed: ${JSON.stringify(init)}`);
    }
    const u = await call(address, '', 'PUT', 'sys/unseal', { key: unsealKey });
    if (u.status !== 200 || u.body.sealed !== false) throw new Error(`vault unseal failed: ${JSON.stringify(u)}`);
    await waitHealthy(address, proc.child, proc.log);
  };
  await run();
  const api = (method: string, path: string, body?: unknown, token?: string) => call(address, token ?? rootToken, method, path, body);
  const must = async (method: string, path: string, body?: unknown): Promise<VaultAnswer> => {
    const r = await api(method, path, body);
    if (r.status >= 300) throw new Error(`vault ${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r;
  };
  return {
    address, ...(opts.tls ? { tlsAddress: `https://127.0.0.1:${tlsPort}` } : {}), get rootToken() { return rootToken; }, api,
    async transitKey(name, mount = 'transit') {
      const mounts = await must('GET', 'sys/mounts');
      if (!mounts.body[`${mount}/`]) await must('POST', `sys/mounts/${mount}`, { type: 'transit' });
      await must('POST', `${mount}/keys/${name}`, { type: 'aes256-gcm96' });
    },
    async transitToken(key, mount = 'transit', ttl = '1h') {
      const policy = `path "${mount}/decrypt/${key}" { capabilities = ["update"] }\npath "${mount}/encrypt/${key}" { capabilities = ["update"] }\n`
        + `path "${mount}/rewrap/${key}" { capabilities = ["update"] }\npath "${mount}/datakey/wrapped/${key}" { capabilities = ["update"] }\n`;
      await must('PUT', `sys/policies/acl/clarus-${key}`, { policy });
      const t = await must('POST', 'auth/token/create', { policies: [`clarus-${key}`], ttl, no_default_policy: true });
      return String(t.body.auth.client_token);
    },
    async stop() { await kill(proc?.child); },
    async restart() {
      if (!opts.persistent) throw new Error('restart() needs a persistent Vault (dev mode keeps nothing)');
      await kill(proc?.child);
      await run();
    },
    async close() {
      await kill(proc?.child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
