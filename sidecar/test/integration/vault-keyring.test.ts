// Issue 16, master keys in a KMS: the keyring holds only data keys wrapped by a transit key of a real
// HashiCorp Vault (1.21.4, built by e2e/setup-vault.sh, dev mode on loopback); the proxy unwraps them
// into memory at start and reload and encrypts with them; no plaintext data key is ever written to
// disk; a revoked token makes the proxy drop the keys at its next check (fail closed, not ready) and
// a new token brings them back; rotating the transit key rewraps the data keys without changing a
// stored row; `clarus keys generate|rotate|wrap|rewrap` go through Vault. A second, persistent Vault
// is killed and restarted: the proxy serves with the keys it has for maxUnreachableSeconds, then
// stops using them, and resumes when Vault is back. Real PostgreSQL 15, the real proxy, node-postgres.
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeConfig, RuntimeVaultTransit } from '@clarus/policy/runtime/config.ts';
import type { SecretManifest } from '@clarus/crds/types.ts';
import { main as keysMain } from '@clarus/cli/keys.ts';
import { poll } from '@clarus/testing/wait.ts';
import { main as kubectlMain } from '@clarus/cli/kubectl/main.ts';
import { protectionPipeline } from '../../src/access/setup.ts';
import { KeySource } from '../../src/io/key-source.ts';
import { KeyDeriver } from '../../src/protection/encryption/derive.ts';
import { parseKeyring } from '../../src/protection/encryption/keyring.ts';
import { columnCipher } from '../../src/protection/encryption/column.ts';
import type { ProxyHandle } from '../../src/index.ts';
import { CREATE_PATIENT, USERS, canariesInDump, canariesInTable } from '../corpus/setup.ts';
import { EHEALTH_POLICY } from '@clarus/testing/rewriter.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { startProxyInProcess, writeProxyConfig } from '@clarus/testing/proxy.ts';
import type { HarnessUser, RunningProxy } from '@clarus/testing/proxy.ts';
import { startVault } from '@clarus/testing/vault.ts';
import { makeTestPki, testPki } from '@clarus/testing/certs.ts';
import type { VaultServer } from '@clarus/testing/vault.ts';

const CANARIES = ['Vaulted Canaryone', '777-77-7777', 'Vaulted Canarytwo', '888-88-8888'];

interface Env {
  dir: string;
  proxy: RunningProxy & { handle: ProxyHandle };
  keys: KeySource;
  close(): Promise<void>;
}

/** Runs `clarus keys …` in this process; stdout parsed as the keyring manifest. */
async function clarusKeys(vault: VaultServer, token: string, ...argv: string[]): Promise<SecretManifest> {
  const scratch = mkdtempSync(join(tmpdir(), 'clarus-keys-'));
  writeFileSync(join(scratch, 'token'), token);
  let out = '';
  let err = '';
  const code = await keysMain([...argv, '--vault-address', vault.address, '--vault-key', 'clarus', '--vault-token-file', join(scratch, 'token')],
    { out: (s) => { out += s; }, err: (s) => { err += s; } }, {});
  rmSync(scratch, { recursive: true, force: true });
  if (code !== 0) throw new Error(`clarus keys ${argv[0]}: ${code} ${err}`);
  return parse(out) as SecretManifest;
}

function writeKeyring(dir: string, secret: SecretManifest): void {
  const kdir = join(dir, 'secrets/keyring');
  rmSync(kdir, { recursive: true, force: true });
  mkdirSync(kdir, { recursive: true });
  for (const [k, v] of Object.entries(secret.stringData ?? {})) writeFileSync(join(kdir, k), v);
}

function keyringSpec(secret: SecretManifest): RuntimeConfig['policy']['keyring']['keys'] {
  const current = /default=(\d+)/.exec(secret.metadata.annotations?.['clarus.io/keyring-current'] ?? '')?.[1];
  const versions = Object.keys(secret.stringData ?? {}).map((k) => Number(/\.v(\d+)$/.exec(k)?.[1])).sort((a, b) => a - b);
  return [{ name: 'default', versions, current: Number(current ?? Math.max(...versions)) }];
}

function updateConfig(dir: string, change: (c: RuntimeConfig) => void): void {
  const file = join(dir, 'config.json');
  const c = JSON.parse(readFileSync(file, 'utf8')) as RuntimeConfig;
  change(c);
  writeFileSync(file, JSON.stringify(c, null, 2));
}

/** `secrets` is the token, or the token and more files of the configuration directory (a CA). */
async function startEnv(cluster: PgCluster, secret: SecretManifest, transit: RuntimeVaultTransit, secrets: string | { token: string; files: Record<string, string> }): Promise<Env> {
  const { token, files } = typeof secrets === 'string' ? { token: secrets, files: {} } : secrets;
  const cfg = writeProxyConfig({ backends: [{ cluster }], users: Object.values(USERS) });
  cfg.write({ ...cfg.config, policy: { ...structuredClone(EHEALTH_POLICY), keyring: { dir: 'secrets/keyring', keys: keyringSpec(secret), vaultTransit: transit } } });
  mkdirSync(join(cfg.dir, 'secrets/vault'), { recursive: true });
  writeFileSync(join(cfg.dir, 'secrets/vault/token'), token);
  for (const [rel, text] of Object.entries(files)) writeFileSync(join(cfg.dir, rel), text);
  writeKeyring(cfg.dir, secret);
  const keys = new KeySource();
  const pipeline = await protectionPipeline({ configDir: cfg.dir, keys });
  const proxy = await startProxyInProcess(cfg.dir, { pipeline, keys, watch: false });
  return { dir: cfg.dir, proxy, keys, close: async () => { await proxy.close(); cfg.destroy(); } };
}

async function query(env: Env, sql: string, params: unknown[] = [], user: HarnessUser = USERS.doctor): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: env.proxy.url(user) });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return await c.query(sql, params);
  } finally {
    await c.end().catch(() => undefined);
  }
}

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'no error';
  } catch (e) {
    return (e as Error).message;
  }
}

async function http(env: Env, path: string): Promise<{ status: number; text: string }> {
  const r = await fetch(`http://127.0.0.1:${env.proxy.metricsPort}${path}`);
  return { status: r.status, text: await r.text() };
}

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m?.[1] === undefined ? Number.NaN : Number(m[1]);
}

/** The first value of `probe` that is `ok` (testing's poll, with the last value in a timeout's message). */
async function reached<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  let last: T | undefined;
  return poll(what, async () => { last = await probe(); return ok(last) ? last : undefined; }, { ms, stepMs: 200, context: () => `last ${JSON.stringify(last)}` });
}

/** Every file under `dir`, recursively, as bytes. */
function allFiles(dir: string): Buffer[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? allFiles(p) : [readFileSync(p)];
  });
}

async function plaintextOf(vault: VaultServer, wrapped: string): Promise<Buffer> {
  const r = await vault.api('POST', 'transit/decrypt/clarus', { ciphertext: wrapped });
  return Buffer.from(String(r.body.data.plaintext), 'base64');
}

let cluster: PgCluster;

beforeAll(async () => {
  cluster = await startPostgres();
});
afterAll(async () => {
  await cluster?.destroy();
});

describe('vaultTransit key provider (dev-mode Vault, token auth)', () => {
  let vault: VaultServer;
  let env: Env;
  let secret: SecretManifest;
  let token: string;
  const transit = (): RuntimeVaultTransit => ({ address: vault.address, mount: 'transit', key: 'clarus', auth: { method: 'token', tokenFile: 'secrets/vault/token' }, maxUnreachableSeconds: 3, refreshSeconds: 1 });

  beforeAll(async () => {
    vault = await startVault();
    await vault.transitKey('clarus');
    token = await vault.transitToken('clarus');
    secret = await clarusKeys(vault, token, 'generate', '--name', 'ehealth-keys');
    env = await startEnv(cluster, secret, transit(), token);
    await query(env, CREATE_PATIENT);
  });
  afterAll(async () => {
    await env?.close();
    await vault?.close();
  });

  it('keeps only wrapped keys in the keyring and on disk, and encrypts rows with the key Vault unwrapped', async () => {
    const wrapped = secret.stringData?.['default.v1'] ?? '';
    expect(wrapped).toMatch(/^vault:v1:/);
    const plain = await plaintextOf(vault, wrapped);
    expect(plain).toHaveLength(32);
    // Adversarial: no form of the plaintext data key in any file of the configuration directory.
    for (const bytes of allFiles(env.dir)) {
      expect(bytes.includes(plain)).toBe(false);
      expect(bytes.toString('latin1').includes(plain.toString('base64'))).toBe(false);
      expect(bytes.toString('latin1').includes(plain.toString('hex'))).toBe(false);
    }
    await query(env, 'INSERT INTO patient (pat_id, pat_name, pat_ssn) VALUES ($1, $2, $3), ($4, $5, $6)', [1, CANARIES[0], CANARIES[1], 2, CANARIES[2], CANARIES[3]]);
    const seen = await query(env, 'SELECT pat_name, pat_ssn FROM patient WHERE pat_ssn = $1', [CANARIES[1]]);
    expect(seen.rows).toEqual([{ pat_name: CANARIES[0], pat_ssn: CANARIES[1] }]);
    // The backend stores ciphertext only, and that ciphertext opens with the unwrapped data key.
    const backend = new pg.Client({ connectionString: cluster.url(), ssl: { ca: cluster.caPem } });
    await backend.connect();
    expect(await canariesInTable(backend, 'patient', CANARIES)).toEqual([]);
    expect(await canariesInDump(cluster, CANARIES)).toEqual([]);
    const stored = await backend.query<{ pat_name: Buffer }>('SELECT pat_name::bytea AS pat_name FROM patient WHERE pat_id = 1');
    await backend.end();
    const ring = parseKeyring([{ name: 'default', versions: [1], current: 1 }], new Map([['default.v1', plain.toString('base64')]]));
    const cipher = columnCipher(new KeyDeriver(ring), { schema: 'public', table: 'patient', column: 'pat_name', mode: 'randomized', searchable: false, keyName: 'default' });
    expect(cipher.decrypt(stored.rows[0]?.pat_name ?? Buffer.alloc(0))).toBe(CANARIES[0]);
    const m = await http(env, '/metrics');
    expect([metric(m.text, 'clarus_kms_keys_usable'), metric(m.text, 'clarus_kms_unwrapped_keys'), metric(m.text, 'clarus_kms_max_unreachable_seconds')]).toEqual([1, 1, 3]);
    expect((await http(env, '/readyz')).status).toBe(200);
  });

  it('refuses to render or generate plaintext keys for a vaultTransit policy', async () => {
    const { parseKeyring: parseSecret } = await import('@clarus/policy/runtime/keyring.ts');
    const plain = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'k' }, stringData: { 'default.v1': Buffer.alloc(32, 1).toString('base64') } } as SecretManifest;
    expect(parseSecret(plain, true).errors[0]?.message).toMatch(/plaintext key, but the policy's keyring provider is vaultTransit/);
    expect(parseSecret(secret, false).errors[0]?.message).toMatch(/wrapped by Vault transit; set the policy's spec.keyring.provider to vaultTransit/);
  });

  it('drops the keys when Vault refuses the token (fail closed, not ready) and takes them back with a new token', async () => {
    const before = await query(env, 'SELECT count(*)::int AS n FROM patient');
    expect(before.rows[0]?.n).toBe(2);
    expect((await vault.api('POST', 'auth/token/revoke', { token })).status).toBe(204);
    await reached('not ready', () => http(env, '/readyz'), (r) => r.status === 503);
    const m = await http(env, '/metrics');
    expect([metric(m.text, 'clarus_kms_keys_usable'), metric(m.text, 'clarus_kms_unwrapped_keys')]).toEqual([0, 0]);
    expect(metric(m.text, 'clarus_kms_requests_total\\{result="denied"\\}')).toBeGreaterThan(0);
    // Protected columns can be neither written nor read; the backend receives nothing.
    expect(await failure(query(env, 'SELECT pat_name FROM patient WHERE pat_id = 1'))).not.toBe('no error');
    expect(await failure(query(env, 'INSERT INTO patient (pat_id, pat_name) VALUES (3, $1)', ['Refused Canary']))).not.toBe('no error');
    const backend = new pg.Client({ connectionString: cluster.url(), ssl: { ca: cluster.caPem } });
    await backend.connect();
    expect((await backend.query('SELECT count(*)::int AS n FROM patient')).rows[0]?.n).toBe(2);
    await backend.end();
    token = await vault.transitToken('clarus');
    writeFileSync(join(env.dir, 'secrets/vault/token'), token);
    await reached('ready again', () => http(env, '/readyz'), (r) => r.status === 200);
    expect((await query(env, 'SELECT pat_name FROM patient WHERE pat_id = 1')).rows).toEqual([{ pat_name: CANARIES[0] }]);
  });

  it('rewraps after a transit-key rotation without changing a stored row, then retires the old transit version', async () => {
    const backend = new pg.Client({ connectionString: cluster.url(), ssl: { ca: cluster.caPem } });
    await backend.connect();
    const rows = async () => (await backend.query<{ t: string }>('SELECT t::text AS t FROM patient t ORDER BY pat_id')).rows.map((r) => r.t);
    const stored = await rows();
    const scratch = mkdtempSync(join(tmpdir(), 'clarus-keys-'));
    writeFileSync(join(scratch, 'keys.yaml'), JSON.stringify(secret));
    // Rotating the transit key needs more than the proxy's policy grants: the administrator's (root) token.
    const rewrapped = await clarusKeys(vault, vault.rootToken, 'rewrap', '-f', join(scratch, 'keys.yaml'), '--rotate-transit-key');
    rmSync(scratch, { recursive: true, force: true });
    expect(rewrapped.stringData?.['default.v1']).toMatch(/^vault:v2:/);
    expect(await plaintextOf(vault, rewrapped.stringData?.['default.v1'] ?? '')).toEqual(await plaintextOf(vault, secret.stringData?.['default.v1'] ?? ''));
    writeKeyring(env.dir, rewrapped);
    expect(await env.proxy.handle.reloadWithKeys()).toBe(true);
    // Wrapped texts of transit version 1 may no longer be unwrapped; the proxy does not need them.
    expect((await vault.api('POST', 'transit/keys/clarus/config', { min_decryption_version: 2 })).status).toBeLessThan(300);
    await new Promise((r) => setTimeout(r, 1500)); // at least one refresh against the retired version
    expect((await http(env, '/readyz')).status).toBe(200);
    expect((await query(env, 'SELECT pat_name, pat_ssn FROM patient ORDER BY pat_id')).rows.map((r) => r.pat_name)).toEqual([CANARIES[0], CANARIES[2]]);
    expect(await rows()).toEqual(stored);
    await backend.end();
    secret = rewrapped;
  });

  it('adds a data-key version through Vault (keys rotate) and writes new rows with it', async () => {
    const scratch = mkdtempSync(join(tmpdir(), 'clarus-keys-'));
    writeFileSync(join(scratch, 'keys.yaml'), JSON.stringify(secret));
    const rotated = await clarusKeys(vault, token, 'rotate', '-f', join(scratch, 'keys.yaml'));
    rmSync(scratch, { recursive: true, force: true });
    expect(Object.keys(rotated.stringData ?? {}).sort()).toEqual(['default.v1', 'default.v2']);
    expect(rotated.stringData?.['default.v2']).toMatch(/^vault:v2:/);
    writeKeyring(env.dir, rotated);
    updateConfig(env.dir, (c) => { c.policy.keyring.keys = keyringSpec(rotated); });
    expect(await env.proxy.handle.reloadWithKeys()).toBe(true);
    await query(env, 'INSERT INTO patient (pat_id, pat_name) VALUES (5, $1)', ['Rotated Canary']);
    const backend = new pg.Client({ connectionString: cluster.url(), ssl: { ca: cluster.caPem } });
    await backend.connect();
    const r = await backend.query<{ pat_id: number; v: number }>('SELECT pat_id, get_byte(pat_name::bytea, 6) * 256 + get_byte(pat_name::bytea, 7) AS v FROM patient ORDER BY pat_id');
    await backend.end();
    // The data-key version in each ciphertext header (bytes 6-7): old rows keep version 1.
    expect(r.rows.map((x) => [x.pat_id, x.v])).toEqual([[1, 1], [2, 1], [5, 2]]);
    expect((await query(env, 'SELECT pat_name FROM patient ORDER BY pat_id')).rows.map((x) => x.pat_name)).toEqual([CANARIES[0], CANARIES[2], 'Rotated Canary']);
    // `clarus keys reencrypt` still moves the old rows to the new data-key version, through the proxy.
    const out: string[] = [];
    expect(await keysMain(['reencrypt', '--config', env.dir, '--url', env.proxy.url(USERS.doctor), '--dataset', 'patients'], { out: (t) => out.push(t), err: (t) => out.push(t) })).toBe(0);
    expect(out.join('')).toContain('patients: 3 rows re-encrypted');
    const after = new pg.Client({ connectionString: cluster.url(), ssl: { ca: cluster.caPem } });
    await after.connect();
    const v = await after.query<{ pat_id: number; v: number }>('SELECT pat_id, get_byte(pat_name::bytea, 6) * 256 + get_byte(pat_name::bytea, 7) AS v FROM patient ORDER BY pat_id');
    await after.end();
    expect(v.rows.map((x) => [x.pat_id, x.v])).toEqual([[1, 2], [2, 2], [5, 2]]);
    expect((await query(env, 'SELECT pat_name FROM patient ORDER BY pat_id')).rows.map((x) => x.pat_name)).toEqual([CANARIES[0], CANARIES[2], 'Rotated Canary']);
  });

  it('wraps an existing plaintext keyring (keys wrap) so rows written before stay readable', async () => {
    const plainKey = Buffer.alloc(32, 0x42).toString('base64');
    const plain = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'old', annotations: { 'clarus.io/keyring-current': 'default=1' } }, stringData: { 'default.v1': plainKey } } as SecretManifest;
    const scratch = mkdtempSync(join(tmpdir(), 'clarus-keys-'));
    writeFileSync(join(scratch, 'keys.yaml'), JSON.stringify(plain));
    const wrapped = await clarusKeys(vault, token, 'wrap', '-f', join(scratch, 'keys.yaml'));
    rmSync(scratch, { recursive: true, force: true });
    expect(wrapped.stringData?.['default.v1']).toMatch(/^vault:v\d+:/);
    expect(JSON.stringify(wrapped)).not.toContain(plainKey);
    expect(wrapped.metadata.annotations?.['clarus.io/keyring-current']).toBe('default=1');
    expect((await plaintextOf(vault, wrapped.stringData?.['default.v1'] ?? '')).toString('base64')).toBe(plainKey);
  });
});

describe('vaultTransit key provider when Vault goes away and comes back (persistent Vault, killed and restarted)', () => {
  let vault: VaultServer;
  let env: Env;
  let token: string;
  let secret: SecretManifest;

  beforeAll(async () => {
    vault = await startVault({ persistent: true });
    await vault.transitKey('clarus');
    token = await vault.transitToken('clarus', 'transit', '24h');
    secret = await clarusKeys(vault, token, 'generate', '--name', 'ehealth-keys');
    env = await startEnv(cluster, secret, { address: vault.address, mount: 'transit', key: 'clarus', auth: { method: 'token', tokenFile: 'secrets/vault/token' }, maxUnreachableSeconds: 4, refreshSeconds: 1 }, token);
    await query(env, 'DELETE FROM patient');
    await query(env, 'INSERT INTO patient (pat_id, pat_name, pat_ssn) VALUES (1, $1, $2)', [CANARIES[0], CANARIES[1]]);
  });
  afterAll(async () => {
    await env?.close();
    await vault?.close();
  });

  it('serves with the keys it has for maxUnreachableSeconds, then stops using them, and resumes when Vault is back', async () => {
    await vault.stop();
    const stoppedAt = Date.now();
    // Within the bound: at least one refresh has failed, the proxy still serves and is ready.
    const m = await reached('a failed refresh', () => http(env, '/metrics'), (r) => metric(r.text, 'clarus_kms_requests_total\\{result="unreachable"\\}') > 0);
    expect(Date.now() - stoppedAt).toBeLessThan(4000);
    expect(metric(m.text, 'clarus_kms_keys_usable')).toBe(1);
    expect((await query(env, 'SELECT pat_name FROM patient WHERE pat_ssn = $1', [CANARIES[1]])).rows).toEqual([{ pat_name: CANARIES[0] }]);
    expect((await http(env, '/readyz')).status).toBe(200);
    // Past the bound: keys dropped, not ready, protected statements fail.
    await reached('not ready', () => http(env, '/readyz'), (r) => r.status === 503);
    // The bound runs from Vault's last answer, at most one refresh (1 s) before it was stopped.
    expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(3000);
    const after = await http(env, '/metrics');
    expect([metric(after.text, 'clarus_kms_keys_usable'), metric(after.text, 'clarus_kms_unwrapped_keys')]).toEqual([0, 0]);
    expect(metric(after.text, 'clarus_kms_unreachable_seconds')).toBeGreaterThanOrEqual(4);
    expect(await failure(query(env, 'SELECT pat_name FROM patient WHERE pat_id = 1'))).not.toBe('no error');
    // What `kubectl clarus metrics` shows an administrator for this proxy now.
    let shown = '';
    await kubectlMain(['metrics', `http://127.0.0.1:${env.proxy.metricsPort}`], { out: (t) => { shown += t; }, err: (t) => { shown += t; } });
    expect(shown.split('\n')[1]).toMatch(/^http:\/\/127\.0\.0\.1:\d+\s+no \(503\)\s+1\s+\d+\s+(-|[0-9A-Z]{5}:\d+( [0-9A-Z]{5}:\d+)*)\s+0\s+keys NOT usable, unreachable \d+s$/);
    await vault.restart();
    await reached('ready again', () => http(env, '/readyz'), (r) => r.status === 200);
    expect((await query(env, 'SELECT pat_name FROM patient WHERE pat_id = 1')).rows).toEqual([{ pat_name: CANARIES[0] }]);
    const back = await http(env, '/metrics');
    expect([metric(back.text, 'clarus_kms_keys_usable'), metric(back.text, 'clarus_kms_unreachable_seconds')]).toEqual([1, 0]);
  });

  it('retries a reload that came while Vault was away, and puts the new key version in force when it is back', async () => {
    const scratch = mkdtempSync(join(tmpdir(), 'clarus-keys-'));
    writeFileSync(join(scratch, 'keys.yaml'), JSON.stringify(secret));
    const rotated = await clarusKeys(vault, token, 'rotate', '-f', join(scratch, 'keys.yaml'));
    rmSync(scratch, { recursive: true, force: true });
    await vault.stop();
    writeKeyring(env.dir, rotated);
    updateConfig(env.dir, (c) => { c.policy.keyring.keys = keyringSpec(rotated); });
    expect(await env.proxy.handle.reloadWithKeys()).toBe(false);
    await vault.restart();
    await reached('version 2 unwrapped and in force', () => http(env, '/metrics'), (r) => metric(r.text, 'clarus_kms_unwrapped_keys') === 2 && metric(r.text, 'clarus_config_reloads_total\\{result="ok"\\}') >= 1, 30_000);
    await reached('ready', () => http(env, '/readyz'), (r) => r.status === 200);
    await query(env, 'INSERT INTO patient (pat_id, pat_name) VALUES (9, $1)', ['After Outage Canary']);
    const backend = new pg.Client({ connectionString: cluster.url(), ssl: { ca: cluster.caPem } });
    await backend.connect();
    const r = await backend.query<{ v: number }>('SELECT get_byte(pat_name::bytea, 6) * 256 + get_byte(pat_name::bytea, 7) AS v FROM patient WHERE pat_id = 9');
    await backend.end();
    expect(r.rows).toEqual([{ v: 2 }]);
  });
});

describe('vaultTransit over HTTPS: the Vault CA of the configuration (vaultTransit.caFile)', () => {
  let vault: VaultServer;
  let secret: SecretManifest;
  let token: string;
  const envs: Env[] = [];
  const transit = (): RuntimeVaultTransit => ({ address: String(vault.tlsAddress), mount: 'transit', key: 'clarus', caFile: 'secrets/vault/ca.crt',
    auth: { method: 'token', tokenFile: 'secrets/vault/token' }, maxUnreachableSeconds: 3, refreshSeconds: 1 });

  beforeAll(async () => {
    vault = await startVault({ persistent: true, tls: testPki().server });
    await vault.transitKey('clarus');
    token = await vault.transitToken('clarus');
    secret = await clarusKeys(vault, token, 'generate', '--name', 'ehealth-keys');
  });
  afterAll(async () => {
    for (const e of envs) await e.close();
    await vault?.close();
  });

  it('unwraps through Vault\'s HTTPS listener with the CA given, and serves', async () => {
    const env = await startEnv(cluster, secret, transit(), { token, files: { 'secrets/vault/ca.crt': testPki().ca.certPem } });
    envs.push(env);
    expect((await http(env, '/readyz')).status).toBe(200);
    await query(env, 'DROP TABLE IF EXISTS patient');
    await query(env, CREATE_PATIENT);
    await query(env, 'INSERT INTO patient (pat_id, pat_name, pat_ssn) VALUES (1, $1, $2)', [CANARIES[0], CANARIES[1]]);
    expect((await query(env, 'SELECT pat_name FROM patient WHERE pat_ssn = $1', [CANARIES[1]])).rows).toEqual([{ pat_name: CANARIES[0] }]);
    expect(metric((await http(env, '/metrics')).text, 'clarus_kms_keys_usable')).toBe(1);
    const backend = new pg.Client({ connectionString: cluster.url(), ssl: { ca: cluster.caPem } });
    await backend.connect();
    try {
      expect(await canariesInTable(backend, 'patient', CANARIES.slice(0, 2))).toEqual([]);
    } finally {
      await backend.end();
    }
    expect(await canariesInDump(cluster, CANARIES.slice(0, 2))).toEqual([]);
  });

  it('refuses a Vault whose certificate another CA signed: no keys, not ready, protected statements fail', async () => {
    const env = await startEnv(cluster, secret, transit(), { token, files: { 'secrets/vault/ca.crt': makeTestPki().ca.certPem } });
    envs.push(env);
    expect((await http(env, '/readyz')).status).toBe(503);
    expect(metric((await http(env, '/metrics')).text, 'clarus_kms_keys_usable')).toBe(0);
    expect(await failure(query(env, 'SELECT pat_name FROM patient WHERE pat_ssn = $1', [CANARIES[1]]))).not.toBe('no error');
  });
});
