// t-closeness by microaggregation, after Soria-Comas, Domingo-Ferrer, Sánchez & Martínez,
// "t-Closeness through Microaggregation: Strict Privacy with Enhanced Utility Preservation"
// (IEEE TKDE 27(11), 2015), algorithm "t-closeness first": the records are sorted by the
// confidential attribute and cut into k' strata of consecutive ranks, with
// k' = max(k, ⌈n / (2(n-1)t + 1)⌉); each cluster takes, from every stratum, the remaining record
// nearest (in quasi-identifiers) to a seed chosen as in MDAV. A cluster holding one record of each
// stratum is within t of the whole batch on record ranks. Li's EMD is over distinct values (ties
// share a value), where that bound does not hold exactly, and the records left over when k' does
// not divide n join their nearest cluster: so every cluster is then checked with the exact EMD of
// every confidential attribute, and a cluster over t is merged with its nearest cluster until none
// is (EMD is convex in the distribution, and the whole batch is at distance 0, so this ends).
import { kClusters, sse } from './mdav.ts';
import { partition } from './partition.ts';
import { Centroid, centreOf, distTo } from './points.ts';
import type { Points } from './points.ts';
import type { OrderedEmd } from './emd.ts';

/** Cluster size that guarantees t on record ranks (Soria-Comas et al., proposition 2). */
export function clusterSizeFor(n: number, k: number, t: number): number {
  return Math.min(n, Math.max(k, Math.ceil(n / (2 * (n - 1) * t + 1))));
}

function sortedByRank(emd: OrderedEmd): Int32Array {
  const rank = emd.attr.rank;
  return Int32Array.from({ length: rank.length }, (_, i) => i).sort((a, b) => (rank[a] as number) - (rank[b] as number) || a - b);
}

/**
 * Clusters of ≥ k records, each holding one record of every stratum (plus leftovers). Seeds sweep
 * the records in the partition's locality-preserving order (partition.ts); from each stratum the
 * cluster takes the nearest of the next `window` remaining records in that order, which makes it
 * O(n·window) instead of the O(n²/k') of a full nearest-record search.
 */
export function tClosenessFirst(p: Points, k: number, { t, emd }: { t: number; emd: OrderedEmd }, window = 64): number[][] {
  const n = p.n;
  const kk = clusterSizeFor(n, k, t);
  if (n < 2 * kk) return [Array.from({ length: n }, (_, i) => i)];
  const stratum = new Int32Array(n);
  sortedByRank(emd).forEach((i, j) => { stratum[i] = Math.floor((j * kk) / n); });
  const { order } = partition(p, 256);
  const lists: number[][] = Array.from({ length: kk }, () => []);
  for (const i of order) (lists[stratum[i] as number] as number[]).push(i);
  const heads = new Int32Array(kk);
  const taken = new Uint8Array(n);
  const clusters: number[][] = [];
  let cursor = 0;
  for (let round = Math.floor(n / kk); round > 0; round--) {
    while (taken[order[cursor] as number]) cursor++;
    const seed = centreOf(p, order[cursor] as number);
    const members: number[] = [];
    lists.forEach((list, s) => {
      while (taken[list[heads[s] as number] as number]) heads[s] = (heads[s] as number) + 1;
      let best = -1;
      let bd = Infinity;
      for (let j = heads[s] as number, seen = 0; j < list.length && seen < window; j++) {
        const i = list[j] as number;
        if (taken[i]) continue;
        seen++;
        const d = distTo(p, i, seed.x, seed.c);
        if (d < bd) { bd = d; best = i; }
      }
      taken[best] = 1;
      members.push(best);
    });
    clusters.push(members);
  }
  joinNearest(p, clusters, Array.from({ length: n }, (_, i) => i).filter((i) => !taken[i]));
  return clusters;
}

function centres(p: Points, clusters: number[][]): Array<{ x: Float64Array; c: Int32Array }> {
  return clusters.map((members) => new Centroid(p, members).centre());
}

/** Each leftover record joins the cluster with the nearest centroid. */
function joinNearest(p: Points, clusters: number[][], leftovers: number[]): void {
  if (leftovers.length === 0) return;
  const cs = centres(p, clusters);
  for (const i of leftovers) {
    let best = 0;
    let bd = Infinity;
    cs.forEach((c, j) => {
      const d = distTo(p, i, c.x, c.c);
      if (d < bd) { bd = d; best = j; }
    });
    (clusters[best] as number[]).push(i);
  }
}

/** The largest EMD of a cluster over the confidential attributes. */
export function clusterT(members: ArrayLike<number>, emds: OrderedEmd[]): number {
  let worst = 0;
  for (const e of emds) worst = Math.max(worst, e.of(members));
  return worst;
}

function centreDistance(p: Points, a: { x: Float64Array; c: Int32Array }, b: { x: Float64Array; c: Int32Array }): number {
  let d = 0;
  for (let q = 0; q < p.dims; q++) d += ((a.x[q] as number) - (b.x[q] as number)) ** 2;
  for (let q = 0; q < p.cats; q++) if (a.c[q] !== b.c[q]) d += 1;
  return d;
}

/** How many live neighbours on each side, in list order, a cluster over t looks at for a merge. */
const REACH = 32;

/** The live cluster nearest to cluster j, among REACH live neighbours on each side in list order (clusters come in locality order). */
function nearestLive(p: Points, cs: Array<{ x: Float64Array; c: Int32Array }>, live: Uint8Array, j: number): number {
  let best = -1;
  let bd = Infinity;
  for (const step of [-1, 1]) {
    for (let o = j + step, seen = 0; o >= 0 && o < cs.length && seen < REACH; o += step) {
      if (!live[o]) continue;
      seen++;
      const d = centreDistance(p, cs[j] as { x: Float64Array; c: Int32Array }, cs[o] as { x: Float64Array; c: Int32Array });
      if (d < bd) { bd = d; best = o; }
    }
  }
  return best;
}

/**
 * Merges every cluster over t with a nearby cluster until all are within t; returns the number of
 * merges. `clusters` is edited in place (merged clusters removed).
 */
export function enforceT(p: Points, clusters: number[][], emds: OrderedEmd[], t: number): number {
  let merges = 0;
  const cs = centres(p, clusters);
  const live = new Uint8Array(clusters.length).fill(1);
  for (let j = 0; j < clusters.length; j++) {
    while (clusterT(clusters[j] as number[], emds) > t) {
      const o = nearestLive(p, cs, live, j);
      if (o < 0) break;
      clusters[j] = [...(clusters[j] as number[]), ...(clusters[o] as number[])];
      cs[j] = new Centroid(p, clusters[j] as number[]).centre();
      live[o] = 0;
      clusters[o] = [];
      merges++;
    }
  }
  let w = 0;
  for (let j = 0; j < clusters.length; j++) if (live[j]) clusters[w++] = clusters[j] as number[];
  clusters.length = w;
  return merges;
}

/**
 * Clusters for k-anonymity (MDAV: kClusters in mdav.ts), or k-anonymity and t-closeness when t is given: both MDAV's
 * clusters merged until within t and t-closeness-first's are computed, and the one with less
 * information loss is kept (with a loose t, MDAV's clusters often need few merges).
 */
export function clustersFor(p: Points, k: number, t: number | undefined, emds: OrderedEmd[]): { clusters: number[][]; merges: number } {
  const plain = kClusters(p, k);
  if (t === undefined || emds.length === 0) return { clusters: plain, merges: 0 };
  const plainMerges = enforceT(p, plain, emds, t);
  const first = tClosenessFirst(p, k, { t, emd: emds[0] as OrderedEmd });
  const firstMerges = enforceT(p, first, emds, t);
  return sse(p, plain) <= sse(p, first) ? { clusters: plain, merges: plainMerges } : { clusters: first, merges: firstMerges };
}
