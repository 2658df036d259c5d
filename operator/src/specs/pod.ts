// The proxy container and its configuration volume, shared by the Deployment and the sidecar.
import type { ClarusProxy } from '@clarus/crds';
import type { RuntimeConfig } from '@clarus/policy';
import { CONFIG_DIR, CONFIG_KEY, CONFIG_VOLUME, CONTAINER_NAME, configMapName, secretName } from './names.ts';
import type { BuildOptions } from './types.ts';

export const PRESTOP_SLEEP_SECONDS = 5;
/** The proxy container's user and group (no account in the image: files are read as "others"). */
export const PROXY_UID = 65532;
/**
 * A proxy that computes two-stage statements holds an embedded PostgreSQL engine (~300 MiB of
 * WebAssembly memory, growing with the largest candidate set, up to about 4× limits.computeMaxBytes):
 * measured RSS of an encrypting proxy with its engine started is 350–590 MiB, and for a second or two
 * while V8 optimizes the engine's WebAssembly the RSS peaks at 1,013–1,035 MiB (bench/memory-rest.ts,
 * bench/results/2026-12-02T0440Z-memory-rest-*.md): the limit is 1.5 GiB so that the peak is not an
 * OOM kill; the request stays at what the proxy holds while the engine runs (it is stopped after
 * limits.computeIdleSeconds without a two-stage statement, ≈ 110–120 MiB then, and its start-up
 * peak comes back with each restart).
 */
export const DEFAULT_RESOURCES = {
  requests: { cpu: '100m', memory: '512Mi' },
  limits: { memory: '1536Mi' },
};

/**
 * Worker processes per proxy container: `spec.workers` (default 1), always passed explicitly, since
 * the proxy's own default (the cores given, `docs/proxy.md`) would follow the node's cores in a
 * container without a CPU limit. Each worker holds its own parsers, caches and engine.
 */
export function workersEnv(proxy: ClarusProxy): { name: string; value: string } {
  return { name: 'CLARUS_WORKERS', value: String(proxy.spec.workers ?? 1) };
}

/** Memory request and limit per worker: DEFAULT_RESOURCES is sized for one. */
const WORKER_MEMORY_REQUEST_MI = 512;
const WORKER_MEMORY_LIMIT_MI = 1536;

type Resources = NonNullable<ClarusProxy['spec']['resources']>;

/**
 * The container's resources, consistent with its worker count: without `spec.resources`, memory
 * scales with the workers and, above one worker, one CPU is requested per worker (a worker without
 * a core of its own only competes with the others); given resources are kept, a missing CPU request
 * above one worker is filled in the same way.
 */
export function proxyResources(proxy: ClarusProxy): Resources {
  const workers = proxy.spec.workers ?? 1;
  const given = proxy.spec.resources;
  if (!given) {
    if (workers === 1) return DEFAULT_RESOURCES;
    return {
      requests: { cpu: String(workers), memory: `${WORKER_MEMORY_REQUEST_MI * workers}Mi` },
      limits: { memory: `${WORKER_MEMORY_LIMIT_MI * workers}Mi` },
    };
  }
  if (workers === 1 || given.requests?.cpu !== undefined) return given;
  return { ...given, requests: { ...given.requests, cpu: String(workers) } };
}

export function proxyImage(proxy: ClarusProxy, options: BuildOptions): string {
  return proxy.spec.image ?? options.defaultImage;
}

/** Lifetime the kubelet gives the projected service-account token of Vault's kubernetes auth (it renews at 80%). */
export const VAULT_TOKEN_SECONDS = 3600;

/**
 * Projected volume reproducing the runtime-config directory layout of policy/src/runtime/config.ts.
 * With Vault's kubernetes auth it also holds a short-lived service-account token of the pod at the
 * path the runtime configuration names (the kubelet refreshes it; the proxy reads it at each login).
 */
export function configVolume(proxyName: string, items: Array<{ key: string; path: string }>, config?: RuntimeConfig): Record<string, unknown> {
  const sources: Array<Record<string, unknown>> = [
    { configMap: { name: configMapName(proxyName), items: [{ key: CONFIG_KEY, path: CONFIG_KEY }] } },
  ];
  if (items.length > 0) sources.push({ secret: { name: secretName(proxyName), items } });
  const auth = config?.policy.keyring.vaultTransit?.auth;
  if (auth?.method === 'kubernetes') {
    sources.push({ serviceAccountToken: { path: auth.tokenFile, expirationSeconds: VAULT_TOKEN_SECONDS, ...(auth.audience ? { audience: auth.audience } : {}) } });
  }
  return { name: CONFIG_VOLUME, projected: { defaultMode: 0o440, sources } };
}

/** Time the kubelet gives a pod to stop: the preStop pause, the proxy's own drain, plus slack. */
export function terminationGraceSeconds(config: RuntimeConfig): number {
  return PRESTOP_SLEEP_SECONDS + config.limits.drainSeconds + 5;
}

export interface ContainerInput {
  proxy: ClarusProxy;
  config: RuntimeConfig;
  options: BuildOptions;
  extraArgs?: string[];
}

export function proxyContainer({ proxy, config, options, extraArgs = [] }: ContainerInput): Record<string, unknown> {
  const probe = (path: string, periodSeconds: number): Record<string, unknown> => ({
    httpGet: { path, port: 'metrics' },
    periodSeconds,
    timeoutSeconds: 2,
    failureThreshold: 3,
  });
  return {
    name: CONTAINER_NAME,
    image: proxyImage(proxy, options),
    imagePullPolicy: options.imagePullPolicy ?? 'IfNotPresent',
    args: ['proxy', '--config', CONFIG_DIR, ...extraArgs],
    ports: [
      { name: 'postgres', containerPort: config.listen.port, protocol: 'TCP' },
      { name: 'metrics', containerPort: config.metricsListen.port, protocol: 'TCP' },
    ],
    readinessProbe: probe('/readyz', 5),
    livenessProbe: { ...probe('/healthz', 10), initialDelaySeconds: 5 },
    lifecycle: { preStop: { sleep: { seconds: PRESTOP_SLEEP_SECONDS } } },
    resources: proxyResources(proxy),
    securityContext: {
      runAsNonRoot: true,
      runAsUser: PROXY_UID,
      runAsGroup: PROXY_UID,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [{ name: CONFIG_VOLUME, mountPath: CONFIG_DIR, readOnly: true }],
  };
}
