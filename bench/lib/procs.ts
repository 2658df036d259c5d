// Process helpers for the benchmark: find the real server process behind a wrapper (runuser, bash)
// and read its resident memory from /proc.
import { readFileSync } from 'node:fs';

function comm(pid: number): string {
  return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Follows single children through wrapper processes (runuser, su, sh, bash) to the server itself. */
export function serverPid(pid: number): number {
  let cur = pid;
  for (let i = 0; i < 4 && ['runuser', 'su', 'sh', 'bash'].includes(comm(cur)); i++) {
    const kids = children(cur);
    if (kids.length !== 1) break;
    cur = kids[0] as number;
  }
  return cur;
}

/** A process and all its descendants (a multi-worker proxy: the primary and its workers). */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...children(out[i] as number));
  return out;
}

/** VmRSS of a process in MiB; with `tree`, summed over its descendants too. */
export function rssMiB(pid: number, tree = false): number {
  if (tree) return processTree(pid).reduce((sum, p) => { try { return sum + rssMiB(p); } catch { return sum; } }, 0);
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}

const CLOCK_TICKS = 100; // USER_HZ on Linux (getconf CLK_TCK), the unit of /proc/<pid>/stat times

/** User + system CPU seconds a process (with `tree`: and its descendants) has used so far (/proc/<pid>/stat fields 14 and 15). */
export function cpuSeconds(pid: number, tree = false): number {
  if (tree) return processTree(pid).reduce((sum, p) => { try { return sum + cpuSeconds(p); } catch { return sum; } }, 0);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces; the fields after it are space-separated.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / CLOCK_TICKS;
}
