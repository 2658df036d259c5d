// Write-time anonymization of single values: suppress, mask, generalize, and, given the keys and
// a random source (WriteKeys), pseudonymize and noise. Returns undefined for what cannot be done
// to one value (k-anonymity needs the batch: protection/anonymization/batch.ts) or to this value.
//
// Suppress, mask and generalize are deterministic and idempotent: anonymizing an already anonymized value gives it back
// (`080**` stays `080**`, `****44` stays `****44`). That is what lets the rewriter anonymize a
// constant or parameter compared with an anonymized column (`zip = '08001'` becomes
// `zip = '080**'`): the backend compares stored forms and never sees the value.
import type { AnonymizeProtection } from '@clarus/crds/types.ts';
import { OID } from './encryption/canonical.ts';
import { withNoise } from './anonymization/noise.ts';
import type { Uniform } from './anonymization/noise.ts';
import { pseudonym } from './anonymization/pseudonym.ts';
import { shiftPoint, snapToGrid } from './anonymization/grid.ts';
import type { Mac, Seal } from './anonymization/pseudonym.ts';
import { kindOf } from './anonymization/values.ts';

/** What pseudonymize and noise need: the keyring's MAC (and deterministic cipher) and a uniform random source. */
export interface WriteKeys { mac: Mac; random: Uniform; seal?: Seal }

const TEXT_OIDS: ReadonlySet<number> = new Set([OID.text, OID.varchar, OID.bpchar]);

function mask(spec: NonNullable<AnonymizeProtection['mask']>, text: string): string {
  const ch = spec.char ?? '*';
  if (spec.format === 'email') {
    const at = text.indexOf('@');
    if (at > 0) return `${text[0]}${ch.repeat(Math.max(at - 1, 1))}${text.slice(at)}`;
  }
  const first = spec.keepFirst ?? 0;
  const last = spec.keepLast ?? 0;
  if (first + last >= text.length) return ch.repeat(text.length);
  return text.slice(0, first) + ch.repeat(text.length - first - last) + (last ? text.slice(-last) : '');
}

/** A date (or timestamp) cut to the first day of its year or month. */
function truncateDate(text: string, unit: 'year' | 'month'): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(text.trim());
  if (!m) return undefined;
  return unit === 'year' ? `${m[1]}-01-01` : `${m[1]}-${m[2]}-01`;
}

/** A number rounded down to a multiple of `step`. */
function stepDown(text: string, step: number): string | undefined {
  const n = Number(text);
  if (!Number.isFinite(n)) return undefined;
  return String(Math.floor(n / step) * step);
}

function generalize(spec: NonNullable<AnonymizeProtection['generalize']>, text: string, typeOid: number): string | undefined {
  if (spec.truncate) return truncateDate(text, spec.truncate);
  if (spec.step) return stepDown(text, spec.step);
  if (spec.keepPrefix !== undefined) {
    if (!TEXT_OIDS.has(typeOid)) return undefined;
    return text.slice(0, spec.keepPrefix) + '*'.repeat(Math.max(text.length - spec.keepPrefix, 0));
  }
  if (spec.gridMeters !== undefined) return snapToGrid(text, spec.gridMeters);
  return undefined;
}

/** The anonymized text (null = SQL NULL), or undefined when this protection is not applied here. */
export function anonymizeText(spec: AnonymizeProtection, text: string, typeOid: number, keys?: WriteKeys): string | null | undefined {
  if (spec.suppress) return spec.suppress.value ?? null;
  if (spec.mask) return mask(spec.mask, text);
  if (spec.generalize) return generalizeText(spec.generalize, text, typeOid, keys);
  if (!keys || !appliesAtWrite(spec, typeOid)) return undefined;
  return keyedText(spec, text, typeOid, keys);
}

/** Generalize; a random shift of a point only given the random source. */
function generalizeText(spec: NonNullable<AnonymizeProtection['generalize']>, text: string, typeOid: number, keys?: WriteKeys): string | undefined {
  if (spec.shiftMeters !== undefined) return keys ? shiftPoint(text, spec.shiftMeters, keys.random) : undefined;
  return generalize(spec, text, typeOid);
}

/** The methods that need the keys or the random source: pseudonymize, noise. */
function keyedText(spec: AnonymizeProtection, text: string, typeOid: number, keys: WriteKeys): string | undefined {
  if (spec.pseudonymize) return pseudonym(spec.pseudonymize, text, keys.mac, keys.seal);
  if (spec.noise) return withNoise(spec.noise, kindOf(typeOid), text, keys.random);
  return undefined;
}

/** The presentation mask of the `masked` view: a fixed four-character prefix, then the last four. */
export function maskForView(text: string): string {
  return text.length <= 4 ? '****' : `****${text.slice(-4)}`;
}

/** The method's name, for messages: `generalize`, `mask`, `noise`… */
export function methodOf(spec: AnonymizeProtection): string {
  return Object.keys(spec).find((k) => (spec as Record<string, unknown>)[k] !== undefined) ?? 'anonymize';
}

/**
 * Whether anonymizeText handles this protection for this declared type, one value at a time (so
 * parameters can be accepted): pseudonymize on text types (uuid format also on uuid), noise on
 * numbers and dates; k-anonymity never (it needs the batch).
 */
export function appliesAtWrite(spec: AnonymizeProtection, typeOid: number): boolean {
  if (spec.suppress || spec.mask) return true;
  if (spec.pseudonymize) return TEXT_OIDS.has(typeOid) || (typeOid === OID.uuid && spec.pseudonymize.format === 'uuid');
  if (spec.noise) return kindOf(typeOid) !== 'category';
  return spec.generalize ? generalizesAtWrite(spec.generalize, typeOid) : false;
}

function generalizesAtWrite(g: NonNullable<AnonymizeProtection['generalize']>, typeOid: number): boolean {
  if (g.keepPrefix !== undefined) return TEXT_OIDS.has(typeOid);
  return Boolean(g.truncate || g.step || g.gridMeters || g.shiftMeters);
}

/**
 * Whether a constant or parameter compared with the column can be anonymized the same way to
 * compare stored forms: suppress, mask, generalize. Not noise (not deterministic) nor
 * pseudonymize (a client may compare with a pseudonym it read, which would be pseudonymized again).
 */
export function appliesToComparison(spec: AnonymizeProtection, typeOid: number): boolean {
  return !spec.noise && !spec.pseudonymize && spec.generalize?.shiftMeters === undefined && appliesAtWrite(spec, typeOid);
}
