// Issue 13 with real Java and Go drivers: pgjdbc (compat/java AnonPgjdbc: setAutoCommit(false),
// single-row INSERTs, commit(), which pgjdbc sends through the extended protocol) and pgx
// (compat/go anon_test.go: Begin, INSERTs with binary parameters, Commit as a simple Query, as a
// prepared COMMIT and inside a pgx.Batch) load rows into k-anonymity tables through the proxy; the
// rows are held until COMMIT and stored as one microaggregated batch each. A COMMIT of fewer than k
// rows fails with 21000 and leaves the connection idle. This test checks what the backend stores
// (the independent k checker), its pg_dump and its server log (log_statement = all).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogWindow } from '@clarus/testing/log-scan.ts';
import { achievedK } from '@clarus/testing/anonymity.ts';
import type { Row } from '@clarus/testing/anonymity.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { USERS, canariesInDump, startProtected } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';
import { EPISODE_QI as QI, EPISODE_TABLE_COLUMNS as TABLE_COLUMNS, episodeLines, episodePolicy, storedEpisodes } from './episodes.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '../../..');
const TABLES = ['episode_jdbc', 'episode_pgx'];
const POLICY = episodePolicy('ehealth-drivers', TABLES);
const records = episodeLines().slice(1);

/** Row i of a driver's file: an age no mean of 5 of them can give, and a canary patient id. */
function canaryRecord(base: number, i: number): string[] {
  const f = (records[base + i] as string).split(',');
  f[0] = `EP-${base}-${i}`;
  f[1] = String(500_000 + base + 3 ** ((i % 12) + 1));
  f[4] = (f[4] as string).replace(/\//g, '-');
  f[5] = (f[5] as string).replace(/\//g, '-');
  f[7] = `CANARY-PAT-${base}-${i}`;
  return f;
}
const ROWS = 100;
const canaries = (base: number): string[] => Array.from({ length: ROWS }, (_, i) => { const f = canaryRecord(base, i); return [f[1] as string, f[7] as string]; }).flat();

let cluster: PgCluster;
let env: ProtectedEnv;
let scratch: string;
let log: LogWindow;

const storedRows = (table: string): Promise<Row[]> => storedEpisodes(env.backend, table);

const canariesInLog = (list: string[]): string[] => log.canaries(list);

/** The rows file a driver reads, and the ep_id of its rows i ∈ `ranges`. */
function rowsFile(base: number): string {
  const file = join(scratch, `rows-${base}.csv`);
  writeFileSync(file, `${Array.from({ length: ROWS }, (_, i) => canaryRecord(base, i).join(',')).join('\n')}\n`);
  return file;
}
const ids = (base: number, ranges: Array<[number, number]>): string[] =>
  ranges.flatMap(([from, to]) => Array.from({ length: to - from }, (_, j) => `EP-${base}-${from + j}`)).sort();

/** CLARUS_* for the compat programs: the proxy, as the doctor. */
function clarusEnv(): Record<string, string> {
  const u = new URL(env.url(USERS.doctor));
  return {
    CLARUS_HOST: u.hostname, CLARUS_PORT: u.port, CLARUS_USER: USERS.doctor.name, CLARUS_PASSWORD: USERS.doctor.password,
    CLARUS_DATABASE: u.pathname.slice(1), CLARUS_SSLMODE: 'disable', CLARUS_SSLROOTCERT: '',
  };
}

beforeAll(async () => {
  cluster = await startPostgres();
  await cluster.psql("ALTER SYSTEM SET log_statement = 'all'");
  await cluster.psql('SELECT pg_reload_conf()');
  env = await startProtected(cluster, POLICY);
  for (const t of TABLES) await env.backend.query(`CREATE TABLE ${t} ${TABLE_COLUMNS}`);
  scratch = mkdtempSync(join(tmpdir(), 'clarus-anon-drivers-'));
  log = new LogWindow(join(cluster.dir, 'server.log'));
  log.mark();
});
afterAll(async () => {
  await env?.close();
  await cluster?.destroy();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('pgjdbc into a k-anonymity table', () => {
  it('setAutoCommit(false), single-row INSERTs, commit(): each transaction stored as one k-anonymous batch; fewer than k fails with 21000', async () => {
    const dir = join(ROOT, 'compat/java');
    const args = ['-q', '-B', 'compile', 'dependency:build-classpath', '-Dmdep.outputFile=target/classpath.txt'];
    // Offline from ~/.m2 once pgjdbc was resolved (scripts/compat.sh), from Maven Central otherwise.
    await run('mvn', ['-o', ...args], { cwd: dir, timeout: 300_000 }).catch(() => run('mvn', args, { cwd: dir, timeout: 600_000 }));
    const cp = `${join(dir, 'target/classes')}:${readFileSync(join(dir, 'target/classpath.txt'), 'utf8').trim()}`;
    const { stdout } = await run('java', ['-cp', cp, 'dev.clarus.compat.AnonPgjdbc'], {
      env: { ...process.env, ...clarusEnv(), ANON_TABLE: 'episode_jdbc', ANON_ROWS: rowsFile(3000) }, timeout: 300_000,
    });
    const seen = JSON.parse(stdout) as { counts: number[]; reports: string[]; batch: number; batch_reports: number; few: string; after: number };
    expect(seen.counts).toEqual(Array.from({ length: 70 }, () => 1));
    // One report per transaction, for its 5 rows (prepareThreshold 5, then 1: named statements).
    expect(seen.reports.map((r) => /of public\.episode_jdbc: (\d+) records/.exec(r)?.[1])).toEqual(Array.from({ length: 14 }, () => '5'));
    expect(seen).toMatchObject({ batch: 6, batch_reports: 1, few: '21000', after: 1 });
    const rows = await storedRows('episode_jdbc');
    expect(rows.map((r) => r[0] as string).sort()).toEqual(ids(3000, [[0, 35], [40, 75], [80, 86], [93, 98]]));
    expect(achievedK(rows, QI)).toBeGreaterThanOrEqual(5);
    expect(rows.every((r) => r[7] === null)).toBe(true);
    // pgjdbc's COMMIT reached the backend through the extended protocol (logged as an execute).
    expect(log.since()).toMatch(/execute [^:\n]+: COMMIT/);
    expect(canariesInLog(canaries(3000))).toEqual([]);
    expect(await canariesInDump(cluster, canaries(3000))).toEqual([]);
  });
});

describe('pgx into a k-anonymity table', () => {
  it('Begin, INSERTs with binary parameters, Commit (simple, prepared, in a Batch): k-anonymous batches; fewer than k fails with 21000 and the connection stays idle', async () => {
    const bin = join(scratch, 'compat.test');
    await run('go', ['test', '-c', '-o', bin, '.'], { cwd: join(ROOT, 'compat/go'), env: { ...process.env, GOTOOLCHAIN: 'local' }, timeout: 600_000 });
    const out = await run(bin, ['-test.run', '^TestAnonHeldCommit$', '-test.v', '-test.count=1'], {
      cwd: join(ROOT, 'compat/go'), env: { ...process.env, ...clarusEnv(), ANON_TABLE: 'episode_pgx', ANON_ROWS: rowsFile(4000) }, timeout: 300_000,
    }).catch((e: { stdout?: string; stderr?: string }) => ({ stdout: `${e.stdout ?? ''}${e.stderr ?? ''}` }));
    expect(out.stdout).toContain('--- PASS: TestAnonHeldCommit');
    const rows = await storedRows('episode_pgx');
    expect(rows.map((r) => r[0] as string).sort()).toEqual(ids(4000, [[0, 6], [10, 22], [40, 47]]));
    expect(achievedK(rows, QI)).toBeGreaterThanOrEqual(5);
    expect(rows.every((r) => r[7] === null)).toBe(true);
    // The prepared COMMIT went through the extended protocol, the default one as a simple Query.
    const text = log.since();
    expect(text).toMatch(/execute stmt_\w+: commit/);
    expect(text).toMatch(/statement: commit/);
    expect(canariesInLog(canaries(4000))).toEqual([]);
    expect(await canariesInDump(cluster, canaries(4000))).toEqual([]);
  });
});
