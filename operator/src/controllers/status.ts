// Writing status: through the status subresource with server-side apply, only when it changed.
import type { Condition } from '@clarus/crds';
import { API_VERSION } from '@clarus/crds';
import type { KubeClient } from '../kube/client.ts';
import { sameConditions } from './conditions.ts';

export interface StatusDoc { conditions?: Condition[] }
export interface StatusTarget<S extends StatusDoc> {
  kind: string;
  metadata: { name: string; namespace?: string };
  status?: S;
}

/** True when the two status documents differ in anything but condition timestamps already kept stable. */
export function statusChanged<S extends StatusDoc>(current: S | undefined, next: S): boolean {
  if (!current) return true;
  const { conditions: a, ...restA } = current as S & Record<string, unknown>;
  const { conditions: b, ...restB } = next as S & Record<string, unknown>;
  return !sameConditions(a, b) || JSON.stringify(sortObj(restA)) !== JSON.stringify(sortObj(restB));
}

function sortObj(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined).sort(([x], [y]) => x.localeCompare(y)));
}

export async function writeStatus<S extends StatusDoc>(client: KubeClient, target: StatusTarget<S>, status: S): Promise<void> {
  if (!statusChanged(target.status, status)) return;
  await client.apply({
    apiVersion: API_VERSION,
    kind: target.kind,
    metadata: { name: target.metadata.name, namespace: target.metadata.namespace },
    status,
  }, 'status');
}
