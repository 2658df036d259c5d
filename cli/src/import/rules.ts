// One CLARUS 1.0 `<attribute_type type=… protection=…/>` rule → a default protection (and placement).
import type { AttributeType, AttributeTypeDefault } from '@clarus/crds/types.ts';
import type { XmlElement } from './xml.ts';

export interface RuleMapping { protection: AttributeTypeDefault; splitTo?: string; rowKey?: boolean; tCloseness?: number }
interface State { notes: string[]; unmapped: string[] }

/** CLARUS key ids (e.g. "176", "encKey") → keyring key names (DNS labels). */
export function keyNameOf(idKey: string | undefined): string | undefined {
  if (!idKey) return undefined;
  const k = idKey.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63);
  return k || undefined;
}

function unknownParams(rule: XmlElement, known: string[], st: State): void {
  for (const k of Object.keys(rule.attrs).filter((a) => !['type', 'protection', ...known].includes(a))) {
    st.unmapped.push(`line ${rule.line}: parameter ${k}="${rule.attrs[k]}" of protection "${rule.attrs.protection}" has no equivalent`);
  }
}

function intParam(rule: XmlElement, name: string, st: State): number | undefined {
  const v = rule.attrs[name];
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) return void st.unmapped.push(`line ${rule.line}: ${name}="${v}" is not an integer`);
  return Number(v);
}

function encryption(rule: XmlElement, searchable: boolean, st: State): RuleMapping {
  unknownParams(rule, ['id_key'], st);
  const keyName = keyNameOf(rule.attrs.id_key);
  if (keyName) st.notes.push(`line ${rule.line}: id_key "${rule.attrs.id_key}" → keyring key ${keyName} (create it with clarus keys generate --key ${keyName})`);
  return { protection: { encrypt: { mode: 'randomized', ...(searchable ? { searchable: true } : {}), ...(keyName ? { keyName } : {}) } } };
}

function coarsening(rule: XmlElement, type: AttributeType, st: State): RuleMapping | undefined {
  const kind = rule.attrs.coarsening_type;
  if (kind === 'shift' || kind === undefined) {
    unknownParams(rule, ['coarsening_type', 'radius'], st);
    const radius = intParam(rule, 'radius', st) ?? 1000;
    st.notes.push(`line ${rule.line}: coarsening ${kind ?? ''} radius ${radius} → generalize gridMeters ${radius} (a grid instead of a random shift)`);
    return { protection: { anonymize: { generalize: { gridMeters: Math.max(1, radius) } } } };
  }
  if (kind === 'microaggregation') {
    unknownParams(rule, ['coarsening_type', 'k'], st);
    if (type !== 'quasiIdentifier') return void st.unmapped.push(`line ${rule.line}: microaggregation of ${type} attributes: kAnonymity applies to quasi-identifiers only`);
    return { protection: { anonymize: { kAnonymity: { k: intParam(rule, 'k', st) ?? 2 } } } };
  }
  return void st.unmapped.push(`line ${rule.line}: coarsening_type "${kind}" is not supported`);
}

function anonymization(rule: XmlElement, type: AttributeType, st: State): RuleMapping | undefined {
  const p = rule.attrs.protection;
  if (p === 'suppression') {
    unknownParams(rule, [], st);
    return { protection: { anonymize: { suppress: {} } } };
  }
  if (p === 'k-anonymity' || p === 't-closeness') {
    unknownParams(rule, ['k', 't'], st);
    const k = intParam(rule, 'k', st) ?? 2;
    const t = rule.attrs.t !== undefined ? Number(rule.attrs.t) : undefined;
    if (t !== undefined && !(t >= 0 && t <= 1)) return void st.unmapped.push(`line ${rule.line}: t="${rule.attrs.t}" must be between 0 and 1`);
    if (type === 'confidential' && p === 't-closeness') {
      st.notes.push(`line ${rule.line}: t-closeness t=${t} on confidential attributes → tCloseness of the quasi-identifiers' kAnonymity`);
      return { protection: {}, ...(t !== undefined ? { tCloseness: t } : {}) };
    }
    if (type !== 'quasiIdentifier') return void st.unmapped.push(`line ${rule.line}: ${p} on ${type} attributes: kAnonymity applies to quasi-identifiers only`);
    return { protection: { anonymize: { kAnonymity: { k, ...(t !== undefined ? { tCloseness: t } : {}) } } } };
  }
  if (p === 'coarsening') return coarsening(rule, type, st);
  return void st.unmapped.push(`line ${rule.line}: anonymization protection "${p}" is not supported`);
}

function splitting(rule: XmlElement, type: AttributeType, st: State): RuleMapping | undefined {
  const p = rule.attrs.protection;
  const clouds = intParam(rule, 'clouds', st) ?? 1;
  if (p === 'replicate') {
    unknownParams(rule, ['clouds'], st);
    if (type !== 'technicalIdentifier') return void st.unmapped.push(`line ${rule.line}: replicate applies to technical identifiers (the row key) only`);
    return { protection: {}, rowKey: true };
  }
  if (p !== 'splitting') return void st.unmapped.push(`line ${rule.line}: splitting protection "${p}" is not supported`);
  unknownParams(rule, ['clouds', 'splitting_type'], st);
  if (rule.attrs.splitting_type) st.unmapped.push(`line ${rule.line}: splitting_type "${rule.attrs.splitting_type}" (splitting each value across ${clouds} clouds) is not supported; the whole column is placed on csp${clouds} instead`);
  return clouds <= 1 ? { protection: {} } : { protection: {}, splitTo: `csp${clouds}` };
}

export function mapRule(module: string, rule: XmlElement, type: AttributeType, st: State): RuleMapping | undefined {
  const p = rule.attrs.protection;
  if (p === 'null' || p === 'not' || p === undefined) return { protection: {} };
  switch (module) {
    case 'encryption': return p === 'encryption' ? encryption(rule, false, st) : void st.unmapped.push(`line ${rule.line}: encryption protection "${p}" is not supported`);
    case 'searchable encryption':
    case 'searchable_encryption': return p === 'searchable' ? encryption(rule, true, st) : void st.unmapped.push(`line ${rule.line}: searchable encryption protection "${p}" is not supported`);
    case 'anonymization': return anonymization(rule, type, st);
    case 'splitting': return splitting(rule, type, st);
    default: return void st.unmapped.push(`line ${rule.line}: protection module "${module}" is not supported (encryption, searchable encryption, anonymization, splitting)`);
  }
}
