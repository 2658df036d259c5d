// AccessGrant reconciler: Ready unless its proxy or password Secret is missing, or it has expired.
import type { AccessGrant, AccessGrantStatus, ClarusProxy } from '@clarus/crds';
import type { Context } from '../context.ts';
import { lookupFrom } from '../context.ts';
import type { ConditionInput } from '../conditions.ts';
import { ConditionType, FALSE, Reason, TRUE, setConditions } from '../conditions.ts';
import { grantProblem, type Lookup } from '@clarus/policy/inputs.ts';
import { writeStatus } from '../status.ts';

export function grantReady(grant: AccessGrant, proxy: ClarusProxy | undefined, lookup: Lookup, now: Date): ConditionInput {
  const ns = grant.metadata.namespace ?? 'default';
  if (!proxy) {
    return { type: ConditionType.Ready, status: FALSE, reason: Reason.ProxyNotFound, message: `ClarusProxy ${ns}/${grant.spec.proxyRef.name} not found` };
  }
  const problem = grantProblem(lookup, grant);
  if (problem) return { type: ConditionType.Ready, status: FALSE, ...problem };
  if (grant.spec.expires && Date.parse(grant.spec.expires) <= now.getTime()) {
    return { type: ConditionType.Ready, status: FALSE, reason: Reason.Expired, message: `Grant expired at ${grant.spec.expires}` };
  }
  return { type: ConditionType.Ready, status: TRUE, reason: Reason.Ready, message: `Granted through ClarusProxy ${proxy.metadata.name}` };
}

export function grantStatus(grant: AccessGrant, proxy: ClarusProxy | undefined, lookup: Lookup, now: Date): AccessGrantStatus {
  const conditions = setConditions(grant.status?.conditions, [grantReady(grant, proxy, lookup, now)], grant.metadata.generation, now.toISOString());
  return { conditions, observedGeneration: grant.metadata.generation };
}

/** Milliseconds until the grant expires, so the status flips to Expired on time; undefined if never. */
export function untilExpiry(grant: AccessGrant, now: Date): number | undefined {
  if (!grant.spec.expires) return undefined;
  const ms = Date.parse(grant.spec.expires) - now.getTime();
  return ms > 0 ? Math.min(ms + 1000, 24 * 3600 * 1000) : undefined;
}

export async function reconcileGrant(ctx: Context, namespace: string, name: string): Promise<{ requeueAfterMs?: number }> {
  const grant = ctx.caches.grants.get(namespace, name);
  if (!grant) return {};
  const proxy = ctx.caches.proxies.get(namespace, grant.spec.proxyRef.name);
  const now = ctx.now();
  await writeStatus(ctx.client, grant, { ...grantStatus(grant, proxy, lookupFrom(ctx.caches), now) });
  const wait = untilExpiry(grant, now);
  return wait === undefined ? {} : { requeueAfterMs: wait };
}
