// Quasi-identifier values as points for microaggregation: numeric and date attributes standardized
// (z-scores, so that no attribute dominates the distance by its unit), categorical attributes as
// integer codes whose mismatch costs 1 in the squared distance (one standard deviation of a numeric
// attribute). Pure.

/** The records of one batch: `n` points with `dims` standardized numbers and `cats` category codes each. */
export interface Points {
  n: number;
  dims: number;
  cats: number;
  /** Row-major standardized values, n × dims. */
  x: Float64Array;
  /** Row-major category codes, n × cats. */
  c: Int32Array;
  /** Number of distinct codes per categorical attribute. */
  codes: number[];
}

/** Standardizes columns of numbers (a constant column becomes all zeros). */
export function standardize(columns: Float64Array[]): Float64Array[] {
  return columns.map((v) => {
    let mean = 0;
    for (let i = 0; i < v.length; i++) mean += v[i] as number;
    mean /= v.length || 1;
    let ss = 0;
    for (let i = 0; i < v.length; i++) ss += ((v[i] as number) - mean) ** 2;
    const sd = Math.sqrt(ss / (v.length || 1));
    return v.map((x) => (sd > 0 ? (x - mean) / sd : 0));
  });
}

/** Codes for categorical values, in first-seen order. */
export function encode(values: string[]): { codes: Int32Array; labels: string[] } {
  const index = new Map<string, number>();
  const codes = new Int32Array(values.length);
  values.forEach((v, i) => {
    let code = index.get(v);
    if (code === undefined) {
      code = index.size;
      index.set(v, code);
    }
    codes[i] = code;
  });
  return { codes, labels: [...index.keys()] };
}

export function makePoints(numeric: Float64Array[], categorical: Int32Array[], codes: number[], n: number): Points {
  const std = standardize(numeric);
  const dims = std.length;
  const cats = categorical.length;
  const x = new Float64Array(n * dims);
  const c = new Int32Array(n * cats);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < dims; d++) x[i * dims + d] = (std[d] as Float64Array)[i] as number;
    for (let d = 0; d < cats; d++) c[i * cats + d] = (categorical[d] as Int32Array)[i] as number;
  }
  return { n, dims, cats, x, c, codes };
}

/** Squared distance between record i and a centre given as numbers and codes. */
export function distTo(p: Points, i: number, cx: Float64Array, cc: Int32Array): number {
  let s = 0;
  const xo = i * p.dims;
  for (let d = 0; d < p.dims; d++) {
    const diff = (p.x[xo + d] as number) - (cx[d] as number);
    s += diff * diff;
  }
  const co = i * p.cats;
  for (let d = 0; d < p.cats; d++) if (p.c[co + d] !== cc[d]) s += 1;
  return s;
}

/** A record as a centre. */
export function centreOf(p: Points, i: number): { x: Float64Array; c: Int32Array } {
  return { x: p.x.slice(i * p.dims, (i + 1) * p.dims), c: p.c.slice(i * p.cats, (i + 1) * p.cats) };
}

/**
 * The centroid of a set of records, kept up to date as records leave: the mean of the numbers and
 * the mode of each category (ties: the smaller code).
 */
export class Centroid {
  private readonly sums: Float64Array;
  private readonly counts: Int32Array[];
  private size = 0;
  private readonly p: Points;
  constructor(p: Points, members: ArrayLike<number>) {
    this.p = p;
    this.sums = new Float64Array(p.dims);
    this.counts = p.codes.map((m) => new Int32Array(m));
    for (let j = 0; j < members.length; j++) this.add(members[j] as number, 1);
  }
  add(i: number, sign: 1 | -1): void {
    const p = this.p;
    for (let d = 0; d < p.dims; d++) this.sums[d] = (this.sums[d] as number) + sign * (p.x[i * p.dims + d] as number);
    for (let d = 0; d < p.cats; d++) {
      const cnt = this.counts[d] as Int32Array;
      const code = p.c[i * p.cats + d] as number;
      cnt[code] = (cnt[code] as number) + sign;
    }
    this.size += sign;
  }
  centre(): { x: Float64Array; c: Int32Array } {
    const x = this.sums.map((s) => s / (this.size || 1));
    const c = Int32Array.from(this.counts, (cnt) => argmax(cnt));
    return { x, c };
  }
}

export function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if ((a[i] as number) > (a[best] as number)) best = i;
  return best;
}
