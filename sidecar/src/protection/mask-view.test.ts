// The masked view's functions (mask-view.ts): what a `view: masked` reader sees of a decrypted value.
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { maskedText } from './mask-view.ts';

const hash = (t: string): Uint8Array => createHmac('sha256', 'k').update(t).digest();

describe('maskedText', () => {
  it('defaults to **** and the last 4 characters', () => {
    expect(maskedText(undefined, '4111111111111111', hash)).toBe('****1111');
    expect(maskedText(undefined, 'abc', hash)).toBe('****');
  });

  it('partial keeps the first and last characters (code points) and masks the rest; a short value is masked whole', () => {
    const m = { function: 'partial' as const, keepFirst: 2, keepLast: 3 };
    expect(maskedText(m, '+34 600 111 222', hash)).toBe('+3**********222');
    expect(maskedText({ ...m, char: '#' }, 'Zoë Öberg', hash)).toBe('Zo####erg');
    expect(maskedText(m, 'abcde', hash)).toBe('*****');
    expect(maskedText({ function: 'partial' }, 'secret', hash)).toBe('******');
  });

  it('email keeps the first character and the domain', () => {
    expect(maskedText({ function: 'email' }, 'jane.doe@example.com', hash)).toBe('j***@example.com');
    expect(maskedText({ function: 'email', char: 'x' }, 'a@b', hash)).toBe('axxx@b');
    expect(maskedText({ function: 'email' }, 'not-an-email', hash)).toBe('************');
    expect(maskedText({ function: 'email' }, '@x.org', hash)).toBe('******');
  });

  it('hash is keyed and deterministic (16 hex digits), never the value', () => {
    const a = maskedText({ function: 'hash' }, 'Alice', hash);
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(maskedText({ function: 'hash' }, 'Alice', hash)).toBe(a);
    expect(maskedText({ function: 'hash' }, 'Bob', hash)).not.toBe(a);
    expect(maskedText({ function: 'hash' }, 'Alice', (t) => createHmac('sha256', 'other').update(t).digest())).not.toBe(a);
  });

  it('truncate cuts dates and timestamps to the month or year; anything else is masked whole', () => {
    expect(maskedText({ function: 'truncate', unit: 'month' }, '1984-07-23', hash)).toBe('1984-07-01');
    expect(maskedText({ function: 'truncate', unit: 'year' }, '1984-07-23 10:11:12+02', hash)).toBe('1984-01-01');
    expect(maskedText({ function: 'truncate', unit: 'year' }, '23/07/1984', hash)).toBe('**********');
  });

  it('fixed shows a constant and null shows NULL', () => {
    expect(maskedText({ function: 'fixed', value: 'REDACTED' }, 'anything', hash)).toBe('REDACTED');
    expect(maskedText({ function: 'null' }, 'anything', hash)).toBeNull();
  });
});
