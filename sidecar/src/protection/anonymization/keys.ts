// The keys and randomness pseudonymize and noise need at write time. The pseudonym MAC is the
// keyring's blind-index MAC (HMAC under a key derived with HKDF for the purpose `bidx`) over a
// scope named by the keyName alone, so every column sharing a keyName shares its pseudonyms. It is
// keyed by the key's current version: rotating the key changes the pseudonyms of new writes.
import { randomBytes } from 'node:crypto';
import type { WriteKeys } from '../anonymize-write.ts';
import type { CatalogTable } from '../../rewrite/catalog.ts';
import type { CipherFor, ProtectedRef } from '../../rewrite/context.ts';
import { OID } from '../encryption/canonical.ts';

/** The scope of the pseudonym MAC: no table can have these names (they are not identifiers). */
const SCOPE: CatalogTable = { dataset: '#pseudonym', schema: '#clarus', table: '#pseudonym', columns: [], byName: new Map(), policyColumns: [], split: [] };

/** The column cipher scope of a keyName's pseudonyms (MAC for pseudonyms, deterministic encryption for reversible ones). */
export function pseudonymRef(keyName: string): ProtectedRef {
  return { table: SCOPE, column: { name: keyName, typeOid: OID.text, protection: { kind: 'encrypt', mode: 'deterministic', searchable: true, keyName } } };
}

/** Uniform in [0, 1) from 48 random bits. */
function uniform(): number {
  return randomBytes(6).readUIntBE(0, 6) / 2 ** 48;
}

export function writeKeys(cipher: CipherFor): WriteKeys {
  return {
    mac: (keyName, data) => cipher(pseudonymRef(keyName)).blindIndex(data),
    seal: (keyName, data) => cipher(pseudonymRef(keyName)).encrypt(data),
    random: uniform,
  };
}
