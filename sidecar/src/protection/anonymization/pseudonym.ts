// Pseudonyms: a keyed MAC of the value (the blind-index MAC of the keyring, keyed per keyName, so
// the same value gives the same pseudonym in every column that shares the keyName: joins, GROUP
// BY and equality keep working), rendered as the policy's format. Not reversible: nothing in the
// stored value lets even the key holder compute the value back except by trying candidates.
// Formats: hex (32 hex digits: 128 bits, whatever the input's length), uuid (the 128 bits as a
// UUID of version 8, variant 10), preserveShape (same length in characters; each digit stays a
// digit, each ASCII letter a letter of the same case, every other character is kept). With
// `reversible`, the pseudonym is instead the value's deterministic encryption (AES-SIV, a key derived
// for the keyName alone) in hex, which the proxy decrypts for readers with the plaintext view. Pure.
import type { AnonymizeProtection } from '@clarus/crds/types.ts';

/** The keyed MAC of a value under a keyName (≥ 16 bytes). */
export type Mac = (keyName: string, data: string) => Uint8Array;
/** The deterministic encryption of a value under a keyName (reversible pseudonyms). */
export type Seal = (keyName: string, data: string) => Uint8Array;

type Spec = NonNullable<AnonymizeProtection['pseudonymize']>;

function uuidOf(b: Uint8Array): string {
  const x = Buffer.from(b.subarray(0, 16));
  x[6] = ((x[6] as number) & 0x0f) | 0x80;
  x[8] = ((x[8] as number) & 0x3f) | 0x80;
  const h = x.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

function shapeOf(mac: Mac, keyName: string, text: string): string {
  const chars = [...text];
  const bytes: number[] = [];
  for (let block = 0; bytes.length < chars.length; block++) bytes.push(...mac(keyName, `${block}\u0000${text}`));
  return chars.map((c, i) => {
    const b = bytes[i] as number;
    if (c >= '0' && c <= '9') return String.fromCharCode(48 + (b % 10));
    if (c >= 'a' && c <= 'z') return String.fromCharCode(97 + (b % 26));
    if (c >= 'A' && c <= 'Z') return String.fromCharCode(65 + (b % 26));
    return c;
  }).join('');
}

export function pseudonym(spec: Spec, text: string, mac: Mac, seal?: Seal): string | undefined {
  const keyName = spec.keyName ?? 'default';
  // Reversible: the deterministic ciphertext itself, in hex (decrypted for plaintext views: results.ts).
  if (spec.reversible) return seal ? Buffer.from(seal(keyName, text)).toString('hex') : undefined;
  if (spec.format === 'preserveShape') return shapeOf(mac, keyName, text);
  const b = mac(keyName, text);
  return spec.format === 'uuid' ? uuidOf(b) : Buffer.from(b.subarray(0, 16)).toString('hex');
}
