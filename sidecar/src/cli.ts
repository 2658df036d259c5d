// `clarus proxy --config DIR [--listen HOST:PORT] [--metrics-listen HOST:PORT]`
import { parseArgs } from 'node:util';
import { protectionPipeline } from './access/setup.ts';
import { startProxy } from './index.ts';
import { createLogger, levelFromEnv } from './log/logger.ts';

const USAGE = 'usage: clarus proxy --config DIR [--listen HOST:PORT] [--metrics-listen HOST:PORT]';

export async function main(argv: string[]): Promise<number> {
  let values: { config?: string; listen?: string; 'metrics-listen'?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ args: argv, options: {
      config: { type: 'string' }, listen: { type: 'string' }, 'metrics-listen': { type: 'string' }, help: { type: 'boolean', short: 'h' },
    } }));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) { process.stderr.write(`${USAGE}\n`); return 0; }
  if (!values.config) { process.stderr.write(`--config is required\n${USAGE}\n`); return 2; }
  const log = createLogger({ level: levelFromEnv(process.env), base: { component: 'proxy' } });
  let proxy;
  try {
    // The protection pipeline (rewrite, encryption, grants); CLARUS_AUDIT_LOG names the audit file.
    const pipeline = await protectionPipeline({ configDir: values.config, ...(process.env.CLARUS_AUDIT_LOG ? { auditFile: process.env.CLARUS_AUDIT_LOG } : {}) });
    proxy = await startProxy({ configDir: values.config, logger: log, pipeline,
      ...(values.listen ? { listen: values.listen } : {}), ...(values['metrics-listen'] ? { metricsListen: values['metrics-listen'] } : {}) });
  } catch (e) {
    log.error('cannot start', { error: e });
    return 1;
  }
  const p = proxy;
  process.on('SIGHUP', () => { p.reload(); });
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => { log.info('signal', { signal: sig }); void p.drain().then(resolve); };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  log.info('stopped');
  return 0;
}
