// Child processes of the control plane. Each runs in its own process group (detached) so that
// stopping it also stops anything it forked; output goes to a log file the test can print on failure.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { poll } from '@clarus/testing/wait.ts';

export interface ManagedProcess {
  readonly name: string;
  readonly logPath: string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  readonly pid: number;
  isRunning(): boolean;
  /** SIGTERM to the process group, SIGKILL after graceMs; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
  /** The last lines of its log, for error messages. */
  tail(lines?: number): string;
}

export interface SpawnOptions {
  name: string;
  command: string;
  args: string[];
  logPath: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

const live = new Set<ManagedProcess>();
let exitHookInstalled = false;

/** If the test process dies without running afterAll, its children must not outlive it. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of live) killGroup(p.pid, 'SIGKILL');
  });
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone: nothing to stop.
  }
}

function tailOf(path: string, lines: number): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export function startProcess(opts: SpawnOptions): ManagedProcess {
  installExitHook();
  const fd = openSync(opts.logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(opts.command, opts.args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
  } finally {
    closeSync(fd);
  }
  if (child.pid === undefined) throw new Error(`${opts.name}: could not start ${opts.command}`);
  const pid = child.pid;
  let running = true;
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => {
      running = false;
      resolve(code ?? signal ?? 'unknown');
    });
    child.on('error', () => {
      running = false;
      resolve('spawn-error');
    });
  });
  const managed: ManagedProcess = {
    name: opts.name,
    logPath: opts.logPath,
    exited,
    pid,
    isRunning: () => running,
    tail: (lines = 40) => tailOf(opts.logPath, lines),
    async stop(graceMs = 10_000) {
      if (running) {
        killGroup(pid, 'SIGTERM');
        const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      // The leader may be gone while something it forked still holds the group.
      killGroup(pid, 'SIGKILL');
      live.delete(managed);
    },
  };
  live.add(managed);
  void exited.then(() => {
    if (!running) live.delete(managed);
  });
  return managed;
}

export { freePort } from '@clarus/testing/ports.ts';

/** Polls check() until it returns a value, the process dies, or the deadline passes (testing's poll, with the process's log). */
export function waitUntil<T>(what: string, check: () => Promise<T | undefined>,
  opts: { timeoutMs: number; intervalMs?: number; proc?: ManagedProcess }): Promise<T> {
  const { proc } = opts;
  return poll(what, check, {
    ms: opts.timeoutMs,
    stepMs: opts.intervalMs ?? 250,
    ...(proc ? { abort: () => (proc.isRunning() ? undefined : `${proc.name} exited`), context: () => `--- ${proc.name} log ---\n${proc.tail()}` } : {}),
  });
}
