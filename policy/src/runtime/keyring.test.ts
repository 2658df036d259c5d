// The one keyring grammar: entry names `<keyName>.v<N>` with N from 1 to 65535 (the ciphertext
// header's 16 bits), and master keys as canonical base64 of 32 bytes. The keyring Secret parser
// (render) and the proxy's keyring (sidecar, from the rendered files) both use it.
import { describe, expect, it } from 'vitest';
import type { SecretManifest } from '@clarus/crds/types.ts';
import { decodeMasterKey, isKeyVersion, MAX_KEY_VERSION, normalizeKey, parseKeyEntry, parseKeyring } from './keyring.ts';

const KEY = Buffer.alloc(32, 7).toString('base64');
const secret = (stringData: Record<string, string>, annotations: Record<string, string> = {}): SecretManifest =>
  ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'keys', annotations }, stringData });

describe('key versions', () => {
  it('are 1..65535', () => {
    expect(MAX_KEY_VERSION).toBe(65535);
    expect([0, 1, 2, 65535, 65536, 123456789, 1.5, -1].map(isKeyVersion)).toEqual([false, true, true, true, false, false, false, false]);
  });

  it.each([
    ['default.v1', { name: 'default', version: 1 }],
    ['pii-2.v65535', { name: 'pii-2', version: 65535 }],
    ['default.v65536', undefined],
    ['default.v123456789', undefined],
    ['default.v0', undefined],
    ['default.v01', undefined],
    ['Default.v1', undefined],
    ['default', undefined],
  ])('%s', (entry, expected) => expect(parseKeyEntry(entry)).toEqual(expected));
});

describe('master keys', () => {
  it('are canonical base64 of 32 bytes, surrounding whitespace ignored', () => {
    expect(decodeMasterKey(`${KEY}\n`)).toEqual(Buffer.alloc(32, 7));
    expect(decodeMasterKey('AAAA')).toBeUndefined();
    // The same 32 bytes with non-zero padding bits: not what any encoder writes, refused.
    expect(decodeMasterKey(`${KEY.slice(0, 42)}d=`)).toBeUndefined();
  });

  it('normalize raw 32 bytes to base64', () => {
    expect(normalizeKey(Buffer.alloc(32, 7))).toBe(KEY);
    expect(normalizeKey(Buffer.from(` ${KEY} `))).toBe(KEY);
    expect(normalizeKey(Buffer.alloc(31))).toBeUndefined();
  });
});

describe('the keyring Secret', () => {
  it('accepts the last version a header can name', () => {
    const kr = parseKeyring(secret({ 'default.v1': KEY, 'default.v65535': KEY }));
    expect(kr.errors).toEqual([]);
    expect(kr.keys).toEqual([{ name: 'default', versions: [1, 65535], current: 65535 }]);
  });

  it('refuses versions past it, and names that are no entry', () => {
    const kr = parseKeyring(secret({ 'default.v1': KEY, 'default.v65536': KEY, 'default.v123456789': KEY, password: 'x' }));
    expect(kr.keys).toEqual([{ name: 'default', versions: [1], current: 1 }]);
    expect(kr.errors).toEqual([
      { key: 'default.v123456789', message: 'key versions run from 1 to 65535 (the ciphertext header holds 16 bits)' },
      { key: 'default.v65536', message: 'key versions run from 1 to 65535 (the ciphertext header holds 16 bits)' },
      { key: 'password', message: 'not a keyring entry: expected <keyName>.v<N>' },
    ]);
  });
});
