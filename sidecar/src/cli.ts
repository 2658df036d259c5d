// `clarus proxy --config DIR [--listen HOST:PORT] [--metrics-listen HOST:PORT]
//   [--peers dns:NAME|IP,… --peer-port PORT --peer-secret-file FILE]` (CLARUS_PEERS,
//   CLARUS_PEER_PORT and CLARUS_PEER_SECRET_FILE are the defaults of the last three).
import { parseArgs } from 'node:util';
import { reopenAuditFiles } from './access/audit-file.ts';
import { protectionPipeline, SPLIT_RECOVERY_DEFAULTS } from './access/setup.ts';
import { KeySource } from './io/key-source.ts';
import { readFileSync } from 'node:fs';
import { peerConfig, startProxy } from './index.ts';
import type { ProxyHandle } from './index.ts';
import type { PeerConfig } from './io/peer-cancel.ts';
import type { ResidualOptions } from './access/residual-setup.ts';
import { createLogger, levelFromEnv } from '@clarus/log/logger.ts';
import type { Logger } from '@clarus/log/logger.ts';

const USAGE = 'usage: clarus proxy --config DIR [--listen HOST:PORT] [--metrics-listen HOST:PORT] [--peers dns:NAME|IP,... --peer-port PORT --peer-secret-file FILE]';

type Values = { config?: string; listen?: string; 'metrics-listen'?: string; peers?: string; 'peer-port'?: string; 'peer-secret-file'?: string; help?: boolean };

/**
 * The in-proxy stage (two-stage statements): on unless CLARUS_RESIDUAL=off; bounds from
 * CLARUS_RESIDUAL_MAX_ROWS, CLARUS_RESIDUAL_MAX_BYTES, engines from CLARUS_RESIDUAL_ENGINES.
 */
/** CLARUS_SPLIT_RECOVERY_GRACE_SECONDS / CLARUS_SPLIT_RECOVERY_INTERVAL_SECONDS (issue 12). */
export function splitRecoveryFromEnv(env: NodeJS.ProcessEnv): { graceSeconds: number; everySeconds: number } {
  const num = (v: string | undefined, d: number) => (v !== undefined && Number.isFinite(Number(v)) && Number(v) > 0 ? Number(v) : d);
  return { graceSeconds: num(env.CLARUS_SPLIT_RECOVERY_GRACE_SECONDS, SPLIT_RECOVERY_DEFAULTS.graceSeconds), everySeconds: num(env.CLARUS_SPLIT_RECOVERY_INTERVAL_SECONDS, SPLIT_RECOVERY_DEFAULTS.everySeconds) };
}

export function residualFromEnv(env: NodeJS.ProcessEnv): ResidualOptions | undefined {
  if ((env.CLARUS_RESIDUAL ?? 'on').toLowerCase() === 'off') return undefined;
  const n = (v: string | undefined): number | undefined => (v && Number.isInteger(Number(v)) && Number(v) > 0 ? Number(v) : undefined);
  const maxRows = n(env.CLARUS_RESIDUAL_MAX_ROWS);
  const maxBytes = n(env.CLARUS_RESIDUAL_MAX_BYTES);
  const engines = n(env.CLARUS_RESIDUAL_ENGINES);
  return { ...(maxRows ? { maxRows } : {}), ...(maxBytes ? { maxBytes } : {}), ...(engines ? { engines } : {}) };
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
      config: { type: 'string' }, listen: { type: 'string' }, 'metrics-listen': { type: 'string' }, help: { type: 'boolean', short: 'h' },
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
async function pipelineFromEnv(configDir: string, keys: KeySource, log: Logger): Promise<Awaited<ReturnType<typeof protectionPipeline>>> {
  const maxBytes = Number(process.env.CLARUS_AUDIT_MAX_BYTES ?? '') || undefined;
  const maxFiles = Number(process.env.CLARUS_AUDIT_MAX_FILES ?? '') || undefined;
  const residual = residualFromEnv(process.env);
  return protectionPipeline({ configDir, keys, ...(process.env.CLARUS_AUDIT_LOG ? { auditFile: process.env.CLARUS_AUDIT_LOG } : {}),
    ...(maxBytes ? { auditMaxBytes: maxBytes } : {}), ...(maxFiles ? { auditMaxFiles: maxFiles } : {}), ...(residual ? { residual } : {}), log, splitRecovery: splitRecoveryFromEnv(process.env) });
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

export async function main(argv: string[]): Promise<number> {
  const values = options(argv);
  if (typeof values === 'number') return values;
  const log = createLogger({ level: levelFromEnv(process.env), base: { component: 'proxy' } });
  let proxy: ProxyHandle;
  try {
    // The master keys: the keyring files, or data keys unwrapped through Vault (provider vaultTransit).
    const keys = new KeySource({ log });
    const pipeline = await pipelineFromEnv(values.config, keys, log);
    const peers = peersOf(values);
    proxy = await startProxy({ configDir: values.config, logger: log, pipeline, keys, ...(peers ? { peers } : {}),
      ...(values.listen ? { listen: values.listen } : {}), ...(values['metrics-listen'] ? { metricsListen: values['metrics-listen'] } : {}) });
  } catch (e) {
    log.error('cannot start', { error: e });
    return 1;
  }
  await serve(proxy, log);
  log.info('stopped');
  return 0;
}
