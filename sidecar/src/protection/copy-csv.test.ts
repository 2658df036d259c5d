import { describe, expect, it } from 'vitest';
import { StatementError } from '../session/pipeline.ts';
import { csvRowTransformer, encodeCsvField } from './copy-csv.ts';

const O = { delimiter: ',', quote: '"', header: false };

function rowsOf(chunks: string[], o = O): Array<Array<string | null>> | string {
  const out: Array<Array<string | null>> = [];
  const t = csvRowTransformer(o, (f) => { out.push(f); return f; });
  try {
    for (const c of chunks) t.data(Buffer.from(c, 'utf8'));
    t.finish?.();
  } catch (e) {
    if (e instanceof StatementError) return e.code;
    throw e;
  }
  return out;
}

describe('CSV COPY codec', () => {
  it('parses quotes, doubled quotes, embedded delimiters/newlines, NULL vs empty', () => {
    expect(rowsOf(['a,"b,c","d""e",,""\n', '"multi\nline",x\n'])).toEqual([['a', 'b,c', 'd"e', null, ''], ['multi\nline', 'x']]);
  });
  it('handles every chunk boundary, including inside a doubled quote', () => {
    const text = '1,"he said ""hi""",\n2,"a\nb",""\n';
    const whole = rowsOf([text]);
    for (let i = 1; i < text.length; i++) expect(rowsOf([text.slice(0, i), text.slice(i)])).toEqual(whole);
  });
  it('fixes the line ending with the first line, CR-only included; quoted CRs and LFs are data', () => {
    expect(rowsOf(['a,b\rc,d\r'])).toEqual([['a', 'b'], ['c', 'd']]);
    expect(rowsOf(['a,b\r\nc,"x\ry\nz"\r\n'])).toEqual([['a', 'b'], ['c', 'x\ry\nz']]);
    expect(rowsOf(['a,b\nc\rd\n'])).toBe('22P04');
    expect(rowsOf(['a,"b\n'])).toBe('22P04');
  });
  it('encodes what needs quoting', () => {
    expect(['x', '', 'a,b', 'q"', '\\.', null].map((v) => encodeCsvField(v, O))).toEqual(['x', '""', '"a,b"', '"q"""', '"\\."', '']);
  });
  it('streams rows through a transform, sends the header text for the header, stops at the end marker', () => {
    const t = csvRowTransformer({ ...O, header: true, headerText: 'id,name' }, (f) => f.map((x) => (x === null ? null : x.toUpperCase())));
    const out = [...t.data(Buffer.from('secret,header\r1,"al')), ...t.data(Buffer.from('ice, jr"\r2,\r\\.\r3,late\r')), ...(t.finish?.() ?? [])];
    expect(Buffer.concat(out).toString()).toBe('id,name\n1,"ALICE, JR"\n2,\n');
  });
  it('emits a last row without a newline on finish', () => {
    const t = csvRowTransformer(O, (f) => f);
    expect(t.data(Buffer.from('1,a'))).toEqual([]);
    expect(Buffer.concat(t.finish?.() ?? []).toString()).toBe('1,a\n');
  });
});
