// Names and labels shared by every object the operator creates for a ClarusProxy.
import { API_VERSION } from '@clarus/crds';
import type { ClarusProxy } from '@clarus/crds';
import type { OwnerReference } from './types.ts';

export const FIELD_MANAGER = 'clarus-operator';
export const MANAGED_BY = 'clarus-operator';
export const APP_NAME = 'clarus-proxy';
export const CONFIG_HASH_ANNOTATION = 'clarus.io/config-hash';
export const LAYOUT_ANNOTATION = 'clarus.io/layout';
export const INJECT_LABEL = 'clarus.io/inject';
export const INJECTED_ANNOTATION = 'clarus.io/injected';
export const NAMESPACE_INJECTION_LABEL = 'clarus.io/injection';
export const CONFIG_DIR = '/etc/clarus';
export const CONFIG_VOLUME = 'clarus-config';
export const CONTAINER_NAME = 'clarus-proxy';
export const CONFIG_KEY = 'config.json';

export const configMapName = (proxyName: string): string => `${proxyName}-config`;
export const secretName = (proxyName: string): string => `${proxyName}-secrets`;
export const workloadName = (proxyName: string): string => proxyName;

export function selectorLabels(proxy: ClarusProxy): Record<string, string> {
  return { 'app.kubernetes.io/name': APP_NAME, 'app.kubernetes.io/instance': proxy.metadata.name };
}

export function commonLabels(proxy: ClarusProxy): Record<string, string> {
  return { ...selectorLabels(proxy), 'app.kubernetes.io/managed-by': MANAGED_BY };
}

/** Label selector string for status.selector (the scale subresource reads it). */
export function selectorString(proxy: ClarusProxy): string {
  return Object.entries(selectorLabels(proxy)).map(([k, v]) => `${k}=${v}`).join(',');
}

export function ownerReference(proxy: ClarusProxy): OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: 'ClarusProxy',
    name: proxy.metadata.name,
    uid: proxy.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function ownedMeta(proxy: ClarusProxy, name: string): {
  name: string; namespace: string; labels: Record<string, string>; ownerReferences: OwnerReference[];
} {
  return {
    name,
    namespace: proxy.metadata.namespace ?? 'default',
    labels: commonLabels(proxy),
    ownerReferences: [ownerReference(proxy)],
  };
}
