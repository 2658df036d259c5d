// `make compat` driver: starts a real PostgreSQL 15 and the Clarus proxy in front of it, then runs
// the psycopg 3, pgjdbc and pgx suites against the proxy (each checks the backend directly too),
// then the ORM suites (SQLAlchemy + Alembic, Django, Sequelize, TypeORM) against a second proxy
// whose policy encrypts their customer tables, each compared with an oracle database; then the
// proxy's databases are scanned (pg_dump, the server log) for the values the ORMs wrote.
// COMPAT_TARGET=direct runs the same suites straight against PostgreSQL (to tell a client-suite
// bug from a proxy bug); COMPAT_SUITES=psycopg,pgx picks suites. Closes with
// `compat: N passed, N failed` and exits non-zero on any failure.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPostgres, type PgCluster } from '@clarus/testing/pg.ts';
import { directEndpoint, endpointEnv, writeCa, ProxyUnavailable, type Endpoint, type ProxyHandle } from '@clarus/testing/endpoint.ts';
import { startClarus } from '@clarus/testing/clarus-process.ts';
import { ORM_SUITES, SUITES, runSuite, type SuiteResult } from './lib/suites.ts';
import { startOrmTarget } from './lib/orm-target.ts';
import { scanBackend } from './lib/backend-scan.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

async function target(pg: PgCluster, caFile: string): Promise<{ endpoint: Endpoint; proxy?: ProxyHandle }> {
  if (process.env.COMPAT_TARGET === 'direct') return { endpoint: directEndpoint(pg, caFile) };
  const proxy = await startClarus(pg, caFile);
  return { endpoint: proxy.endpoint, proxy };
}

function summary(results: SuiteResult[]): { passed: number; failed: number } {
  let passed = 0;
  let failed = 0;
  for (const r of results) {
    passed += r.passed.length;
    failed += r.failed.length;
    const bad = r.failed.length ? ` (failed: ${r.failed.join(', ')})` : '';
    process.stdout.write(`compat: ${r.suite}: ${r.passed.length} passed, ${r.failed.length} failed${bad}\n`);
  }
  return { passed, failed };
}

/** The ORM suites: their own proxy (a policy over their customer tables) and oracle database. */
async function ormSuites(pg: PgCluster, caFile: string, suites: typeof ORM_SUITES, results: SuiteResult[]): Promise<void> {
  const orm = await startOrmTarget(pg, caFile);
  try {
    const app = process.env.COMPAT_TARGET === 'direct' ? orm.backend : orm.proxy;
    const env = { ...endpointEnv('CLARUS', app), ...endpointEnv('BACKEND', orm.backend), ...endpointEnv('ORACLE', orm.oracle) };
    process.stdout.write(`compat: ORM suites -> ${app === orm.proxy ? 'Clarus proxy (encrypting policy)' : 'PostgreSQL directly'} at ${app.host}:${app.port}, oracle database ${orm.oracle.database}\n`);
    for (const s of suites) results.push(await runSuite(s, root, env));
    if (app === orm.proxy) results.push(await scanBackend(pg, orm.backend.database, orm.oracle.database));
  } finally {
    await orm.stop();
  }
}

async function main(): Promise<number> {
  const wanted = process.env.COMPAT_SUITES?.split(',').map((s) => s.trim()).filter(Boolean);
  const suites = SUITES.filter((s) => !wanted || wanted.includes(s.name));
  const orms = ORM_SUITES.filter((s) => !wanted || wanted.includes(s.name));
  const pg = await startPostgres();
  const ca = writeCa(pg);
  let proxy: ProxyHandle | undefined;
  const results: SuiteResult[] = [];
  try {
    if (suites.length) {
      const t = await target(pg, ca.file);
      proxy = t.proxy;
      process.stdout.write(`compat: clients -> ${proxy ? 'Clarus proxy' : 'PostgreSQL directly'} at ${t.endpoint.host}:${t.endpoint.port} (sslmode ${t.endpoint.sslmode})\n`);
      const env = { ...endpointEnv('CLARUS', t.endpoint), ...endpointEnv('BACKEND', directEndpoint(pg, ca.file)) };
      for (const s of suites) results.push(await runSuite(s, root, env));
    }
    if (orms.length) await ormSuites(pg, ca.file, orms, results);
  } catch (e) {
    if (!(e instanceof ProxyUnavailable)) throw e;
    process.stdout.write(`compat: proxy not available: ${e.message}\n`);
    results.push({ suite: 'proxy', passed: [], failed: ['proxy not available'], exitCode: null });
  } finally {
    await proxy?.stop();
    await pg.destroy();
    ca.cleanup();
  }
  const { passed, failed } = summary(results);
  process.stdout.write(`compat: ${passed} passed, ${failed} failed\n`);
  return failed === 0 && passed > 0 ? 0 : 1;
}

main().then((code) => process.exit(code), (e: unknown) => {
  console.error('compat: driver error:', e);
  process.exit(2);
});
