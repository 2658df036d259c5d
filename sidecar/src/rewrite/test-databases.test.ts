// Test databases (rewrite/test-databases.ts, statements.ts): which names are a test database of the
// application's database, which configurations have them, and which CREATE/DROP DATABASE pass.
import { beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeConfig } from '@clarus/policy/runtime/config.ts';
import { EHEALTH_POLICY, TEST_KEY_FILES } from '@clarus/testing/rewriter.ts';
import { KeyDeriver } from '../protection/encryption/derive.ts';
import { parseKeyring } from '../protection/encryption/keyring.ts';
import { Catalog } from './catalog.ts';
import { loadParser } from './parser.ts';
import { KeyedRewriter as Rewriter } from '../protection/keyed-rewriter.ts';
import { isTestDatabaseOf, onTestDatabase, testDatabaseHome } from './test-databases.ts';

beforeAll(async () => { await loadParser(); });

const backend = (name: string, database: string) => ({ name, host: 'h', port: 5432, database, usernameFile: 'u', passwordFile: 'p', tls: { mode: 'disable' as const }, pool: { maxConnections: 5 } });
const config = (over: Partial<RuntimeConfig> = {}): RuntimeConfig => ({
  backends: [backend('other', 'other'), backend(EHEALTH_POLICY.defaultBackend, 'app')], policy: EHEALTH_POLICY, ...over,
} as unknown as RuntimeConfig);

describe('isTestDatabaseOf', () => {
  it.each(['test_app', 'test_app_1', 'test_app_gw12', 'test_app_Ab9'])('%s is a test database of app', (n) => expect(isTestDatabaseOf('app', n)).toBe(true));
  it.each(['app', 'test_ap', 'test_apps', 'test_app_', 'test_app_a-b', 'test_app_1_2', 'test_app_123456789012345678901', 'xtest_app', 'Test_app', `test_app_${'a'.repeat(20)}`.padEnd(70, 'a')])(
    '%s is not', (n) => expect(isTestDatabaseOf('app', n)).toBe(false));
  it('has no test databases for an empty base', () => expect(isTestDatabaseOf('', 'test_')).toBe(false));
});

describe('testDatabaseHome', () => {
  it("is the default backend's database", () => expect(testDatabaseHome(config())).toEqual({ backend: EHEALTH_POLICY.defaultBackend, database: 'app' }));
  it('is none with a partner proxy', () => expect(testDatabaseHome(config({ upstream: { host: 'p', port: 1, user: 'u' } } as Partial<RuntimeConfig>))).toBeUndefined());
  it('is none when a protected column lives on another backend (split)', () => {
    const policy = structuredClone(EHEALTH_POLICY);
    const col = policy.datasets[0]?.columns[1];
    if (col) col.backend = 'other';
    expect(testDatabaseHome(config({ policy }))).toBeUndefined();
  });
  it("onTestDatabase points the home backend, and only it, at the test database", () => {
    expect(onTestDatabase(config(), 'test_app').backends.map((b) => b.database)).toEqual(['other', 'test_app']);
  });
});

describe('CREATE/DROP DATABASE through the proxy', () => {
  const rw = (base?: string) => new Rewriter(new Catalog(EHEALTH_POLICY, base === undefined ? {} : { testDatabaseBase: base }),
    new KeyDeriver(parseKeyring(EHEALTH_POLICY.keyring.keys, TEST_KEY_FILES)));
  it.each([
    'CREATE DATABASE test_app', 'CREATE DATABASE "test_app_1" WITH TEMPLATE "test_app"', "CREATE DATABASE test_app ENCODING 'UTF8' LC_COLLATE 'C' TEMPLATE template0",
    'DROP DATABASE test_app', 'DROP DATABASE IF EXISTS test_app_gw0 WITH (FORCE)',
  ])('passes %s (a write over every dataset)', (sql) => {
    const a = rw('app').analyze(sql);
    expect(a.kind).toBe('pass');
    expect(a).toMatchObject({ write: true, everyDataset: true });
  });
  it.each([
    ['CREATE DATABASE test_app TEMPLATE app', /TEMPLATE app \(only template0, template1 or another test database\)/],
    ['CREATE DATABASE test_app TEMPLATE other', /TEMPLATE other/],
    ['CREATE DATABASE test_app OWNER bob', /option OWNER/],
    ['CREATE DATABASE test_app TABLESPACE t', /option TABLESPACE/],
    ['CREATE DATABASE test_app IS_TEMPLATE true', /option IS_TEMPLATE/],
    ['CREATE DATABASE other', /CREATE DATABASE other through the proxy is refused: .*test databases \(test_app/],
    ['DROP DATABASE app', /DROP DATABASE app through the proxy is refused/],
    ['DROP DATABASE test_apps', /DROP DATABASE test_apps through the proxy is refused/],
  ])('refuses %s', (sql, message) => {
    expect(rw('app').analyze(sql)).toMatchObject({ kind: 'refuse', code: '0A000', message: expect.stringMatching(message) });
  });
  it('refuses every CREATE DATABASE when the configuration has no test databases', () => {
    expect(rw().analyze('CREATE DATABASE test_app')).toMatchObject({ kind: 'refuse', message: expect.stringMatching(/3D000\)/) });
  });
});
