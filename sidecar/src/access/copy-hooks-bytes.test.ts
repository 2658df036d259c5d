// COPY FROM STDIN through the byte path (protection/copy-in-text.ts) against the general path
// (a HEADER line selects it): what the backend would store is the same (plain fields decode to
// the same values, deterministic ciphertexts and blind indexes are the same bytes, randomized
// ciphertexts decrypt to the same plaintext), and every line the general path refuses is refused
// with the same SQLSTATE and message, whatever the chunking.
import { describe, expect, it } from 'vitest';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { testRewriter, TEST_KEY_FILES } from '@clarus/testing/rewriter.ts';
import { copyHooks } from './copy-hooks.ts';
import { textFields } from '../protection/copy-lines.ts';
import { byteaFromText } from '../protection/copy-text.ts';
import type { CatalogColumn, CatalogTable } from '../rewrite/catalog.ts';
import { StatementError } from '../session/pipeline.ts';
import type { CopyTransformer } from '../session/pipeline.ts';

const policy: RuntimePolicy = {
  name: 't', onUnsupported: 'reject', defaultBackend: 'b', keyring: { dir: 'k', keys: [{ name: 'default', versions: [1], current: 1 }] },
  datasets: [{ name: 'p', schema: 'public', table: 'p', rowKey: 'id', columns: [
    { name: 'id', attributeType: 'technicalIdentifier', backend: 'b' },
    { name: 'name', attributeType: 'identifier', encrypt: { mode: 'randomized', searchable: true, keyName: 'default' }, backend: 'b' },
    { name: 'city', attributeType: 'nonConfidential', backend: 'b' },
    { name: 'ssn', attributeType: 'identifier', encrypt: { mode: 'deterministic', searchable: false, keyName: 'default' }, backend: 'b' },
  ] }],
};
const rw = testRewriter(policy, TEST_KEY_FILES);
const enc = (mode: 'randomized' | 'deterministic', searchable: boolean) => ({ kind: 'encrypt' as const, mode, searchable, keyName: 'default' });
const columns: CatalogColumn[] = [
  { name: 'id', typeOid: 20, protection: { kind: 'plain' } },
  { name: 'name', typeOid: 25, protection: enc('randomized', true) },
  { name: 'city', typeOid: 25, protection: { kind: 'plain' } },
  { name: 'ssn', typeOid: 1043, protection: enc('deterministic', false) },
];
const table = { dataset: 'p', schema: 'public', table: 'p', columns, byName: new Map(columns.map((c) => [c.name, c])), policyColumns: columns } as unknown as CatalogTable;
const cipher = (i: number) => rw.cipher({ table, column: columns[i] } as never);

function hook(delimiter: string, header: boolean): CopyTransformer {
  return (copyHooks(rw, { direction: 'in', table, columns, format: { kind: 'text', delimiter, quote: '"', header } }, []) as { in: CopyTransformer }).in;
}

/** What the backend would store from `t` over `input` cut at `cuts`, or the error. */
function stored(t: CopyTransformer, input: Buffer, cuts: number[], o: { delimiter: string; skipHeader: boolean }): string {
  const { delimiter, skipHeader } = o;
  const out: Uint8Array[] = [];
  try {
    t.begin?.();
    let at = 0;
    for (const c of [...cuts, input.length]) {
      out.push(...t.data(input.subarray(at, c)));
      at = c;
    }
    out.push(...(t.finish?.() ?? []));
  } catch (e) {
    if (e instanceof StatementError) return `error ${e.code} ${e.message}`;
    throw e;
  }
  const lines = Buffer.concat(out).toString('utf8').split('\n').slice(skipHeader ? 1 : 0, -1);
  const d = delimiter.charCodeAt(0);
  return JSON.stringify(lines.map((l) => textFields(Buffer.from(l, 'utf8'), d).map((v, i) => {
    if (v === null || (i !== 1 && i !== 3)) return v;
    // name: randomized, compared by plaintext; ssn: deterministic, compared as stored; name's blind index last.
    return i === 1 ? `pt:${cipher(1).decrypt(byteaFromText(v))}` : v;
  })));
}

const GOOD = ['1\tAnn\tParis\t111', '2\t\tLyon\t', '3\tünï ✓\tx,y;z\t3', `4\t${'long '.repeat(40)}\tc\t4`, '5\tA\\tB\tesc\\\\aped\t\\N', '6\t\\N\t\\N\t\\N',
  '7\tx\\x41\\101\tc\t7'];
const BAD = ['1\tAnn\tParis', '1\tAnn\tParis\t111\textra', '1\tA\\000\tc\td', '1\tA\tc\t\\xff', Buffer.from([0x31, 0x09, 0xff, 0xfe, 0x09, 0x63, 0x09, 0x64]).toString('latin1'), ''];

function cases(delimiter: string): string[] {
  return GOOD.map((l) => l.replaceAll('\t', delimiter === '\t' ? '\t' : delimiter));
}

describe('COPY FROM as bytes', () => {
  it('stores what the general path stores, tab and other delimiters, any chunking', () => {
    for (const delimiter of ['\t', '|']) {
      const lines = cases(delimiter);
      // A raw tab is data when the delimiter is another byte.
      if (delimiter !== '\t') lines.push('8|raw\ttab|c|8', '9|a\\|b|c\\|d|9');
      const body = `${lines.join('\n')}\n`;
      const general = stored(hook(delimiter, true), Buffer.from(`h\n${body}`, 'utf8'), [], { delimiter, skipHeader: true });
      expect(general).toContain('pt:Ann');
      const input = Buffer.from(body, 'utf8');
      for (const step of [input.length, 1, 5, 64]) {
        const cuts = Array.from({ length: Math.floor((input.length - 1) / step) }, (_, i) => (i + 1) * step);
        expect(stored(hook(delimiter, false), input, cuts, { delimiter, skipHeader: false })).toBe(general);
      }
    }
  });

  it('refuses every line the general path refuses, with its SQLSTATE and message', () => {
    for (const bad of BAD) {
      const body = Buffer.concat([Buffer.from(`${GOOD[0] ?? ''}\n`), Buffer.from(bad, 'latin1'), Buffer.from(`\n${GOOD[1] ?? ''}\n`)]);
      const general = stored(hook('\t', true), Buffer.concat([Buffer.from('h\n'), body]), [], { delimiter: '\t', skipHeader: true });
      expect(general).toMatch(/^error (22P04|22021|22P02)/);
      expect(stored(hook('\t', false), body, [], { delimiter: '\t', skipHeader: false })).toBe(general);
    }
  });

  it('the byte path is the one taken: every ciphertext is fresh and the blind index follows the row', () => {
    const input = Buffer.from('1\tAnn\tc\tx\n2\tAnn\tc\tx\n');
    const out = Buffer.concat(hook('\t', false).data(input)).toString('utf8').split('\n');
    const f = out.map((l) => l.split('\t'));
    expect(f[0]?.[1]).not.toBe(f[1]?.[1]);
    expect(f[0]?.[3]).toBe(f[1]?.[3]);
    expect(f[0]?.[4]).toBe(f[1]?.[4]);
    expect(f[0]?.[4]).toBe(`\\\\x${cipher(1).blindIndex('Ann').toString('hex')}`);
  });
});
