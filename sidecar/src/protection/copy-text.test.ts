import { describe, expect, it } from 'vitest';
import { copyRowTransformer, escapeField, unescapeField } from './copy-text.ts';

describe('COPY text codec', () => {
  it('escapes and unescapes fields, NULL distinct from empty', () => {
    for (const v of ['a\tb', 'line\nbreak', 'back\\slash', '', 'plain']) expect(unescapeField(escapeField(v))).toBe(v);
    expect(unescapeField('\\N')).toBeNull();
    expect(escapeField(null)).toBe('\\N');
    expect(unescapeField('\\x41\\102')).toBe('AB');
    for (const v of ['\b\f\r\v\t\n\\', 'a,b\\,c', '']) expect(unescapeField(escapeField(v, ','))).toBe(v);
    expect(escapeField('a,b\tc', ',')).toBe('a\\,b\\tc');
  });
  it('buffers partial rows across chunks and keeps the end marker', () => {
    const t = copyRowTransformer((f) => f.map((x) => (x === null ? null : x.toUpperCase())));
    const out = [...t.data(Buffer.from('ab\tc')), ...t.data(Buffer.from('d\n\\N\te')), ...t.data(Buffer.from('f\n\\.\n'))];
    expect(Buffer.concat(out).toString()).toBe('AB\tCD\n\\N\tEF\n\\.\n');
    expect(t.finish?.()).toEqual([]);
  });
});

describe('COPY text with a delimiter and a header', () => {
  it('splits on unescaped delimiters and passes the header line', () => {
    const t = copyRowTransformer((f) => f.map((x) => (x === null ? null : `<${x}>`)), { delimiter: '|', header: true });
    const out = Buffer.concat(t.data(Buffer.from('a|b\nx\\|y|\\N\n'))).toString();
    expect(out).toBe('a|b\n<x\\|y>|\\N\n');
  });
});
