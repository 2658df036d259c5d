// The operator logs through the shared JSON-lines logger (@clarus/log, one object per line on
// stderr), so operator and proxy write the same record shape; this module only keeps the
// operator's call signature.
import { createLogger as createJsonLogger } from '@clarus/log/logger.ts';
import type { Level, Logger, Sink } from '@clarus/log/logger.ts';

export type { Level, Logger, Sink };

export function createLogger(level: Level = 'info', base: Record<string, unknown> = {}, sink?: Sink): Logger {
  return createJsonLogger({ level, base, ...(sink ? { sink } : {}) });
}
