// The proxy as the image and `make setup` run it (issue 15, goal 5): scripts/build-js.ts builds
// build/js, cli/bin/clarus then runs the build (not the TypeScript sources) and the built proxy
// encrypts a column end to end (the stored value is bytea without the plaintext, the application
// reads it back) and serves the in-proxy engine's worker from the build; with CLARUS_FROM_SOURCE=1
// the same launcher runs the sources. Real PostgreSQL 15.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@clarus/crds/generate.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { DEFAULT_USER, startProxyProcess, writePeopleConfig } from '@clarus/testing/proxy.ts';
import type { ProxyConfigDir } from '@clarus/testing/proxy.ts';

/** `node scripts/build-js.ts --if-stale` (what `make setup` runs); its output. */
const buildJs = (): string => execFileSync(process.execPath, [join(REPO_ROOT, 'scripts/build-js.ts'), '--if-stale'], { encoding: 'utf8' });

let cluster: PgCluster;
let cfg: ProxyConfigDir;

beforeAll(async () => {
  buildJs();
  cluster = await startPostgres();
  cfg = writePeopleConfig(cluster);
});
afterAll(async () => {
  cfg?.destroy();
  await cluster?.destroy();
});

async function through(env: Record<string, string>, table: string): Promise<string> {
  const proc = await startProxyProcess(cfg.dir, [], { CLARUS_RESIDUAL: 'on', ...env });
  try {
    const main = readFileSync(`/proc/${proc.child.pid}/cmdline`, 'utf8').split('\0').find((a) => /main\.(js|ts)$/.test(a)) ?? '';
    const c = new pg.Client({ host: proc.host, port: proc.port, user: DEFAULT_USER.name, password: DEFAULT_USER.password, database: 'postgres' });
    // A dropped connection fails the query in flight; the failure then carries the proxy's own account.
    c.on('error', () => undefined);
    await c.connect();
    try {
      await c.query(`CREATE TABLE IF NOT EXISTS ${table} (id bigint PRIMARY KEY, name text)`);
      await c.query(`INSERT INTO ${table} (id, name) VALUES ($1, $2)`, [1, 'Ada Lovelace']);
      expect((await c.query(`SELECT name FROM ${table} WHERE id = 1`)).rows).toEqual([{ name: 'Ada Lovelace' }]);
      // Through the in-proxy engine (its worker is a module of the build too).
      expect((await c.query(`SELECT name, count(*)::int AS n FROM ${table} GROUP BY name`)).rows).toEqual([{ name: 'Ada Lovelace', n: 1 }]);
    } catch (e) {
      const exited = proc.child.exitCode ?? proc.child.signalCode;
      throw new Error(`${(e as Error).message}; proxy ${exited === null ? 'running' : `exited (${exited})`}, its last log lines: ${JSON.stringify(proc.logs.slice(-12))}`, { cause: e });
    } finally {
      await c.end();
    }
    const stored = await cluster.psql(`SELECT pg_typeof(name)::text || ' ' || name::text FROM ${table} WHERE id = 1`);
    expect(stored.startsWith('bytea ')).toBe(true);
    expect(stored).not.toContain('Ada');
    expect(stored).not.toContain(Buffer.from('Ada Lovelace').toString('hex'));
    return main;
  } finally {
    await proc.close();
  }
}

describe('the JavaScript build', () => {
  it('is fresh after the build and is what cli/bin/clarus runs; the built proxy encrypts end to end', async () => {
    expect(buildJs()).toBe('build-js: build/js is up to date\n');
    const main = await through({}, 'people');
    expect(main).toBe(join(REPO_ROOT, 'build/js/cli/src/main.js'));
  });
  it('CLARUS_FROM_SOURCE=1 runs the TypeScript sources with the same result', async () => {
    await cluster.psql('DROP TABLE IF EXISTS people');
    const main = await through({ CLARUS_FROM_SOURCE: '1' }, 'people');
    expect(main).toBe(join(REPO_ROOT, 'cli/src/main.ts'));
  });
});
