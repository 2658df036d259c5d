// Evaluates the schema's x-kubernetes-validations with a real CEL implementation (cel-js), on the
// same typed values the apiserver sees: integer fields are CEL ints, number fields doubles.
import { Environment } from '@marcbachmann/cel-js';
import type { CelRule, Schema } from '@clarus/crds/schema/props.ts';
import { join, type FieldError } from './structural.ts';

const env = new Environment({ unlistedVariablesAreDyn: false }).registerVariable('self', 'dyn');
const compiled = new Map<string, ReturnType<typeof env.parse>>();

function program(rule: string): ReturnType<typeof env.parse> {
  let p = compiled.get(rule);
  if (!p) {
    p = env.parse(rule);
    compiled.set(rule, p);
  }
  return p;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function objectToCel(schema: Schema, value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v !== undefined) out[k] = toCel(propertyOf(schema, k) ?? {}, v);
  }
  return out;
}

/** The schema of an object's property: a declared one, else additionalProperties. */
function propertyOf(schema: Schema, key: string): Schema | undefined {
  return schema.properties?.[key] ?? schema.additionalProperties;
}

/** Converts a JSON value to the CEL value the apiserver would bind, guided by the schema. */
export function toCel(schema: Schema, value: unknown): unknown {
  if (value === null || value === undefined) return value;
  if (schema.type === 'integer' && typeof value === 'number') return BigInt(value);
  if (Array.isArray(value)) return value.map((v) => toCel(schema.items ?? {}, v));
  return isObject(value) ? objectToCel(schema, value) : value;
}

/** Evaluates one rule against a node's value; returns true when the rule holds. Throws on CEL errors. */
export function evaluateRule(rule: string, self: unknown): boolean {
  return program(rule)({ self }) === true;
}

function ruleError(r: CelRule, path: string, self: unknown): FieldError | undefined {
  try {
    if (evaluateRule(r.rule, self)) return undefined;
    return { path: r.fieldPath ? `${path}${r.fieldPath}` : path, message: r.message };
  } catch (err) {
    return { path, message: `${r.message} (rule could not be evaluated: ${(err as Error).message.split('\n')[0]})` };
  }
}

function nodeRuleErrors(schema: Schema, value: unknown, path: string, errors: FieldError[]): void {
  const rules = schema['x-kubernetes-validations'] ?? [];
  if (rules.length === 0) return;
  const celValue = toCel(schema, value);
  for (const r of rules) {
    const e = ruleError(r, path, celValue);
    if (e) errors.push(e);
  }
}

/** Appends the failing CEL rules of the schema tree, evaluated against value, to errors. */
export function validateRules(schema: Schema, value: unknown, path: string, errors: FieldError[]): void {
  if (value === undefined || value === null) return;
  nodeRuleErrors(schema, value, path, errors);
  if (Array.isArray(value)) {
    if (schema.items) value.forEach((v, i) => validateRules(schema.items as Schema, v, join(path, i), errors));
    return;
  }
  if (!isObject(value)) return;
  for (const [k, v] of Object.entries(value)) {
    const prop = propertyOf(schema, k);
    if (prop) validateRules(prop, v, join(path, k), errors);
  }
}

/** Every rule of the schema tree with its path, for tests and documentation. */
export function allRules(schema: Schema, path = ''): Array<CelRule & { at: string }> {
  const out = (schema['x-kubernetes-validations'] ?? []).map((r) => ({ ...r, at: path || '.' }));
  for (const [k, v] of Object.entries(schema.properties ?? {})) out.push(...allRules(v, join(path, k)));
  if (schema.items) out.push(...allRules(schema.items, `${path}[]`));
  return out;
}
