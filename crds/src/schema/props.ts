// Builders for structural OpenAPI v3 schemas (apiextensions.k8s.io/v1 JSONSchemaProps). Every
// builder takes the description first so no field can be written without one (`kubectl explain`
// shows them). Rules for structural schemas: every node has a `type` (or
// x-kubernetes-int-or-string / x-kubernetes-preserve-unknown-fields), and an object has either
// `properties` or `additionalProperties`, never both.

export interface CelRule {
  rule: string;
  message: string;
  /** JSONPath-like field the error is reported on, relative to the node (e.g. ".rowKey"). */
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired';
}

export interface Schema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: Schema;
  items?: Schema;
  enum?: Array<string | number | boolean>;
  default?: unknown;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  nullable?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-validations'?: CelRule[];
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

type Extra = Omit<Schema, 'type' | 'description'>;

export function str(description: string, extra: Extra = {}): Schema {
  return { type: 'string', description, ...extra };
}

export function oneOf<T extends string>(description: string, values: readonly T[], extra: Extra = {}): Schema {
  return { type: 'string', description, enum: [...values], ...extra };
}

export function int(description: string, extra: Extra = {}): Schema {
  return { type: 'integer', description, format: 'int32', ...extra };
}

export function num(description: string, extra: Extra = {}): Schema {
  return { type: 'number', description, ...extra };
}

export function bool(description: string, extra: Extra = {}): Schema {
  return { type: 'boolean', description, ...extra };
}

export function arr(description: string, items: Schema, extra: Extra = {}): Schema {
  return { type: 'array', description, items, ...extra };
}

/** An object with known fields; `required` lists the mandatory ones. */
export function obj(description: string, properties: Record<string, Schema>, extra: Extra = {}): Schema {
  return { type: 'object', description, properties, ...extra };
}

/** A string-keyed map. */
export function map(description: string, values: Schema, extra: Extra = {}): Schema {
  return { type: 'object', description, additionalProperties: values, ...extra };
}

export function rules(...list: CelRule[]): Extra {
  return { 'x-kubernetes-validations': list };
}

/** DNS-1123 subdomain, the name of most Kubernetes objects. */
export const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** DNS-1123 label: names that also appear in file names and Secret keys. */
export const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

export function objectName(description: string): Schema {
  return str(description, { minLength: 1, maxLength: 253, pattern: DNS_SUBDOMAIN });
}

export function labelName(description: string): Schema {
  return str(description, { minLength: 1, maxLength: 63, pattern: DNS_LABEL });
}

// Names for schema nodes that become named TypeScript types in crds/src/generated/types.ts.
const NAMES = new Map<Schema, string>();

export function named<T extends Schema>(name: string, schema: T): T {
  NAMES.set(schema, name);
  return schema;
}

export function schemaName(schema: Schema): string | undefined {
  return NAMES.get(schema);
}
