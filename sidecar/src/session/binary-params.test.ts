// Binary parameters for the in-proxy stage: read by their declared type as PostgreSQL's receive
// functions read them; wrong sizes are 22P03; undeclared or unread types are left to the caller (null).
import { describe, expect, it } from 'vitest';
import { binaryParamText } from './binary-params.ts';
import { StatementError } from './pipeline.ts';

const int = (n: number, size: 2 | 4): Buffer => { const b = Buffer.alloc(size); if (size === 2) b.writeInt16BE(n); else b.writeInt32BE(n); return b; };

describe('binaryParamText', () => {
  it.each([
    [23, int(-42, 4), '-42'], [21, int(7, 2), '7'], [16, Buffer.from([1]), 't'], [16, Buffer.from([0]), 'f'],
    [25, Buffer.from('ann lee'), 'ann lee'], [1043, Buffer.from('x'), 'x'], [1082, int(0, 4), '2000-01-01'],
    [2950, Buffer.from('00112233445566778899aabbccddeeff', 'hex'), '00112233-4455-6677-8899-aabbccddeeff'],
  ])('type %i', (oid, b, text) => {
    expect(binaryParamText(oid, b, 1)).toBe(text);
  });

  it('refuses bytes that do not fit the type (22P03), and leaves undeclared or other types to the caller', () => {
    const e = binaryParamText(23, Buffer.from([0, 1, 2]), 2);
    expect(e).toBeInstanceOf(StatementError);
    expect((e as StatementError).code).toBe('22P03');
    expect((e as StatementError).message).toBe('incorrect binary data format in bind parameter 2');
    expect(binaryParamText(0, Buffer.from([0, 0, 0, 1]), 1)).toBeNull();
    expect(binaryParamText(1700, Buffer.from([0, 0, 0, 0, 0, 0, 0, 0]), 1)).toBeNull();
  });
});
