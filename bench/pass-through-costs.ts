// `node bench/pass-through-costs.ts` (issue 15, goal 1): where a pass-through transaction's CPU goes,
// PgBouncer against the Clarus proxy, in the same minutes. One PostgreSQL cluster (pgbench -i, scale 1);
// for each target in turn, a warm-up, then three pgbench select-only runs (8 clients, MODE, default
// simple) of SECONDS (4) each with a tool attached to the pooler's or proxy's process:
//  - `strace -c -f`: system calls per transaction (how many reads, writes, polls, futex waits);
//  - `perf stat`: task clock (CPU) per transaction, context switches, page faults;
//  - `perf record -e cpu-clock`: the share of the samples in the kernel, the process's own binary,
//    JIT code and libc (`perf report --sort dso`), and the same as samples per transaction.
// Writes bench/results/<minute>-pass-through-costs.md. Needs `perf` and `strace` (Debian packages);
// the tools slow the traced process, so the tps here are not the benchmark's (`make bench`).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPostgres } from '@clarus/testing/pg.ts';
import { initPgbench, runPgbench } from './lib/pgbench.ts';
import { plainEndpoint, TARGETS } from './lib/targets.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const minute = new Date().toISOString().slice(0, 16).replace(':', '') + 'Z';
const seconds = Number(process.env.SECONDS_EACH ?? 4);
const mode = process.env.MODE ?? 'simple';
const names = (process.env.TARGETS ?? 'pgbouncer,clarus').split(',');
const work = mkdtempSync(join(tmpdir(), 'clarus-ptc-'));

/** Runs pgbench while `tool args… -p PID` watches the process; returns the tool's stderr and the transactions. */
async function traced(endpoint: Parameters<typeof runPgbench>[0], pid: number, tool: string, args: string[]): Promise<{ out: string; tx: number }> {
  const child = spawn(tool, [...args, '-p', String(pid)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr.on('data', (c: Buffer) => { out += c.toString(); });
  await new Promise((r) => setTimeout(r, 500));
  const res = await runPgbench(endpoint, ['-S', '-M', mode], 8, seconds);
  child.kill('SIGINT');
  await new Promise((r) => child.on('exit', r));
  return { out, tx: res.transactions };
}

/** strace -c's table as calls per transaction, the busiest first. */
function syscalls(out: string, tx: number): string {
  const rows = out.split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f.length >= 5 && /^\d/.test(f[0] ?? '') && f[f.length - 1] !== 'total');
  return rows.map((f) => `${f[f.length - 1]} ${(Number(f[3]) / tx).toFixed(2)}`).slice(0, 8).join(', ');
}

function perfStat(out: string, tx: number): string {
  const num = (name: string): number => Number((out.split('\n').find((l) => l.includes(name))?.trim().split(/\s+/)[0] ?? 'NaN').replace(/,/g, ''));
  return `${((num('task-clock') * 1000) / tx).toFixed(1)} µs CPU, ${(num('context-switches') / tx).toFixed(2)} context switches, ${(num('page-faults') / tx).toFixed(3)} page faults`;
}

/** perf report's share per DSO, with the samples per 1,000 transactions. */
function dsos(data: string, tx: number): string {
  const report = execFileSync('perf', ['report', '-i', data, '--no-children', '-n', '--sort', 'dso', '--stdio', '-g', 'none'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  // Rows: "  64.63%  5860  [kernel.kallsyms]".
  const rows = report.split('\n').filter((l) => /^\s+\d+\.\d+%\s+\d+/.test(l)).slice(0, 6).map((l) => l.trim().split(/\s+/));
  return rows.map(([pct, n, ...name]) => `${name.join(' ')} ${pct} (${((Number(n) * 1000) / tx).toFixed(0)})`).join(', ');
}

const pg = await startPostgres();
const lines = [`# Pass-through costs (bench/pass-through-costs.ts), ${minute}`, '',
  `pgbench -S -M ${mode}, 8 clients, ${seconds} s per tool, one target at a time; load average ${loadavg()[0]?.toFixed(1)} at start; commit ${execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD']).toString().trim()}.`,
  'Per transaction: system calls (strace -c -f), CPU and scheduling (perf stat), and the CPU samples by binary (perf record -e cpu-clock at 4 kHz; in parentheses samples per 1,000 transactions).', '',
  '| target | system calls per transaction | perf stat per transaction | CPU samples by binary |', '| --- | --- | --- | --- |'];
try {
  await initPgbench(plainEndpoint(pg.host, pg.port), plainEndpoint(pg.host, pg.port).password, 1);
  for (const n of names) {
    const target = TARGETS.find((x) => x.name === n);
    if (!target) throw new Error(`no target ${n}`);
    const t = await target.start(pg, { maxSessions: 20 });
    try {
      await runPgbench(t.endpoint, ['-S', '-M', mode], 8, 2);
      const pid = t.pid as number;
      const s = await traced(t.endpoint, pid, 'strace', ['-c', '-f']);
      const st = await traced(t.endpoint, pid, 'perf', ['stat', '-e', 'task-clock,page-faults,context-switches']);
      const data = join(work, `${n}.data`);
      const rec = await traced(t.endpoint, pid, 'perf', ['record', '-e', 'cpu-clock', '-o', data]);
      const row = `| ${n} | ${syscalls(s.out, s.tx)} | ${perfStat(st.out, st.tx)} | ${dsos(data, rec.tx)} |`;
      lines.push(row);
      process.stdout.write(`${row}\n`);
    } finally {
      await t.stop();
    }
  }
} finally {
  await pg.destroy();
  rmSync(work, { recursive: true, force: true });
}
lines.push('', `load average at end ${loadavg()[0]?.toFixed(1)}.`);
const file = join(root, 'bench/results', `${minute}-pass-through-costs.md`);
writeFileSync(file, `${lines.join('\n')}\n`);
process.stdout.write(`wrote ${file}\n${readFileSync(file, 'utf8')}`);
