import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { binaryToText, canonicalText, OID, textToBinary } from './canonical.ts';
import { columnCipher } from './column.ts';
import type { ColumnSpec } from './column.ts';
import { KeyDeriver, deriveKey } from './derive.ts';
import { decodeHeader, HEADER_BYTES } from './header.ts';
import { keyNameId, parseKeyring } from './keyring.ts';

const k1 = Buffer.alloc(32, 1).toString('base64');
const k2 = Buffer.alloc(32, 2).toString('base64');
const ring = (current: number, versions = [1, 2]) =>
  parseKeyring([{ name: 'default', versions, current }], new Map([['default.v1', k1], ['default.v2', `${k2}\n`]]));
const spec = (over: Partial<ColumnSpec> = {}): ColumnSpec =>
  ({ schema: 'public', table: 'patient', column: 'pat_name', mode: 'randomized', searchable: false, keyName: 'default', ...over });

describe('keyring', () => {
  it('parses versions and rejects missing or malformed files', () => {
    const r = ring(2);
    expect(r.byName.get('default')?.current).toBe(2);
    expect(r.byId.get(keyNameId('default'))?.versions.size).toBe(2);
    expect(() => parseKeyring([{ name: 'default', versions: [1, 3], current: 3 }], new Map([['default.v1', k1]]))).toThrow(/default.v3 is missing/);
    expect(() => parseKeyring([{ name: 'x', versions: [1], current: 1 }], new Map([['x.v1', 'AAAA']]))).toThrow(/32 bytes/);
    expect(() => parseKeyring([{ name: 'x', versions: [1], current: 2 }], new Map([['x.v1', k1]]))).toThrow(/current version/);
  });

  it('holds versions 1..65535, the range of the header (the same range the keyring Secret allows)', () => {
    const r = parseKeyring([{ name: 'x', versions: [65535], current: 65535 }], new Map([['x.v65535', k1]]));
    expect(r.byName.get('x')?.versions.has(65535)).toBe(true);
    for (const v of [0, 65536, 123456789]) {
      expect(() => parseKeyring([{ name: 'x', versions: [v], current: v }], new Map([[`x.v${v}`, k1]]))).toThrow(`key x: bad version ${v}`);
    }
  });
});

describe('HKDF derivation', () => {
  it('separates purposes and scopes', () => {
    const m = Buffer.alloc(32, 9);
    const a = deriveKey(m, 'gcm', 'public.t.a');
    expect(a.length).toBe(32);
    expect(a.equals(deriveKey(m, 'gcm', 'public.t.b'))).toBe(false);
    expect(a.equals(deriveKey(m, 'bidx', 'public.t.a'))).toBe(false);
    expect(deriveKey(m, 'siv', 'key:default').length).toBe(64);
    expect(deriveKey(m, 'mask', 'public.t.a').equals(deriveKey(m, 'bidx', 'public.t.a'))).toBe(false);
  });
});

describe('masked view hash (domain separation from the blind index)', () => {
  it('is deterministic per value and column, and neither the blind index nor a prefix or function of it', () => {
    const d = new KeyDeriver(ring(1));
    const c = columnCipher(d, spec({ searchable: true }));
    const values = Array.from({ length: 200 }, (_, i) => `CANARY-${i}`);
    for (const v of values) {
      const mask = c.maskHash(v);
      const bidx = c.blindIndex(v);
      expect(c.maskHash(v).equals(mask)).toBe(true);
      // What a masked-view reader sees (16 hex digits) is no part of the stored blind index.
      const shown = mask.toString('hex').slice(0, 16);
      expect(bidx.toString('hex').includes(shown)).toBe(false);
      expect(mask.includes(bidx.subarray(0, 8))).toBe(false);
    }
    // Keyed by its own HKDF purpose: HMAC-SHA256 under the 'mask' key, not the 'bidx' one, so
    // the blind index (an HMAC under an independent key) gives no way to compute it.
    const mk = deriveKey(Buffer.alloc(32, 1), 'mask', 'public.patient.pat_name');
    expect(c.maskHash('x').equals(createHmac('sha256', mk).update('x').digest())).toBe(true);
    const bk = deriveKey(Buffer.alloc(32, 1), 'bidx', 'public.patient.pat_name');
    expect(c.blindIndex('x').equals(createHmac('sha256', bk).update('x').digest().subarray(0, 16))).toBe(true);
    // Per column: the same value masks differently in another column.
    expect(columnCipher(d, spec({ column: 'pat_ssn' })).maskHash('x').equals(c.maskHash('x'))).toBe(false);
    // Distinct values give distinct masks.
    expect(new Set(values.map((v) => c.maskHash(v).toString('hex').slice(0, 16))).size).toBe(values.length);
  });
});

describe('column cipher', () => {
  it('randomized: fresh nonce, header, round trip, AAD binds the column', () => {
    const d = new KeyDeriver(ring(1));
    const c = columnCipher(d, spec());
    const a = c.encrypt('Alice Canary');
    const b = c.encrypt('Alice Canary');
    expect(a.equals(b)).toBe(false);
    expect(a.includes(Buffer.from('Alice'))).toBe(false);
    expect(decodeHeader(a)).toEqual({ mode: 'randomized', keyId: keyNameId('default'), version: 1 });
    expect(c.decrypt(a)).toBe('Alice Canary');
    const other = columnCipher(d, spec({ column: 'pat_ssn' }));
    expect(() => other.decrypt(a)).toThrow(/authentication failed/);
    const tampered = Buffer.from(a);
    tampered[HEADER_BYTES + 13] = (tampered[HEADER_BYTES + 13] ?? 0) ^ 0xff;
    expect(() => c.decrypt(tampered)).toThrow(/authentication failed/);
  });

  it('randomized: the stored layout is header || nonce || OpenSSL AES-256-GCM (AAD header || scope), both ways', () => {
    const c = columnCipher(new KeyDeriver(ring(1)), spec());
    const key = deriveKey(Buffer.alloc(32, 1), 'gcm', 'public.patient.pat_name');
    for (const text of ['', 'Alice Canary', 'é'.repeat(40), 'x'.repeat(1000)]) {
      const a = c.encrypt(text);
      const aad = Buffer.concat([a.subarray(0, HEADER_BYTES), Buffer.from('public.patient.pat_name')]);
      const d = createDecipheriv('aes-256-gcm', key, a.subarray(HEADER_BYTES, HEADER_BYTES + 12));
      d.setAAD(aad);
      d.setAuthTag(a.subarray(a.length - 16));
      expect(Buffer.concat([d.update(a.subarray(HEADER_BYTES + 12, a.length - 16)), d.final()]).toString('utf8')).toBe(text);
      // A value written by OpenSSL's GCM (as the proxy wrote them before gcm.ts) opens.
      const nonce = randomBytes(12);
      const e = createCipheriv('aes-256-gcm', key, nonce);
      e.setAAD(aad);
      const stored = Buffer.concat([a.subarray(0, HEADER_BYTES), nonce, e.update(text, 'utf8'), e.final(), e.getAuthTag()]);
      expect(c.decrypt(stored)).toBe(text);
    }
  });

  it('deterministic: equal values give equal ciphertexts within a key name, across columns', () => {
    const d = new KeyDeriver(ring(1));
    const c = columnCipher(d, spec({ column: 'diagnosis', mode: 'deterministic' }));
    const same = columnCipher(d, spec({ table: 'visit', column: 'diag', mode: 'deterministic' }));
    expect(c.encrypt('flu').equals(c.encrypt('flu'))).toBe(true);
    expect(c.encrypt('flu').equals(same.encrypt('flu'))).toBe(true);
    expect(c.encrypt('flu').equals(c.encrypt('flue'))).toBe(false);
    expect(c.decrypt(c.encrypt('flu'))).toBe('flu');
  });

  it.each(['randomized', 'deterministic'] as const)('%s: decryptBytes is the UTF-8 of decrypt; reused per-version state over many values', (mode) => {
    const c = columnCipher(new KeyDeriver(ring(1)), spec({ mode }));
    // 300 values cross a refill of the nonce pool (256 nonces) and reuse the cached version state.
    const texts = Array.from({ length: 300 }, (_, i) => `Zoë ${'ü'.repeat(i % 20)} #${i} 😀`);
    const sealed = texts.map((t) => c.encrypt(t));
    for (const [i, t] of texts.entries()) {
      expect(c.decrypt(sealed[i] as Buffer)).toBe(t);
      expect(c.decryptBytes(sealed[i] as Buffer).equals(Buffer.from(t, 'utf8'))).toBe(true);
    }
    if (mode === 'randomized') expect(new Set(sealed.map((b) => b.subarray(HEADER_BYTES, HEADER_BYTES + 12).toString('hex'))).size).toBe(300);
    const tampered = Buffer.from(sealed[0] as Buffer);
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1;
    expect(() => c.decryptBytes(tampered)).toThrow(/authentication failed/);
    // A header naming a version the keyring does not hold is refused before any key is derived.
    const unknown = Buffer.from(sealed[0] as Buffer);
    unknown.writeUInt16BE(7, 6);
    expect(() => c.decrypt(unknown)).toThrow(/no version 7/);
  });

  it('rotation: new writes use the current version, old versions still decrypt', () => {
    const old = columnCipher(new KeyDeriver(ring(1)), spec({ mode: 'deterministic' })).encrypt('x');
    const c = columnCipher(new KeyDeriver(ring(2)), spec({ mode: 'deterministic' }));
    expect(c.versionOf(c.encrypt('x'))).toBe(2);
    expect(c.versionOf(old)).toBe(1);
    expect(c.decrypt(old)).toBe('x');
    const forms = c.equalityForms('x');
    expect(forms.length).toBe(2);
    expect(forms.some((f) => f.equals(old))).toBe(true);
  });

  it('blind index: keyed, truncated to 16 bytes, one per live version', () => {
    const c = columnCipher(new KeyDeriver(ring(2)), spec({ searchable: true }));
    expect(c.blindIndex('123-45-6789').length).toBe(16);
    expect(c.blindIndex('123-45-6789').equals(c.blindIndex('123-45-6789'))).toBe(true);
    expect(c.blindIndexes('123-45-6789').length).toBe(2);
    const other = columnCipher(new KeyDeriver(ring(2)), spec({ column: 'pat_ssn', searchable: true }));
    expect(other.blindIndex('123-45-6789').equals(c.blindIndex('123-45-6789'))).toBe(false);
  });
});

describe('canonical text and binary codec', () => {
  it('canonicalizes integers and booleans and rejects bad input', () => {
    expect(canonicalText(OID.int4, ' 0042 ')).toBe('42');
    expect(canonicalText(OID.bool, 'yes')).toBe('t');
    expect(() => canonicalText(OID.int4, '4x')).toThrow(/integer/);
    expect(canonicalText(OID.text, ' a ')).toBe(' a ');
  });
  it.each([
    [OID.int4, '-17'], [OID.int8, '9007199254740993'], [OID.int2, '12'], [OID.bool, 't'],
    [OID.date, '1980-02-29'], [OID.text, 'héllo'], [OID.float8, '1.5'], [OID.uuid, '0b1c2d3e-0000-4000-8000-00000000abcd'],
  ])('round-trips type %i value %s', (oid, text) => {
    expect(binaryToText(oid, textToBinary(oid, text))).toBe(text);
  });
  it('refuses binary for unsupported types', () => {
    expect(() => binaryToText(OID.numeric, Buffer.alloc(8))).toThrow(/text format/);
  });
});

describe('fitDeclaredLength (PostgreSQL assignment to varchar(n) / char(n))', () => {
  it('passes values that fit, cuts spaces beyond n, refuses anything else longer', async () => {
    const { fitDeclaredLength, ValueTooLongError, OID } = await import('./canonical.ts');
    expect(fitDeclaredLength(OID.varchar, 5 + 4, 'abcde')).toBe('abcde');
    expect(fitDeclaredLength(OID.varchar, 5 + 4, 'abc      ')).toBe('abc  ');
    expect(fitDeclaredLength(OID.varchar, 3 + 4, 'éèà')).toBe('éèà');
    expect(fitDeclaredLength(OID.varchar, 2 + 4, '😀😀')).toBe('😀😀');
    expect(() => fitDeclaredLength(OID.varchar, 5 + 4, 'abcdef')).toThrow(ValueTooLongError);
    expect(() => fitDeclaredLength(OID.bpchar, 2 + 4, 'ab c')).toThrow('value too long for type character(2)');
    expect(fitDeclaredLength(OID.varchar, undefined, 'x'.repeat(100))).toHaveLength(100);
    expect(fitDeclaredLength(OID.varchar, -1, 'x'.repeat(100))).toHaveLength(100);
    expect(fitDeclaredLength(OID.text, 9, 'x'.repeat(100))).toHaveLength(100);
  });
});

describe('decryptMany (a COPY batch of one column)', () => {
  it('opens what decryptBytes opens, null exactly where decryptBytes throws, across modes and key versions', () => {
    for (const mode of ['randomized', 'deterministic'] as const) {
      const old = columnCipher(new KeyDeriver(ring(1)), spec({ mode }));
      const cur = columnCipher(new KeyDeriver(ring(2)), spec({ mode }));
      const other = columnCipher(new KeyDeriver(ring(2)), spec({ mode, column: 'other' }));
      const texts = ['', 'a', 'héllo wörld', 'x'.repeat(15), 'x'.repeat(16), 'x'.repeat(17), 'y'.repeat(64), 'z'.repeat(65), 'w'.repeat(1000)];
      const stored: Uint8Array[] = texts.flatMap((t) => [cur.encrypt(t), old.encrypt(t)]);
      const tampered = Buffer.from(cur.encrypt('secret'));
      tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 1;
      stored.push(tampered, other.encrypt('secret'), Buffer.alloc(3), cur.encrypt('secret').subarray(0, HEADER_BYTES + 4));
      const many = cur.decryptMany?.(stored) ?? [];
      expect(many).toHaveLength(stored.length);
      stored.forEach((s, i) => {
        let one: Buffer | null;
        try {
          one = cur.decryptBytes(s);
        } catch {
          one = null;
        }
        expect(many[i] ?? null).toEqual(one);
      });
      // A deterministic key is shared by the columns that use it (equality across them), so the
      // other column's ciphertext opens there.
      expect(many.filter((m) => m === null)).toHaveLength(mode === 'randomized' ? 4 : 3);
      expect(many.slice(0, texts.length * 2).map((b) => b?.toString('utf8'))).toEqual(texts.flatMap((t) => [t, t]));
    }
  });
});
