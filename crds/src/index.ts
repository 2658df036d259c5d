export * from './types.ts';
export * from './runtime/config.ts';
