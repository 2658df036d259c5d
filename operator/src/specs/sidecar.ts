// Sidecar injection as a JSONPatch (RFC 6902) against the pod being admitted. Pure: the same pod and
// proxy always give the same patch, and a pod that already carries the proxy gets an empty patch.
import type { ClarusProxy } from '@clarus/crds';
import type { RuntimeConfig } from '@clarus/policy';
import { CONFIG_HASH_ANNOTATION, CONFIG_VOLUME, CONTAINER_NAME, INJECTED_ANNOTATION } from './names.ts';
import { configVolume, proxyContainer, proxyImage, workersEnv } from './pod.ts';
import { AUDIT_ENV, auditMount, auditVolume } from './audit.ts';
import { hashOf } from './hash.ts';
import type { BuildOptions } from './types.ts';

export const SIDECAR_LISTEN = '127.0.0.1:5432';

export interface PatchOp { op: 'add' | 'replace'; path: string; value: unknown }

interface Named { name?: string }
export interface PodLike {
  metadata?: { annotations?: Record<string, string>; labels?: Record<string, string> };
  spec?: { initContainers?: Named[]; containers?: Named[]; volumes?: Named[] };
}

export interface SidecarInput {
  pod: PodLike;
  proxy: ClarusProxy;
  config: RuntimeConfig;
  items: Array<{ key: string; path: string }>;
  options: BuildOptions;
}

export function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

export function alreadyInjected(pod: PodLike): boolean {
  const named = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  return named.some((c) => c.name === CONTAINER_NAME) || (pod.spec?.volumes ?? []).some((v) => v.name === CONFIG_VOLUME);
}

/** The native sidecar: an init container with restartPolicy Always, started before the app containers. */
export function sidecarContainer(input: Omit<SidecarInput, 'pod'>): Record<string, unknown> {
  const container = proxyContainer({ ...input, extraArgs: ['--listen', SIDECAR_LISTEN] });
  return { ...container, env: [...AUDIT_ENV, workersEnv(input.proxy)], volumeMounts: [...(container.volumeMounts as unknown[]), auditMount()], restartPolicy: 'Always' };
}

/** Adds `value` at the front of the array at `path`, creating the array when the pod has none. */
function prepend(path: string, existing: unknown[] | undefined, value: unknown): PatchOp {
  return existing === undefined ? { op: 'add', path, value: [value] } : { op: 'add', path: `${path}/0`, value };
}

function annotationOps(pod: PodLike, annotations: Record<string, string>): PatchOp[] {
  if (pod.metadata?.annotations === undefined) return [{ op: 'add', path: '/metadata/annotations', value: annotations }];
  return Object.entries(annotations).map(([k, v]) => ({
    op: 'add' as const,
    path: `/metadata/annotations/${escapePointer(k)}`,
    value: v,
  }));
}

export function sidecarPatch(input: SidecarInput): PatchOp[] {
  const { pod, proxy, config, items, options } = input;
  if (alreadyInjected(pod)) return [];
  const hash = hashOf({ config, items, image: proxyImage(proxy, options) });
  return [
    ...(pod.metadata === undefined ? [{ op: 'add' as const, path: '/metadata', value: {} }] : []),
    ...annotationOps(pod, { [INJECTED_ANNOTATION]: proxy.metadata.name, [CONFIG_HASH_ANNOTATION]: hash }),
    prepend('/spec/initContainers', pod.spec?.initContainers, sidecarContainer(input)),
    prepend('/spec/volumes', pod.spec?.volumes, configVolume(proxy.metadata.name, items, config)),
    { op: 'add', path: '/spec/volumes/1', value: auditVolume() },
  ];
}
