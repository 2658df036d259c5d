// Cancel keys. Clients get the proxy's own BackendKeyData, never the backend's. The process id
// carries the replica: bit 31 is 0 (keeps it positive), bits 30..21 are a 10-bit replica id (a
// hash of the pod/host name and proxy name), bits 20..0 a per-replica session counter. The secret
// key is 32 random bits. A CancelRequest is honoured when the replica id is ours and the secret
// matches: the proxy opens a new connection to that session's backend and sends CancelRequest with
// the backend's key. A cancel whose replica id is another's is logged and ignored (a replica does
// not know its peers' addresses; with ClientIP affinity cancels reach the same replica).
// A proxy of several worker processes (io/workers.ts) shares its replica id among them: worker i
// of n issues only counters ≡ i (mod n), so any worker can tell which worker holds a key.
import { createHash, randomInt } from 'node:crypto';

export const REPLICA_BITS = 10;
const COUNTER_BITS = 21;
const COUNTER_MASK = (1 << COUNTER_BITS) - 1;

export function replicaIdFor(identity: string): number {
  return createHash('sha256').update(identity).digest().readUInt16BE(0) & ((1 << REPLICA_BITS) - 1);
}

export function replicaOf(processId: number): number {
  return (processId >>> COUNTER_BITS) & ((1 << REPLICA_BITS) - 1);
}

/** This process's place among the worker processes of one proxy (index 0 of 1 for a single process). */
export interface WorkerSlot { index: number; count: number }

/** Which worker of `count` issued a process id (its counter modulo the worker count). */
export function workerOf(processId: number, count: number): number {
  return (processId & COUNTER_MASK) % count;
}

export interface CancelTarget<T> { secretKey: number; target: T }

export type CancelLookup<T> =
  | { kind: 'found'; target: T }
  | { kind: 'other-replica'; replica: number }
  | { kind: 'other-worker'; worker: number }
  | { kind: 'unknown' };

/** Issues keys and maps them back to the session's backend (T: whatever the shell needs). */
export class CancelKeys<T> {
  readonly replica: number;
  private counter = 0;
  private readonly keys = new Map<number, CancelTarget<T>>();
  private readonly slot: WorkerSlot;

  constructor(replica: number, slot: WorkerSlot = { index: 0, count: 1 }) {
    this.replica = replica & ((1 << REPLICA_BITS) - 1);
    this.slot = slot;
    this.counter = slot.index;
  }

  issue(target: T): { processId: number; secretKey: number } {
    let processId = 0;
    const step = this.slot.count;
    // The counter wraps to this worker's first value, so it stays ≡ index (mod count).
    const last = COUNTER_MASK - ((COUNTER_MASK - this.slot.index) % step);
    for (let i = 0; i <= COUNTER_MASK; i += step) {
      this.counter = this.counter + step > last ? this.slot.index : this.counter + step;
      processId = (this.replica << COUNTER_BITS) | this.counter;
      if (!this.keys.has(processId) && processId !== 0) break;
    }
    const secretKey = randomInt(-0x80000000, 0x7fffffff);
    this.keys.set(processId, { secretKey, target });
    return { processId, secretKey };
  }

  release(processId: number): void { this.keys.delete(processId); }

  lookup(processId: number, secretKey: number): CancelLookup<T> {
    const replica = replicaOf(processId);
    if (replica !== this.replica) return { kind: 'other-replica', replica };
    const worker = workerOf(processId, this.slot.count);
    if (worker !== this.slot.index) return { kind: 'other-worker', worker };
    const k = this.keys.get(processId);
    if (!k || k.secretKey !== secretKey) return { kind: 'unknown' };
    return { kind: 'found', target: k.target };
  }

  size(): number { return this.keys.size; }
}
