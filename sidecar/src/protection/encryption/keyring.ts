// Keyring: named, versioned 256-bit master keys, parsed from the files a pod mounts
// (secrets/keyring/<keyName>.v<N>, base64). Pure: the caller reads the files and passes their text.
// The entry names, the version range and the key text are the policy package's keyring grammar, the
// same one render applies to the keyring Secret.
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { decodeMasterKey, isKeyVersion, keyEntryName } from '@clarus/policy/runtime/keyring.ts';
import { keyNameId } from './header.ts';

export { keyNameId };

export interface KeyEntry {
  name: string;
  /** 32-bit id carried in every ciphertext header instead of the name (first 4 bytes of SHA-256(name)). */
  id: number;
  current: number;
  versions: Map<number, Buffer>;
}

export interface Keyring {
  byName: Map<string, KeyEntry>;
  byId: Map<number, KeyEntry>;
  /**
   * Why the keys may not be used now (undefined: they may); asked before every use. Keys unwrapped
   * from a KMS stop being usable when the KMS refuses them or stays unreachable too long.
   */
  unusable?: () => string | undefined;
}

export class KeyringError extends Error {}

export function keyFileName(name: string, version: number): string {
  return keyEntryName(name, version);
}

function decodeMaster(file: string, text: string): Buffer {
  const bytes = decodeMasterKey(text);
  if (!bytes) throw new KeyringError(`keyring file ${file}: expected base64 of 32 bytes`);
  return bytes;
}

/**
 * Builds the keyring from the policy's key list and the map file name → file text. Every listed
 * version must be present; the current version must be one of them; key-name ids must not collide.
 */
export function parseKeyring(spec: RuntimePolicy['keyring']['keys'], files: ReadonlyMap<string, string>, unusable?: () => string | undefined): Keyring {
  const ring: Keyring = { byName: new Map(), byId: new Map(), ...(unusable ? { unusable } : {}) };
  for (const k of spec) {
    if (!k.versions.includes(k.current)) throw new KeyringError(`key ${k.name}: current version ${k.current} is not among its versions`);
    const versions = new Map<number, Buffer>();
    for (const v of k.versions) {
      if (!isKeyVersion(v)) throw new KeyringError(`key ${k.name}: bad version ${v}`);
      const file = keyFileName(k.name, v);
      const text = files.get(file);
      if (text === undefined) throw new KeyringError(`keyring file ${file} is missing`);
      versions.set(v, decodeMaster(file, text));
    }
    const entry: KeyEntry = { name: k.name, id: keyNameId(k.name), current: k.current, versions };
    const clash = ring.byId.get(entry.id);
    if (clash) throw new KeyringError(`key names ${clash.name} and ${k.name} have the same header id; rename one`);
    ring.byName.set(k.name, entry);
    ring.byId.set(entry.id, entry);
  }
  return ring;
}

/** Throws KeyringError when the ring's keys may not be used now (see Keyring.unusable). */
export function assertUsable(ring: Keyring): void {
  const why = ring.unusable?.();
  if (why !== undefined) throw new KeyringError(`the master keys may not be used: ${why}`);
}

export function requireKey(ring: Keyring, name: string): KeyEntry {
  const k = ring.byName.get(name);
  if (!k) throw new KeyringError(`key ${name} is not in the keyring`);
  return k;
}
