// ClarusProxy reconciler: observe -> prerequisites -> render -> build -> apply -> prune -> status.
// A failed prerequisite or render writes a False condition and applies nothing, so the pods keep
// running on the last configuration that rendered.
import type { ClarusProxy } from '@clarus/crds';
import { proxyEvents } from '../events.ts';
import { recordEvents } from '../record.ts';
import { Resources } from '../../kube/resources.ts';
import { configHash, desiredObjects } from '../../specs/index.ts';
import { proxyImage } from '../../specs/pod.ts';
import { workloadName, workloadObjects } from '../../specs/index.ts';
import type { KubeObject } from '../../specs/types.ts';
import type { Context } from '../context.ts';
import { lookupFrom } from '../context.ts';
import { gatherInputs } from '@clarus/policy/inputs.ts';
import { writeStatus } from '../status.ts';
import type { HandlerResult } from '../queue.ts';
import type { DeploymentStatus, Observed } from './status.ts';
import { proxyStatus } from './status.ts';

const UNAVAILABLE_RECHECK_MS = 15_000;

export async function reconcileProxy(ctx: Context, namespace: string, name: string): Promise<HandlerResult> {
  const proxy = ctx.caches.proxies.get(namespace, name);
  if (!proxy) return {}; // deleted: owner references let the garbage collector remove the rest
  const observed = await converge(ctx, proxy);
  const now = ctx.now().toISOString();
  const status = proxyStatus(proxy, observed, now);
  await writeStatus(ctx.client, proxy, { ...status });
  await recordEvents(ctx, proxy, proxyEvents(proxy.status, status), now);
  if (observed.kind === 'applyFailed') throw new Error(observed.message);
  const ready = status.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  return ready || observed.kind === 'renderFailed' ? {} : { requeueAfterMs: UNAVAILABLE_RECHECK_MS };
}

async function converge(ctx: Context, proxy: ClarusProxy): Promise<Observed> {
  const namespace = proxy.metadata.namespace ?? 'default';
  const cached = ctx.caches.deployments.get(namespace, workloadName(proxy.metadata.name));
  const current = cached?.status as DeploymentStatus | undefined;
  const gathered = gatherInputs(proxy, lookupFrom(ctx.caches));
  if (!gathered.ok) return { kind: 'renderFailed', problem: { reason: gathered.reason, message: gathered.message }, deployment: current };
  const outcome = ctx.render(gathered.inputs);
  if (!outcome.ok) return { kind: 'renderFailed', problem: { reason: outcome.reason, message: outcome.message }, deployment: current };
  const input = { proxy, rendered: outcome.rendered, options: ctx.options };
  const policyHash = outcome.rendered.config.hash ?? configHash(outcome.rendered, proxyImage(proxy, ctx.options));
  const desired = desiredObjects(input);
  try {
    let deployment: DeploymentStatus | undefined;
    for (const obj of desired) {
      const applied = await ctx.client.apply<KubeObject>(obj);
      if (obj.kind === 'Deployment') deployment = applied.status as DeploymentStatus | undefined;
    }
    await prune(ctx, proxy, desired);
    return { kind: 'applied', policyHash, deployment };
  } catch (error) {
    return { kind: 'applyFailed', policyHash, message: error instanceof Error ? error.message : String(error), deployment: current };
  }
}

/** Deletes workload objects this proxy no longer wants (HPA after autoscaling is turned off, all in Sidecar mode). */
async function prune(ctx: Context, proxy: ClarusProxy, desired: KubeObject[]): Promise<void> {
  const wanted = new Set(desired.map((o) => `${o.kind}/${o.metadata.name}`));
  const namespace = proxy.metadata.namespace ?? 'default';
  for (const { kind, name } of workloadObjects(proxy.metadata.name)) {
    if (wanted.has(`${kind}/${name}`)) continue;
    const existing = await ctx.client.get<KubeObject>(Resources[kind], { namespace, name });
    const owned = existing?.metadata.ownerReferences?.some((r) => r.uid === proxy.metadata.uid && r.controller);
    if (owned) await ctx.client.delete(Resources[kind], { namespace, name });
  }
}
