// A least-recently-used map bounded by bytes, not entries: statement texts range from a few bytes
// to megabytes, so an entry count says nothing about memory (8 MB statements once grew a proxy
// to 2 GB). The caller says what an entry weighs; an entry heavier than the whole budget is not kept.
export class ByteLru<V> {
  private readonly map = new Map<string, { value: V; bytes: number }>();
  private readonly budget: number;
  private used = 0;

  constructor(budgetBytes: number) {
    this.budget = budgetBytes;
  }

  get size(): number { return this.map.size; }
  get bytes(): number { return this.used; }

  get(key: string): V | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    // Re-insert: a Map iterates in insertion order, so the oldest entry is the least recently used.
    this.map.delete(key);
    this.map.set(key, e);
    return e.value;
  }

  /** Stores `value` weighing `bytes` (plus the key's own size). */
  set(key: string, value: V, bytes: number): void {
    const weight = bytes + key.length * 2 + 64;
    this.delete(key);
    if (weight > this.budget) return;
    while (this.used + weight > this.budget) {
      const oldest = this.map.keys().next().value as string;
      this.delete(oldest);
    }
    this.map.set(key, { value, bytes: weight });
    this.used += weight;
  }

  delete(key: string): void {
    const e = this.map.get(key);
    if (!e) return;
    this.map.delete(key);
    this.used -= e.bytes;
  }

  clear(): void {
    this.map.clear();
    this.used = 0;
  }
}
