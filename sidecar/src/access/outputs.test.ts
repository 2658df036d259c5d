// The executor's side of the result directives (access/outputs.ts → protection/results.ts): each
// directive of a plan, for a user's views, becomes what the result transformer does to the
// column, on real ciphertext; an unknown or unplaceable directive is refused, never passed.
import { beforeAll, describe, expect, it } from 'vitest';
import type { View } from '@clarus/crds/types.ts';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { EHEALTH_POLICY, testRewriter } from '@clarus/testing/rewriter.ts';
import { loadParser } from '../rewrite/parser.ts';
import type { ResultDirective } from '../rewrite/result-directives.ts';
import type { KeyedRewriter } from '../protection/keyed-rewriter.ts';
import { resultTransformer } from '../protection/results.ts';
import type { ProtectedOutput } from '../protection/results.ts';
import { anonymizeText } from '../protection/anonymize-write.ts';
import { writeKeys } from '../protection/anonymization/keys.ts';
import { OID } from '../protection/encryption/canonical.ts';
import { byteaToWire } from '../protection/wire.ts';
import type { FieldDescription, WireValue } from '../session/pipeline.ts';
import { protectedOutputs } from './outputs.ts';

const POLICY: RuntimePolicy = {
  ...EHEALTH_POLICY,
  datasets: [...EHEALTH_POLICY.datasets, {
    name: 'members', schema: 'public', table: 'member', rowKey: 'm_id',
    columns: [
      { name: 'm_id', attributeType: 'technicalIdentifier', backend: 'cloud-a' },
      { name: 'alias', attributeType: 'identifier', anonymize: { pseudonymize: { reversible: true, format: 'hex', keyName: 'default' } }, backend: 'cloud-a' },
    ],
  }],
};
const ALIAS = { reversible: true, format: 'hex', keyName: 'default' } as const;

let rw: KeyedRewriter;

function directivesOf(sql: string): ResultDirective[] {
  const a = rw.plan(sql);
  if (a.kind !== 'plan') throw new Error(`expected a plan for ${sql}, got ${a.kind}`);
  return a.statements[0]?.results ?? [];
}

function outputs(sql: string, views: Record<string, View>): ProtectedOutput[] {
  const o = protectedOutputs(rw, directivesOf(sql), new Map(Object.entries(views)));
  if ('kind' in o) throw new Error(`refused: ${o.message}`);
  return o;
}

const field = (name: string, typeOid: number): FieldDescription => ({ name, tableOid: 0, columnAttr: 0, typeOid, typeSize: -1, typeModifier: -1, format: 0 });
const text = (v: WireValue | undefined): string | null | undefined => (v === null || v === undefined ? v : Buffer.from(v).toString('utf8'));

beforeAll(async () => {
  await loadParser();
  rw = testRewriter(POLICY);
  rw.learn(rw.catalog.all(), new Map([
    ['public.patient', [{ name: 'pat_id', typeOid: 23 }, { name: 'pat_name', typeOid: 25 }, { name: 'pat_ssn', typeOid: 1043 }, { name: 'pat_zip', typeOid: 25 }, { name: 'pat_birth', typeOid: 1082 }, { name: 'diagnosis', typeOid: 23 }]],
    ['public.visit', [{ name: 'visit_id', typeOid: 23 }, { name: 'pat_id', typeOid: 23 }, { name: 'reason', typeOid: 25 }, { name: 'notes', typeOid: 25 }]],
    ['public.member', [{ name: 'm_id', typeOid: 23 }, { name: 'alias', typeOid: 25 }]],
  ]));
});

describe('the executor consumes the plan\'s result directives', () => {
  it('decrypts per the user\'s view: declared type for plaintext, text for masked and protected; passes plain columns', () => {
    const sql = 'SELECT pat_id, pat_name, diagnosis FROM patient';
    const [, name, diag] = directivesOf(sql);
    if (name?.kind !== 'decrypt' || diag?.kind !== 'decrypt') throw new Error('decrypt directives expected');
    const row = (): WireValue[] => [Buffer.from('7'), byteaToWire(rw.cipher(name.ref).encrypt('Ann'), 0), byteaToWire(rw.cipher(diag.ref).encrypt('42'), 0)];
    const fields = [field('pat_id', OID.int4), field('pat_name', OID.bytea), field('diagnosis', OID.bytea)];

    const plain = resultTransformer(outputs(sql, { patients: 'plaintext' }));
    expect(plain?.fields(fields).map((f) => f.typeOid)).toEqual([OID.int4, OID.text, OID.int4]);
    expect(plain?.row(row(), []).map(text)).toEqual(['7', 'Ann', '42']);

    const masked = resultTransformer(outputs(sql, { patients: 'masked' }));
    expect(masked?.fields(fields).map((f) => f.typeOid)).toEqual([OID.int4, OID.text, OID.text]);
    const m = masked?.row(row(), []).map(text);
    expect(m?.[0]).toBe('7');
    expect(m?.[1]).not.toBe('Ann');
    expect(m?.[2]).not.toBe('42');

    const prot = resultTransformer(outputs(sql, { patients: 'protected' }));
    const p = prot?.row(row(), []).map(text);
    expect(Buffer.from(p?.[1] ?? '', 'base64').subarray(0, 2).length).toBe(2);
    expect(p?.join()).not.toMatch(/Ann|,42/);
    // No grant on the dataset: the protected view.
    expect(outputs(sql, {}).map((o) => o.view)).toEqual(['protected', 'protected']);
  });

  it('a set operation\'s output is shown with the most restrictive view of its arms (decrypted and masked as that arm\'s column)', () => {
    const sql = 'SELECT diagnosis FROM patient UNION SELECT reason FROM visit';
    expect(outputs(sql, { patients: 'plaintext', visits: 'masked' }).map((o) => [o.view, o.column])).toEqual([['masked', 'visit.reason']]);
    expect(outputs(sql, { patients: 'plaintext', visits: 'plaintext' }).map((o) => o.view)).toEqual(['plaintext']);
  });

  it('reverses a reversible pseudonym only for a user with the plaintext view', () => {
    const pseudonym = anonymizeText({ pseudonymize: ALIAS }, 'Zoë', OID.text, writeKeys((r) => rw.cipher(r))) as string;
    expect(pseudonym).toMatch(/^[0-9a-f]+$/);
    const sql = 'SELECT m_id, alias FROM member';
    const plain = resultTransformer(outputs(sql, { members: 'plaintext' }));
    expect(plain?.row([Buffer.from('1'), Buffer.from(pseudonym)], []).map(text)).toEqual(['1', 'Zoë']);
    expect(outputs(sql, { members: 'masked' })).toEqual([]);
    expect(outputs(sql, {})).toEqual([]);
  });

  it('refuses a protected column after a star of unknown width (0A000), and a pseudonym only when it would be reversed', () => {
    const views = (v: Record<string, View>) => new Map(Object.entries(v));
    const enc = protectedOutputs(rw, directivesOf('SELECT o.*, p.pat_name FROM other o, patient p'), views({ patients: 'plaintext' }));
    expect(enc).toMatchObject({ kind: 'refuse', code: '0A000', message: expect.stringMatching(/before encrypted column patient\.pat_name; list the columns/) });
    const alias = directivesOf('SELECT o.*, m.alias FROM other o, member m');
    expect(protectedOutputs(rw, alias, views({ members: 'plaintext' }))).toMatchObject({ kind: 'refuse', code: '0A000', message: expect.stringMatching(/pseudonymized column member\.alias/) });
    expect(protectedOutputs(rw, alias, views({ members: 'masked' }))).toEqual([]);
  });

  it('fails closed on a directive it does not know: refused, never passed', () => {
    const known = directivesOf('SELECT pat_id, pat_name FROM patient');
    const bogus = [...known, { kind: 'decryptLater', name: 'x' } as unknown as ResultDirective];
    expect(protectedOutputs(rw, bogus, new Map([['patients', 'plaintext']]))).toMatchObject({ kind: 'refuse', code: 'XX000', message: expect.stringMatching(/result column 3 has a directive the proxy does not know/) });
    expect(protectedOutputs(rw, undefined as unknown as ResultDirective[], new Map())).toMatchObject({ kind: 'refuse', code: 'XX000', message: expect.stringMatching(/without result directives/) });
  });
});
