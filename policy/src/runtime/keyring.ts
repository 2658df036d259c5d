// The keyring Secret format (documented in config.ts): data keys `<keyName>.v<N>` each holding the
// base64 text of a 256-bit key, plus the annotation clarus.io/keyring-current ("default=2,pii=1")
// naming the version new writes use per key; without it the highest version is current. With the
// vaultTransit provider each entry holds instead the key wrapped by a Vault transit key
// ("vault:v<transit version>:<base64>"), and a keyring holds wrapped entries only.
import { KEYRING_CURRENT_ANNOTATION, type SecretManifest } from '@clarus/crds/types.ts';
import { secretBytes, secretKeys } from './secrets.ts';

export { KEYRING_CURRENT_ANNOTATION };
export const MASTER_KEY_BYTES = 32;
/** Key versions are 1..65535: every ciphertext header carries its key's version in 16 bits. */
export const MAX_KEY_VERSION = 0xffff;
/** `<keyName>.v<N>`: keyName a DNS label, N without leading zeros (range checked by parseKeyEntry). */
export const KEY_ENTRY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.v([1-9][0-9]*)$/;

export interface KeyringKey { name: string; versions: number[]; current: number }
export interface Keyring { keys: KeyringKey[]; material: Map<string, string>; errors: Array<{ key: string; message: string }> }

export function isKeyVersion(v: number): boolean {
  return Number.isInteger(v) && v >= 1 && v <= MAX_KEY_VERSION;
}

/** The Secret data key, and the file under secrets/keyring/, of one key version. */
export function keyEntryName(name: string, version: number): string {
  return `${name}.v${version}`;
}

/** Name and version of a keyring entry, or undefined when `entry` is not `<keyName>.v<1..65535>`. */
export function parseKeyEntry(entry: string): { name: string; version: number } | undefined {
  const m = KEY_ENTRY.exec(entry);
  if (!m?.[1] || !m[3]) return undefined;
  const version = Number(m[3]);
  return isKeyVersion(version) ? { name: m[1], version } : undefined;
}

/** The 32 bytes of a master key written as base64 text (canonical, surrounding whitespace ignored). */
export function decodeMasterKey(text: string): Buffer | undefined {
  const compact = text.replace(/\s+/g, '');
  const bytes = Buffer.from(compact, 'base64');
  return bytes.length === MASTER_KEY_BYTES && bytes.toString('base64') === compact ? bytes : undefined;
}

/** The key material as the base64 text the proxy reads; accepts raw 32 bytes too. */
export function normalizeKey(raw: Buffer): string | undefined {
  const decoded = decodeMasterKey(raw.toString('utf8'));
  if (decoded) return decoded.toString('base64');
  if (raw.length === MASTER_KEY_BYTES) return raw.toString('base64');
  return undefined;
}

/** A data key wrapped by a Vault transit key: Vault's ciphertext format `vault:v<N>:<base64>`. */
export const WRAPPED_KEY = /^vault:v[1-9][0-9]*:[A-Za-z0-9+/]+={0,2}$/;

export function isWrappedKey(text: string): boolean {
  return WRAPPED_KEY.test(text.trim());
}

/** The wrapped key as the proxy reads it (surrounding whitespace dropped), or undefined. */
export function normalizeWrapped(raw: Buffer): string | undefined {
  const text = raw.toString('utf8').trim();
  return WRAPPED_KEY.test(text) ? text : undefined;
}

/** Whether a keyring Secret holds plaintext keys, wrapped keys, both (an error) or no entry at all. */
export function keyringForm(secret: SecretManifest): 'plain' | 'wrapped' | 'mixed' | 'empty' {
  const values = secretKeys(secret).filter((k) => KEY_ENTRY.test(k)).map((k) => secretBytes(secret, k) ?? Buffer.alloc(0));
  const wrapped = values.filter((v) => normalizeWrapped(v) !== undefined).length;
  if (values.length === 0) return 'empty';
  if (wrapped === 0) return 'plain';
  return wrapped === values.length ? 'wrapped' : 'mixed';
}

function entryValue(raw: Buffer, wrapped: boolean): { value: string } | { message: string } {
  if (wrapped) {
    const value = normalizeWrapped(raw);
    if (value) return { value };
    return { message: normalizeKey(raw)
      ? 'holds a plaintext key, but the policy\'s keyring provider is vaultTransit: the Secret must hold only keys wrapped by the transit key (clarus keys generate --vault-address …)'
      : 'must hold a key wrapped by the Vault transit key (vault:v<N>:<base64>)' };
  }
  const value = normalizeKey(raw);
  if (value) return { value };
  return { message: normalizeWrapped(raw)
    ? 'holds a key wrapped by Vault transit; set the policy\'s spec.keyring.provider to vaultTransit'
    : `must hold base64 of exactly ${MASTER_KEY_BYTES} bytes` };
}

export function parseCurrent(annotation: string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const part of (annotation ?? '').split(',')) {
    const m = /^\s*([a-z0-9-]+)\s*=\s*(\d+)\s*$/.exec(part);
    if (m?.[1] && m[2]) out.set(m[1], Number(m[2]));
  }
  return out;
}

export function formatCurrent(current: Map<string, number>): string {
  return [...current.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(',');
}

/**
 * Entries, versions and current versions of a keyring Secret. `wrapped`: the entries must be
 * Vault-wrapped keys (provider vaultTransit) and `material` holds the wrapped text; otherwise they
 * must be plaintext keys and `material` holds their base64.
 */
export function parseKeyring(secret: SecretManifest, wrapped = false): Keyring {
  const versions = new Map<string, number[]>();
  const material = new Map<string, string>();
  const errors: Keyring['errors'] = [];
  for (const key of secretKeys(secret)) {
    const entry = parseKeyEntry(key);
    if (!entry) {
      const message = KEY_ENTRY.test(key) ? `key versions run from 1 to ${MAX_KEY_VERSION} (the ciphertext header holds 16 bits)` : 'not a keyring entry: expected <keyName>.v<N>';
      errors.push({ key, message });
      continue;
    }
    const value = entryValue(secretBytes(secret, key) ?? Buffer.alloc(0), wrapped);
    if ('message' in value) {
      errors.push({ key, message: value.message });
      continue;
    }
    material.set(key, value.value);
    versions.set(entry.name, [...(versions.get(entry.name) ?? []), entry.version].sort((a, b) => a - b));
  }
  const current = parseCurrent(secret.metadata.annotations?.[KEYRING_CURRENT_ANNOTATION]);
  const keys: KeyringKey[] = [...versions.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, vs]) => {
    const cur = current.get(name) ?? Math.max(...vs);
    if (!vs.includes(cur)) errors.push({ key: name, message: `${KEYRING_CURRENT_ANNOTATION} names version ${cur}, which the Secret does not hold` });
    return { name, versions: vs, current: cur };
  });
  return { keys, material, errors };
}
