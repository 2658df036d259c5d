// Schema pieces shared by the four kinds: conditions, references, and the shape of a kind.
import { arr, int, labelName, map, named, obj, objectName, oneOf, str, type Schema } from './props.ts';

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description: string;
  priority?: number;
}

export interface KindDef {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  spec: Schema;
  status: Schema;
  printerColumns: PrinterColumn[];
  scale?: { specReplicasPath: string; statusReplicasPath: string; labelSelectorPath: string };
}

export const conditions: Schema = arr(
  'Latest observations of the object\'s state (metav1.Condition). Ready summarises the others.',
  named('Condition', obj('One aspect of the object\'s state.', {
    type: str('Type of condition in CamelCase, e.g. Ready.', { minLength: 1, maxLength: 316 }),
    status: oneOf('Status of the condition.', ['True', 'False', 'Unknown']),
    reason: str('Machine-readable CamelCase reason for the last transition.', { minLength: 1, maxLength: 1024 }),
    message: str('Human-readable details about the last transition.', { maxLength: 32768 }),
    lastTransitionTime: str('When the condition last changed status.', { format: 'date-time' }),
    observedGeneration: int('metadata.generation the condition was computed from.', { format: 'int64', minimum: 0 }),
  }, { required: ['type', 'status', 'reason', 'message', 'lastTransitionTime'] })),
  { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'], maxItems: 16 },
);

export const observedGeneration: Schema = int('The metadata.generation this status was computed from.', {
  format: 'int64',
  minimum: 0,
});

export function localRef(description: string, what: string): Schema {
  return obj(description, { name: objectName(`Name of the ${what} in the same namespace.`) }, { required: ['name'] });
}

export function secretKeyRef(description: string, defaultKey: string): Schema {
  return named('SecretKeyRef', obj(description, {
    name: objectName('Name of the Secret in the same namespace.'),
    key: str(`Key inside the Secret (default ${defaultKey}).`, {
      minLength: 1, maxLength: 253, pattern: '^[-._a-zA-Z0-9]+$', default: defaultKey,
    }),
  }, { required: ['name'] }));
}

export const readyColumn: PrinterColumn = {
  name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status',
  description: 'Whether the object is ready.',
};
export const reasonColumn: PrinterColumn = {
  name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
  description: 'Why the object is (not) ready.', priority: 1,
};
export const ageColumn: PrinterColumn = {
  name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since creation.',
};

export { labelName, map };
