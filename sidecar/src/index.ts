// Library entry of the proxy: startProxy() runs one proxy instance in this process.
import { hostname } from 'node:os';
import { loadConfig } from './config/load.ts';
import { replicaIdFor } from './io/cancel.ts';
import type { PeerConfig } from './io/peer-cancel.ts';
import type { KeySource } from './io/key-source.ts';
import { Proxy } from './io/server.ts';
import type { Address, ProxyOptions } from './io/server.ts';
import type { PeerCancelRequest } from './io/peer-cancel.ts';
import type { MetricJson } from './io/workers.ts';
import { createLogger } from '@clarus/log/logger.ts';
import type { Logger } from '@clarus/log/logger.ts';
import { passthroughFactory } from './session/pipeline.ts';
import type { PipelineFactory } from './session/pipeline.ts';

export type { Pipeline, PipelineFactory, SessionInfo } from './session/pipeline.ts';
export type { Address } from './io/server.ts';

export interface StartOptions {
  configDir: string;
  /** HOST:PORT overriding config.listen (port 0 = any free port). */
  listen?: string;
  metricsListen?: string;
  /** Makes the statement pipeline of each session (default: pass-through). */
  pipeline?: PipelineFactory;
  logger?: Logger;
  /** Replica id for cancel keys (default: a hash of host name, namespace and proxy name). */
  replicaId?: number;
  /** Watch the configuration directory for changes (default true). */
  watch?: boolean;
  /** Other replicas of this proxy, for cancel requests that reach the wrong one. */
  peers?: PeerConfig;
  /** Source of the master keys; required when the keyring is wrapped by Vault transit. */
  keys?: KeySource;
  /** This process is one worker of a multi-process proxy (io/workers.ts). */
  worker?: ProxyOptions['worker'];
}

export interface ProxyHandle {
  address: Address;
  metricsAddress: Address;
  /** Reloads the configuration directory now; false when the new one is invalid (old one kept). */
  reload(): boolean;
  /** reload() after unwrapping the keys the new configuration names (what SIGHUP and the watcher do). */
  reloadWithKeys(): Promise<boolean>;
  /** Graceful shutdown: readiness off, transactions finish within limits.drainSeconds, then close. */
  drain(): Promise<void>;
  /** Immediate shutdown. */
  close(): Promise<void>;
  /** What a worker answers its primary (io/workers.ts WorkerServer). */
  ready(): boolean;
  cancelLocal(request: PeerCancelRequest, source: 'worker' | 'peer'): Promise<number>;
  metricsJson(): Promise<MetricJson>;
}

/**
 * Peer settings from `--peers` (`dns:NAME` or `IP,IP,…`), `--peer-port` and the shared secret's
 * contents; undefined when no peers are named. Throws on a malformed value or a short secret.
 */
export function peerConfig(peers: string | undefined, port: string | undefined, secret: Buffer | undefined): PeerConfig | undefined {
  if (!peers) return undefined;
  if (!secret || secret.length < 32) throw new Error('--peers needs --peer-secret-file with at least 32 bytes');
  const p = Number(port);
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Error(`--peer-port: expected the peers' metrics port, got "${port ?? ''}"`);
  return { peers: peerList(peers), port: p, secret };
}

function peerList(peers: string): PeerConfig['peers'] {
  const list = peers.startsWith('dns:') ? { dns: peers.slice(4) } : { addresses: peers.split(',').map((a) => a.trim()).filter(Boolean) };
  if ('dns' in list ? !list.dns : list.addresses.length === 0) throw new Error(`--peers: expected dns:NAME or a list of addresses, got "${peers}"`);
  return list;
}

export function parseHostPort(s: string): Address {
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(s);
  if (!m || Number(m[2]) > 65535) throw new Error(`expected HOST:PORT, got "${s}"`);
  return { host: m[1] || '0.0.0.0', port: Number(m[2]) };
}

/** The replica id of this proxy's cancel keys: a hash of the pod (or host) name, namespace and proxy name. */
export function defaultReplicaId(config: { proxy: { namespace: string; name: string } }): number {
  // POD_NAME (the downward API) names the replica where the host name may not (hostNetwork).
  return replicaIdFor(`${process.env.POD_NAME || hostname()}/${config.proxy.namespace}/${config.proxy.name}`);
}

export async function startProxy(opts: StartOptions): Promise<ProxyHandle> {
  const first = loadConfig(opts.configDir);
  const log = opts.logger ?? createLogger();
  const proxy = new Proxy({
    configDir: opts.configDir, pipeline: opts.pipeline ?? passthroughFactory, log,
    replicaId: opts.replicaId ?? defaultReplicaId(first.config), watch: opts.watch, ...(opts.peers ? { peers: opts.peers } : {}),
    ...(opts.keys ? { keys: opts.keys } : {}), ...(opts.worker ? { worker: opts.worker } : {}),
    ...(opts.listen ? { listen: parseHostPort(opts.listen) } : {}),
    ...(opts.metricsListen ? { metricsListen: parseHostPort(opts.metricsListen) } : {}),
  });
  await proxy.start();
  return {
    address: proxy.address, metricsAddress: proxy.metricsAddress,
    reload: () => proxy.reload(), reloadWithKeys: () => proxy.reloadWithKeys(), drain: () => proxy.drain(), close: () => proxy.close(),
    ready: () => proxy.ready(), cancelLocal: (r, source) => proxy.cancelLocal(r, source), metricsJson: () => proxy.registry.getMetricsAsJSON(),
  };
}
