// What each protection reveals to whoever holds the cloud database (docs/security-model.md says
// the same at length). Pure; used by `clarus policy explain`.
import type { RuntimeColumn } from '../runtime/config.ts';

export function describeProtection(c: RuntimeColumn, defaultBackend: string): string {
  const parts: string[] = [];
  if (c.encrypt) parts.push(`encrypt ${c.encrypt.mode}${c.encrypt.searchable ? ' +blind index' : ''} (key ${c.encrypt.keyName})`);
  const a = c.anonymize;
  if (a?.suppress) parts.push(`suppress → ${a.suppress.value === null || a.suppress.value === undefined ? 'NULL' : JSON.stringify(a.suppress.value)}`);
  if (a?.mask) parts.push(a.mask.format === 'email' ? 'mask email' : `mask keep ${a.mask.keepFirst ?? 0}+${a.mask.keepLast ?? 0}`);
  if (a?.pseudonymize) parts.push(`pseudonymize ${a.pseudonymize.format ?? 'hex'} (key ${a.pseudonymize.keyName ?? 'default'})`);
  if (a?.generalize) parts.push(`generalize ${Object.entries(a.generalize).map(([k, v]) => `${k}=${String(v)}`).join(' ')}`);
  if (a?.noise) parts.push(`noise ${a.noise.distribution} ${a.noise.scale !== undefined ? `scale=${a.noise.scale}` : `ε=${a.noise.epsilon} Δ=${a.noise.sensitivity}`}`);
  if (a?.kAnonymity) parts.push(`k-anonymity k=${a.kAnonymity.k}${a.kAnonymity.tCloseness !== undefined ? ` t=${a.kAnonymity.tCloseness}` : ''}`);
  if (c.backend !== defaultBackend) parts.push(`split → ${c.backend}`);
  return parts.length > 0 ? parts.join(', ') : 'none (stored as is)';
}

function anonymizeLeak(c: RuntimeColumn): string | undefined {
  const a = c.anonymize;
  if (!a) return undefined;
  if (a.suppress) return 'nothing but the row exists';
  if (a.mask) return 'the kept characters and the length';
  if (a.pseudonymize) return 'equality and frequency of values (linkable across tables)';
  if (a.generalize) return 'the coarse value (range, prefix, period or grid cell)';
  if (a.noise) return 'the value up to the noise; averages over many rows';
  if (a.kAnonymity) return 'the group\'s released value; membership in a group of ≥ k';
  return undefined;
}

export function describeLeak(c: RuntimeColumn, defaultBackend: string): string {
  const parts: string[] = [];
  if (c.encrypt?.mode === 'deterministic') parts.push('equality and frequency of values, length');
  else if (c.encrypt?.searchable) parts.push('length; equality of values that are searched (blind index)');
  else if (c.encrypt) parts.push('length and NULL-ness only');
  const anon = anonymizeLeak(c);
  if (anon) parts.push(anon);
  if (c.backend !== defaultBackend) parts.push(`only ${c.backend} sees it, linked by the row key`);
  if (parts.length === 0) parts.push(c.attributeType === 'technicalIdentifier' ? 'the value (row key, on every backend)' : 'the plaintext value');
  return parts.join('; ');
}
