// Keyring Secret manifests (format in runtime/config.ts): generate fresh 256-bit master keys and
// rotate them by adding versions. Pure given a source of random bytes.
import { KEYRING_CURRENT_ANNOTATION, MASTER_KEY_BYTES, MAX_KEY_VERSION, formatCurrent, keyEntryName, parseKeyEntry, parseKeyring } from '../runtime/keyring.ts';
import { DEFAULT_KEY } from '../runtime/policy.ts';
import type { SecretManifest } from '@clarus/crds/types.ts';

export type RandomBytes = (n: number) => Buffer;

const KEY_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function checkKeyNames(names: string[]): string | undefined {
  const bad = names.find((n) => !KEY_NAME.test(n) || n.length > 50);
  return bad === undefined ? undefined : `key name ${JSON.stringify(bad)} must be a DNS label (lowercase letters, digits, '-') of at most 50 characters`;
}

export function generateKeyring(name: string, namespace: string | undefined, keyNames: string[], random: RandomBytes): SecretManifest {
  const names = [...new Set([DEFAULT_KEY, ...keyNames])].sort();
  const current = new Map(names.map((n) => [n, 1]));
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name, ...(namespace ? { namespace } : {}),
      labels: { 'app.kubernetes.io/part-of': 'clarus', 'clarus.io/keyring': 'true' },
      annotations: { [KEYRING_CURRENT_ANNOTATION]: formatCurrent(current) },
    },
    type: 'Opaque',
    stringData: Object.fromEntries(names.map((n) => [`${n}.v1`, random(MASTER_KEY_BYTES).toString('base64')])),
  };
}

/** Adds a version to each named key (all keys when none is named); new writes use it. */
export function rotateKeyring(secret: SecretManifest, keyNames: string[], random: RandomBytes): SecretManifest | string {
  const kr = parseKeyring(secret);
  if (kr.errors.length > 0) return kr.errors.map((e) => `${e.key}: ${e.message}`).join('; ');
  const targets = keyNames.length > 0 ? keyNames : kr.keys.map((k) => k.name);
  const current = new Map(kr.keys.map((k) => [k.name, k.current]));
  const material = new Map(kr.material);
  for (const name of targets) {
    const key = kr.keys.find((k) => k.name === name);
    const next = key ? Math.max(...key.versions) + 1 : 1;
    if (next > MAX_KEY_VERSION) return `${name}: already at version ${MAX_KEY_VERSION}, the last one a ciphertext header can name`;
    material.set(keyEntryName(name, next), random(MASTER_KEY_BYTES).toString('base64'));
    current.set(name, next);
  }
  const { annotations = {}, labels, name, namespace } = secret.metadata;
  const kept = Object.fromEntries(Object.entries(annotations).filter(([k]) => k !== 'kubectl.kubernetes.io/last-applied-configuration'));
  const sorted = [...material.entries()].sort(([a], [b]) => {
    const { name: an = '', version: av = 0 } = parseKeyEntry(a) ?? {};
    const { name: bn = '', version: bv = 0 } = parseKeyEntry(b) ?? {};
    return an === bn ? av - bv : an.localeCompare(bn);
  });
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, ...(namespace ? { namespace } : {}), ...(labels ? { labels } : {}), annotations: { ...kept, [KEYRING_CURRENT_ANNOTATION]: formatCurrent(current) } },
    type: secret.type ?? 'Opaque',
    stringData: Object.fromEntries(sorted),
  };
}
