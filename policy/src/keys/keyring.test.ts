// Keyring manifests: fresh 256-bit keys, rotation adds versions and moves "current", the renderer
// reads the result.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KEYRING_CURRENT_ANNOTATION, parseKeyring } from '../runtime/keyring.ts';
import { checkKeyNames, generateKeyring, rotateKeyring } from './keyring.ts';

let counter = 0;
const predictable = (n: number): Buffer => Buffer.alloc(n, ++counter);

describe('keys generate', () => {
  it('creates default plus each named key at version 1, 32 random bytes each', () => {
    const s = generateKeyring('ehealth-keys', 'hospital', ['clinical'], randomBytes);
    expect(s.metadata).toMatchObject({ name: 'ehealth-keys', namespace: 'hospital', annotations: { [KEYRING_CURRENT_ANNOTATION]: 'clinical=1,default=1' } });
    expect(Object.keys(s.stringData ?? {})).toEqual(['clinical.v1', 'default.v1']);
    for (const v of Object.values(s.stringData ?? {})) expect(Buffer.from(v, 'base64')).toHaveLength(32);
    expect(s.stringData?.['clinical.v1']).not.toBe(s.stringData?.['default.v1']);
    expect(parseKeyring(s)).toMatchObject({ errors: [], keys: [{ name: 'clinical', versions: [1], current: 1 }, { name: 'default', versions: [1], current: 1 }] });
  });

  it('refuses key names that cannot be Secret keys or file names', () => {
    expect(checkKeyNames(['ok-name'])).toBeUndefined();
    expect(checkKeyNames(['Bad_Name'])).toMatch(/must be a DNS label/);
    expect(checkKeyNames(['../x'])).toMatch(/must be a DNS label/);
  });
});

describe('keys rotate', () => {
  it('adds a version of the named key, keeps the old ones, and makes the new one current', () => {
    const s = generateKeyring('k', undefined, ['pii'], predictable);
    const r = rotateKeyring(s, ['pii'], predictable);
    if (typeof r === 'string') throw new Error(r);
    expect(Object.keys(r.stringData ?? {})).toEqual(['default.v1', 'pii.v1', 'pii.v2']);
    expect(r.stringData?.['pii.v1']).toBe(s.stringData?.['pii.v1']);
    expect(r.metadata.annotations?.[KEYRING_CURRENT_ANNOTATION]).toBe('default=1,pii=2');
    expect(parseKeyring(r).keys).toEqual([{ name: 'default', versions: [1], current: 1 }, { name: 'pii', versions: [1, 2], current: 2 }]);
  });

  it('rotates every key when none is named, reading base64 data as kubectl prints it', () => {
    const s = generateKeyring('k', 'ns', ['a'], predictable);
    const fromCluster = {
      ...s,
      metadata: { ...s.metadata, uid: 'u', resourceVersion: '9', annotations: { ...s.metadata.annotations, 'kubectl.kubernetes.io/last-applied-configuration': '{}' } },
      data: Object.fromEntries(Object.entries(s.stringData ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    };
    delete fromCluster.stringData;
    const r = rotateKeyring(fromCluster, [], predictable);
    if (typeof r === 'string') throw new Error(r);
    expect(Object.keys(r.stringData ?? {})).toEqual(['a.v1', 'a.v2', 'default.v1', 'default.v2']);
    expect(r.stringData?.['a.v1']).toBe(s.stringData?.['a.v1']);
    expect(r.metadata).toEqual({ name: 'k', namespace: 'ns', labels: s.metadata.labels, annotations: { [KEYRING_CURRENT_ANNOTATION]: 'a=2,default=2' } });
    const again = rotateKeyring(r, ['a'], predictable);
    if (typeof again === 'string') throw new Error(again);
    expect(parseKeyring(again).keys.find((k) => k.name === 'a')).toEqual({ name: 'a', versions: [1, 2, 3], current: 3 });
  });

  it('refuses a Secret that is not a keyring', () => {
    const r = rotateKeyring({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x' }, stringData: { password: 'p' } }, [], predictable);
    expect(r).toBe('password: not a keyring entry: expected <keyName>.v<N>');
  });

  it('an annotation may pin an older version as current (rollback), but not a missing one', () => {
    const s = generateKeyring('k', undefined, [], predictable);
    const r = rotateKeyring(s, [], predictable);
    if (typeof r === 'string') throw new Error(r);
    const pinned = { ...r, metadata: { ...r.metadata, annotations: { [KEYRING_CURRENT_ANNOTATION]: 'default=1' } } };
    expect(parseKeyring(pinned).keys[0]?.current).toBe(1);
    const bad = { ...r, metadata: { ...r.metadata, annotations: { [KEYRING_CURRENT_ANNOTATION]: 'default=5' } } };
    expect(parseKeyring(bad).errors).toEqual([{ key: 'default', message: `${KEYRING_CURRENT_ANNOTATION} names version 5, which the Secret does not hold` }]);
  });
});

describe('keys rotate at the last version', () => {
  it('refuses to go past version 65535, the last one a ciphertext header can name', () => {
    const s = generateKeyring('k', 'ns', [], predictable);
    const last = { ...s, metadata: { ...s.metadata, annotations: {} }, stringData: { 'default.v65535': s.stringData?.['default.v1'] ?? '' } };
    expect(rotateKeyring(last, [], predictable)).toBe('default: already at version 65535, the last one a ciphertext header can name');
  });
});
