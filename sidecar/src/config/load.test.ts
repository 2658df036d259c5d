import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeVerifier } from '../auth/scram.ts';
import { backendFor, ConfigError, databaseNames, loadConfig } from './load.ts';
import { validateConfig } from './validate.ts';

const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

function fixture(over: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'clarus-cfg-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'secrets/backends/a'), { recursive: true });
  mkdirSync(join(dir, 'secrets/users'), { recursive: true });
  writeFileSync(join(dir, 'secrets/backends/a/username'), 'svc\n');
  writeFileSync(join(dir, 'secrets/backends/a/password'), 'pw');
  writeFileSync(join(dir, 'secrets/users/app.scram'), makeVerifier('x'));
  const config = {
    version: 1, proxy: { name: 'p', namespace: 'ns' }, listen: { host: '127.0.0.1', port: 5432 },
    metricsListen: { host: '127.0.0.1', port: 9090 },
    backends: [{ name: 'a', host: 'db', port: 5432, database: 'app', usernameFile: 'secrets/backends/a/username',
      passwordFile: 'secrets/backends/a/password', tls: { mode: 'disable' }, pool: { maxConnections: 10 } }],
    users: [{ name: 'app', kind: 'user', verifierFile: 'secrets/users/app.scram', grants: [] }],
    policy: { name: 'x', onUnsupported: 'reject', defaultBackend: 'a', keyring: { dir: 'secrets/keyring', keys: [] }, datasets: [] },
    limits: { maxConnections: 10, maxMessageBytes: 1 << 20, connectTimeoutSeconds: 5, idleTimeoutSeconds: 0, drainSeconds: 5 },
    ...over,
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

describe('loadConfig', () => {
  it('loads the document and its secrets', () => {
    const s = loadConfig(fixture());
    expect(s.backends.get('a')).toMatchObject({ username: 'svc', password: 'pw' });
    expect(s.users.get('app')?.verifier?.iterations).toBe(4096);
    expect(backendFor(s, 'app')?.spec.name).toBe('a');
    expect(backendFor(s, 'a')?.spec.name).toBe('a');
    // No fallback: a name that is neither a backend nor its database reaches nothing (3D000).
    expect(backendFor(s, 'anything')).toBeUndefined();
    expect(backendFor(s, 'test_apps')).toBeUndefined();
    // A test runner's database: the same backend, that database (rewrite/test-databases.ts).
    expect(backendFor(s, 'test_app')).toMatchObject({ spec: { name: 'a', database: 'test_app' }, username: 'svc' });
    expect(backendFor(s, 'test_app_2')?.spec.database).toBe('test_app_2');
    // The maintenance database only while a policy protects data.
    expect(backendFor(s, 'postgres')).toBeUndefined();
    expect(databaseNames(s)).toEqual(['a', 'app', 'test_app[_<suffix>]']);
  });

  it('serves postgres for CREATE/DROP DATABASE only while a policy protects data, and no test database in collaborative mode', () => {
    const datasets = [{ name: 'd', schema: 'public', table: 't', columns: [{ name: 'c', attributeType: 'identifier', encrypt: { mode: 'randomized', searchable: false, keyName: 'k' }, backend: 'a' }] }];
    const s = loadConfig(fixture({ policy: { name: 'x', onUnsupported: 'reject', defaultBackend: 'a', keyring: { dir: 'secrets/keyring', keys: [{ name: 'k', versions: [1], current: 1 }] }, datasets } }));
    expect(backendFor(s, 'postgres')).toMatchObject({ spec: { database: 'postgres' }, maintenance: true });
    expect(backendFor(s, 'app')?.maintenance).toBeUndefined();
    expect(databaseNames(s)).toContain('postgres (CREATE/DROP DATABASE only)');
  });

  it('loads the optional read-only role next to the read-write one', () => {
    const dir = fixture();
    expect(loadConfig(dir).backends.get('a')?.readOnly).toBeUndefined();
    writeFileSync(join(dir, 'secrets/backends/a/readonly-username'), 'svc_ro\n');
    writeFileSync(join(dir, 'secrets/backends/a/readonly-password'), 'ro-pw');
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { backends: Array<Record<string, unknown>> };
    const readOnly = { usernameFile: 'secrets/backends/a/readonly-username', passwordFile: 'secrets/backends/a/readonly-password' };
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, backends: [{ ...config.backends[0], readOnly }] }));
    expect(loadConfig(dir).backends.get('a')).toMatchObject({ username: 'svc', password: 'pw', readOnly: { username: 'svc_ro', password: 'ro-pw' } });
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, backends: [{ ...config.backends[0], readOnly: { ...readOnly, passwordFile: 'secrets/backends/a/none' } }] }));
    expect(() => loadConfig(dir)).toThrow(/cannot read secrets\/backends\/a\/none/);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, backends: [{ ...config.backends[0], readOnly: { usernameFile: '' } }] }));
    expect(() => loadConfig(dir)).toThrow(/backends\[0\]\.readOnly\.usernameFile must be a non-empty string; backends\[0\]\.readOnly\.passwordFile must be a non-empty string/);
  });

  it('refuses two datasets for one table (the later would silently replace the earlier)', () => {
    const ds = (name: string, schema: string, table: string): Record<string, unknown> => ({ name, schema, table, columns: [] });
    const policy = (datasets: unknown[]): Record<string, unknown> => ({ name: 'x', onUnsupported: 'reject', defaultBackend: 'a', keyring: { dir: 'k', keys: [] }, datasets });
    expect(() => loadConfig(fixture({ policy: policy([ds('a', 'public', 'patient'), ds('b', 'public', 'Patient')]) })))
      .toThrow(/policy\.datasets\[1\]: table public\.patient is already protected by another dataset/);
    expect(() => loadConfig(fixture({ policy: policy([ds('a', 'public', 'patient'), ds('b', 's1', 'patient')]) }))).not.toThrow();
  });

  it('lists every structural problem at once', () => {
    const problems = validateConfig({ version: 1, backends: [{ name: 'a', tls: { mode: 'verify-full' } }], limits: {} });
    expect(problems.join('\n')).toMatch(/listen/);
    expect(problems.join('\n')).toMatch(/backends\[0\]\.tls\.caFile is required/);
    expect(problems.join('\n')).toMatch(/limits\.maxConnections/);
  });

  it('refuses secret paths that leave the directory, missing files and bad verifiers', () => {
    expect(() => loadConfig(fixture({ users: [{ name: 'x', kind: 'user', verifierFile: '../../etc/passwd', grants: [] }] }))).toThrow(ConfigError);
    expect(() => loadConfig(fixture({ users: [{ name: 'x', kind: 'user', verifierFile: 'secrets/users/none.scram', grants: [] }] }))).toThrow(/cannot read/);
    const dir = fixture();
    writeFileSync(join(dir, 'secrets/users/app.scram'), 'md5deadbeef');
    expect(() => loadConfig(dir)).toThrow(/not a SCRAM-SHA-256 verifier/);
  });

  it('accepts backends: [] exactly when upstream is set, and loads the upstream client certificate', () => {
    const up = { host: 'partner.example', port: 6432, user: 'org-a', tls: { certFile: 'secrets/upstream/tls.crt', keyFile: 'secrets/upstream/tls.key', caFile: 'secrets/upstream/ca.crt' } };
    const dir = fixture({ backends: [], upstream: up, policy: { name: 'x', onUnsupported: 'reject', defaultBackend: 'upstream', keyring: { dir: 'secrets/keyring', keys: [] }, datasets: [] } });
    mkdirSync(join(dir, 'secrets/upstream'), { recursive: true });
    for (const f of ['tls.crt', 'tls.key', 'ca.crt']) writeFileSync(join(dir, 'secrets/upstream', f), `pem of ${f}`);
    const s = loadConfig(dir);
    expect(s.backends.size).toBe(0);
    expect(s.upstream).toMatchObject({ username: 'org-a', password: '', upstream: true, caPem: 'pem of ca.crt',
      clientCert: { cert: 'pem of tls.crt', key: 'pem of tls.key' }, spec: { host: 'partner.example', port: 6432, tls: { mode: 'verify-full' } } });
    expect(backendFor(s, 'anything')).toBe(s.upstream);
    expect(validateConfig({ backends: [] }).join('\n')).toMatch(/backends must be a non-empty array/);
    const both = validateConfig({ backends: [{ name: 'a' }], upstream: up }).join('\n');
    expect(both).toMatch(/backends must be an empty array when upstream is set/);
    expect(validateConfig({ backends: [], upstream: { host: 'h', port: 1, user: 'u', tls: { certFile: 'c' } } }).join('\n')).toMatch(/upstream\.tls\.caFile/);
    expect(validateConfig({ backends: [], upstream: { host: 'h', port: 1 } }).join('\n')).toMatch(/upstream\.user/);
  });
});

describe('validateConfig: policy.keyring.vaultTransit', () => {
  const keyring = (vaultTransit: unknown) => ({ policy: { name: 'x', onUnsupported: 'reject', defaultBackend: 'a', keyring: { dir: 'secrets/keyring', keys: [], vaultTransit }, datasets: [] } });
  const good = { address: 'https://vault:8200', mount: 'transit', key: 'clarus', maxUnreachableSeconds: 300, refreshSeconds: 60,
    auth: { method: 'kubernetes', mount: 'kubernetes', role: 'clarus', tokenFile: 'secrets/vault/sa-token' } };

  it('accepts kubernetes and token auth', () => {
    expect(() => loadConfig(fixture(keyring(good)))).not.toThrow();
    expect(() => loadConfig(fixture(keyring({ ...good, auth: { method: 'token', tokenFile: 'secrets/vault/token' } })))).not.toThrow();
  });

  it('names every missing or malformed field', () => {
    const raw = JSON.parse(readFileSync(join(fixture(keyring({ address: 'vault:8200/x', auth: { method: 'kubernetes', tokenFile: '' }, refreshSeconds: 0 })), 'config.json'), 'utf8')) as unknown;
    expect(validateConfig(raw)).toEqual([
      'policy.keyring.vaultTransit.mount must be a non-empty string',
      'policy.keyring.vaultTransit.key must be a non-empty string',
      'policy.keyring.vaultTransit.address must be http(s)://HOST[:PORT]',
      'policy.keyring.vaultTransit.maxUnreachableSeconds must be a number >= 0',
      'policy.keyring.vaultTransit.refreshSeconds must be a number >= 1',
      'policy.keyring.vaultTransit.auth.tokenFile must be a non-empty string',
      'policy.keyring.vaultTransit.auth.mount must be a non-empty string',
      'policy.keyring.vaultTransit.auth.role must be a non-empty string',
    ]);
    const other = JSON.parse(readFileSync(join(fixture(keyring({ ...good, auth: { method: 'ldap' } })), 'config.json'), 'utf8')) as unknown;
    expect(validateConfig(other)).toEqual(['policy.keyring.vaultTransit.auth.method must be kubernetes or token']);
  });
});
