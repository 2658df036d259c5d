// The keyring Secret format (documented in config.ts): data keys `<keyName>.v<N>` each holding the
// base64 text of a 256-bit key, plus the annotation clarus.io/keyring-current ("default=2,pii=1")
// naming the version new writes use per key; without it the highest version is current.
import { KEYRING_CURRENT_ANNOTATION, type SecretManifest } from '@clarus/crds/types.ts';
import { secretBytes, secretKeys } from './secrets.ts';

export { KEYRING_CURRENT_ANNOTATION };
export const KEY_ENTRY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.v([1-9][0-9]{0,8})$/;
export const MASTER_KEY_BYTES = 32;

export interface KeyringKey { name: string; versions: number[]; current: number }
export interface Keyring { keys: KeyringKey[]; material: Map<string, string>; errors: Array<{ key: string; message: string }> }

/** The key material as the base64 text the proxy reads; accepts raw 32 bytes too. */
export function normalizeKey(raw: Buffer): string | undefined {
  const text = raw.toString('utf8').trim();
  if (/^[A-Za-z0-9+/]{43}=$/.test(text) && Buffer.from(text, 'base64').length === MASTER_KEY_BYTES) return text;
  if (raw.length === MASTER_KEY_BYTES) return raw.toString('base64');
  return undefined;
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

export function parseKeyring(secret: SecretManifest): Keyring {
  const versions = new Map<string, number[]>();
  const material = new Map<string, string>();
  const errors: Keyring['errors'] = [];
  for (const key of secretKeys(secret)) {
    const m = KEY_ENTRY.exec(key);
    if (!m?.[1] || !m[3]) {
      errors.push({ key, message: 'not a keyring entry: expected <keyName>.v<N>' });
      continue;
    }
    const value = normalizeKey(secretBytes(secret, key) ?? Buffer.alloc(0));
    if (!value) {
      errors.push({ key, message: `must hold base64 of exactly ${MASTER_KEY_BYTES} bytes` });
      continue;
    }
    material.set(key, value);
    versions.set(m[1], [...(versions.get(m[1]) ?? []), Number(m[3])].sort((a, b) => a - b));
  }
  const current = parseCurrent(secret.metadata.annotations?.[KEYRING_CURRENT_ANNOTATION]);
  const keys: KeyringKey[] = [...versions.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, vs]) => {
    const cur = current.get(name) ?? Math.max(...vs);
    if (!vs.includes(cur)) errors.push({ key: name, message: `${KEYRING_CURRENT_ANNOTATION} names version ${cur}, which the Secret does not hold` });
    return { name, versions: vs, current: cur };
  });
  return { keys, material, errors };
}
