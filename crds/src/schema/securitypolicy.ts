// SecurityPolicy: which tables hold personal data and how each column is protected.
import { ageColumn, conditions, observedGeneration, readyColumn, reasonColumn, type KindDef } from './common.ts';
import { arr, int, labelName, named, obj, oneOf, rules, str } from './props.ts';
import { attributeType, attributeTypes, protection } from './protection.ts';
import { keyring } from './keyring.ts';

// Bounds that keep the CEL cost estimate of the nested rules below the apiserver's per-rule limit.
export const LIMITS = { backends: 8, datasets: 32, columns: 128, identifier: 63, table: 127 } as const;

const IDENT = '^[A-Za-z_][A-Za-z0-9_$]*$';
const TABLE = '^([A-Za-z_][A-Za-z0-9_$]*\\.)?[A-Za-z_][A-Za-z0-9_$]*$';

const tableKeyCel = (d: string): string => `(${d}.table.contains('.') ? ${d}.table : 'public.' + ${d}.table).lowerAscii()`;

const hasSplit = (c: string): string => `has(${c}.protection) && has(${c}.protection.split)`;

const column = named('ColumnSpec', obj('One column of the table.', {
  name: str('Column name as clients write it (unquoted identifier).', { minLength: 1, maxLength: LIMITS.identifier, pattern: IDENT }),
  attributeType,
  protection,
}, {
  required: ['name', 'attributeType'],
  ...rules({
    rule: "!has(self.protection) || !has(self.protection.anonymize) || !has(self.protection.anonymize.kAnonymity) || self.attributeType == 'quasiIdentifier'",
    message: 'kAnonymity applies to quasiIdentifier columns only',
    fieldPath: '.attributeType',
  }),
}));

const dataset = named('DatasetSpec', obj('A table that holds personal data.', {
  name: labelName('Logical name of the dataset, used by AccessGrant.spec.datasets.'),
  table: str('Table as clients name it, optionally schema-qualified (default schema public).', {
    minLength: 1, maxLength: LIMITS.table, pattern: TABLE,
  }),
  rowKey: str('Column that identifies a row (a technicalIdentifier); required when a column is split, '
    + 'because split parts are joined on it.', { minLength: 1, maxLength: LIMITS.identifier, pattern: IDENT }),
  columns: arr('Columns the policy knows about; columns not listed pass through unprotected.', column, {
    minItems: 1, maxItems: LIMITS.columns, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'],
  }),
}, {
  required: ['name', 'table', 'columns'],
  ...rules(
    { rule: `has(self.rowKey) || !self.columns.exists(c, ${hasSplit('c')})`, message: 'a dataset with split columns needs a rowKey', fieldPath: '.rowKey', reason: 'FieldValueRequired' },
    { rule: "!has(self.rowKey) || self.columns.exists(c, c.name == self.rowKey && c.attributeType == 'technicalIdentifier')", message: 'rowKey must name a column of attributeType technicalIdentifier', fieldPath: '.rowKey' },
    { rule: `!has(self.rowKey) || self.columns.all(c, c.name != self.rowKey || !(${hasSplit('c')}))`, message: 'the row key is stored on every backend and cannot be split', fieldPath: '.rowKey' },
    { rule: `!self.columns.exists(c, ${hasSplit('c')}) || self.columns.all(c, !has(self.rowKey) || c.name != self.rowKey || !has(c.protection) || (!has(c.protection.encrypt) && !has(c.protection.anonymize)))`,
      message: 'the row key of a dataset with split columns joins its fragments and is stored as is on every backend: it cannot be encrypted or anonymized', fieldPath: '.rowKey' },
  ),
}));

const spec = obj('Protection of the datasets stored through a ClarusProxy.', {
  backends: arr('CloudBackend names; the first is the default placement of every column. Empty only for '
    + 'a proxy that forwards to a partner proxy (ClarusProxy.spec.upstream).', labelName('A CloudBackend name.'), {
    maxItems: LIMITS.backends, 'x-kubernetes-list-type': 'set',
  }),
  keyring,
  onUnsupported: oneOf('What happens to a statement that touches a protected column in a way the proxy '
    + 'cannot rewrite: reject it (SQLSTATE 0A000), or pass it through when it touches unprotected columns only.',
  ['reject', 'passthroughUnprotected'], { default: 'reject' }),
  attributeTypes,
  datasets: arr('Tables that hold personal data.', dataset, {
    maxItems: LIMITS.datasets, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'],
  }),
}, {
  required: ['backends', 'keyring', 'datasets'],
  ...rules(
    {
      rule: `self.datasets.all(d, d.columns.all(c, !(${hasSplit('c')}) || (has(c.protection.split.backend) ? c.protection.split.backend in self.backends `
        + `: (has(c.protection.split.coordinates) && c.protection.split.coordinates.all(b, b in self.backends)))))`,
      message: 'every split backend must be listed in spec.backends', fieldPath: '.datasets',
    },
    {
      rule: `self.backends.size() == 0 || self.datasets.all(d, d.columns.all(c, !(${hasSplit('c')}) || !has(c.protection.split.backend) || c.protection.split.backend != self.backends[0]))`,
      message: 'a column split to the default backend (spec.backends[0]) would not be split; name another backend', fieldPath: '.datasets',
    },
    {
      // `patient` and `public.Patient` are one table (policy/src/rules/securitypolicy.ts tableKey).
      rule: `self.datasets.all(a, self.datasets.exists_one(b, ${tableKeyCel('b')} == ${tableKeyCel('a')}))`,
      // No reason FieldValueDuplicate: the apiserver would then drop the message.
      message: 'each table may appear in one dataset only (an unqualified table is in schema public; names are case-insensitive)', fieldPath: '.datasets',
    },
  ),
});

export const securityPolicy: KindDef = {
  kind: 'SecurityPolicy',
  plural: 'securitypolicies',
  singular: 'securitypolicy',
  shortNames: ['secpol', 'sp'],
  description: 'Which tables hold personal data and how the proxy protects each column before it leaves for '
    + 'the cloud databases.',
  spec,
  status: obj('Observed state of the policy.', {
    conditions, observedGeneration,
    protectedColumns: int('Number of columns with an effective protection.', { minimum: 0 }),
    hash: str('sha256 of the rendered runtime policy.', { maxLength: 80 }),
  }),
  printerColumns: [
    { name: 'Backends', type: 'string', jsonPath: '.spec.backends', description: 'CloudBackends in use.' },
    { name: 'Protected', type: 'integer', jsonPath: '.status.protectedColumns', description: 'Protected columns.' },
    readyColumn, reasonColumn, ageColumn,
  ],
};
