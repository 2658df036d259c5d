// The last check of the ORM suites (issue 11): the proxy's databases (`orm`, and a test database
// a suite's test runner made through the proxy, `test_orm…`, while it still exists) never held a
// value the applications wrote in clear, neither in what is stored (pg_dump) nor in what the
// backend was sent (the server log, log_statement = all, one db=<name> prefix per line). The
// oracle database `orm_oracle` (and its test databases) get the same values in clear and are left
// out of the scan.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PG_BIN, SUPERUSER, SUPERUSER_PASSWORD, type PgCluster } from '@clarus/testing/pg.ts';
import type { SuiteResult } from './suites.ts';
import { found, proxiedLogLines } from '@clarus/testing/log-scan.ts';

const run = promisify(execFile);

/** Turns on statement logging with the database name on every line (before the suites run). */
export async function logStatements(pg: PgCluster): Promise<void> {
  await pg.psql("ALTER SYSTEM SET log_statement = 'all'");
  await pg.psql("ALTER SYSTEM SET log_line_prefix = '%m [%p] db=%d '");
  await pg.psql('SELECT pg_reload_conf()');
}

async function dump(pg: PgCluster, database: string): Promise<string> {
  const { stdout } = await run(join(PG_BIN, 'pg_dump'), ['-h', pg.host, '-p', String(pg.port), '-U', SUPERUSER, database],
    { env: { ...process.env, PGPASSWORD: SUPERUSER_PASSWORD }, maxBuffer: 256 << 20 });
  if (!stdout.includes('PostgreSQL database dump')) throw new Error(`pg_dump of ${database} produced no dump`);
  return stdout;
}

/** The scan as one suite result: `orm-backend-scan.dump_<db>` and `orm-backend-scan.server_log`. */
export async function scanBackend(pg: PgCluster, database: string, oracle: string): Promise<SuiteResult> {
  const res: SuiteResult = { suite: 'orm-backend-scan', passed: [], failed: [], exitCode: 0 };
  const record = (name: string, leaks: string[], seen: boolean): void => {
    const ok = leaks.length === 0 && seen;
    (ok ? res.passed : res.failed).push(name);
    process.stdout.write(`[orm-backend-scan] ${ok ? 'PASS' : 'FAIL'} ${name}${ok ? '' : `: ${seen ? `plaintext found (${leaks.join(', ')})` : 'nothing to scan'}`}\n`);
  };
  const tests = (await pg.psql(`SELECT datname FROM pg_database WHERE datname LIKE 'test\\_${database}%'`)).split('\n').filter(Boolean);
  for (const db of [database, ...tests]) {
    const text = await dump(pg, db);
    record(`dump_${db}`, found(text), true);
  }
  const lines = proxiedLogLines(readFileSync(join(pg.dir, 'server.log'), 'utf8'), oracle);
  record('server_log', found(lines.join('\n')), lines.some((l) => l.includes(`db=${database} `)));
  return res;
}
