// Schema validation and defaulting, node by node, as the apiserver applies them.
import { describe, expect, it } from 'vitest';
import { arr, int, map, obj, str, type Schema } from '@clarus/crds/schema/props.ts';
import { applyDefaults, validateSchema, type FieldError } from './structural.ts';

function errors(schema: Schema, value: unknown): string[] {
  const out: FieldError[] = [];
  validateSchema(schema, value, 'x', out);
  return out.map((e) => `${e.path}: ${e.message}`);
}

describe('validateSchema', () => {
  it.each([
    [str('s', { maxLength: 2 }), 'éé', []],
    [str('s', { maxLength: 2 }), 'abc', ['x: must be at most 2 characters']],
    [str('s', { format: 'date-time' }), '2027-06-30T00:00:00Z', []],
    [str('s', { format: 'date-time' }), '2027-06-30', ['x: "2027-06-30" is not an RFC 3339 date-time']],
    [str('s', { pattern: '^[a-z]+$' }), 'A', ['x: "A" does not match ^[a-z]+$']],
    [str('s', { nullable: true }), null, []],
    [str('s'), null, ['x: must not be null']],
    [int('i', { minimum: 1 }), 0, ['x: must be at least 1']],
    [int('i'), 1.5, ['x: must be an integer, got 1.5']],
    [int('i'), 2 ** 31, ['x: does not fit in int32']],
    [{ 'x-kubernetes-int-or-string': true, description: 'q' }, '500m', []],
    [{ 'x-kubernetes-int-or-string': true, description: 'q' }, true, ['x: must be an integer or a string']],
    [arr('l', str('s'), { 'x-kubernetes-list-type': 'set' }), ['a', 'b', 'a'], ['x[2]: duplicate entry "a" (same as [0])']],
    [arr('l', str('s'), { maxItems: 1 }), ['a', 'b'], ['x: must have at most 1 items']],
    [map('m', int('i')), { a: 1, b: 'two' }, ['x.b: must be an integer, got "two"']],
    [obj('o', { a: int('i') }, { required: ['a'] }), { b: 1 }, ['x.a: required field is missing', 'x.b: unknown field "b"']],
    [obj('o', { a: int('i') }), [], ['x: must be an object']],
  ] as Array<[Schema, unknown, string[]]>)('%#', (schema, value, expected) => {
    expect(errors(schema, value)).toEqual(expected);
  });
});

describe('applyDefaults', () => {
  it('fills absent fields, recursing into object defaults, lists and maps, without touching the input', () => {
    const schema = obj('o', {
      svc: obj('s', { port: int('p', { default: 5432 }), affinity: str('a', { default: 'ClientIP' }) }, { default: {} }),
      items: arr('l', obj('i', { k: int('k', { default: 2 }) })),
      given: int('g', { default: 1 }),
    });
    const input = { items: [{}, { k: 5 }], given: 0 };
    expect(applyDefaults(schema, input)).toEqual({ svc: { port: 5432, affinity: 'ClientIP' }, items: [{ k: 2 }, { k: 5 }], given: 0 });
    expect(input).toEqual({ items: [{}, { k: 5 }], given: 0 });
  });
});
