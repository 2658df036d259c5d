// The operator logs through the proxy's JSON-lines logger (one object per line on stderr), so both
// processes write the same record shape; this module only keeps the operator's call signature.
import { createLogger as createJsonLogger } from '../../sidecar/src/log/logger.ts';
import type { Level, Logger, Sink } from '../../sidecar/src/log/logger.ts';

export type { Level, Logger, Sink };

export function createLogger(level: Level = 'info', base: Record<string, unknown> = {}, sink?: Sink): Logger {
  return createJsonLogger({ level, base, ...(sink ? { sink } : {}) });
}
