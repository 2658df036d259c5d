// The API resources the operator reads and writes, and their REST paths.
export interface ResourceType {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

/** `gv` is "group/version" ("v1" for the core group). */
const r = (gv: string, kind: string, plural: string, namespaced = true): ResourceType => {
  const [group, version] = gv.includes('/') ? gv.split('/') as [string, string] : ['', gv];
  return { group, version, kind, plural, namespaced };
};

export const Resources = {
  ClarusProxy: r('clarus.io/v1alpha1', 'ClarusProxy', 'clarusproxies'),
  SecurityPolicy: r('clarus.io/v1alpha1', 'SecurityPolicy', 'securitypolicies'),
  CloudBackend: r('clarus.io/v1alpha1', 'CloudBackend', 'cloudbackends'),
  AccessGrant: r('clarus.io/v1alpha1', 'AccessGrant', 'accessgrants'),
  Secret: r('v1', 'Secret', 'secrets'),
  ConfigMap: r('v1', 'ConfigMap', 'configmaps'),
  Service: r('v1', 'Service', 'services'),
  Namespace: r('v1', 'Namespace', 'namespaces', false),
  Event: r('v1', 'Event', 'events'),
  Deployment: r('apps/v1', 'Deployment', 'deployments'),
  PodDisruptionBudget: r('policy/v1', 'PodDisruptionBudget', 'poddisruptionbudgets'),
  HorizontalPodAutoscaler: r('autoscaling/v2', 'HorizontalPodAutoscaler', 'horizontalpodautoscalers'),
  Lease: r('coordination.k8s.io/v1', 'Lease', 'leases'),
  MutatingWebhookConfiguration: r('admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration',
    'mutatingwebhookconfigurations', false),
} as const;

export type ResourceName = keyof typeof Resources;

export function apiVersionOf(t: ResourceType): string {
  return t.group === '' ? t.version : `${t.group}/${t.version}`;
}

export function resourceFor(apiVersion: string, kind: string): ResourceType {
  const found = Object.values(Resources).find((t) => t.kind === kind && apiVersionOf(t) === apiVersion);
  if (!found) throw new Error(`unknown resource ${apiVersion} ${kind}`);
  return found;
}

export interface PathArgs { namespace?: string; name?: string; subresource?: string }

export function resourcePath(t: ResourceType, args: PathArgs = {}): string {
  const base = t.group === '' ? `/api/${t.version}` : `/apis/${t.group}/${t.version}`;
  const ns = t.namespaced && args.namespace ? `/namespaces/${encodeURIComponent(args.namespace)}` : '';
  const name = args.name ? `/${encodeURIComponent(args.name)}` : '';
  const sub = args.name && args.subresource ? `/${args.subresource}` : '';
  return `${base}${ns}/${t.plural}${name}${sub}`;
}
