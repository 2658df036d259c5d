// Schema validation and defaulting as the apiserver does them for a structural schema: types,
// enums, bounds, patterns, formats, required and unknown fields (kubectl's strict field
// validation), list-type set/map uniqueness; defaults fill absent fields before validation.
import type { Schema } from '@clarus/crds/schema/props.ts';

export interface FieldError { path: string; message: string }

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

function objectDefaults(schema: Schema, value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...value };
  for (const [k, prop] of Object.entries(schema.properties ?? {})) {
    if (out[k] === undefined && prop.default !== undefined) out[k] = clone(prop.default);
    if (out[k] !== undefined) out[k] = applyDefaults(prop, out[k]);
  }
  const extra = schema.properties ? undefined : schema.additionalProperties;
  if (extra) for (const [k, v] of Object.entries(out)) out[k] = applyDefaults(extra, v);
  return out;
}

/** Returns a copy of value with schema defaults applied to absent fields (recursively). */
export function applyDefaults(schema: Schema, value: unknown): unknown {
  if (isObject(value)) return objectDefaults(schema, value);
  if (Array.isArray(value) && schema.items) return value.map((v) => applyDefaults(schema.items as Schema, v));
  return value;
}

export function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

const TYPE_CHECKS: Record<string, [(v: unknown) => boolean, string]> = {
  object: [isObject, 'must be an object'],
  array: [Array.isArray, 'must be a list'],
  string: [(v) => typeof v === 'string', 'must be a string'],
  integer: [Number.isInteger, 'must be an integer'],
  number: [(v) => typeof v === 'number' && Number.isFinite(v), 'must be a number'],
  boolean: [(v) => typeof v === 'boolean', 'must be true or false'],
};

function typeError(schema: Schema, value: unknown): string | undefined {
  if (value === null) return schema.nullable ? undefined : 'must not be null';
  if (schema['x-kubernetes-int-or-string']) return intOrStringError(value);
  const check = schema.type ? TYPE_CHECKS[schema.type] : undefined;
  if (!check || check[0](value)) return undefined;
  return schema.type === 'object' || schema.type === 'array' ? check[1] : `${check[1]}, got ${JSON.stringify(value)}`;
}

function intOrStringError(value: unknown): string | undefined {
  return typeof value === 'string' || Number.isInteger(value) ? undefined : 'must be an integer or a string';
}

function stringErrors(schema: Schema, value: string): string[] {
  const out: string[] = [];
  const len = [...value].length;
  if (schema.minLength !== undefined && len < schema.minLength) out.push(`must be at least ${schema.minLength} characters`);
  if (schema.maxLength !== undefined && len > schema.maxLength) out.push(`must be at most ${schema.maxLength} characters`);
  if (schema.pattern && !new RegExp(schema.pattern, 'u').test(value)) out.push(`${JSON.stringify(value)} does not match ${schema.pattern}`);
  if (schema.format === 'date-time' && !RFC3339.test(value)) out.push(`${JSON.stringify(value)} is not an RFC 3339 date-time`);
  return out;
}

function numberErrors(schema: Schema, value: number): string[] {
  const out: string[] = [];
  if (schema.minimum !== undefined && value < schema.minimum) out.push(`must be at least ${schema.minimum}`);
  if (schema.maximum !== undefined && value > schema.maximum) out.push(`must be at most ${schema.maximum}`);
  if (schema.format === 'int32' && (value > 2147483647 || value < -2147483648)) out.push('does not fit in int32');
  return out;
}

function scalarErrors(schema: Schema, value: unknown): string[] {
  const out: string[] = [];
  if (schema.enum && !schema.enum.includes(value as string)) {
    out.push(`Unsupported value: ${JSON.stringify(value)}: supported values: ${schema.enum.map((e) => JSON.stringify(e)).join(', ')}`);
  }
  if (typeof value === 'string') out.push(...stringErrors(schema, value));
  if (typeof value === 'number') out.push(...numberErrors(schema, value));
  return out;
}

function listErrors(schema: Schema, value: unknown[], path: string, errors: FieldError[]): void {
  if (schema.minItems !== undefined && value.length < schema.minItems) errors.push({ path, message: `must have at least ${schema.minItems} item(s)` });
  if (schema.maxItems !== undefined && value.length > schema.maxItems) errors.push({ path, message: `must have at most ${schema.maxItems} items` });
  const keyOf = listKey(schema);
  if (!keyOf) return;
  const seen = new Map<string, number>();
  value.forEach((item, i) => {
    const key = keyOf(item);
    const first = seen.get(key);
    if (first !== undefined) errors.push({ path: join(path, i), message: `duplicate entry ${key} (same as [${first}])` });
    else seen.set(key, i);
  });
}

function listKey(schema: Schema): ((item: unknown) => string) | undefined {
  if (schema['x-kubernetes-list-type'] === 'set') return (item) => JSON.stringify(item);
  const keys = schema['x-kubernetes-list-map-keys'];
  if (schema['x-kubernetes-list-type'] === 'map' && keys) {
    return (item) => keys.map((k) => `${k}=${JSON.stringify(isObject(item) ? item[k] : undefined)}`).join(',');
  }
  return undefined;
}

function objectErrors(schema: Schema, value: Record<string, unknown>, path: string, errors: FieldError[]): void {
  for (const req of schema.required ?? []) {
    if (value[req] === undefined) errors.push({ path: join(path, req), message: 'required field is missing' });
  }
  for (const entry of Object.entries(value)) propertyErrors(schema, entry, join(path, entry[0]), errors);
}

/** One property of an object: unknown (unless preserved), or validated against its schema. */
function propertyErrors(schema: Schema, [key, value]: [string, unknown], path: string, errors: FieldError[]): void {
  const prop = schema.properties ? schema.properties[key] : schema.additionalProperties;
  if (prop) {
    if (value !== undefined) validateSchema(prop, value, path, errors);
  } else if (schema.properties && !schema['x-kubernetes-preserve-unknown-fields']) {
    errors.push({ path, message: `unknown field "${key}"` });
  }
}

/** Appends structural errors of value against schema to errors. */
export function validateSchema(schema: Schema, value: unknown, path: string, errors: FieldError[]): void {
  const typeErr = typeError(schema, value);
  if (typeErr) {
    errors.push({ path, message: typeErr });
    return;
  }
  if (value === null) return;
  for (const message of scalarErrors(schema, value)) errors.push({ path, message });
  if (Array.isArray(value)) {
    listErrors(schema, value, path, errors);
    if (schema.items) value.forEach((item, i) => validateSchema(schema.items as Schema, item, join(path, i), errors));
  } else if (isObject(value)) {
    objectErrors(schema, value, path, errors);
  }
}

export type { Json };
