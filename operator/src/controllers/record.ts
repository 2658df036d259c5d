// Writes the Events a reconciler derived (events.ts) about one of the four kinds.
import { API_VERSION } from '@clarus/crds';
import { Resources } from '../kube/resources.ts';
import type { KubeObject } from '../specs/types.ts';
import type { Context } from './context.ts';
import { eventObject } from './events.ts';
import type { EventSpec } from './events.ts';

interface About { kind: string; metadata: { name: string; namespace?: string; uid?: string } }

/** Best effort: an Event that cannot be written must not fail the reconcile. */
export async function recordEvents(ctx: Context, obj: About, events: EventSpec[], now: string): Promise<void> {
  const involved = { apiVersion: API_VERSION, kind: obj.kind, name: obj.metadata.name,
    namespace: obj.metadata.namespace ?? 'default', uid: obj.metadata.uid };
  for (const e of events) {
    await ctx.client.create(Resources.Event, eventObject(involved, e, now) as unknown as KubeObject)
      .catch((error: unknown) => ctx.log.warn('event not recorded', { reason: e.reason, error }));
  }
}
