// Deployment, Service, PodDisruptionBudget and HorizontalPodAutoscaler of a ClarusProxy (Deployment mode).
import type { ClarusProxy } from '@clarus/crds';
import { buildConfigMap, buildSecret, configHash, secretItems } from './config.ts';
import { CONFIG_HASH_ANNOTATION, commonLabels, ownedMeta, selectorLabels, workloadName } from './names.ts';
import { buildPeersService, peerArgs, peersServiceName, POD_NAME_ENV, withPeerSecret } from './peers.ts';
import { configVolume, proxyContainer, proxyImage, terminationGraceSeconds, workersEnv } from './pod.ts';
import type { BuildInput, KubeObject } from './types.ts';
import { AUDIT_ENV, auditMount, auditVolume } from './audit.ts';

export const DEFAULT_SERVICE_PORT = 5432;
export const DEFAULT_AFFINITY_TIMEOUT = 10800;
export const DEFAULT_CPU_TARGET = 70;

export function buildDeployment(input: BuildInput): KubeObject {
  const { proxy, rendered, options } = input;
  const base = proxyContainer({ proxy, config: rendered.config, options, extraArgs: peerArgs(proxy, rendered) });
  const container = { ...base, env: [POD_NAME_ENV, ...AUDIT_ENV, workersEnv(proxy)], volumeMounts: [...(base.volumeMounts as unknown[]), auditMount()] };
  const name = proxy.metadata.name;
  const spec: Record<string, unknown> = {
    selector: { matchLabels: selectorLabels(proxy) },
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
    template: {
      metadata: {
        labels: commonLabels(proxy),
        annotations: { [CONFIG_HASH_ANNOTATION]: configHash(rendered, proxyImage(proxy, options)) },
      },
      spec: {
        terminationGracePeriodSeconds: terminationGraceSeconds(rendered.config),
        ...(proxy.spec.serviceAccountName ? { serviceAccountName: proxy.spec.serviceAccountName } : {}),
        securityContext: { runAsNonRoot: true, fsGroup: 65532 },
        containers: [container],
        volumes: [configVolume(name, secretItems(rendered), rendered.config), auditVolume()],
      },
    },
  };
  // With autoscaling on, replicas is left out of the applied intent so the HPA owns it alone.
  if (!proxy.spec.autoscaling) spec.replicas = proxy.spec.replicas ?? 1;
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: ownedMeta(proxy, workloadName(name)), spec };
}

export function servicePort(proxy: ClarusProxy): number {
  return proxy.spec.service?.port ?? DEFAULT_SERVICE_PORT;
}

export function buildService({ proxy }: BuildInput): KubeObject {
  const affinity = proxy.spec.service?.sessionAffinity ?? 'ClientIP';
  const spec: Record<string, unknown> = {
    type: 'ClusterIP',
    selector: selectorLabels(proxy),
    ports: [{ name: 'postgres', port: servicePort(proxy), targetPort: 'postgres', protocol: 'TCP' }],
    sessionAffinity: affinity,
  };
  if (affinity === 'ClientIP') {
    const timeoutSeconds = proxy.spec.service?.sessionAffinityTimeoutSeconds ?? DEFAULT_AFFINITY_TIMEOUT;
    spec.sessionAffinityConfig = { clientIP: { timeoutSeconds } };
  }
  return { apiVersion: 'v1', kind: 'Service', metadata: ownedMeta(proxy, workloadName(proxy.metadata.name)), spec };
}

export function buildPodDisruptionBudget({ proxy }: BuildInput): KubeObject {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: ownedMeta(proxy, workloadName(proxy.metadata.name)),
    spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels(proxy) } },
  };
}

export function buildHorizontalPodAutoscaler({ proxy }: BuildInput): KubeObject | undefined {
  const auto = proxy.spec.autoscaling;
  if (!auto) return undefined;
  const name = workloadName(proxy.metadata.name);
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: ownedMeta(proxy, name),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      minReplicas: auto.minReplicas ?? 1,
      maxReplicas: auto.maxReplicas,
      metrics: [{
        type: 'Resource',
        resource: {
          name: 'cpu',
          target: { type: 'Utilization', averageUtilization: auto.targetCPUUtilizationPercentage ?? DEFAULT_CPU_TARGET },
        },
      }],
    },
  };
}

/** Kinds the operator may create for a proxy, in apply order; the ones absent from desired are pruned. */
export const WORKLOAD_KINDS = ['Deployment', 'Service', 'PodDisruptionBudget', 'HorizontalPodAutoscaler'] as const;
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

/** Every workload object a proxy may own (kind and name): prune deletes those it no longer wants. */
export function workloadObjects(proxyName: string): Array<{ kind: WorkloadKind; name: string }> {
  const name = workloadName(proxyName);
  return [...WORKLOAD_KINDS.map((kind) => ({ kind, name })), { kind: 'Service' as const, name: peersServiceName(proxyName) }];
}

/** Every object a ClarusProxy should own, in apply order (config before the pods that mount it). */
export function desiredObjects(given: BuildInput): KubeObject[] {
  if ((given.proxy.spec.mode ?? 'Deployment') === 'Sidecar') return [buildConfigMap(given), buildSecret(given)];
  // Deployment mode: the replicas are peers for cancel requests (peers.ts).
  const input = { ...given, rendered: withPeerSecret(given.rendered) };
  const objects = [buildConfigMap(input), buildSecret(input)];
  objects.push(buildDeployment(input), buildService(input), buildPeersService(input), buildPodDisruptionBudget(input));
  const hpa = buildHorizontalPodAutoscaler(input);
  if (hpa) objects.push(hpa);
  return objects;
}
