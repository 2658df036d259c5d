// Earth Mover's Distance of Li, Li & Venkatasubramanian (t-closeness, ICDE 2007) for an ordered
// attribute: with the batch's m distinct values sorted, the ground distance between the i-th and
// j-th is |i-j|/(m-1), and EMD(P, Q) = Σ_{i<m-1} |Σ_{j≤i} (p_j - q_j)| / (m-1). A class's
// distribution P is compared with the whole batch's Q. Computed per class in O(s log m) for a class
// of s records: between two of the class's values its CDF is constant, and the sum of
// |c - Q(i)| over a run of boundaries splits where the (monotone) Q crosses c.

/** An ordered attribute: each record's position among the batch's sorted distinct values. */
export interface Ordered { rank: Int32Array; m: number }

/** Ranks of values under an order (ties share a rank). */
export function ranksOf<T>(values: T[], compare: (a: T, b: T) => number): Ordered {
  const order = values.map((_, i) => i).sort((a, b) => compare(values[a] as T, values[b] as T) || a - b);
  const rank = new Int32Array(values.length);
  let m = 0;
  order.forEach((i, j) => {
    if (j > 0 && compare(values[order[j - 1] as number] as T, values[i] as T) !== 0) m++;
    rank[i] = m;
  });
  return { rank, m: values.length ? m + 1 : 0 };
}

export class OrderedEmd {
  /** Global CDF at boundary i (after value i), i < m-1; and its prefix sums. */
  private readonly g: Float64Array;
  private readonly s: Float64Array;
  private readonly m: number;
  readonly attr: Ordered;

  constructor(attr: Ordered) {
    this.attr = attr;
    const m = attr.m;
    this.m = m;
    const counts = new Float64Array(Math.max(m, 1));
    for (const r of attr.rank) counts[r] = (counts[r] as number) + 1;
    const n = attr.rank.length;
    this.g = new Float64Array(Math.max(m - 1, 0));
    this.s = new Float64Array(Math.max(m, 1));
    let cum = 0;
    for (let i = 0; i < m - 1; i++) {
      cum += counts[i] as number;
      this.g[i] = cum / n;
      this.s[i + 1] = (this.s[i] as number) + (this.g[i] as number);
    }
  }

  /** Σ_{i∈[a,b)} |c - G(i)|. */
  private segment(a: number, b: number, c: number): number {
    if (a >= b) return 0;
    let lo = a;
    let hi = b;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.g[mid] as number) < c) lo = mid + 1;
      else hi = mid;
    }
    const s = this.s;
    return c * (lo - a) - ((s[lo] as number) - (s[a] as number)) + ((s[b] as number) - (s[lo] as number)) - c * (b - lo);
  }

  /** EMD between the distribution of the members' values and the whole batch's. */
  of(members: ArrayLike<number>): number {
    const m = this.m;
    if (m <= 1 || members.length === 0) return 0;
    const vals = Int32Array.from({ length: members.length }, (_, j) => this.attr.rank[members[j] as number] as number).sort();
    const size = vals.length;
    let total = 0;
    let prev = 0;
    let j = 0;
    while (j < size) {
      const u = vals[j] as number;
      total += this.segment(prev, Math.min(u, m - 1), j / size);
      while (j < size && vals[j] === u) j++;
      prev = u;
    }
    total += this.segment(prev, m - 1, 1);
    return total / (m - 1);
  }
}
