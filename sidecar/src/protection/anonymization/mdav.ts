// MDAV (Maximum Distance to Average Vector; Domingo-Ferrer & Torra 2005, the fixed-size variant of
// Domingo-Ferrer & Mateo-Sanz 2002): while at least 3k records remain, take the record r farthest
// from the centroid of the remaining records and the record s farthest from r, and make a cluster
// of each with its k-1 nearest remaining records; then one more such cluster if 2k or more remain,
// and the rest (k to 2k-1 records) as the last cluster. Every cluster has k to 2k-1 records.
// O(n²/k) distance computations: the distances from r serve both to find s and r's neighbours.
import { partition } from './partition.ts';
import { Centroid, centreOf, distTo } from './points.ts';
import type { Points } from './points.ts';

/** The active records: a compact list that shrinks as clusters leave. */
class Active {
  ids: Int32Array;
  m: number;
  readonly dist: Float64Array;
  constructor(ids: Int32Array) {
    this.ids = ids;
    this.m = ids.length;
    this.dist = new Float64Array(ids.length);
  }
  /** Fills `dist` with squared distances to the centre; returns the position of the farthest. */
  measure(p: Points, cx: Float64Array, cc: Int32Array): number {
    let far = 0;
    for (let j = 0; j < this.m; j++) {
      const d = distTo(p, this.ids[j] as number, cx, cc);
      this.dist[j] = d;
      if (d > (this.dist[far] as number)) far = j;
    }
    return far;
  }
  /** Positions of the `k` smallest distances (from the last `measure`), the `first` position included. */
  nearest(k: number, first: number): number[] {
    const best: number[] = [first];
    const dist = this.dist;
    for (let j = 0; j < this.m; j++) {
      if (j === first) continue;
      const d = dist[j] as number;
      if (best.length < k) insertSorted(best, j, dist);
      else if (d < (dist[best[k - 1] as number] as number)) {
        best.pop();
        insertSorted(best, j, dist);
      }
    }
    return best;
  }
  /** Removes the records at these positions; returns their ids. */
  take(positions: number[]): number[] {
    const out = positions.map((j) => this.ids[j] as number);
    const gone = new Set(positions);
    let w = 0;
    for (let j = 0; j < this.m; j++) if (!gone.has(j)) this.ids[w++] = this.ids[j] as number;
    this.m = w;
    return out;
  }
}

/** Keeps `best` (positions, the first fixed) sorted by distance after it. */
function insertSorted(best: number[], j: number, dist: Float64Array): void {
  const d = dist[j] as number;
  let at = best.length;
  while (at > 1 && (dist[best[at - 1] as number] as number) > d) at--;
  best.splice(at, 0, j);
}

/** One run of MDAV: the records, those not yet clustered, their centroid, and how a cluster is taken. */
interface Run { p: Points; active: Active; centroid: Centroid; cluster: (around: number) => number[] }

/** The active record farthest from the active records' centroid (distances to it now measured). */
function farthestFromCentroid(r: Run): number {
  const c = r.centroid.centre();
  return r.active.ids[r.active.measure(r.p, c.x, c.c)] as number;
}

function positionOf(active: Active, id: number): number {
  return active.ids.subarray(0, active.m).indexOf(id);
}

/** The two clusters of one MDAV round: around r (farthest from the centroid) and s (farthest from r). */
function clusterPair(run: Run): void {
  const { p, active } = run;
  const r = farthestFromCentroid(run);
  const rc = centreOf(p, r);
  const s = active.ids[active.measure(p, rc.x, rc.c)] as number;
  run.cluster(positionOf(active, r));
  // s is in r's cluster only when all remaining records are at the same distance from r.
  let sAt = positionOf(active, s);
  if (sAt < 0) sAt = active.measure(p, rc.x, rc.c);
  const sc = centreOf(p, active.ids[sAt] as number);
  active.measure(p, sc.x, sc.c);
  run.cluster(sAt);
}

/** Clusters of record indices, each of size k..2k-1 (or all records when n < 2k). */
export function mdav(p: Points, k: number, members?: Int32Array): number[][] {
  const active = new Active(members ? Int32Array.from(members) : Int32Array.from({ length: p.n }, (_, i) => i));
  const centroid = new Centroid(p, active.ids.subarray(0, active.m));
  const clusters: number[][] = [];
  const cluster = (around: number): number[] => {
    const ids = active.take(active.nearest(k, around));
    for (const i of ids) centroid.add(i, -1);
    clusters.push(ids);
    return ids;
  };
  const run: Run = { p, active, centroid, cluster };
  while (active.m >= 3 * k) clusterPair(run);
  if (active.m >= 2 * k) {
    const r = farthestFromCentroid(run);
    const rc = centreOf(p, r);
    active.measure(p, rc.x, rc.c);
    cluster(positionOf(active, r));
  }
  if (active.m > 0) clusters.push(Array.from(active.ids.subarray(0, active.m)));
  return clusters;
}

/**
 * MDAV within the cells of a k-d partition (partition.ts) of at most `leaf` records: O(n·leaf/k)
 * instead of O(n²/k), at the price of clusters that never span two cells. Cells have at least
 * ⌊leaf/2⌋ ≥ k records, so every cluster still has k to 2k-1.
 */
export function cellMdav(p: Points, k: number, leaf = Math.max(1024, 4 * k)): number[][] {
  if (p.n <= leaf) return mdav(p, k);
  const { order, cells } = partition(p, leaf);
  return cells.flatMap(([a, b]) => mdav(p, k, order.subarray(a, b)));
}

/**
 * Batches of up to this many records are also clustered by plain MDAV (about n²/k distances: a
 * fraction of a second at this size), and the clustering with the smaller SSE is kept.
 */
export const PLAIN_MDAV_MAX = 4096;

/** SSE of clusters: squared standardized distances to each cluster's centre (categories: mismatches with its mode). */
export function sse(p: Points, clusters: number[][]): number {
  let total = 0;
  for (const members of clusters) {
    const c = new Centroid(p, members).centre();
    for (const i of members) total += distTo(p, i, c.x, c.c);
  }
  return total;
}

/**
 * The k-anonymity clusters: MDAV per cell, and for batches of at most `plainMax` records plain MDAV
 * as well, keeping the one with the smaller SSE: up to that size the information loss is never
 * worse than plain MDAV's on the same input (a batch of at most one cell is plain MDAV anyway).
 */
export function kClusters(p: Points, k: number, plainMax = PLAIN_MDAV_MAX): number[][] {
  const cells = cellMdav(p, k);
  if (p.n > plainMax || p.n <= Math.max(1024, 4 * k)) return cells;
  const whole = mdav(p, k);
  return sse(p, whole) < sse(p, cells) ? whole : cells;
}
