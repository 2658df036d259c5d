import { describe, expect, it } from 'vitest';
import { copyRowTransformer, escapeField, unescapeField } from './copy-text.ts';

describe('COPY text codec', () => {
  it('escapes and unescapes fields, NULL distinct from empty', () => {
    for (const v of ['a\tb', 'line\nbreak', 'back\\slash', '', 'plain']) expect(unescapeField(escapeField(v))).toBe(v);
    expect(unescapeField('\\N')).toBeNull();
    expect(escapeField(null)).toBe('\\N');
    expect(unescapeField('\\x41\\102')).toBe('AB');
  });
  it('buffers partial rows across chunks and keeps the end marker', () => {
    const t = copyRowTransformer((f) => f.map((x) => (x === null ? null : x.toUpperCase())));
    const out = [...t.data(Buffer.from('ab\tc')), ...t.data(Buffer.from('d\n\\N\te')), ...t.data(Buffer.from('f\n\\.\n'))];
    expect(Buffer.concat(out).toString()).toBe('AB\tCD\n\\N\tEF\n\\.\n');
    expect(t.finish?.()).toEqual([]);
  });
});
