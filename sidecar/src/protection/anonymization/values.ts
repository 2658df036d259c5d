// The values of k-anonymity columns as the microaggregation reads and publishes them, by the
// column's declared type: integers, reals (numeric, float), dates (as days), and everything else
// as categories. Dates are read only in the unambiguous ISO orders YYYY-MM-DD and YYYY/MM/DD
// (PostgreSQL's DateStyle could read other forms differently), optionally followed by a time and a
// time zone, which PostgreSQL's date input ignores (pgjdbc's setDate sends `2010-01-02 +01`). Pure.
import { OID } from '../encryption/canonical.ts';

export type ValueKind = 'integer' | 'real' | 'date' | 'category';

export function kindOf(typeOid: number): ValueKind {
  if (typeOid === OID.int2 || typeOid === OID.int4 || typeOid === OID.int8) return 'integer';
  if (typeOid === OID.numeric || typeOid === OID.float4 || typeOid === OID.float8) return 'real';
  if (typeOid === OID.date) return 'date';
  return 'category';
}

const DAY = 86_400_000;
/** YYYY-MM-DD or YYYY/MM/DD, then an optional time (hh:mm[:ss[.f]]) and zone (Z, UTC, ±hh[[:]mm]); never BC. */
const ISO_DATE = /^(\d{4})([-/])(\d{2})\2(\d{2})(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?(?:\s*(?:Z|UTC|[+-]\d{2}(?::?\d{2})?))?$/;

/** The number a numeric or date value stands for, or undefined when the text is not one. */
export function numberOf(kind: ValueKind, text: string): number | undefined {
  const t = text.trim();
  if (kind === 'integer') return /^[+-]?\d{1,15}$/.test(t) ? Number(t) : undefined;
  if (kind === 'real') {
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return undefined;
    const v = Number(t);
    return Number.isFinite(v) ? v : undefined;
  }
  const m = ISO_DATE.exec(t);
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[3]), Number(m[4])];
  const ms = Date.UTC(y, mo - 1, d);
  const back = new Date(ms);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) return undefined;
  return ms / DAY;
}

/** The published text of a cluster's mean: integers and dates rounded, reals to 6 significant decimals. */
export function publish(kind: ValueKind, mean: number): string {
  if (kind === 'integer') return String(Math.round(mean));
  if (kind === 'date') return new Date(Math.round(mean) * DAY).toISOString().slice(0, 10);
  return String(Number(mean.toPrecision(12)));
}

/** The stored number for a published mean (what SSE is computed on). */
export function published(kind: ValueKind, mean: number): number {
  if (kind === 'integer' || kind === 'date') return Math.round(mean);
  return Number(mean.toPrecision(12));
}

/** A sortable key of a confidential value: NULL first, then numbers (numeric and date kinds), then text by code point. */
export type ConfidentialKey = readonly [0] | readonly [1, number] | readonly [2, string];

export function confidentialKey(kind: ValueKind, v: string | null): ConfidentialKey {
  if (v === null) return [0];
  const x = kind === 'category' ? undefined : numberOf(kind, v);
  return x === undefined ? [2, v] : [1, x];
}

export function compareKeys(a: ConfidentialKey, b: ConfidentialKey): number {
  if (a[0] !== b[0]) return a[0] - b[0];
  if (a[0] === 0) return 0;
  const x = a[1] as number | string;
  const y = b[1] as number | string;
  return x < y ? -1 : x > y ? 1 : 0;
}
