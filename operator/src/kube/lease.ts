// Leader election on a coordination.k8s.io/v1 Lease (after client-go's leaderelection): the holder
// renews every retry period; others take over once renewTime + leaseDuration has passed. Updates use
// the Lease's resourceVersion, so two candidates can never both win the same round.
import type { Logger } from '../log.ts';
import type { KubeObject } from '../specs/types.ts';
import { isConflict } from './client.ts';
import type { KubeClient } from './client.ts';
import { sleep } from './informer.ts';
import { Resources } from './resources.ts';

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}
export interface Lease extends KubeObject { spec?: LeaseSpec }

export type LeaseDecision = 'renew' | 'acquire' | 'wait';

/** Pure: what a candidate should do with the lease it just read. */
export function decide(spec: LeaseSpec | undefined, identity: string, nowMs: number): LeaseDecision {
  if (!spec?.holderIdentity) return 'acquire';
  if (spec.holderIdentity === identity) return 'renew';
  const renewed = Date.parse(spec.renewTime ?? spec.acquireTime ?? '');
  const duration = (spec.leaseDurationSeconds ?? 15) * 1000;
  if (Number.isNaN(renewed) || renewed + duration < nowMs) return 'acquire';
  return 'wait';
}

/** metav1.MicroTime wants six fractional digits. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export interface Claim { identity: string; nowMs: number; durationSeconds: number }

export function nextSpec(current: LeaseSpec | undefined, decision: LeaseDecision, claim: Claim): LeaseSpec {
  const { identity, nowMs, durationSeconds } = claim;
  const now = microTime(nowMs);
  if (decision === 'renew') return { ...current, renewTime: now, leaseDurationSeconds: durationSeconds };
  return {
    holderIdentity: identity,
    leaseDurationSeconds: durationSeconds,
    acquireTime: now,
    renewTime: now,
    // A new holder of an existing Lease (taken over or released before) counts as a transition.
    leaseTransitions: (current?.leaseTransitions ?? 0) + (current ? 1 : 0),
  };
}

export interface ElectorOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds: number;
  retryPeriodMs: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
}

export class LeaderElector {
  readonly #client: KubeClient;
  readonly #opts: ElectorOptions;
  readonly #log: Logger;
  #leading = false;
  #lastRenewMs = 0;
  readonly #abort = new AbortController();

  constructor(client: KubeClient, opts: ElectorOptions, log: Logger) {
    this.#client = client;
    this.#opts = opts;
    this.#log = log.child({ lease: `${opts.namespace}/${opts.name}`, identity: opts.identity });
  }

  isLeader(): boolean {
    return this.#leading;
  }

  stop(): void {
    this.#abort.abort();
  }

  /** Gives the lease up (holder cleared) so a successor does not wait for expiry. */
  async release(): Promise<void> {
    if (!this.#leading) return;
    this.#leading = false;
    const lease = await this.#client.get<Lease>(Resources.Lease, this.#opts);
    if (lease?.spec?.holderIdentity !== this.#opts.identity) return;
    await this.#client.replace(Resources.Lease, { ...lease, spec: { ...lease.spec, holderIdentity: '' } }).catch(() => undefined);
  }

  async run(): Promise<void> {
    while (!this.#abort.signal.aborted) {
      const ok = await this.#tryAcquireOrRenew().catch((error: unknown) => {
        this.#log.warn('lease update failed', { error });
        return false;
      });
      this.#transition(ok, Date.now());
      await sleep(this.#opts.retryPeriodMs, this.#abort.signal);
    }
  }

  #transition(ok: boolean, nowMs: number): void {
    if (ok) {
      this.#lastRenewMs = nowMs;
      if (!this.#leading) {
        this.#leading = true;
        this.#log.info('became leader');
        this.#opts.onStartedLeading();
      }
      return;
    }
    // A leader that cannot renew within the lease duration must assume someone else took over.
    if (this.#leading && nowMs - this.#lastRenewMs > this.#opts.leaseDurationSeconds * 1000) {
      this.#leading = false;
      this.#log.warn('lost leadership');
      this.#opts.onStoppedLeading();
    }
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity, leaseDurationSeconds } = this.#opts;
    const now = Date.now();
    const lease = await this.#client.get<Lease>(Resources.Lease, { namespace, name });
    const decision = decide(lease?.spec, identity, now);
    if (decision === 'wait') {
      // Someone else holds a live lease: if we thought we led, we lost it now, not after expiry.
      if (this.#leading) this.#lastRenewMs = 0;
      return false;
    }
    const spec = nextSpec(lease?.spec, decision, { identity, nowMs: now, durationSeconds: leaseDurationSeconds });
    try {
      if (!lease) {
        await this.#client.create(Resources.Lease, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec });
      } else {
        await this.#client.replace(Resources.Lease, { ...lease, apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', spec });
      }
      return true;
    } catch (error) {
      if (isConflict(error) || (error as { status?: number }).status === 409) return false;
      throw error;
    }
  }
}
