// A locality-preserving order of the records, for the better-scaling variants of MDAV and of
// t-closeness-first: a k-d partition that splits each cell at the median of its most spread
// attribute (variance for standardized numbers, Gini impurity for categories: both are half the
// expected squared distance between two records of the cell along that attribute) until cells
// hold at most `leaf` records. Records of one cell are contiguous in the order, and cells are
// ordered as the tree visits them, so records close in the order are close in quasi-identifiers.
import type { Points } from './points.ts';

export interface Partition { order: Int32Array; cells: Array<[number, number]> }

/** Variance of numeric attribute `d` over the cell. */
function variance(p: Points, ids: Int32Array, d: number): number {
  let s = 0;
  let ss = 0;
  for (const i of ids) {
    const x = p.x[i * p.dims + d] as number;
    s += x;
    ss += x * x;
  }
  return ss / ids.length - (s / ids.length) ** 2;
}

/** Gini impurity of categorical attribute `d` over the cell. */
function gini(p: Points, ids: Int32Array, d: number): number {
  const counts = new Map<number, number>();
  for (const i of ids) counts.set(p.c[i * p.cats + d] as number, (counts.get(p.c[i * p.cats + d] as number) ?? 0) + 1);
  let g = 1;
  for (const c of counts.values()) g -= (c / ids.length) ** 2;
  return g;
}

function spread(p: Points, ids: Int32Array): { dim: number; cat: boolean } {
  let best = { dim: -1, cat: false };
  let bv = 0;
  for (let d = 0; d < p.dims; d++) {
    const v = variance(p, ids, d);
    if (v > bv) { bv = v; best = { dim: d, cat: false }; }
  }
  for (let d = 0; d < p.cats; d++) {
    const v = gini(p, ids, d);
    if (v > bv) { bv = v; best = { dim: d, cat: true }; }
  }
  return best;
}

function sortCell(p: Points, ids: Int32Array): void {
  const { dim, cat } = spread(p, ids);
  if (dim < 0) return;
  const key = (i: number): number => (cat ? p.c[i * p.cats + dim] as number : p.x[i * p.dims + dim] as number);
  ids.sort((a, b) => key(a) - key(b) || a - b);
}

/** Cells of at most `leaf` records (and at least ⌊leaf/2⌋ when n ≥ leaf). */
export function partition(p: Points, leaf: number): Partition {
  const order = Int32Array.from({ length: p.n }, (_, i) => i);
  const cells: Array<[number, number]> = [];
  const stack: Array<[number, number]> = [[0, p.n]];
  while (stack.length) {
    const [a, b] = stack.pop() as [number, number];
    const ids = order.subarray(a, b);
    sortCell(p, ids);
    if (b - a <= leaf) {
      cells.push([a, b]);
      continue;
    }
    const mid = a + ((b - a) >> 1);
    stack.push([mid, b], [a, mid]);
  }
  return { order, cells };
}
