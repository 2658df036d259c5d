// k-anonymity (and t-closeness) of one batch of rows: the quasi-identifier columns are
// microaggregated (MDAV, or t-closeness-first when t is set: tcloseness.ts) and each record's
// quasi-identifiers are replaced by its cluster's: the mean for numbers and dates (rounded to the
// column's integer or day), the mode for categories (ties: the value seen first in the batch).
// Every record of a cluster then publishes the same quasi-identifier values, so every combination
// of published values is shared by at least k records. The report is recomputed from the
// published rows (classes = records with equal published quasi-identifiers), not taken from the
// clustering. Pure: rows in, rows and report out, or why the batch cannot be anonymized.
import { parsePoint, pointText } from './grid.ts';
import { OrderedEmd, ranksOf } from './emd.ts';
import { encode, makePoints } from './points.ts';
import { clustersFor } from './tcloseness.ts';
import { compareKeys, confidentialKey, numberOf, publish, published } from './values.ts';
import type { ValueKind } from './values.ts';

export interface BatchColumn {
  name: string;
  /** qi: microaggregated; confidential: its distribution is kept within t in every class. */
  role: 'qi' | 'confidential' | 'other';
  kind: ValueKind;
}

export interface BatchSpec { k: number; t?: number | undefined; columns: BatchColumn[] }

export interface BatchReport {
  records: number;
  classes: number;
  /** The smallest class. */
  k: number;
  /** The largest EMD of a class over the confidential attributes (null without t-closeness). */
  t: number | null;
  /** SSE/SST over the standardized numeric and date quasi-identifiers (mean over attributes). */
  sseSst: number | null;
  /** The same on raw values (days for dates), summed over attributes as CLARUS reports it. */
  sseSstRaw: number | null;
  /** Share of categorical quasi-identifier values published as another category. */
  categoriesChanged: number | null;
  /** Clusters merged to bring them within t. */
  merges: number;
}

export type BatchFailure = { kind: 'tooFew'; records: number; k: number } | { kind: 'null' | 'format'; column: string; value?: string };
export type BatchResult = { ok: true; rows: Array<Array<string | null>>; report: BatchReport } | { ok: false; failure: BatchFailure };

/**
 * `numericCols[d]` is the column of numeric dimension d, or -1 for a coordinate of a point column
 * (`points`: a column whose every value is a 2-D point of one SRID, microaggregated to the centroid).
 */
interface Parsed {
  numeric: Float64Array[]; numericCols: number[]; cats: Int32Array[]; labels: string[][]; catCols: number[];
  points: Array<{ col: number; dx: number; srid: number | undefined }>;
}

/** A categorical column whose values are all 2-D points of one SRID: its x and y, or undefined. */
function pointsOf(texts: string[]): { x: Float64Array; y: Float64Array; srid: number | undefined } | undefined {
  const x = new Float64Array(texts.length);
  const y = new Float64Array(texts.length);
  let srid: number | undefined;
  for (let i = 0; i < texts.length; i++) {
    const p = parsePoint(texts[i] as string);
    if (!p || (i > 0 && p.srid !== srid)) return undefined;
    srid = p.srid;
    x[i] = p.x;
    y[i] = p.y;
  }
  return { x, y, srid };
}

/** A categorical quasi-identifier: two coordinates when every value is a point of one SRID, else codes. */
function addCategory(out: Parsed, ci: number, texts: string[]): void {
  const pts = pointsOf(texts);
  if (pts) {
    out.points.push({ col: ci, dx: out.numeric.length, srid: pts.srid });
    out.numeric.push(pts.x, pts.y);
    out.numericCols.push(-1, -1);
    return;
  }
  const e = encode(texts);
  out.cats.push(e.codes);
  out.labels.push(e.labels);
  out.catCols.push(ci);
}

function parse(spec: BatchSpec, rows: Array<Array<string | null>>): Parsed | BatchFailure {
  const out: Parsed = { numeric: [], numericCols: [], cats: [], labels: [], catCols: [], points: [] };
  for (const [ci, c] of spec.columns.entries()) {
    if (c.role !== 'qi') continue;
    const texts: string[] = [];
    for (const r of rows) {
      const v = r[ci];
      if (v === null || v === undefined) return { kind: 'null', column: c.name };
      texts.push(v);
    }
    if (c.kind === 'category') {
      addCategory(out, ci, texts);
      continue;
    }
    const v = new Float64Array(rows.length);
    for (let i = 0; i < texts.length; i++) {
      const x = numberOf(c.kind, texts[i] as string);
      if (x === undefined) return { kind: 'format', column: c.name, value: texts[i] as string };
      v[i] = x;
    }
    out.numeric.push(v);
    out.numericCols.push(ci);
  }
  return out;
}

function confidentialEmds(spec: BatchSpec, rows: Array<Array<string | null>>): OrderedEmd[] {
  return spec.columns.flatMap((c, ci) => {
    if (c.role !== 'confidential') return [];
    const keys = rows.map((r) => confidentialKey(c.kind, r[ci] ?? null));
    return [new OrderedEmd(ranksOf(keys, compareKeys))];
  });
}

export function microaggregate(spec: BatchSpec, rows: Array<Array<string | null>>): BatchResult {
  const n = rows.length;
  if (n < spec.k) return { ok: false, failure: { kind: 'tooFew', records: n, k: spec.k } };
  const parsed = parse(spec, rows);
  if ('kind' in parsed) return { ok: false, failure: parsed };
  const points = makePoints(parsed.numeric, parsed.cats, parsed.labels.map((l) => l.length), n);
  const emds = spec.t === undefined ? [] : confidentialEmds(spec, rows);
  const { clusters, merges } = clustersFor(points, spec.k, spec.t, emds);
  const out = rows.map((r) => [...r]);
  const pub = parsed.numeric.map(() => new Float64Array(n));
  for (const members of clusters) {
    parsed.numeric.forEach((v, d) => {
      let sum = 0;
      for (const i of members) sum += v[i] as number;
      const col = parsed.numericCols[d] as number;
      const kind = col < 0 ? 'real' : (spec.columns[col] as BatchColumn).kind;
      const text = publish(kind, sum / members.length);
      const value = published(kind, sum / members.length);
      for (const i of members) {
        if (col >= 0) (out[i] as Array<string | null>)[col] = text;
        (pub[d] as Float64Array)[i] = value;
      }
    });
    // Point columns: the cluster's centroid (the mean of each coordinate), as EWKT.
    for (const p of parsed.points) {
      const first = members[0] as number;
      const text = pointText({ x: (pub[p.dx] as Float64Array)[first] as number, y: (pub[p.dx + 1] as Float64Array)[first] as number, ...(p.srid !== undefined ? { srid: p.srid } : {}) });
      for (const i of members) (out[i] as Array<string | null>)[p.col] = text;
    }
    parsed.cats.forEach((codes, d) => {
      const label = (parsed.labels[d] as string[])[modeOf(codes, members)] as string;
      for (const i of members) (out[i] as Array<string | null>)[parsed.catCols[d] as number] = label;
    });
  }
  return { ok: true, rows: out, report: report(spec, out, parsed, { pub, emds, merges }) };
}

function modeOf(codes: Int32Array, members: number[]): number {
  const counts = new Map<number, number>();
  let best = codes[members[0] as number] as number;
  for (const i of members) {
    const c = codes[i] as number;
    const k = (counts.get(c) ?? 0) + 1;
    counts.set(c, k);
    const bk = counts.get(best) ?? 0;
    if (k > bk || (k === bk && c < best)) best = c;
  }
  return best;
}

/** Classes: records with equal published quasi-identifiers. */
export function classesOf(columns: BatchColumn[], rows: Array<Array<string | null>>): number[][] {
  const qi = columns.flatMap((c, i) => (c.role === 'qi' ? [i] : []));
  const byKey = new Map<string, number[]>();
  rows.forEach((r, i) => {
    const key = JSON.stringify(qi.map((q) => r[q]));
    const list = byKey.get(key);
    if (list) list.push(i);
    else byKey.set(key, [i]);
  });
  return [...byKey.values()];
}

function infoLoss(parsed: Parsed, pub: Float64Array[]): { std: number | null; raw: number | null } {
  let stdSum = 0;
  let dims = 0;
  let sse = 0;
  let sst = 0;
  parsed.numeric.forEach((v, d) => {
    const p = pub[d] as Float64Array;
    let mean = 0;
    for (const x of v) mean += x;
    mean /= v.length;
    let e = 0;
    let t = 0;
    for (let i = 0; i < v.length; i++) {
      e += ((v[i] as number) - (p[i] as number)) ** 2;
      t += ((v[i] as number) - mean) ** 2;
    }
    sse += e;
    sst += t;
    if (t > 0) {
      stdSum += e / t;
      dims++;
    }
  });
  return { std: dims ? stdSum / dims : null, raw: sst > 0 ? sse / sst : null };
}

/** What the clustering produced besides the rows: published numeric values per dimension, the t-closeness distances, the merges. */
interface Clustered { pub: Float64Array[]; emds: OrderedEmd[]; merges: number }

function report(spec: BatchSpec, rows: Array<Array<string | null>>, parsed: Parsed, { pub, emds, merges }: Clustered): BatchReport {
  const classes = classesOf(spec.columns, rows);
  let t: number | null = null;
  if (spec.t !== undefined) {
    t = 0;
    for (const c of classes) for (const e of emds) t = Math.max(t, e.of(c));
  }
  let changed = 0;
  parsed.cats.forEach((codes, d) => {
    const labels = parsed.labels[d] as string[];
    const col = parsed.catCols[d] as number;
    rows.forEach((r, i) => { if (r[col] !== labels[codes[i] as number]) changed++; });
  });
  const loss = infoLoss(parsed, pub);
  return {
    records: rows.length, classes: classes.length, k: Math.min(...classes.map((c) => c.length)), t, sseSst: loss.std, sseSstRaw: loss.raw,
    categoriesChanged: parsed.cats.length ? changed / (rows.length * parsed.cats.length) : null, merges,
  };
}
