export { createLogger, levelFromEnv, type Level, type Logger, type Sink } from './logger.ts';
