// Data keys are never stored: each is derived with HKDF-SHA256 from one master key version, for
// one purpose and one scope. Scopes:
//   gcm  (randomized AEAD)  schema.table.column   → a key per column
//   bidx (blind index)      schema.table.column   → a key per column
//   mask (masked view hash) schema.table.column   → a key per column, apart from bidx so that a
//        masked-view reader cannot link the `hash` mask to the stored blind index
//   siv  (deterministic)    key name              → the key name is the equality/join domain:
//        columns that share a keyName produce equal ciphertexts for equal values, which is what
//        makes equi-joins between them possible (API.md); give columns different keyNames to
//        keep their values unlinkable.
import { hkdfSync } from 'node:crypto';
import type { Keyring } from './keyring.ts';
import { KeyringError, requireKey } from './keyring.ts';

export type Purpose = 'gcm' | 'siv' | 'bidx' | 'mask';
const LENGTH: Record<Purpose, number> = { gcm: 32, siv: 64, bidx: 32, mask: 32 };
const SALT = Buffer.from('clarus/hkdf/v1', 'utf8');

export function deriveKey(master: Uint8Array, purpose: Purpose, scope: string): Buffer {
  const info = Buffer.from(`clarus/${purpose}/${scope}`, 'utf8');
  return Buffer.from(hkdfSync('sha256', master, SALT, info, LENGTH[purpose]));
}

/** Memoizes derived keys: deriving is cheap but runs per value otherwise. Bounded by keys × columns. */
export class KeyDeriver {
  readonly ring: Keyring;
  private readonly cache = new Map<string, Buffer>();

  constructor(ring: Keyring) {
    this.ring = ring;
  }

  key(keyName: string, version: number, purpose: Purpose, scope: string): Buffer {
    const id = `${keyName}\u0000${version}\u0000${purpose}\u0000${scope}`;
    let k = this.cache.get(id);
    if (!k) {
      const master = requireKey(this.ring, keyName).versions.get(version);
      if (!master) throw new KeyringError(`key ${keyName} has no version ${version}`);
      k = deriveKey(master, purpose, scope);
      this.cache.set(id, k);
    }
    return k;
  }
}
