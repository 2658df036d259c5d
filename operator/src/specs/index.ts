export * from './types.ts';
export * from './names.ts';
export * from './hash.ts';
export * from './config.ts';
export * from './pod.ts';
export * from './workload.ts';
export * from './sidecar.ts';
export * from './peers.ts';
