// What each protection reveals to whoever holds the cloud database (docs/security-model.md says
// the same at length). Pure; used by `clarus policy explain`.
import type { RuntimeColumn } from '@clarus/policy/runtime/config.ts';

type Anonymize = NonNullable<RuntimeColumn['anonymize']>;

// One label per anonymization method; exactly one is set (a CEL rule enforces it).
const ANON_LABELS: { [K in keyof Anonymize]-?: (v: NonNullable<Anonymize[K]>) => string } = {
  suppress: (v) => `suppress → ${v.value === null || v.value === undefined ? 'NULL' : JSON.stringify(v.value)}`,
  mask: (v) => (v.format === 'email' ? 'mask email' : `mask keep ${v.keepFirst ?? 0}+${v.keepLast ?? 0}`),
  pseudonymize: (v) => `pseudonymize ${v.format ?? 'hex'} (key ${v.keyName ?? 'default'})`,
  generalize: (v) => `generalize ${Object.entries(v).map(([k, x]) => `${k}=${String(x)}`).join(' ')}`,
  noise: (v) => `noise ${v.distribution} ${v.scale !== undefined ? `scale=${v.scale}` : `ε=${v.epsilon} Δ=${v.sensitivity}`}`,
  kAnonymity: (v) => `k-anonymity k=${v.k}${v.tCloseness !== undefined ? ` t=${v.tCloseness}` : ''}`,
};

function anonymizeLabel(a: Anonymize): string[] {
  return (Object.keys(ANON_LABELS) as Array<keyof Anonymize>).flatMap((k) => {
    const v = a[k];
    return v === undefined ? [] : [(ANON_LABELS[k] as (x: typeof v) => string)(v)];
  });
}

export function describeProtection(c: RuntimeColumn, defaultBackend: string): string {
  const parts: string[] = [];
  if (c.encrypt) parts.push(`encrypt ${c.encrypt.mode}${c.encrypt.searchable ? ' +blind index' : ''} (key ${c.encrypt.keyName})`);
  if (c.anonymize) parts.push(...anonymizeLabel(c.anonymize));
  if (c.coordinates) parts.push(`split by coordinates → X ${c.coordinates[0]}, Y ${c.coordinates[1]}, SRID ${defaultBackend}`);
  else if (c.backend !== defaultBackend) parts.push(`split → ${c.backend}`);
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

/** A point split by coordinates, as seen by one backend (or, from the default one, by the policy). */
function pointLeak([x, y]: [string, string], backend: string): string {
  if (backend === x) return `its X coordinate (in clear, linked by the row key)${backend === y ? '' : '; not the point'}`;
  if (backend === y) return 'its Y coordinate (in clear, linked by the row key); not the point';
  return `its SRID only; X is on ${x}, Y on ${y}: no backend holds the point`;
}

function encryptLeak(c: RuntimeColumn): string | undefined {
  if (c.encrypt?.mode === 'deterministic') return 'equality and frequency of values, length';
  if (c.encrypt?.searchable) return 'length; equality of values that are searched (blind index)';
  return c.encrypt ? 'length and NULL-ness only' : undefined;
}

export function describeLeak(c: RuntimeColumn, defaultBackend: string): string {
  const parts: string[] = [];
  const enc = encryptLeak(c);
  if (enc) parts.push(enc);
  const anon = anonymizeLeak(c);
  if (anon) parts.push(anon);
  if (c.coordinates) parts.push(pointLeak(c.coordinates, defaultBackend));
  else if (c.backend !== defaultBackend) parts.push(`only ${c.backend} sees it, linked by the row key`);
  if (parts.length === 0) parts.push(c.attributeType === 'technicalIdentifier' ? 'the value (row key, on every backend)' : 'the plaintext value');
  return parts.join('; ');
}
