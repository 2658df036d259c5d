// How k-anonymity values are read (values.ts): dates as PostgreSQL's date input reads them, in the
// unambiguous ISO orders only.
import { describe, expect, it } from 'vitest';
import { numberOf } from './values.ts';

const day = (iso: string): number => Date.UTC(Number(iso.slice(0, 4)), Number(iso.slice(5, 7)) - 1, Number(iso.slice(8, 10))) / 86_400_000;

describe('numberOf (dates)', () => {
  it('reads YYYY-MM-DD and YYYY/MM/DD, with a time and a zone PostgreSQL ignores for a date (pgjdbc setDate)', () => {
    for (const t of ['2010-01-02', '2010/01/02', '2010-01-02 +01', '2010-01-02 -05:30', '2010-01-02 00:00:00', '2010-01-02T23:59:59.5+02', '2010-01-02 12:00 UTC', '2010-01-02Z']) {
      expect(numberOf('date', t), t).toBe(day('2010-01-02'));
    }
  });

  it('refuses what it cannot read as PostgreSQL would (ambiguous orders, BC, invalid days, junk)', () => {
    for (const t of ['02/01/2010', '2010-01-02 BC', '2010-02-30', '2010-01-02 +01 x', '2010-01-02 25', 'today', '']) expect(numberOf('date', t), t).toBeUndefined();
  });
});
