// Parameters of anonymized columns (written or compared): anonymized at Bind, idempotently, and
// a value the declared anonymization cannot handle fails the Bind (never sent as is, never NULL);
// plus the idempotence the comparison rewrite rests on, for every method applied by the proxy.
import { describe, expect, it } from 'vitest';
import type { AnonymizeProtection } from '@clarus/crds/types.ts';
import type { CatalogColumn, CatalogTable } from '../rewrite/catalog.ts';
import type { ParamRole, ProtectedRef } from '../rewrite/context.ts';
import { anonymizeText, appliesAtWrite } from './anonymize-write.ts';
import { OID } from './encryption/canonical.ts';
import { clientTypeFor, paramTransformer, paramTypeFor } from './params.ts';

function role(spec: AnonymizeProtection, typeOid: number = OID.text): ParamRole {
  const column: CatalogColumn = { name: 'c', protection: { kind: 'anonymize', spec }, typeOid };
  const table = { dataset: 'd', schema: 'public', table: 't', columns: [column], byName: new Map([['c', column]]), split: [] } as unknown as CatalogTable;
  return { kind: 'anonymize', table, column };
}
const noCipher = (_: ProtectedRef): never => { throw new Error('no cipher for anonymized parameters'); };
const bind = (r: ParamRole, value: Buffer, format = 0): string | null => {
  const out = paramTransformer(new Map([[1, r]]), 1, noCipher)([value], [format])[0];
  return out === null ? null : Buffer.from(out as Uint8Array).toString('utf8');
};

const CASES: Array<[string, AnonymizeProtection, number, string, string | null]> = [
  ['generalize keepPrefix', { generalize: { keepPrefix: 3 } }, OID.text, '08001', '080**'],
  ['generalize step', { generalize: { step: 10 } }, OID.int4, '47', '40'],
  ['generalize truncate year', { generalize: { truncate: 'year' } }, OID.date, '1980-05-17', '1980-01-01'],
  ['mask keepLast', { mask: { keepLast: 2 } }, OID.text, '0611223344', '********44'],
  ['mask email', { mask: { format: 'email' } }, OID.text, 'john@x.org', 'j***@x.org'],
  ['suppress (NULL)', { suppress: {} }, OID.text, 'x', null],
  ['suppress (a constant)', { suppress: { value: 'n/a' } }, OID.text, 'x', 'n/a'],
];

describe('anonymized parameters', () => {
  it.each(CASES.map(([name, spec, oid, value, expected]) => ({ name, spec, oid, value, expected })))('$name: anonymized at Bind, and again gives the same', ({ spec, oid, value, expected }) => {
    expect(bind(role(spec, oid), Buffer.from(value))).toBe(expected);
    if (expected !== null) expect(bind(role(spec, oid), Buffer.from(expected))).toBe(expected);
    expect(anonymizeText(spec, expected ?? '', oid)).toBe(expected === null ? null : expected);
  });
  it('a value the anonymization cannot handle fails the Bind with 22P02', () => {
    expect(() => bind(role({ generalize: { step: 10 } }, OID.text), Buffer.from('abc'))).toThrow(expect.objectContaining({ code: '22P02' }));
    expect(() => bind(role({ generalize: { truncate: 'month' } }, OID.text), Buffer.from('yesterday'))).toThrow(expect.objectContaining({ code: '22P02' }));
  });
  it('binary parameters are decoded by the declared type', () => {
    const b = Buffer.alloc(4);
    b.writeInt32BE(47);
    const out = paramTransformer(new Map([[1, role({ generalize: { step: 10 } }, OID.int4)]]), 1, noCipher)([b], [1])[0] as Buffer;
    expect(out.readInt32BE(0)).toBe(40);
  });
  it('the proxy applies only deterministic methods it can run on one value', () => {
    expect(appliesAtWrite({ noise: { distribution: 'laplace', scale: 1 } }, OID.int4)).toBe(true);
    expect(appliesAtWrite({ noise: { distribution: 'laplace', scale: 1 } }, OID.text)).toBe(false);
    expect(appliesAtWrite({ pseudonymize: {} }, OID.text)).toBe(true);
    expect(appliesAtWrite({ pseudonymize: {} }, OID.int4)).toBe(false);
    expect(appliesAtWrite({ generalize: { gridMeters: 10 } }, OID.text)).toBe(true);
    expect(appliesAtWrite({ kAnonymity: { k: 2 } }, OID.text)).toBe(false);
    expect(appliesAtWrite({ generalize: { keepPrefix: 3 } }, OID.int4)).toBe(false);
    expect(appliesAtWrite({ generalize: { keepPrefix: 3 } }, OID.varchar)).toBe(true);
  });
});

describe('array parameters of encrypted columns (UNNEST of bulk_create)', () => {
  const column = { name: 'ssn', protection: { kind: 'encrypt', mode: 'deterministic', searchable: true, keyName: 'k' }, typeOid: OID.int4 } as CatalogColumn & { protection: { kind: 'encrypt' } };
  const ref = { table: { table: 't' } as CatalogTable, column } as ProtectedRef;
  // A stand-in cipher: blind index 'B' * 16, ciphertext 'E:' + canonical text.
  const cipher = (() => ({ blindIndex: () => Buffer.alloc(16, 0x42), encrypt: (t: string) => Buffer.from(`E:${t}`) })) as unknown as (r: ProtectedRef) => never;
  const bindArray = (value: Buffer, format: 0 | 1) => paramTransformer(new Map([[1, { kind: 'encryptArray', ref } as ParamRole]]), 1, cipher)([value], [format])[0] as Buffer;

  it('text: each element canonical, encrypted, blind index first; NULL stays NULL', () => {
    const out = bindArray(Buffer.from('{007, NULL,"42"}'), 0).toString('latin1');
    expect(out).toBe(`{"\\\\x${Buffer.concat([Buffer.alloc(16, 0x42), Buffer.from('E:7')]).toString('hex')}",NULL,"\\\\x${Buffer.concat([Buffer.alloc(16, 0x42), Buffer.from('E:42')]).toString('hex')}"}`);
  });

  it('binary: an int4[] in, a bytea[] out with the NULL kept', () => {
    const head = Buffer.alloc(20);
    head.writeInt32BE(1, 0); head.writeInt32BE(1, 4); head.writeInt32BE(23, 8); head.writeInt32BE(2, 12); head.writeInt32BE(1, 16);
    const el = Buffer.alloc(8); el.writeInt32BE(4, 0); el.writeInt32BE(7, 4);
    const nul = Buffer.alloc(4); nul.writeInt32BE(-1, 0);
    const out = bindArray(Buffer.concat([head, el, nul]), 1);
    expect(out.readInt32BE(8)).toBe(17);
    expect(out.readInt32BE(12)).toBe(2);
    const len = out.readInt32BE(20);
    expect(out.subarray(24, 24 + len).toString('latin1')).toBe(`${'B'.repeat(16)}E:7`);
    expect(out.readInt32BE(24 + len)).toBe(-1);
  });

  it('a malformed array fails the Bind (22P02), nothing is sent', () => {
    expect(() => bindArray(Buffer.from('{1,'), 0)).toThrow(/malformed array literal/);
  });
});

describe('array parameters of anonymized columns (UNNEST of bulk_create, asyncpg)', () => {
  const zip = { name: 'zip', protection: { kind: 'anonymize', spec: { generalize: { keepPrefix: 3 } } }, typeOid: OID.varchar } as CatalogColumn;
  const role = { kind: 'anonymizeArray', table: { table: 't' } as CatalogTable, column: zip } as ParamRole;
  const cipher = (() => { throw new Error('no key needed'); }) as unknown as (r: ProtectedRef) => never;
  const bind = (value: Buffer, format: 0 | 1) => paramTransformer(new Map([[1, role]]), 1, cipher)([value], [format])[0] as Buffer;

  it('text: each element anonymized as one value is, NULL kept, quotes escaped; described as the column type array, sent as text[]', () => {
    expect(bind(Buffer.from('{75011,NULL,"a\\"bcd",69007}'), 0).toString('utf8')).toBe('{"750**",NULL,"a\\"b**","690**"}');
    expect(clientTypeFor(role)).toBe(1015);
    expect(paramTypeFor(role, 1015)).toBe(1009);
  });

  it('binary: a varchar[] in, a text[] of the anonymized values out', () => {
    const els = ['75011', '13001'].map((t) => Buffer.from(t));
    const head = Buffer.alloc(20);
    head.writeInt32BE(1, 0); head.writeInt32BE(0, 4); head.writeInt32BE(1043, 8); head.writeInt32BE(els.length, 12); head.writeInt32BE(1, 16);
    const body = els.flatMap((e) => { const l = Buffer.alloc(4); l.writeInt32BE(e.length, 0); return [l, e]; });
    const out = bind(Buffer.concat([head, ...body]), 1);
    expect(out.readInt32BE(8)).toBe(25);
    expect(out.readInt32BE(12)).toBe(2);
    expect(out.subarray(24, 29).toString()).toBe('750**');
    expect(out.toString('latin1')).not.toContain('75011');
  });

  it('a malformed array fails the Bind, nothing is sent', () => {
    expect(() => bind(Buffer.from('{75011'), 0)).toThrow(/malformed array literal/);
  });
});
