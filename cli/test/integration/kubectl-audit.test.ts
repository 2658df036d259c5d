// `kubectl clarus audit` over the audit log a real proxy process writes while it rotates: by its own
// size limit, and by logrotate's rename + SIGHUP. The chain continues across every file; `audit
// verify` checks it end to end, `query`/`tail` filter it, and an edited line is found. The same
// commands read the files out of a pod with `kubectl exec … tar`: this tier has no kubelet to run
// a pod, so a stand-in `kubectl` (the one fault that cannot be produced here for real) runs the
// command after `--` on this host, where the proxy's audit directory is; it records its arguments.
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { DEFAULT_USER, startProxyProcess, writeProxyConfig } from '@clarus/testing/proxy.ts';
import type { ProxyProcess } from '@clarus/testing/proxy.ts';
import { EHEALTH_POLICY, TEST_KEY_FILES } from '@clarus/testing/rewriter.ts';
import { until } from '@clarus/testing/wait.ts';

const run = promisify(execFile);
const PLUGIN = join(import.meta.dirname, '../../bin/kubectl-clarus');
const NOBODY = { name: 'nobody', password: 'nobody-pw' };

let db: PgCluster;
let cfg: ReturnType<typeof writeProxyConfig>;
let proxy: ProxyProcess;
const logDir = mkdtempSync(join(tmpdir(), 'clarus-audit-log-'));
const audit = join(logDir, 'audit.jsonl');
const stub = mkdtempSync(join(tmpdir(), 'clarus-kubectl-stub-'));
const kubectl = join(stub, 'kubectl');
let statements = 0;

async function query(user: typeof DEFAULT_USER, sql: string): Promise<string> {
  const c = new pg.Client({ connectionString: proxy.url(user) });
  await c.connect();
  try {
    return await c.query(sql).then(() => 'ok', (e: { code: string }) => e.code);
  } finally {
    statements++;
    await c.end();
  }
}

async function plugin(...args: string[]): Promise<{ code: number; out: string }> {
  try {
    const r = await run(PLUGIN, args, { env: { ...process.env, KUBECTL: kubectl } });
    return { code: 0, out: r.stdout };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout + x.stderr };
  }
}

beforeAll(async () => {
  writeFileSync(kubectl, `#!/bin/sh\nprintf '%s\\n' "$@" > "${stub}/args"\nwhile [ "$1" != "--" ]; do shift; done\nshift\nexec "$@"\n`);
  chmodSync(kubectl, 0o755);
  db = await startPostgres();
  cfg = writeProxyConfig({ backends: [{ cluster: db, name: 'cloud-a' }],
    users: [{ ...DEFAULT_USER, grants: [{ grant: 'all', datasets: ['*'], access: 'readWrite', view: 'plaintext' }] }, NOBODY] });
  cfg.write({ ...cfg.config, policy: structuredClone(EHEALTH_POLICY) });
  mkdirSync(join(cfg.dir, 'secrets/keyring'), { recursive: true });
  for (const [name, text] of TEST_KEY_FILES) writeFileSync(join(cfg.dir, 'secrets/keyring', name), text);
  proxy = await startProxyProcess(cfg.dir, [], { CLARUS_AUDIT_LOG: audit, CLARUS_AUDIT_MAX_BYTES: '1500' });
  expect(await query(DEFAULT_USER, 'CREATE TABLE patient (pat_id int PRIMARY KEY, pat_name text, pat_ssn text, pat_zip text, pat_birth date, diagnosis text)')).toBe('ok');
  for (let i = 0; i < 6; i++) {
    expect(await query(DEFAULT_USER, `INSERT INTO patient (pat_id, pat_name, pat_ssn) VALUES (${i}, 'Canary Audit-${i}', '000-00-000${i}')`)).toBe('ok');
    expect(await query(NOBODY, 'SELECT pat_name FROM patient')).toBe('42501');
  }
  // logrotate `create`: rename, then SIGHUP; the proxy opens a new file at the path at once.
  renameSync(audit, `${audit}.logrotated`);
  proxy.child.kill('SIGHUP');
  // The new file appears on the signal alone, before any decision is written to it.
  await until('the new audit file', () => existsSync(audit), 20_000, 20);
  for (let i = 0; i < 4; i++) expect(await query(DEFAULT_USER, 'SELECT pat_name FROM patient WHERE pat_id = 1')).toBe('ok');
  expect(await query(NOBODY, 'SELECT pg_read_file(pat_name) FROM patient')).toBe('0A000');
});

afterAll(async () => {
  await proxy?.close();
  cfg?.destroy();
  await db?.destroy();
  for (const d of [logDir, stub]) rmSync(d, { recursive: true, force: true });
});

describe('kubectl clarus audit over a rotating proxy\'s log', () => {
  it('verifies every decision across the size-rotated files, the logrotated one and the new file', async () => {
    const files = readdirSync(logDir);
    expect(files.length).toBeGreaterThanOrEqual(4);
    expect(files).toContain('audit.jsonl.logrotated');
    expect(readFileSync(audit, 'utf8').split('\n').filter(Boolean).length).toBe(5);
    expect(await plugin('audit', 'verify', audit)).toEqual({ code: 0, out: `ok: ${statements} decisions in ${files.length} file(s)\n` });
    // No value of a statement reaches the audit log.
    for (const f of files) expect(readFileSync(join(logDir, f), 'utf8')).not.toMatch(/Canary|000-00/);
  });

  it('reads the same files out of a pod with kubectl exec … tar, and filters by user and outcome', async () => {
    const verify = await plugin('audit', 'verify', '--pod', 'ehealth-proxy-5c9-x2', '-n', 'hospital', '--file', audit);
    expect(verify).toEqual({ code: 0, out: `ok: ${statements} decisions in ${readdirSync(logDir).length} file(s)\n` });
    expect(readFileSync(join(stub, 'args'), 'utf8').trim().split('\n')).toEqual(['exec', '-n', 'hospital', 'ehealth-proxy-5c9-x2', '-c', 'clarus-proxy', '--', 'tar', 'cf', '-', '-C', logDir, '.']);
    const refused = (await plugin('audit', 'query', '--pod', 'ehealth-proxy-5c9-x2', '--file', audit, '--user', 'nobody', '--outcome', 'refuse')).out.trim().split('\n');
    expect(refused[0]).toMatch(/^TIME\s+USER\s+OUTCOME\s+CODE\s+DATASETS\s+FINGERPRINT$/);
    expect(refused.slice(1).map((l) => l.split(/\s{2,}/).slice(1, 4))).toEqual([...Array.from({ length: 6 }, () => ['nobody', 'refuse', '42501']), ['nobody', 'refuse', '0A000']]);
    const tail = (await plugin('audit', 'tail', '--pod', 'ehealth-proxy-5c9-x2', '--file', audit, '--user', 'app', '--lines', '2')).out.trim().split('\n');
    expect(tail.slice(1).map((l) => l.split(/\s{2,}/).slice(1, 3))).toEqual([['app', 'allow'], ['app', 'allow']]);
  });

  it('names the pod, file and line where an edited decision breaks the chain; a pod that cannot be read is an error', async () => {
    const victim = join(logDir, 'audit.jsonl.logrotated');
    writeFileSync(victim, readFileSync(victim, 'utf8').replace('"user":"nobody"', '"user":"someone"'));
    const broken = await plugin('audit', 'verify', '--pod', 'ehealth-proxy-5c9-x2', '--file', audit);
    expect(broken.code).toBe(1);
    expect(broken.out).toMatch(new RegExp(`^BROKEN: ehealth-proxy-5c9-x2:${logDir}/audit\\.jsonl\\.logrotated line \\d+: `));
    const missing = await plugin('audit', 'verify', '--pod', 'p', '--file', '/nonexistent/audit.jsonl');
    expect(missing.code).not.toBe(0);
    expect(missing.out).toMatch(/exec default\/p exited with 2/);
  });
});
