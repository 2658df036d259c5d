import { describe, expect, it } from 'vitest';
import { CsvReader, csvRowTransformer, encodeCsvField } from './copy-csv.ts';

const O = { delimiter: ',', quote: '"', header: false };

function rowsOf(chunks: string[]): Array<Array<string | null>> {
  const r = new CsvReader(O);
  const out: Array<Array<string | null>> = [];
  for (const c of chunks) r.feed(c, (f) => out.push(f));
  return out;
}

describe('CSV COPY codec', () => {
  it('parses quotes, doubled quotes, embedded delimiters/newlines, NULL vs empty', () => {
    expect(rowsOf(['a,"b,c","d""e",,""\n', '"multi\nline",x\r\n'])).toEqual([['a', 'b,c', 'd"e', null, ''], ['multi\nline', 'x']]);
  });
  it('handles every chunk boundary, including inside a doubled quote', () => {
    const text = '1,"he said ""hi""",\n2,"a\nb",""\n';
    const whole = rowsOf([text]);
    for (let i = 1; i < text.length; i++) expect(rowsOf([text.slice(0, i), text.slice(i)])).toEqual(whole);
  });
  it('encodes what needs quoting', () => {
    expect(['x', '', 'a,b', 'q"', '\\.', null].map((v) => encodeCsvField(v, O))).toEqual(['x', '""', '"a,b"', '"q"""', '"\\."', '']);
  });
  it('streams rows through a transform, keeps the header and the end marker', () => {
    const t = csvRowTransformer({ ...O, header: true }, (f) => f.map((x) => (x === null ? null : x.toUpperCase())));
    const out = [...t.data(Buffer.from('id,name\n1,"al')), ...t.data(Buffer.from('ice, jr"\n2,\n\\.\n')), ...(t.finish?.() ?? [])];
    expect(Buffer.concat(out).toString()).toBe('id,name\n1,"ALICE, JR"\n2,\n\\.\n');
  });
  it('emits a last row without a newline on finish', () => {
    const t = csvRowTransformer(O, (f) => f);
    expect(t.data(Buffer.from('1,a'))).toEqual([]);
    expect(Buffer.concat(t.finish?.() ?? []).toString()).toBe('1,a\n');
  });
});
