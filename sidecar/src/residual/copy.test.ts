import { describe, expect, test } from 'vitest';
import { copyChunks, copyField, copyLine, newBudget } from './copy.ts';
import { ResidualLimitError } from './errors.ts';

describe('COPY text encoding of candidate values', () => {
  test.each([
    [null, '\\N'], ['', ''], ['\\N', '\\\\N'], ['a\tb', 'a\\tb'], ['l1\nl2\r', 'l1\\nl2\\r'], ['C:\\x', 'C:\\\\x'], ['é😀', 'é😀'],
  ])('%j → %j', (v, out) => { expect(copyField(v)).toBe(out); });

  test('a row is tab-separated and newline-terminated; its width is checked', () => {
    expect(copyLine(['1', null, 'x y'], 3)).toBe('1\t\\N\tx y\n');
    expect(() => copyLine(['1'], 2)).toThrow(/1 values for 2 columns/);
  });

  test('rows are cut into chunks and charged to the budget (NULL costs 0 bytes, bytes are UTF-8)', () => {
    const budget = newBudget(10, 100);
    const chunks = copyChunks([['é', null], ['ab', 'c']], 2, budget, 4);
    expect(Buffer.concat(chunks).toString()).toBe('é\t\\N\nab\tc\n');
    expect(chunks.length).toBe(2);
    expect(budget).toMatchObject({ rows: 2, bytes: 5 });
  });

  test('the row limit stops encoding at the first row past it', () => {
    let pulled = 0;
    function* rows() { for (;;) { pulled += 1; yield ['x']; } }
    const err = (() => { try { copyChunks(rows(), 1, newBudget(3, 1000)); } catch (e) { return e; } return null; })();
    expect(err).toBeInstanceOf(ResidualLimitError);
    expect(err).toMatchObject({ code: '54000', limit: 'rows', max: 3 });
    expect(pulled).toBe(4);
  });

  test('the byte limit counts bytes across rows and relations', () => {
    const budget = newBudget(100, 5);
    copyChunks([['abc']], 1, budget);
    expect(() => copyChunks([['abc']], 1, budget)).toThrow(/more than 5 bytes/);
  });
});
