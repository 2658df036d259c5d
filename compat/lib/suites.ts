// The three client suites: how each is started and how its per-test lines are read. Each suite
// runs as its own process with CLARUS_* (the endpoint under test) and BACKEND_* (a direct
// connection for checking what was stored) in its environment.
import { spawn } from 'node:child_process';
import { join } from 'node:path';

export interface SuiteResult { suite: string; passed: string[]; failed: string[]; exitCode: number | null }

export interface Suite {
  name: string;
  /** Command and arguments; undefined with a reason when its toolchain was not installed. */
  command(root: string): { cmd: string; args: string[]; cwd: string } | { missing: string };
  /** One test outcome from one output line, or undefined for other lines. */
  parseLine(line: string): { ok: boolean; name: string } | undefined;
}

/** `PASS name` / `FAIL name: reason`, the format the Python and Java suites print. */
export function parsePlainLine(line: string): { ok: boolean; name: string } | undefined {
  const m = /^(PASS|FAIL) ([\w.-]+)/.exec(line);
  return m ? { ok: m[1] === 'PASS', name: m[2] ?? '' } : undefined;
}

/** Top-level `--- PASS: TestX (0.01s)` lines of `go test -v` (subtests are indented). */
export function parseGoLine(line: string): { ok: boolean; name: string } | undefined {
  const m = /^--- (PASS|FAIL): (\S+)/.exec(line);
  return m ? { ok: m[1] === 'PASS', name: m[2] ?? '' } : undefined;
}

export const SUITES: Suite[] = [
  {
    name: 'psycopg',
    command: (root) => {
      const venv = process.env.COMPAT_VENV;
      if (!venv) return { missing: 'COMPAT_VENV not set (run through scripts/compat.sh)' };
      return { cmd: join(venv, 'bin', 'python'), args: [join(root, 'compat/python/compat_psycopg.py')], cwd: root };
    },
    parseLine: parsePlainLine,
  },
  {
    name: 'pgjdbc',
    command: (root) => {
      const cp = process.env.COMPAT_JAVA_CP;
      if (!cp) return { missing: 'COMPAT_JAVA_CP not set (run through scripts/compat.sh)' };
      return { cmd: 'java', args: ['-cp', cp, 'dev.clarus.compat.PgjdbcCompat'], cwd: root };
    },
    parseLine: parsePlainLine,
  },
  {
    name: 'pgx',
    command: (root) => {
      const bin = process.env.COMPAT_GO_TEST;
      if (!bin) return { missing: 'COMPAT_GO_TEST not set (run through scripts/compat.sh)' };
      return { cmd: bin, args: ['-test.v', '-test.count=1'], cwd: join(root, 'compat/go') };
    },
    parseLine: parseGoLine,
  },
];

const python = (script: string) => (root: string): { cmd: string; args: string[]; cwd: string } | { missing: string } => {
  const venv = process.env.COMPAT_VENV;
  if (!venv) return { missing: 'COMPAT_VENV not set (run through scripts/compat.sh)' };
  return { cmd: join(venv, 'bin', 'python'), args: [join(root, 'compat/python', script)], cwd: join(root, 'compat/python') };
};

const nodeOrm = (script: string) => (root: string): { cmd: string; args: string[]; cwd: string } | { missing: string } => {
  if (!process.env.COMPAT_NODE_MODULES) return { missing: 'COMPAT_NODE_MODULES not set (run through scripts/compat.sh)' };
  return { cmd: process.execPath, args: [join(root, 'compat/node', script)], cwd: join(root, 'compat/node') };
};

/**
 * The ORM suites (issue 11): each runs an application's life through a proxy whose policy
 * encrypts its customer table (compat/lib/orm-target.ts) and against an oracle database.
 */
export const ORM_SUITES: Suite[] = [
  { name: 'orm-sqlalchemy', command: python('orm_sqlalchemy.py'), parseLine: parsePlainLine },
  { name: 'orm-django', command: python('orm_django.py'), parseLine: parsePlainLine },
  { name: 'orm-django-test', command: python('orm_django_test.py'), parseLine: parsePlainLine },
  { name: 'orm-sequelize', command: nodeOrm('sequelize.mjs'), parseLine: parsePlainLine },
  { name: 'orm-typeorm', command: nodeOrm('typeorm.mjs'), parseLine: parsePlainLine },
  {
    name: 'orm-hibernate',
    command: (root) => {
      const cp = process.env.COMPAT_HIBERNATE_CP;
      if (!cp) return { missing: 'COMPAT_HIBERNATE_CP not set (run through scripts/compat.sh)' };
      return { cmd: 'java', args: ['-cp', cp, 'dev.clarus.compat.HibernateCompat'], cwd: root };
    },
    parseLine: parsePlainLine,
  },
];

/** Runs one suite, echoing its output with a prefix, and collects its outcomes. */
export async function runSuite(suite: Suite, root: string, env: Record<string, string>): Promise<SuiteResult> {
  const res: SuiteResult = { suite: suite.name, passed: [], failed: [], exitCode: null };
  const c = suite.command(root);
  if ('missing' in c) {
    res.failed.push(`${suite.name}: ${c.missing}`);
    return res;
  }
  const child = spawn(c.cmd, c.args, { cwd: c.cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const onLine = (line: string) => {
    if (line.startsWith('=== ')) return; // go test -v progress lines
    process.stdout.write(`[${suite.name}] ${line}\n`);
    const r = suite.parseLine(line);
    if (r) (r.ok ? res.passed : res.failed).push(r.name);
  };
  const pump = (stream: NodeJS.ReadableStream) => {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) { onLine(buf.slice(0, i)); buf = buf.slice(i + 1); }
    });
    stream.on('end', () => { if (buf) onLine(buf); });
  };
  pump(child.stdout);
  pump(child.stderr);
  // A hung session (e.g. a proxy that never answers) must fail the suite, not stall `make test`.
  const limit = Number(process.env.COMPAT_SUITE_TIMEOUT_SECONDS ?? 300);
  const timer = setTimeout(() => {
    res.failed.push(`${suite.name} timed out after ${limit} s`);
    child.kill('SIGKILL');
  }, limit * 1000);
  res.exitCode = await new Promise<number | null>((resolve) => {
    child.on('error', (e) => { onLine(`cannot start ${c.cmd}: ${e.message}`); resolve(-1); });
    child.on('close', (code) => resolve(code));
  });
  clearTimeout(timer);
  // A crash or a compile error that printed no FAIL line still has to count as a failure.
  if (res.exitCode !== 0 && res.failed.length === 0) res.failed.push(`${suite.name} exited with ${res.exitCode}`);
  return res;
}
