// `clarus proxy --config DIR [--listen HOST:PORT] [--metrics-listen HOST:PORT] [--workers N]
//   [--peers dns:NAME|IP,… --peer-port PORT --peer-secret-file FILE]` (CLARUS_WORKERS, CLARUS_PEERS,
//   CLARUS_PEER_PORT and CLARUS_PEER_SECRET_FILE are the defaults of the options of those names).
// With more than one worker this process is the primary of io/workers.ts and forks the workers,
// which run this same command as workers.
import { availableParallelism } from 'node:os';
import { basename, dirname, extname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { reopenAuditFiles } from './access/audit-file.ts';
import { protectionPipeline, SPLIT_RECOVERY_DEFAULTS } from './access/setup.ts';
import { KeySource } from './io/key-source.ts';
import { readFileSync } from 'node:fs';
import { defaultReplicaId, parseHostPort, peerConfig, startProxy } from './index.ts';
import { loadConfig } from './config/load.ts';
import type { WorkerSlot } from './io/cancel.ts';
import { runPrimary, workerLink, workerSlot } from './io/workers.ts';
import type { ProxyHandle } from './index.ts';
import type { PeerConfig } from './io/peer-cancel.ts';
import { MAX_IDLE_SECONDS } from './access/residual-setup.ts';
import type { ResidualOptions } from './access/residual-setup.ts';
import { createLogger, levelFromEnv } from '@clarus/log/logger.ts';
import type { Logger } from '@clarus/log/logger.ts';

const USAGE = 'usage: clarus proxy --config DIR [--listen HOST:PORT] [--metrics-listen HOST:PORT] [--workers N] [--peers dns:NAME|IP,... --peer-port PORT --peer-secret-file FILE]';

type Values = { config?: string; listen?: string; 'metrics-listen'?: string; workers?: string; peers?: string; 'peer-port'?: string; 'peer-secret-file'?: string; help?: boolean };

/**
 * The cores this process is given: the CPUs it may run on, bounded by the cgroup (v2) CPU quota
 * of its container (`cpu.max` "QUOTA PERIOD", rounded up), which availableParallelism() ignores.
 */
export function coresGiven(cpuMax: string | undefined, cpus = availableParallelism()): number {
  const m = /^(\d+)\s+(\d+)/.exec(cpuMax ?? '');
  if (!m) return cpus;
  return Math.max(1, Math.min(cpus, Math.ceil(Number(m[1]) / Number(m[2]))));
}

function readCpuMax(): string | undefined {
  try { return readFileSync('/sys/fs/cgroup/cpu.max', 'utf8'); } catch { return undefined; }
}

/** Worker processes: --workers, else CLARUS_WORKERS, else the cores this process is given. Throws on a bad value. */
export function workerCount(flag: string | undefined, env: NodeJS.ProcessEnv, cores = coresGiven(readCpuMax())): number {
  const v = flag ?? env.CLARUS_WORKERS;
  if (v === undefined || v === '') return cores;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`--workers: expected a whole number from 1 to 64, got "${v}"`);
  return n;
}

/** Worker k > 0 of a multi-process proxy writes its own audit chain: `audit.log` → `audit-worker1.log`. */
export function workerAuditFile(path: string, slot: WorkerSlot | undefined): string {
  if (!slot || slot.index === 0) return path;
  const ext = extname(path);
  return join(dirname(path), `${basename(path, ext)}-worker${slot.index}${ext}`);
}

/** CLARUS_SPLIT_RECOVERY_GRACE_SECONDS / CLARUS_SPLIT_RECOVERY_INTERVAL_SECONDS (issue 12). */
export function splitRecoveryFromEnv(env: NodeJS.ProcessEnv): { graceSeconds: number; everySeconds: number } {
  const num = (v: string | undefined, d: number) => (v !== undefined && Number.isFinite(Number(v)) && Number(v) > 0 ? Number(v) : d);
  return { graceSeconds: num(env.CLARUS_SPLIT_RECOVERY_GRACE_SECONDS, SPLIT_RECOVERY_DEFAULTS.graceSeconds), everySeconds: num(env.CLARUS_SPLIT_RECOVERY_INTERVAL_SECONDS, SPLIT_RECOVERY_DEFAULTS.everySeconds) };
}

/** CLARUS_RESIDUAL_IDLE_SECONDS: whole seconds up to MAX_IDLE_SECONDS, 0 for never; else an error. */
function idleFromEnv(idle: string | undefined): number | undefined {
  if (idle === undefined) return undefined;
  if (!/^\d{1,6}$/.test(idle) || Number(idle) > MAX_IDLE_SECONDS) throw new Error(`CLARUS_RESIDUAL_IDLE_SECONDS must be a whole number of seconds up to ${MAX_IDLE_SECONDS} (0: never), not ${JSON.stringify(idle)}`);
  return Number(idle);
}

/**
 * The in-proxy stage (two-stage statements): on unless CLARUS_RESIDUAL=off; bounds from
 * CLARUS_RESIDUAL_MAX_ROWS, CLARUS_RESIDUAL_MAX_BYTES, engines from CLARUS_RESIDUAL_ENGINES, the
 * idle stop from CLARUS_RESIDUAL_IDLE_SECONDS (0: never).
 */
export function residualFromEnv(env: NodeJS.ProcessEnv): ResidualOptions | undefined {
  if ((env.CLARUS_RESIDUAL ?? 'on').toLowerCase() === 'off') return undefined;
  const n = (v: string | undefined): number | undefined => (v && Number.isInteger(Number(v)) && Number(v) > 0 ? Number(v) : undefined);
  const maxRows = n(env.CLARUS_RESIDUAL_MAX_ROWS);
  const maxBytes = n(env.CLARUS_RESIDUAL_MAX_BYTES);
  const engines = n(env.CLARUS_RESIDUAL_ENGINES);
  const idleSeconds = idleFromEnv(env.CLARUS_RESIDUAL_IDLE_SECONDS);
  return { ...(maxRows ? { maxRows } : {}), ...(maxBytes ? { maxBytes } : {}), ...(engines ? { engines } : {}), ...(idleSeconds !== undefined ? { idleSeconds } : {}) };
}

function peersOf(values: Values): PeerConfig | undefined {
  const file = values['peer-secret-file'] ?? process.env.CLARUS_PEER_SECRET_FILE;
  return peerConfig(values.peers ?? process.env.CLARUS_PEERS, values['peer-port'] ?? process.env.CLARUS_PEER_PORT, file ? readFileSync(file) : undefined);
}

/** The parsed options, or the exit code after printing the usage. */
function options(argv: string[]): (Values & { config: string }) | number {
  let values: Values;
  try {
    ({ values } = parseArgs({ args: argv, options: {
      config: { type: 'string' }, listen: { type: 'string' }, 'metrics-listen': { type: 'string' }, workers: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      peers: { type: 'string' }, 'peer-port': { type: 'string' }, 'peer-secret-file': { type: 'string' },
    } }));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) { process.stderr.write(`${USAGE}\n`); return 0; }
  if (!values.config) { process.stderr.write(`--config is required\n${USAGE}\n`); return 2; }
  return { ...values, config: values.config };
}

/**
 * The protection pipeline (rewrite, encryption, grants); CLARUS_AUDIT_LOG names the audit file.
 * CLARUS_AUDIT_MAX_BYTES rotates it by size, keeping CLARUS_AUDIT_MAX_FILES rotated files (default
 * all); SIGHUP reopens it (after logrotate's rename).
 */
async function pipelineFromEnv(configDir: string, keys: KeySource, log: Logger, slot: WorkerSlot | undefined): Promise<Awaited<ReturnType<typeof protectionPipeline>>> {
  const residual = residualFromEnv(process.env);
  // The split recovery loop runs in one process: the first worker.
  const recovery = slot && slot.index > 0 ? false : splitRecoveryFromEnv(process.env);
  return protectionPipeline({ configDir, keys, ...auditFromEnv(process.env, slot), ...(residual ? { residual } : {}), log, splitRecovery: recovery });
}

/** The audit file options; worker k > 0 writes its own chain, and each worker keeps its part of the rotated files (one volume). */
export function auditFromEnv(env: NodeJS.ProcessEnv, slot: WorkerSlot | undefined): { auditFile?: string; auditMaxBytes?: number; auditMaxFiles?: number } {
  const maxBytes = Number(env.CLARUS_AUDIT_MAX_BYTES ?? '') || undefined;
  const allFiles = Number(env.CLARUS_AUDIT_MAX_FILES ?? '') || undefined;
  const maxFiles = allFiles && slot ? Math.max(1, Math.floor(allFiles / slot.count)) : allFiles;
  const audit = env.CLARUS_AUDIT_LOG;
  return { ...(audit ? { auditFile: workerAuditFile(audit, slot) } : {}), ...(maxBytes ? { auditMaxBytes: maxBytes } : {}), ...(maxFiles ? { auditMaxFiles: maxFiles } : {}) };
}

/** The primary of a multi-process proxy: forks the workers, serves metrics and routes cancels. */
async function primary(values: Values & { config: string }, workers: number, log: Logger): Promise<number> {
  let config;
  let peers;
  try {
    config = loadConfig(values.config).config;
    peers = peersOf(values);
  } catch (e) {
    log.error('cannot start', { error: e });
    return 1;
  }
  const metricsListen = values['metrics-listen'] ? parseHostPort(values['metrics-listen']) : config.metricsListen;
  return runPrimary({ workers, metricsListen, replicaId: defaultReplicaId(config), ...(peers ? { peers } : {}),
    cancelTimeoutMs: config.limits.connectTimeoutSeconds * 1000, log });
}

/** Serves until SIGTERM or SIGINT (then drains); SIGHUP reopens the audit files and reloads. */
async function serve(p: ProxyHandle, log: Logger): Promise<void> {
  process.on('SIGHUP', () => { reopenAuditFiles(); void p.reloadWithKeys(); });
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => { log.info('signal', { signal: sig }); void p.drain().then(resolve); };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

/** The primary's worker count when this process must become one (more than one worker), 1 otherwise, or a usage error. */
function primaryWorkers(values: Values, slot: WorkerSlot | undefined): number | Error {
  if (slot) return 1;
  try {
    return workerCount(values.workers, process.env);
  } catch (e) {
    return e as Error;
  }
}

/** Starts this process's proxy (a single one, or worker `slot`); undefined when it cannot start (logged). */
async function startOne(values: Values & { config: string }, slot: WorkerSlot | undefined, log: Logger): Promise<ProxyHandle | undefined> {
  const link = slot ? workerLink() : undefined;
  try {
    // The master keys: the keyring files, or data keys unwrapped through Vault (provider vaultTransit).
    const keys = new KeySource({ log });
    const pipeline = await pipelineFromEnv(values.config, keys, log, slot);
    const peers = peersOf(values);
    const proxy = await startProxy({ configDir: values.config, logger: log, pipeline, keys, ...(peers ? { peers } : {}),
      ...(slot && link ? { worker: { ...slot, forward: link.forward } } : {}),
      ...(values.listen ? { listen: values.listen } : {}), ...(values['metrics-listen'] ? { metricsListen: values['metrics-listen'] } : {}) });
    if (link) { link.serve(proxy); link.listening(proxy.address); }
    return proxy;
  } catch (e) {
    log.error('cannot start', { error: e });
    return undefined;
  }
}

export async function main(argv: string[]): Promise<number> {
  const values = options(argv);
  if (typeof values === 'number') return values;
  const slot = workerSlot(process.env);
  const log = createLogger({ level: levelFromEnv(process.env), base: { component: 'proxy', ...(slot ? { worker: slot.index, pid: process.pid } : {}) } });
  const workers = primaryWorkers(values, slot);
  if (workers instanceof Error) { process.stderr.write(`${workers.message}\n${USAGE}\n`); return 2; }
  if (workers > 1) return primary(values, workers, log);
  const proxy = await startOne(values, slot, log);
  if (!proxy) return 1;
  await serve(proxy, log);
  log.info('stopped');
  // A worker's channel to its primary would keep it running.
  if (slot) process.disconnect?.();
  return 0;
}
