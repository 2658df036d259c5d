// Loads and validates a runtime configuration directory (layout: policy/src/runtime/config.ts and
// docs/proxy.md): config.json plus the secret files it names. The result is an immutable snapshot;
// a reload makes a new one and sessions keep the snapshot they started a statement with.
import { readFileSync } from 'node:fs';
import { isAbsolute, join, normalize } from 'node:path';
import { RUNTIME_CONFIG_FILE, RUNTIME_CONFIG_VERSION } from '@clarus/policy/runtime/config.ts';
import type { RuntimeBackend, RuntimeConfig, RuntimeUser } from '@clarus/policy/runtime/config.ts';
import { UPSTREAM_BACKEND } from '@clarus/policy/runtime/policy.ts';
import { parseVerifier } from '../auth/scram.ts';
import type { ScramVerifier } from '../auth/scram.ts';
import { validateConfig } from './validate.ts';
import { isTestDatabaseOf, testDatabaseBase, testDatabaseHome } from '../rewrite/test-databases.ts';
import { MAINTENANCE_DATABASE } from '../access/maintenance.ts';

export interface BackendSecrets {
  spec: RuntimeBackend;
  /** The read-write role (spec.usernameFile/passwordFile). */
  username: string;
  password: string;
  /** The read-only role (spec.readOnly), for sessions of users without a readWrite grant (access/backend-role.ts). */
  readOnly?: { username: string; password: string };
  caPem?: string;
  /** Client certificate shown to the server (collaborative mode: our identity at the partner proxy). */
  clientCert?: { cert: string; key: string };
  /** The partner proxy of collaborative mode: the client's database name is passed on, no password is sent. */
  upstream?: boolean;
  /** The maintenance database of the home backend's server: CREATE/DROP DATABASE of test databases only. */
  maintenance?: boolean;
}

export interface UserEntry { spec: RuntimeUser; verifier: ScramVerifier | null }

export interface ConfigSnapshot {
  dir: string;
  config: RuntimeConfig;
  backends: Map<string, BackendSecrets>;
  users: Map<string, UserEntry>;
  tls?: { cert: string; key: string; ca?: string };
  /** Collaborative mode (config.upstream): the partner proxy every session connects to. */
  upstream?: BackendSecrets;
  /** Increases with every successful reload; logged and exported as a metric. */
  generation: number;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

function secretPath(dir: string, rel: string): string {
  const norm = normalize(rel);
  if (isAbsolute(norm) || norm.startsWith('..')) throw new ConfigError(`secret path ${rel} must be relative to ${dir} and stay inside it`);
  return join(dir, norm);
}

function readSecret(dir: string, rel: string): string {
  try {
    return readFileSync(secretPath(dir, rel), 'utf8');
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`cannot read ${rel} in ${dir}: ${(e as Error).message}`);
  }
}

/** A credential file: plain text, one trailing newline tolerated. */
const readCredential = (dir: string, rel: string): string => readSecret(dir, rel).replace(/\r?\n$/, '');

/** A backend's credentials (both roles) and CA from the configuration directory. */
export function loadBackend(dir: string, b: RuntimeBackend): BackendSecrets {
  const out: BackendSecrets = { spec: b, username: readCredential(dir, b.usernameFile), password: readCredential(dir, b.passwordFile) };
  if (b.readOnly) out.readOnly = { username: readCredential(dir, b.readOnly.usernameFile), password: readCredential(dir, b.readOnly.passwordFile) };
  if (b.tls.caFile) out.caPem = readSecret(dir, b.tls.caFile);
  return out;
}

/** Name under which the partner proxy appears in logs, metrics and SessionInfo.backend (render's policy.defaultBackend). */
export const UPSTREAM_NAME = UPSTREAM_BACKEND;

/**
 * The partner proxy as a backend: verify-full against upstream.tls.caFile with our client
 * certificate, or plaintext without upstream.tls (the partner then refuses us: it admits partner
 * proxies by certificate only). Pool size = our client limit (one upstream session per client).
 */
function loadUpstream(dir: string, c: RuntimeConfig): BackendSecrets | undefined {
  const u = c.upstream;
  if (!u) return undefined;
  const spec: RuntimeBackend = { name: UPSTREAM_NAME, host: u.host, port: u.port, database: u.user, usernameFile: '', passwordFile: '',
    tls: u.tls ? { mode: 'verify-full', caFile: u.tls.caFile } : { mode: 'disable' }, pool: { maxConnections: c.limits.maxConnections } };
  const out: BackendSecrets = { spec, username: u.user, password: '', upstream: true };
  if (u.tls) {
    out.caPem = readSecret(dir, u.tls.caFile);
    out.clientCert = { cert: readSecret(dir, u.tls.certFile), key: readSecret(dir, u.tls.keyFile) };
  }
  return out;
}

function loadUser(dir: string, u: RuntimeUser): UserEntry {
  if (u.kind !== 'user' || !u.verifierFile) return { spec: u, verifier: null };
  const verifier = parseVerifier(readSecret(dir, u.verifierFile));
  if (!verifier) throw new ConfigError(`${u.verifierFile}: not a SCRAM-SHA-256 verifier in PostgreSQL's format`);
  return { spec: u, verifier };
}

/** Reads DIR/config.json and the secrets it names; throws ConfigError with a clear message. */
export function loadConfig(dir: string, generation = 1): ConfigSnapshot {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(join(dir, RUNTIME_CONFIG_FILE), 'utf8'));
  } catch (e) {
    throw new ConfigError(`cannot read ${join(dir, RUNTIME_CONFIG_FILE)}: ${(e as Error).message}`);
  }
  const problems = validateConfig(raw);
  if (problems.length > 0) throw new ConfigError(`invalid ${RUNTIME_CONFIG_FILE}: ${problems.join('; ')}`);
  const config = raw as RuntimeConfig;
  if (config.version !== RUNTIME_CONFIG_VERSION) throw new ConfigError(`unsupported config version ${String(config.version)}`);
  const snap: ConfigSnapshot = {
    dir, config, generation,
    backends: new Map(config.backends.map((b) => [b.name, loadBackend(dir, b)])),
    users: new Map(config.users.map((u) => [u.name, loadUser(dir, u)])),
  };
  const up = loadUpstream(dir, config);
  if (up) snap.upstream = up;
  if (config.tls) {
    snap.tls = { cert: readSecret(dir, config.tls.certFile), key: readSecret(dir, config.tls.keyFile) };
    if (config.tls.clientCaFile) snap.tls.ca = readSecret(dir, config.tls.clientCaFile);
  }
  return snap;
}

/**
 * The backend a client's database name selects: the backend of that name, or the backend whose
 * `database` it is; no other name reaches any backend (the session refuses it with 3D000, so a
 * client is never connected to a database other than the one it asked for — a test runner's
 * `test_app` never lands in `app`; it is served as a database of its own, rewrite/test-databases.ts). In collaborative mode always the partner proxy, which selects
 * among its backends by that name in the same way.
 */
export function backendFor(snap: ConfigSnapshot, database: string): BackendSecrets | undefined {
  if (snap.upstream) return snap.upstream;
  const byName = snap.backends.get(database);
  if (byName) return byName;
  for (const b of snap.backends.values()) if (b.spec.database === database) return b;
  return testRoute(snap, database);
}

/**
 * A test runner's `test_<database>` (the home backend's server, credentials and policy, that
 * database), or the maintenance database it creates and drops it from (access/maintenance.ts).
 */
function testRoute(snap: ConfigSnapshot, database: string): BackendSecrets | undefined {
  const home = testDatabaseHome(snap.config);
  const b = home ? snap.backends.get(home.backend) : undefined;
  if (!b || !home) return undefined;
  if (isTestDatabaseOf(home.database, database)) return { ...b, spec: { ...b.spec, database } };
  const protecting = snap.config.policy.datasets.length > 0;
  return protecting && database === MAINTENANCE_DATABASE ? { ...b, spec: { ...b.spec, database }, maintenance: true } : undefined;
}

/** The database names a client may ask for (for the 3D000 message). */
export function databaseNames(snap: ConfigSnapshot): string[] {
  const base = testDatabaseBase(snap.config);
  const mapped = new Set([...snap.backends.values()].flatMap((b) => [b.spec.database, b.spec.name]));
  const maintenance = snap.config.policy.datasets.length > 0 && !mapped.has(MAINTENANCE_DATABASE) ? [`${MAINTENANCE_DATABASE} (CREATE/DROP DATABASE only)`] : [];
  const tests = base === undefined ? [] : [`test_${base}[_<suffix>]`, ...maintenance];
  return [...mapped, ...tests].sort();
}
