// One CLARUS 1.0 `<attribute_type type=… protection=…/>` rule → the Clarus protection with the same
// meaning, or a refusal when Clarus cannot express it without protecting less. Module, protection
// and parameter values compare case-insensitively, as CLARUS did. Pure.
import type { AttributeType, AttributeTypeDefault, Protection } from '@clarus/crds/types.ts';
import type { XmlElement } from './xml.ts';

export interface RuleMapping {
  /** Default protection of the attribute type (empty: stored as is). */
  protection: AttributeTypeDefault;
  /** A protection Clarus expresses per column only (microaggregated points become quasi-identifiers). */
  column?: { attributeType: AttributeType; protection: Protection };
  /** The columns are the row key, stored on every backend (CLARUS `replicate`). */
  rowKey?: boolean;
  /** t-closeness given on confidential attributes: a parameter of the quasi-identifiers' kAnonymity. */
  tCloseness?: number;
  /** The XML asks for a protection here: dropping such a column would protect less. */
  protects: boolean;
  /** Said next to the attribute type in the output. */
  notes: string[];
}

export interface RuleState { notes: string[]; refusals: string[] }

/** CLARUS key ids (e.g. "176", "encKey") → keyring key names (DNS labels). */
export function keyNameOf(idKey: string | undefined): string | undefined {
  if (!idKey) return undefined;
  const k = idKey.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63);
  return k || undefined;
}

const lc = (s: string | undefined): string => (s ?? '').trim().toLowerCase();
const none = (): RuleMapping => ({ protection: {}, protects: false, notes: [] });
const at = (rule: XmlElement): string => `line ${rule.line}`;

function refuse(st: RuleState, rule: XmlElement, text: string): undefined {
  st.refusals.push(`${at(rule)}: ${text}`);
  return undefined;
}

/** Parameters this protection does not know: their meaning would be lost, so the rule is refused. */
function unknownParams(rule: XmlElement, known: string[], st: RuleState): boolean {
  const extra = Object.keys(rule.attrs).filter((a) => !['type', 'protection', ...known].includes(a));
  for (const k of extra) refuse(st, rule, `parameter ${k}="${rule.attrs[k]}" of protection "${rule.attrs.protection}" has no Clarus equivalent`);
  return extra.length > 0;
}

function intParam(rule: XmlElement, name: string, min: number, st: RuleState): number | undefined {
  const v = rule.attrs[name]?.trim();
  if (v === undefined) return refuse(st, rule, `protection "${rule.attrs.protection}" needs ${name}; CLARUS has no default the import could copy`);
  if (!/^\d+$/.test(v) || Number(v) < min) return refuse(st, rule, `${name}="${v}" must be an integer of at least ${min}`);
  return Number(v);
}

function encryption(rule: XmlElement, searchable: boolean, st: RuleState): RuleMapping | undefined {
  if (unknownParams(rule, ['id_key'], st)) return undefined;
  const keyName = keyNameOf(rule.attrs.id_key);
  const notes = keyName ? [`id_key "${rule.attrs.id_key}" → keyring key ${keyName} (clarus keys generate --key ${keyName})`] : [];
  if (searchable) {
    notes.push('CLARUS searchable encryption → randomized encryption with a blind index: =, IN keep working; CLARUS also served <, <=, >, >= on these columns, which the proxy now refuses (Clarus has no order-revealing encryption: the backend learns less than under CLARUS, and serves less)');
    return { protection: { encrypt: { mode: 'randomized', searchable: true, ...(keyName ? { keyName } : {}) } }, protects: true, notes };
  }
  notes.push(`CLARUS "${rule.attrs.protection}" encryption was deterministic (equality was pushed to the cloud) → deterministic: =, IN, GROUP BY and joins run in the backend, which sees which values are equal, as it did under CLARUS`);
  return { protection: { encrypt: { mode: 'deterministic', ...(keyName ? { keyName } : {}) } }, protects: true, notes };
}

/**
 * Shift moves a point at random within `radius`: generalize.shiftMeters does the same (a uniform
 * point of the disc, drawn per write), with the radius rounded up to whole metres.
 */
function shift(rule: XmlElement, st: RuleState): RuleMapping | undefined {
  if (unknownParams(rule, ['coarsening_type', 'radius'], st)) return undefined;
  const raw = rule.attrs.radius?.trim();
  if (raw === undefined) return refuse(st, rule, 'coarsening shift needs radius; CLARUS has no default the import could copy');
  const radius = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || !(radius > 0)) return refuse(st, rule, `radius="${raw}" must be a positive number (meters)`);
  const shiftMeters = Math.ceil(radius);
  if (shiftMeters > 10_000_000) return refuse(st, rule, `radius="${raw}" is above the 10,000 km Clarus allows`);
  return {
    protection: { anonymize: { generalize: { shiftMeters } } }, protects: true,
    notes: [`coarsening shift radius ${raw} → generalize shiftMeters ${shiftMeters}: each written point moves to a uniform random point within ${shiftMeters} m, drawn per write, as CLARUS shifted it; metres of the column's SRID (of Web Mercator for points in degrees)`],
  };
}

function microaggregation(rule: XmlElement, type: AttributeType, st: RuleState): RuleMapping | undefined {
  if (unknownParams(rule, ['coarsening_type', 'k'], st)) return undefined;
  const k = intParam(rule, 'k', 2, st);
  if (k === undefined) return undefined;
  const anonymize = { kAnonymity: { k } };
  const why = `coarsening microaggregation k=${k} → kAnonymity k=${k}: each point is replaced by the centroid of a group of at least ${k}`;
  if (type === 'quasiIdentifier') return { protection: { anonymize }, protects: true, notes: [why] };
  return {
    protection: {}, column: { attributeType: 'quasiIdentifier', protection: { anonymize } }, protects: true,
    notes: [`${why}; Clarus microaggregates quasi-identifiers only, so these ${type} columns are declared quasiIdentifier with their own protection`],
  };
}

function coarsening(rule: XmlElement, type: AttributeType, st: RuleState): RuleMapping | undefined {
  const kind = lc(rule.attrs.coarsening_type);
  if (kind === 'shift') return shift(rule, st);
  if (kind === 'microaggregation') return microaggregation(rule, type, st);
  return refuse(st, rule, `coarsening_type "${rule.attrs.coarsening_type ?? ''}" is not one CLARUS 1.0 defines (shift, microaggregation)`);
}

/** t of t-closeness: undefined when absent, null when refused. */
function tParam(rule: XmlElement, st: RuleState): number | undefined | null {
  const raw = rule.attrs.t?.trim();
  if (raw === undefined) return lc(rule.attrs.protection) === 't-closeness' ? refuse(st, rule, 't-closeness needs t') ?? null : undefined;
  const t = Number(raw);
  return t >= 0 && t <= 1 ? t : refuse(st, rule, `t="${raw}" must be between 0 and 1`) ?? null;
}

function kAnonymity(rule: XmlElement, type: AttributeType, st: RuleState): RuleMapping | undefined {
  const p = lc(rule.attrs.protection);
  if (unknownParams(rule, ['k', 't'], st)) return undefined;
  const t = tParam(rule, st);
  if (t === null) return undefined;
  const tRaw = rule.attrs.t?.trim();
  if (type === 'confidential' && p === 't-closeness') {
    return { protection: {}, tCloseness: t as number, protects: true, notes: [`t-closeness t=${tRaw} on confidential attributes → tCloseness of the kAnonymity of the same table's quasi-identifiers`] };
  }
  if (type !== 'quasiIdentifier') return refuse(st, rule, `${p} on ${type} attributes: CLARUS and Clarus k-anonymize quasi-identifiers only`);
  const k = intParam(rule, 'k', 2, st);
  if (k === undefined) return undefined;
  return { protection: { anonymize: { kAnonymity: { k, ...(t !== undefined ? { tCloseness: t } : {}) } } }, protects: true, notes: [] };
}

function anonymization(rule: XmlElement, type: AttributeType, st: RuleState): RuleMapping | undefined {
  const p = lc(rule.attrs.protection);
  if (p === 'suppression' || p === 'supression') {
    if (unknownParams(rule, [], st)) return undefined;
    const typo = p === 'supression' ? ['"supression" (so spelled in published CLARUS files, which CLARUS accepted) read as suppression'] : [];
    return { protection: { anonymize: { suppress: {} } }, protects: true, notes: [...typo, 'suppression → suppress: the backend stores NULL'] };
  }
  if (p === 'k-anonymity' || p === 't-closeness') return kAnonymity(rule, type, st);
  if (p === 'coarsening') return coarsening(rule, type, st);
  return refuse(st, rule, `anonymization protection "${rule.attrs.protection}" is not one CLARUS 1.0 defines`);
}

function splitting(rule: XmlElement, type: AttributeType, st: RuleState): RuleMapping | undefined {
  const p = lc(rule.attrs.protection);
  if (p === 'encryption' || p === 'simple') return encryption(rule, false, st);
  if (unknownParams(rule, ['clouds', 'splitting_type'], st)) return undefined;
  const clouds = intParam(rule, 'clouds', 1, st);
  if (clouds === undefined) return undefined;
  if (p === 'replicate') return replicate(rule, type, clouds, st);
  if (p !== 'splitting') return refuse(st, rule, `splitting protection "${rule.attrs.protection}" is not one CLARUS 1.0 defines`);
  return columnSplitting(rule, type, clouds, st);
}

/** `splitting` of a column's values over `clouds` clouds: whole on one, points by coordinate, or refused. */
function columnSplitting(rule: XmlElement, type: AttributeType, clouds: number, st: RuleState): RuleMapping | undefined {
  if (clouds === 1 && rule.attrs.splitting_type === undefined) {
    return { ...none(), notes: ['splitting on 1 cloud → stored whole on the default backend, as in CLARUS'] };
  }
  const points = pointSplit(rule, type, clouds);
  if (points) return points;
  const how = rule.attrs.splitting_type ? `splitting_type "${rule.attrs.splitting_type}"` : 'CLARUS splitting';
  return refuse(st, rule, `${how} spreads each value over ${clouds} cloud(s) so that no cloud holds it whole; Clarus places a whole column on one backend, which would then hold the value whole: not representable`);
}

/** `replicate`: CLARUS's technical identifier on every cloud, the dataset's row key. */
function replicate(rule: XmlElement, type: AttributeType, clouds: number, st: RuleState): RuleMapping | undefined {
  if (type !== 'technicalIdentifier') return refuse(st, rule, `replicate applies to technical identifiers (the row key) only, not ${type}`);
  return { protection: {}, rowKey: true, protects: false, notes: [`replicate on ${clouds} cloud(s) → the dataset's rowKey, which Clarus stores on every backend`] };
}

/** The backends a point's coordinates go to (the first two `<protocol>` clouds; stubs are made when absent). */
export const POINT_CLOUDS: [string, string] = ['csp1', 'csp2'];

/**
 * CLARUS's splitting module split every geometric identifier by coordinate — X on one cloud, Y on
 * another — whether or not `splitting_type="points"` said so (the proxy's policies do): the
 * column's `split.coordinates`. Other splittings stay refused.
 */
function pointSplit(rule: XmlElement, type: AttributeType, clouds: number): RuleMapping | undefined {
  const kind = lc(rule.attrs.splitting_type);
  if (clouds < 2 || type !== 'identifier' || (kind !== '' && kind !== 'points')) return undefined;
  const [x, y] = POINT_CLOUDS;
  const notes = [
    `splitting${kind ? ' points' : ''} over ${clouds} clouds → split.coordinates [${x}, ${y}]: X with the row key on ${x}, Y with the row key on ${y}, the SRID on the default backend; no backend holds a whole point (CLARUS drew the two clouds at random${clouds > 2 ? `; the other ${clouds - 2} cloud(s) held nothing of the point there either` : ''})`,
    'CLARUS split the geometric objects of this type; the column must be a PostGIS geometry(Point[, SRID]) column: the proxy refuses CREATE TABLE of any other type and any value that is not a point (nothing of it is stored)',
  ];
  return { protection: {}, column: { attributeType: type, protection: { split: { coordinates: [x, y] } } }, protects: true, notes };
}

type ModuleMapper = (rule: XmlElement, type: AttributeType, st: RuleState) => RuleMapping | undefined;

function encryptionModule(rule: XmlElement, _type: AttributeType, st: RuleState): RuleMapping | undefined {
  const p = lc(rule.attrs.protection);
  return p === 'encryption' || p === 'simple' ? encryption(rule, false, st) : refuse(st, rule, `encryption protection "${rule.attrs.protection}" is not one CLARUS 1.0 defines (encryption, simple)`);
}

function searchableModule(rule: XmlElement, _type: AttributeType, st: RuleState): RuleMapping | undefined {
  return lc(rule.attrs.protection) === 'searchable' ? encryption(rule, true, st) : refuse(st, rule, `searchable encryption protection "${rule.attrs.protection}" is not one CLARUS 1.0 defines (searchable)`);
}

/** CLARUS module names, lower case with `_`/`-` read as spaces. */
const MODULES: Record<string, ModuleMapper> = {
  'encryption': encryptionModule, 'simple encryption': encryptionModule, 'searchable encryption': searchableModule,
  'anonymization': anonymization, 'splitting': splitting,
};

/** The rule's mapping; undefined when refused (the reason is in st.refusals). */
export function mapRule(module: string, rule: XmlElement, type: AttributeType, st: RuleState): RuleMapping | undefined {
  if (rule.attrs.protection === undefined) return refuse(st, rule, `attribute_type "${rule.attrs.type}" has no protection attribute`);
  if (['null', 'not', 'none'].includes(lc(rule.attrs.protection))) return unknownParams(rule, ['id_key', 'clouds'], st) ? undefined : none();
  const mapper = MODULES[lc(module).replace(/[\s_-]+/g, ' ')];
  if (!mapper) return refuse(st, rule, `protection module "${module}" is not one CLARUS 1.0 defines (encryption, searchable encryption, anonymization, splitting)`);
  return mapper(rule, type, st);
}
