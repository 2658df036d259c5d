// Memo of the deterministic constants of cached plans (issue 9). Since plans carry placeholders
// (rewrite/placeholders.ts), each execution fills them again (fill.ts): right for a randomized
// column (a fresh nonce every time), wasted work for a deterministic one (SIV ciphertext, blind
// indexes), whose value only changes with the key. So the executor keeps those values per
// placeholder of a plan and key epoch (the key's current version and live versions): a rotation
// changes the epoch, and the next execution computes under the new key. Bounded in bytes; the
// keys' usability (KMS) is still checked at every use, hit or miss.
import type { Placeholder } from '../rewrite/placeholders.ts';
import { ByteLru } from '../rewrite/cache.ts';

/** Default budget: a few thousand plans' constants. */
export const CONSTANT_MEMO_BYTES = 4 << 20;

type CipherPlaceholder = Extract<Placeholder, { kind: 'cipher' }>;

/** Whether the placeholder's value is the same at every execution under one key epoch. */
export function deterministic(p: Placeholder): p is CipherPlaceholder {
  if (p.kind !== 'cipher') return false;
  return p.method === 'blindIndex' || p.method === 'blindIndexes' || p.ref.column.protection.mode === 'deterministic';
}

export class ConstantMemo {
  private readonly lru: ByteLru<string>;
  /** The key epoch of a key name (throws KeyringError when the keys may not be used now). */
  private readonly epoch: (keyName: string) => string;

  constructor(epoch: (keyName: string) => string, budgetBytes = CONSTANT_MEMO_BYTES) {
    this.lru = new ByteLru(budgetBytes);
    this.epoch = epoch;
  }

  get bytes(): number { return this.lru.bytes; }

  /** The SQL literal of `p`: memoized when deterministic, computed by `compute` otherwise. */
  value(p: Placeholder, compute: () => string): string {
    if (!deterministic(p)) return compute();
    const { table, column } = p.ref;
    // The id makes the entry the plan's own; the input is in the key because a shape-cache hit
    // re-binds a plan's placeholders (same ids) to another text's values.
    const key = [p.id, `${table.schema}.${table.table}.${column.name}`, p.method, `${p.form}/${p.forms}`, this.epoch(column.protection.keyName), p.canon].join('\u0000');
    const hit = this.lru.get(key);
    if (hit !== undefined) return hit;
    const v = compute();
    this.lru.set(key, v, v.length * 2);
    return v;
  }
}
