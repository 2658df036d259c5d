// CloudBackend reconciler: Ready when its Secrets exist; Reachable from an optional TCP connect check;
// ReadOnlyRole says whether read-only sessions get a read-only database role (a Warning Event when not).
import net from 'node:net';
import { noReadOnlyRoleMessage } from '@clarus/policy';
import type { CloudBackend, CloudBackendStatus } from '@clarus/crds';
import type { Context } from '../context.ts';
import { lookupFrom } from '../context.ts';
import type { ConditionInput } from '../conditions.ts';
import { ConditionType, FALSE, Reason, TRUE, setConditions } from '../conditions.ts';
import { backendEvents } from '../events.ts';
import { recordEvents } from '../record.ts';
import { backendSecrets, type Lookup } from '@clarus/policy/inputs.ts';
import { writeStatus } from '../status.ts';

const RECHECK_MS = 60_000;

export type Reachability = { checked: false } | { checked: true; ok: boolean; message: string };

export function backendReady(backend: CloudBackend, lookup: Lookup): ConditionInput {
  const ns = backend.metadata.namespace ?? 'default';
  for (const ref of backendSecrets(backend)) {
    const secret = lookup.secret(ns, ref.name);
    if (!secret) return { type: ConditionType.Ready, status: FALSE, reason: Reason.SecretNotFound, message: `Secret ${ns}/${ref.name} not found` };
    const keys = ref.key ? [ref.key] : ['username', 'password'];
    const missing = keys.find((k) => secret.data?.[k] === undefined && secret.stringData?.[k] === undefined);
    if (missing) return { type: ConditionType.Ready, status: FALSE, reason: Reason.SecretKeyMissing, message: `Secret ${ns}/${ref.name} has no key ${missing}` };
  }
  return { type: ConditionType.Ready, status: TRUE, reason: Reason.Ready, message: `${backend.spec.host}:${backend.spec.port ?? 5432}/${backend.spec.database}` };
}

export function reachableCondition(r: Reachability): ConditionInput {
  if (!r.checked) return { type: ConditionType.Reachable, status: 'Unknown', reason: Reason.NotChecked, message: 'Reachability check disabled' };
  return r.ok
    ? { type: ConditionType.Reachable, status: TRUE, reason: Reason.Reachable, message: r.message }
    : { type: ConditionType.Reachable, status: FALSE, reason: Reason.Unreachable, message: r.message };
}

/** False (a warning, not an error: the backend works) when read-only grants would use the read-write role. */
export function readOnlyRoleCondition(backend: CloudBackend): ConditionInput {
  const ro = backend.spec.readOnlyCredentialsSecretRef;
  if (!ro) return { type: ConditionType.ReadOnlyRole, status: FALSE, reason: Reason.NoReadOnlyRole, message: noReadOnlyRoleMessage(backend.metadata.name) };
  return { type: ConditionType.ReadOnlyRole, status: TRUE, reason: Reason.ReadOnlyRoleConfigured,
    message: `sessions of users without a readWrite grant log in with the role in Secret ${ro.name}` };
}

export function backendStatus(backend: CloudBackend, lookup: Lookup, reach: Reachability, now: string): CloudBackendStatus {
  const conditions = setConditions(backend.status?.conditions,
    [backendReady(backend, lookup), reachableCondition(reach), readOnlyRoleCondition(backend)], backend.metadata.generation, now);
  return { conditions, observedGeneration: backend.metadata.generation };
}

/** TCP connect only: proves the address routes and something listens, without credentials. */
export function tcpCheck(host: string, port: number, timeoutMs: number): Promise<Reachability> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const finish = (ok: boolean, message: string): void => {
      socket.destroy();
      resolve({ checked: true, ok, message });
    };
    socket.setTimeout(timeoutMs, () => finish(false, `connect to ${host}:${port} timed out after ${timeoutMs} ms`));
    socket.once('connect', () => finish(true, `TCP connect to ${host}:${port} succeeded`));
    socket.once('error', (e) => finish(false, `connect to ${host}:${port}: ${e.message}`));
  });
}

export async function reconcileBackend(ctx: Context, namespace: string, name: string): Promise<{ requeueAfterMs?: number }> {
  const backend = ctx.caches.backends.get(namespace, name);
  if (!backend) return {};
  const reach: Reachability = ctx.reachabilityTimeoutMs > 0
    ? await tcpCheck(backend.spec.host, backend.spec.port ?? 5432, ctx.reachabilityTimeoutMs)
    : { checked: false };
  const now = ctx.now().toISOString();
  const status = backendStatus(backend, lookupFrom(ctx.caches), reach, now);
  await writeStatus(ctx.client, backend, { ...status });
  await recordEvents(ctx, backend, backendEvents(backend.status, status), now);
  return ctx.reachabilityTimeoutMs > 0 ? { requeueAfterMs: RECHECK_MS } : {};
}
