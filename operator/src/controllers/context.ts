// What every reconciler gets: the API client, the caches, operator settings, a clock and a logger.
import type { AccessGrant, ClarusProxy, CloudBackend, SecretManifest, SecurityPolicy } from '@clarus/crds';
import type { KubeClient } from '../kube/client.ts';
import type { Cache } from '../kube/informer.ts';
import type { Logger } from '../log.ts';
import type { BuildOptions, KubeObject, Rendered } from '../specs/types.ts';
import type { Lookup, Problem } from '@clarus/policy/inputs.ts';
import type { RenderInput as ProxyInputs } from '@clarus/policy/runtime/render.ts';

export type RenderOutcome = { ok: true; rendered: Rendered } | ({ ok: false } & Problem);
export type RenderFn = (inputs: ProxyInputs) => RenderOutcome;

type Cached<T> = T & KubeObject;

export interface Caches {
  proxies: Cache<Cached<ClarusProxy>>;
  policies: Cache<Cached<SecurityPolicy>>;
  backends: Cache<Cached<CloudBackend>>;
  grants: Cache<Cached<AccessGrant>>;
  secrets: Cache<Cached<SecretManifest>>;
  deployments: Cache;
}

export interface Context {
  client: KubeClient;
  caches: Caches;
  options: BuildOptions;
  render: RenderFn;
  log: Logger;
  now: () => Date;
  /** Timeout of the optional CloudBackend reachability check; 0 disables it. */
  reachabilityTimeoutMs: number;
}

export function lookupFrom(caches: Caches): Lookup {
  return {
    policy: (ns, name) => caches.policies.get(ns, name),
    backend: (ns, name) => caches.backends.get(ns, name),
    secret: (ns, name) => caches.secrets.get(ns, name),
    grants: (ns) => caches.grants.list(ns),
  };
}

export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
