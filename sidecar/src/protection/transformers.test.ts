import { describe, expect, it } from 'vitest';
import type { FieldDescription } from '../session/pipeline.ts';
import type { ProtectedRef } from '../rewrite/context.ts';
import { Catalog } from '../rewrite/catalog.ts';
import { EHEALTH_POLICY } from '@clarus/testing/rewriter.ts';
import { anonymizeText, maskForView } from './anonymize-write.ts';
import { OID } from './encryption/canonical.ts';
import { columnCipher } from './encryption/column.ts';
import { KeyDeriver } from './encryption/derive.ts';
import { parseKeyring } from './encryption/keyring.ts';
import { paramTransformer } from './params.ts';
import { resultTransformer, rowsTransformer } from './results.ts';
import { byteaArrayToWire, byteaFromWire, byteaToWire } from './wire.ts';

const deriver = new KeyDeriver(parseKeyring([{ name: 'default', versions: [1], current: 1 }], new Map([['default.v1', Buffer.alloc(32, 1).toString('base64')]])));
const catalog = new Catalog(EHEALTH_POLICY);
catalog.learn('public', 'patient', [{ name: 'pat_id', typeOid: OID.int4 }, { name: 'pat_name', typeOid: OID.text }, { name: 'pat_ssn', typeOid: OID.varchar }, { name: 'pat_birth', typeOid: OID.date }, { name: 'diagnosis', typeOid: OID.int4 }]);
const table = catalog.lookup('public', 'patient');
const refOf = (name: string): ProtectedRef => ({ table: table!, column: table!.byName.get(name) as ProtectedRef['column'] });
const cipherOf = (r: ProtectedRef) => columnCipher(deriver, { schema: 'public', table: 'patient', column: r.column.name, ...r.column.protection });
const field = (typeOid: number, format: 0 | 1 = 0): FieldDescription => ({ name: 'c', tableOid: 1, columnAttr: 1, typeOid, typeSize: -1, typeModifier: -1, format });

describe('result transformer', () => {
  const diag = cipherOf(refOf('diagnosis'));
  const stored = diag.encrypt('42');
  it('plaintext view: restores the declared type, decrypts text and binary, keeps NULL', () => {
    const t = resultTransformer([{ index: 1, cipher: diag, typeOid: OID.int4, view: 'plaintext' }]);
    expect(t?.fields([field(OID.int4), field(OID.bytea)])[1]).toMatchObject({ typeOid: OID.int4, typeSize: 4 });
    expect(t?.row([Buffer.from('1'), byteaToWire(stored, 0)], [])[1]).toEqual(Buffer.from('42'));
    expect(t?.row([Buffer.from('1'), byteaToWire(stored, 1)], [1])[1]).toEqual(Buffer.from([0, 0, 0, 42]));
    expect(t?.row([null, null], [])).toEqual([null, null]);
  });
  it('masked and protected views show text', () => {
    const masked = resultTransformer([{ index: 0, cipher: diag, typeOid: OID.int4, view: 'masked' }]);
    expect(masked?.fields([field(OID.bytea)])[0]?.typeOid).toBe(OID.text);
    expect(masked?.row([byteaToWire(stored, 0)], [])[0]).toEqual(Buffer.from('****'));
    const prot = resultTransformer([{ index: 0, cipher: diag, typeOid: OID.int4, view: 'protected' }]);
    expect(Buffer.from(prot?.row([byteaToWire(stored, 0)], [])[0] as Uint8Array).toString()).toBe(stored.toString('base64'));
  });
  it('fails closed on a value that is not ciphertext of this column', () => {
    const t = resultTransformer([{ index: 0, cipher: diag, typeOid: OID.int4, view: 'plaintext' }]);
    expect(() => t?.row([Buffer.from('\\x0102')], [])).toThrow();
  });
});

describe('rows transformer (a batch of rows, each column decrypted together)', () => {
  const diag = cipherOf(refOf('diagnosis'));
  const name = cipherOf(refOf('pat_name'));
  const outputs = (view: 'plaintext' | 'masked') => [{ index: 1, cipher: diag, typeOid: OID.int4, view }, { index: 2, cipher: name, typeOid: OID.text, view }];
  const rows = (n = 40) => Array.from({ length: n }, (_, i) => [Buffer.from(String(i)), i % 7 === 0 ? null : byteaToWire(diag.encrypt(String(i * 3)), 0), byteaToWire(name.encrypt(`Name ${i} é`), 0)]);

  it('gives what row() gives for every row, plaintext and masked views, NULLs kept', () => {
    for (const [view, n] of [['plaintext', 40], ['masked', 40], ['plaintext', 3]] as const) {
      const one = resultTransformer(outputs(view));
      const want = rows(n).map((r) => one?.row(r, []));
      const got = rows(n);
      rowsTransformer(outputs(view))?.(got);
      expect(got.map((r) => r.map((v) => (v === null ? null : Buffer.from(v as Uint8Array).toString())))).toEqual(want.map((r) => r?.map((v) => (v === null ? null : Buffer.from(v as Uint8Array).toString()))));
    }
    expect(rowsTransformer([])).toBeUndefined();
  });

  it('fails closed like row() on a value that is not a ciphertext of its column, among good ones', () => {
    for (const bad of [Buffer.from('\\x0102'), byteaToWire(name.encrypt('other column'), 0), Buffer.from('not hex')]) {
      const got = rows();
      (got[5] as Array<Buffer | null>)[1] = bad;
      const err = (() => { try { resultTransformer(outputs('plaintext'))?.row([...(got[5] as Array<Buffer | null>)], []); } catch (e) { return e; } return null; })();
      expect(err).not.toBeNull();
      expect(() => rowsTransformer(outputs('plaintext'))?.(got)).toThrow((err as Error).message);
    }
  });
});

describe('parameter transformer', () => {
  it('encrypts text and binary parameters by the declared type, leaves others and NULL', () => {
    const roles = new Map([[2, { kind: 'encrypt' as const, ref: refOf('diagnosis') }], [3, { kind: 'equalityAny' as const, ref: refOf('diagnosis') }]]);
    const t = paramTransformer(roles, 3, cipherOf);
    const [a, b, c] = t([Buffer.from('7'), Buffer.from([0, 0, 0, 42]), Buffer.from(' 042')], [0, 1, 0]);
    expect(a).toEqual(Buffer.from('7'));
    expect(cipherOf(refOf('diagnosis')).decrypt(byteaFromWire(b as Uint8Array, 1))).toBe('42');
    expect(Buffer.from(c as Uint8Array).toString()).toBe(`{"\\\\x${cipherOf(refOf('diagnosis')).encrypt('42').toString('hex')}"}`);
    expect(t([null, null, null], [])).toEqual([null, null, null]);
  });
  it('resolves each column cipher once per prepared statement, not per Bind', () => {
    const ref = refOf('diagnosis');
    let lookups = 0;
    const counting = (r: ProtectedRef) => { lookups++; return cipherOf(r); };
    const t = paramTransformer(new Map([[1, { kind: 'encrypt' as const, ref }], [2, { kind: 'equalityAny' as const, ref }]]), 2, counting);
    for (let i = 0; i < 3; i++) {
      const [a] = t([Buffer.from(String(i)), Buffer.from('5')], []);
      expect(cipherOf(ref).decrypt(byteaFromWire(a as Uint8Array, 0))).toBe(String(i));
    }
    expect(lookups).toBe(1);
  });
  it('searchable writes carry blind index then ciphertext in one value', () => {
    const t = paramTransformer(new Map([[1, { kind: 'encryptIndexed' as const, ref: refOf('pat_ssn') }]]), 1, cipherOf);
    const v = byteaFromWire(t([Buffer.from('123')], [])[0] as Uint8Array, 0);
    expect(v.subarray(0, 16)).toEqual(cipherOf(refOf('pat_ssn')).blindIndex('123'));
    expect(cipherOf(refOf('pat_ssn')).decrypt(v.subarray(16))).toBe('123');
  });
  it('rejects malformed input for the declared type', () => {
    const t = paramTransformer(new Map([[1, { kind: 'encrypt' as const, ref: refOf('diagnosis') }]]), 1, cipherOf);
    expect(() => t([Buffer.from('4x')], [])).toThrow(/integer/);
  });
});

describe('wire helpers and anonymization', () => {
  it('encodes bytea[] in binary', () => {
    const b = byteaArrayToWire([Buffer.from([1, 2])], 1);
    expect(b.readInt32BE(0)).toBe(1);
    expect(b.readInt32BE(8)).toBe(17);
    expect(b.subarray(20)).toEqual(Buffer.from([0, 0, 0, 2, 1, 2]));
  });
  it('applies simple write-time anonymizations and declines the others', () => {
    expect(anonymizeText({ generalize: { keepPrefix: 3 } }, '08001', OID.text)).toBe('080**');
    expect(anonymizeText({ generalize: { truncate: 'month' } }, '1980-05-17', OID.date)).toBe('1980-05-01');
    expect(anonymizeText({ generalize: { step: 10 } }, '47', OID.int4)).toBe('40');
    expect(anonymizeText({ mask: { keepLast: 2 } }, 'abcdef', OID.text)).toBe('****ef');
    expect(anonymizeText({ mask: { format: 'email' } }, 'john@x.org', OID.text)).toBe('j***@x.org');
    expect(anonymizeText({ suppress: {} }, 'x', OID.text)).toBeNull();
    expect(anonymizeText({ pseudonymize: {} }, 'x', OID.text)).toBeUndefined();
    expect(maskForView('123-45-6789')).toBe('****6789');
  });
});
