// A computed cursor's FETCH: the backend's row numbers become the held rows, in the FETCH's formats;
// a DECLARE the backend refused never replaces the open cursor's rows; CLOSE drops them.
import { describe, expect, it } from 'vitest';
import { ComputedCursor } from './computed-cursor.ts';
import type { FieldDescription, WireValue } from '../session/pipeline.ts';

const field = (name: string, typeOid: number): FieldDescription => ({ name, tableOid: 0, columnAttr: 0, typeOid, typeSize: -1, typeModifier: -1, format: 0 });
const FIELDS = [field('pat_id', 23), field('name', 25)];
const rows = (...r: Array<[string, string | null]>): WireValue[][] => r.map((x) => x.map((v) => (v === null ? null : Buffer.from(v))));
const text = (vs: WireValue[]): Array<string | null> => vs.map((v) => (v === null ? null : Buffer.from(v).toString()));
const num = (n: number, binary = false): WireValue => {
  if (!binary) return Buffer.from(String(n));
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};

describe('ComputedCursor', () => {
  it('serves row n for the backend number n, in text and in binary', () => {
    const live = new Set<ComputedCursor>();
    const c = new ComputedCursor('c', false, live);
    c.computed(FIELDS, rows(['1', 'ANN'], ['2', null]));
    c.declared();
    expect(live.has(c)).toBe(true);
    expect(c.transformer.fields([{ ...field('clarus_row', 23), format: 1 }]).map((f) => [f.name, f.typeOid, f.format])).toEqual([['pat_id', 23, 1], ['name', 25, 1]]);
    expect(text(c.transformer.row([num(2)], []))).toEqual(['2', null]);
    const bin = c.transformer.row([num(1, true)], [1]);
    expect(Buffer.from(bin[0] as Uint8Array).readInt32BE(0)).toBe(1);
    expect(Buffer.from(bin[1] as Uint8Array).toString()).toBe('ANN');
    expect(() => c.transformer.row([num(3)], [])).toThrow(/out of range/);
  });

  it('keeps the declared cursor\'s rows when another DECLARE of the name was computed but not declared; CLOSE drops them', () => {
    const live = new Set<ComputedCursor>();
    const first = new ComputedCursor('d', true, live);
    first.computed(FIELDS, rows(['1', 'first']));
    first.declared();
    const refused = new ComputedCursor('d', true, live);
    refused.computed(FIELDS, rows(['9', 'second']));
    // The session remembers the later DECLARE's transformer for the name: it serves the open cursor.
    expect(text(refused.transformer.row([num(1)], []))).toEqual(['1', 'first']);
    const again = new ComputedCursor('d', true, live);
    again.computed(FIELDS, rows(['7', 'third']));
    again.declared();
    expect([...live]).toEqual([again]);
    expect(text(first.transformer.row([num(1)], []))).toEqual(['7', 'third']);
    again.clear();
    expect(live.size).toBe(0);
  });
});
