// Test databases (issue 11): a test runner creates `test_<name>` beside the application's database
// `<name>`, connects to it, and drops it at the end (Django's `manage.py test`, its parallel clones
// `test_<name>_<n>`, pytest-django's `test_<name>_gw<n>`). Through a protecting proxy such a
// database is served like the application's own: the same backend server and credentials, the same
// policy and grants, its own catalog. Only the application's database of the default backend has
// test databases, and only while every protected column lives on that backend (a split dataset
// would put a test row's other fragments into the real databases of the other backends) and the
// proxy is not in front of a partner proxy. Pure: names and configuration only.
import type { RuntimeConfig } from '@clarus/policy/runtime/config.ts';

/** PostgreSQL's NAMEDATALEN - 1: a longer name would be truncated into another one. */
const MAX_NAME_BYTES = 63;

/** Whether `name` is a test database of `base`: `test_<base>`, or `test_<base>_<suffix>` (1–20 letters or digits). */
export function isTestDatabaseOf(base: string, name: string): boolean {
  const prefix = `test_${base}`;
  if (!base || !name.startsWith(prefix) || Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) return false;
  const rest = name.slice(prefix.length);
  return rest === '' || /^_[A-Za-z0-9]{1,20}$/.test(rest);
}

/** The backend and database whose test databases this configuration serves, if any (see the file comment). */
export function testDatabaseHome(config: RuntimeConfig): { backend: string; database: string } | undefined {
  if (config.upstream) return undefined;
  const name = config.policy.defaultBackend;
  const backend = config.backends.find((b) => b.name === name) ?? config.backends[0];
  if (!backend) return undefined;
  // As the catalog reads a policy: a column placed on another backend than the default one is split.
  const elsewhere = config.policy.datasets.some((d) => d.columns.some((c) => c.backend !== name));
  return elsewhere ? undefined : { backend: backend.name, database: backend.database };
}

export function testDatabaseBase(config: RuntimeConfig): string | undefined {
  return testDatabaseHome(config)?.database;
}

/** The configuration with the home backend's database replaced by a test database (its catalog is loaded from there). */
export function onTestDatabase(config: RuntimeConfig, database: string): RuntimeConfig {
  const home = testDatabaseHome(config);
  return { ...config, backends: config.backends.map((b) => (b.name === home?.backend ? { ...b, database } : b)) };
}
