import { describe, expect, it } from 'vitest';
import { StatementError } from '../session/pipeline.ts';
import { copyRowTransformer, escapeField, unescapeField } from './copy-text.ts';
import type { TextOptions } from './copy-text.ts';

/** Rows the text reader finds in `input` fed in pieces split at `cuts`, or the SQLSTATE it refuses with. */
function rows(input: string | Buffer, o: TextOptions = { delimiter: '\t', header: false }, cuts: number[] = []): Array<Array<string | null>> | string {
  const seen: Array<Array<string | null>> = [];
  const t = copyRowTransformer((f) => { seen.push(f); return f; }, o);
  const b = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  try {
    t.begin?.();
    let at = 0;
    for (const c of [...cuts, b.length]) { t.data(b.subarray(at, c)); at = c; }
    t.finish?.();
  } catch (e) {
    if (e instanceof StatementError) return e.code;
    throw e;
  }
  return seen;
}

describe('COPY text codec', () => {
  it('escapes and unescapes fields, NULL distinct from empty', () => {
    for (const v of ['a\tb', 'line\nbreak', 'back\\slash', '', 'plain']) expect(unescapeField(escapeField(v))).toBe(v);
    expect(unescapeField('\\N')).toBeNull();
    expect(escapeField(null)).toBe('\\N');
    expect(unescapeField('\\x41\\102')).toBe('AB');
    expect(escapeField('a,b\tc', ',')).toBe('a\\,b\\tc');
  });
  it('escapes bytea hex text (ciphertexts) by its backslash alone; other backslash text as before', () => {
    const hex = ['\\x', '\\x00ff', `\\x${'0123456789abcdef'.repeat(9)}`, '\\x41'];
    for (const v of hex) {
      for (const d of ['\t', ',', '|', ';']) expect(escapeField(v, d)).toBe(`\\${v}`);
      expect(unescapeField(escapeField(v))).toBe(v);
    }
    // Not bytea hex text: the general escaping (backslashes, tabs, the delimiter).
    expect(escapeField('\\xAB')).toBe('\\\\xAB');
    expect(escapeField('\\x41\t')).toBe('\\\\x41\\t');
    expect(escapeField('\\x41,', ',')).toBe('\\\\x41\\,');
    expect(escapeField('\\x41\\x42')).toBe('\\\\x41\\\\x42');
    for (const v of ['\\xAB', '\\x41\t', '\\x4g', '\\x41\\x42', '\\y00']) expect(unescapeField(escapeField(v))).toBe(v);
  });

  it('decodes hex and octal escapes to bytes, as PostgreSQL does (not to code points)', () => {
    expect(unescapeField('Caf\\xc3\\xa9')).toBe('Café');
    expect(unescapeField('na\\303\\257ve')).toBe('naïve');
    expect(unescapeField('\\x4G\\78\\0101\\xg')).toBe('\x04G\x078\x081xg');
    expect(rows('\\xff\tb\n')).toBe('22021');
    expect(rows('a\\0b\tc\n')).toBe('22021');
  });
  it('buffers partial rows across chunks and stops at the end marker', () => {
    const t = copyRowTransformer((f) => f.map((x) => (x === null ? null : x.toUpperCase())));
    const out = [...t.data(Buffer.from('ab\tc')), ...t.data(Buffer.from('d\n\\N\te')), ...t.data(Buffer.from('f\n\\.\nignored\trow\n'))];
    expect(Buffer.concat(out).toString()).toBe('AB\tCD\n\\N\tEF\n');
    expect(t.finish?.()).toEqual([]);
  });
  it('fixes the line ending with the first line: \\n, \\r\\n or \\r; another ending is 22P04', () => {
    const want = [['a', 'b'], ['c', 'd']];
    expect(rows('a\tb\nc\td\n')).toEqual(want);
    expect(rows('a\tb\r\nc\td\r\n')).toEqual(want);
    expect(rows('a\tb\rc\td\r')).toEqual(want);
    expect(rows('a\tb\nc\rd\n')).toBe('22P04');
    expect(rows('a\tb\rc\nd\r')).toBe('22P04');
    expect(rows('a\tb\r\nc\rd\r\n')).toBe('22P04');
  });
  it('reads an escaped line ending as data, and `\\.` anywhere as the end', () => {
    expect(rows('a\\\nb\tc\n')).toEqual([['a\nb', 'c']]);
    expect(rows('a\tb\nc\td\\.\ne\tf\n')).toEqual([['a', 'b'], ['c', 'd']]);
    expect(rows('a\tb\n\\.x\n')).toBe('22P04');
    expect(rows('a\tb\r\n\\.\n')).toBe('22P04');
  });
  it('gives the same rows however the input is cut (CR endings, CRLF, escapes, end marker)', () => {
    for (const input of ['h\th\ra\tb\\\rc\r\\x41\\101\t\\N\r\\.\rz\tz\r', 'a\tb\r\nc\\\r\nd\te\r\n\\.\r\n', 'x\\xc3\\xa9\t\\\\\n\\.\n']) {
      const whole = rows(input, { delimiter: '\t', header: true });
      for (let i = 0; i <= input.length; i++) for (const j of [i, Math.min(i + 1, input.length), Math.min(i + 2, input.length)]) {
        expect(rows(input, { delimiter: '\t', header: true }, [i, j]), `${JSON.stringify(input)} cut at ${i},${j}`).toEqual(whole);
      }
    }
  });
});

describe('COPY text with a delimiter and a header', () => {
  it('splits on unescaped delimiters and sends the header text in place of the header line', () => {
    const t = copyRowTransformer((f) => f.map((x) => (x === null ? null : `<${x}>`)), { delimiter: '|', header: true, headerText: 'c1|c2' });
    const out = Buffer.concat(t.data(Buffer.from('a secret|b\nx\\|y|\\N\n'))).toString();
    expect(out).toBe('c1|c2\n<x\\|y>|\\N\n');
  });
  it('a header line ending in a bare CR is the header only: the next line is a row', () => {
    expect(rows('h1\th2\r1\tsecret\r', { delimiter: '\t', header: true, headerText: 'x' })).toEqual([['1', 'secret']]);
  });
  it('begin() starts afresh: a COPY that failed midway leaves nothing for the next one', () => {
    const seen: Array<Array<string | null>> = [];
    const t = copyRowTransformer((f) => { seen.push(f); return f; }, { delimiter: '\t', header: true, headerText: 'h' });
    t.begin?.();
    t.data(Buffer.from('head\nhalf a ro'));
    t.begin?.();
    expect(Buffer.concat([...t.data(Buffer.from('head\nnew\trow\n')), ...(t.finish?.() ?? [])]).toString()).toBe('h\nnew\trow\n');
    expect(seen).toEqual([['new', 'row']]);
  });
});

describe('COPY text reading cost', () => {
  it('a long row split over many CopyData messages is not copied again for every message', () => {
    const line = Buffer.from(`1\t${'y'.repeat(4 << 20)}\n`);
    let fields = 0;
    const t = copyRowTransformer((f) => { fields += f.length; return f; });
    const start = performance.now();
    for (let i = 0; i < line.length; i += 4096) t.data(line.subarray(i, i + 4096));
    t.finish?.();
    expect(fields).toBe(2);
    // Re-copying the partial row per message would move ~2 GB here (many seconds).
    expect(performance.now() - start).toBeLessThan(3000);
  });
});
