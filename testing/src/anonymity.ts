// An independent checker of k-anonymity and t-closeness over stored rows, written from the
// definitions and sharing no code with the proxy's anonymizer: classes are the rows with equal
// quasi-identifier values; Li et al.'s ordered EMD is computed naively, boundary by boundary, over
// the batch's sorted distinct values of the confidential attribute.

export type Row = ReadonlyArray<string | null>;

/** Rows grouped by their quasi-identifier values. */
export function equivalenceClasses(rows: Row[], qi: number[]): Row[][] {
  const groups = new Map<string, Row[]>();
  for (const r of rows) {
    const key = JSON.stringify(qi.map((i) => r[i] ?? null));
    const g = groups.get(key);
    if (g) g.push(r);
    else groups.set(key, [r]);
  }
  return [...groups.values()];
}

/** The smallest class size. */
export function achievedK(rows: Row[], qi: number[]): number {
  return Math.min(...equivalenceClasses(rows, qi).map((c) => c.length));
}

/** Li's ordered EMD of distributions over the batch's m sorted distinct values. */
class Emd {
  private readonly pos: Map<string | null, number>;
  private readonly q: number[];
  constructor(all: Array<string | null>, order: (a: string | null, b: string | null) => number) {
    const distinct = [...new Set(all)].sort(order);
    this.pos = new Map(distinct.map((v, i) => [v, i]));
    this.q = new Array<number>(distinct.length).fill(0);
    for (const v of all) this.bump(this.q, v, 1 / all.length);
  }
  private bump(a: number[], v: string | null, by: number): void {
    const i = this.pos.get(v) as number;
    a[i] = (a[i] ?? 0) + by;
  }
  of(part: Array<string | null>): number {
    const m = this.q.length;
    if (m <= 1) return 0;
    const p = new Array<number>(m).fill(0);
    for (const v of part) this.bump(p, v, 1 / part.length);
    let cum = 0;
    let sum = 0;
    for (let i = 0; i < m - 1; i++) {
      cum += (p[i] ?? 0) - (this.q[i] ?? 0);
      sum += Math.abs(cum);
    }
    return sum / (m - 1);
  }
}

/** Ordered EMD between the values in `part` and those in `all`, under `order` (a total order on values). */
export function orderedEmd(part: Array<string | null>, all: Array<string | null>, order: (a: string | null, b: string | null) => number): number {
  return new Emd(all, order).of(part);
}

/** The largest EMD of a class's confidential values from the whole set's. */
export function achievedT(rows: Row[], qi: number[], confidential: number, order: (a: string | null, b: string | null) => number): number {
  const emd = new Emd(rows.map((r) => r[confidential] ?? null), order);
  return Math.max(...equivalenceClasses(rows, qi).map((c) => emd.of(c.map((r) => r[confidential] ?? null))));
}

/** Numbers by value, everything else by code point, NULL first. */
export function numericOrder(a: string | null, b: string | null): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? -1 : 1;
  return Number(a) - Number(b);
}

export function codePointOrder(a: string | null, b: string | null): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
