// Keyring Secret manifests (format in runtime/config.ts): generate fresh 256-bit master keys and
// rotate them by adding versions. Pure: the key material comes from the caller, as random bytes or
// (provider vaultTransit) as data keys a Vault transit key wrapped.
import { KEYRING_CURRENT_ANNOTATION, MASTER_KEY_BYTES, MAX_KEY_VERSION, formatCurrent, keyEntryName, parseKeyEntry, parseKeyring } from '../runtime/keyring.ts';
import { DEFAULT_KEY } from '../runtime/policy.ts';
import type { SecretManifest } from '@clarus/crds/types.ts';

export type RandomBytes = (n: number) => Buffer;
/** Entry name (`<keyName>.v<N>`) → the text stored under it (base64 key, or wrapped key). */
export type Material = ReadonlyMap<string, string>;

const KEY_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function checkKeyNames(names: string[]): string | undefined {
  const bad = names.find((n) => !KEY_NAME.test(n) || n.length > 50);
  return bad === undefined ? undefined : `key name ${JSON.stringify(bad)} must be a DNS label (lowercase letters, digits, '-') of at most 50 characters`;
}

const randomMaterial = (entries: string[], random: RandomBytes): Material => new Map(entries.map((e) => [e, random(MASTER_KEY_BYTES).toString('base64')]));

/** The entries a new keyring holds: default plus each named key, at version 1. */
export function generationEntries(keyNames: string[]): string[] {
  return [...new Set([DEFAULT_KEY, ...keyNames])].sort().map((n) => keyEntryName(n, 1));
}

export function generateKeyring(name: string, namespace: string | undefined, keyNames: string[], random: RandomBytes): SecretManifest {
  return buildKeyring(name, namespace, randomMaterial(generationEntries(keyNames), random));
}

/** A keyring Secret holding `material` (entries from generationEntries), every key current at version 1. */
export function buildKeyring(name: string, namespace: string | undefined, material: Material): SecretManifest {
  const entries = [...material.keys()].sort();
  const current = new Map(entries.map((e) => [parseKeyEntry(e)?.name ?? e, 1]));
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name, ...(namespace ? { namespace } : {}),
      labels: { 'app.kubernetes.io/part-of': 'clarus', 'clarus.io/keyring': 'true' },
      annotations: { [KEYRING_CURRENT_ANNOTATION]: formatCurrent(current) },
    },
    type: 'Opaque',
    stringData: Object.fromEntries(entries.map((e) => [e, material.get(e) ?? ''])),
  };
}

/** The entries rotation adds: the next version of each named key (all keys when none is named). */
export function rotationEntries(secret: SecretManifest, keyNames: string[], wrapped = false): string[] | string {
  const kr = parseKeyring(secret, wrapped);
  if (kr.errors.length > 0) return kr.errors.map((e) => `${e.key}: ${e.message}`).join('; ');
  const targets = keyNames.length > 0 ? keyNames : kr.keys.map((k) => k.name);
  const out: string[] = [];
  for (const name of targets) {
    const key = kr.keys.find((k) => k.name === name);
    const next = key ? Math.max(...key.versions) + 1 : 1;
    if (next > MAX_KEY_VERSION) return `${name}: already at version ${MAX_KEY_VERSION}, the last one a ciphertext header can name`;
    out.push(keyEntryName(name, next));
  }
  return out;
}

/** Adds a version to each named key (all keys when none is named); new writes use it. */
export function rotateKeyring(secret: SecretManifest, keyNames: string[], random: RandomBytes): SecretManifest | string {
  const entries = rotationEntries(secret, keyNames);
  if (typeof entries === 'string') return entries;
  return withMaterial(secret, randomMaterial(entries, random), false, true);
}

/**
 * The keyring with `added` entries set (new versions become current when `makeCurrent`) and every
 * other entry kept: rotation adds versions; a rewrap replaces the wrapped text of existing ones.
 */
export function withMaterial(secret: SecretManifest, added: Material, wrapped: boolean, makeCurrent: boolean): SecretManifest | string {
  const kr = parseKeyring(secret, wrapped);
  if (kr.errors.length > 0) return kr.errors.map((e) => `${e.key}: ${e.message}`).join('; ');
  const current = new Map(kr.keys.map((k) => [k.name, k.current]));
  const material = new Map(kr.material);
  for (const [entry, text] of added) {
    const parsed = parseKeyEntry(entry);
    if (!parsed) return `${entry}: not a keyring entry`;
    material.set(entry, text);
    if (makeCurrent) current.set(parsed.name, parsed.version);
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
