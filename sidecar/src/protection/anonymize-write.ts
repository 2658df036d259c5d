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

function generalize(spec: NonNullable<AnonymizeProtection['generalize']>, text: string, typeOid: number): string | undefined {
  if (spec.truncate) {
    const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(text.trim());
    if (!m) return undefined;
    return spec.truncate === 'year' ? `${m[1]}-01-01` : `${m[1]}-${m[2]}-01`;
  }
  if (spec.step) {
    const n = Number(text);
    if (!Number.isFinite(n)) return undefined;
    return String(Math.floor(n / spec.step) * spec.step);
  }
  if (spec.keepPrefix !== undefined) {
    if (typeOid !== OID.text && typeOid !== OID.varchar && typeOid !== OID.bpchar) return undefined;
    return text.slice(0, spec.keepPrefix) + '*'.repeat(Math.max(text.length - spec.keepPrefix, 0));
  }
  if (spec.gridMeters !== undefined) return snapToGrid(text, spec.gridMeters);
  return undefined;
}

/** The anonymized text (null = SQL NULL), or undefined when this protection is not applied here. */
export function anonymizeText(spec: AnonymizeProtection, text: string, typeOid: number, keys?: WriteKeys): string | null | undefined {
  if (spec.suppress) return spec.suppress.value ?? null;
  if (spec.mask) return mask(spec.mask, text);
  if (spec.generalize?.shiftMeters !== undefined) return keys ? shiftPoint(text, spec.generalize.shiftMeters, keys.random) : undefined;
  if (spec.generalize) return generalize(spec.generalize, text, typeOid);
  if (!keys || !appliesAtWrite(spec, typeOid)) return undefined;
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
  const g = spec.generalize;
  if (!g) return false;
  if (g.keepPrefix !== undefined) return typeOid === OID.text || typeOid === OID.varchar || typeOid === OID.bpchar;
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
