// Reading core/v1 Secret manifests the way the kubelet projects them: `data` is base64, and
// `stringData` (as written by hand) wins over `data` for the same key, like the apiserver merges it.
import type { SecretManifest } from '@clarus/crds/types.ts';

export function secretBytes(secret: SecretManifest, key: string): Buffer | undefined {
  const s = secret.stringData?.[key];
  if (s !== undefined) return Buffer.from(s, 'utf8');
  const d = secret.data?.[key];
  return d === undefined ? undefined : Buffer.from(d, 'base64');
}

export function secretText(secret: SecretManifest, key: string): string | undefined {
  return secretBytes(secret, key)?.toString('utf8');
}

export function secretKeys(secret: SecretManifest): string[] {
  return [...new Set([...Object.keys(secret.data ?? {}), ...Object.keys(secret.stringData ?? {})])].sort();
}

/** Flattened Secret data key for a file of the runtime directory: secrets/a/b/c → a__b__c. */
export function secretKeyFor(path: string): string {
  return path.replace(/^secrets\//, '').split('/').join('__');
}

export const SECRET_KEY_PATTERN = /^[-._a-zA-Z0-9]+$/;
