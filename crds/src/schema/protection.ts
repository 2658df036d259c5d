// The protection of one column: what the proxy does to its values before they leave for the cloud.
import { arr, bool, int, labelName, named, num, obj, oneOf, rules, str, type CelRule, type Schema } from './props.ts';

export const ATTRIBUTE_TYPES = ['identifier', 'quasiIdentifier', 'confidential', 'nonConfidential', 'technicalIdentifier'] as const;
export const ENCRYPT_MODES = ['randomized', 'deterministic'] as const;

const keyName = labelName('Keyring key used to derive this column\'s data keys (default: `default`). '
  + 'The keyring Secret must hold at least one version `<keyName>.v<N>`.');

export const attributeType = named('AttributeType', oneOf('CLARUS classification of the column; selects the default protection.', ATTRIBUTE_TYPES));

export const MASK_FUNCTIONS = ['partial', 'email', 'hash', 'truncate', 'fixed', 'null'] as const;

const maskedView = named('MaskedView', obj('How readers with the masked view see the column (default: `****` and the last 4 '
  + 'characters). Applied by the proxy to the decrypted value at read time; what is stored does not change.', {
  function: oneOf('partial: keep keepFirst/keepLast characters, mask the rest with char (all of it when the value is not longer); '
    + 'email: the first character and the domain (j***@example.com); hash: a keyed hash (16 hex digits of an HMAC under a key of its '
    + 'own, unlinkable to the column\'s blind index: equal values, equal hashes, not reversible); truncate: dates and timestamps to the month or year (unit), other values '
    + 'fully masked; fixed: value for every non-NULL value; null: NULL.', MASK_FUNCTIONS),
  keepFirst: int('partial: characters kept at the start.', { minimum: 0, maximum: 64 }),
  keepLast: int('partial: characters kept at the end.', { minimum: 0, maximum: 64 }),
  char: str('partial and email: masking character (default `*`).', { minLength: 1, maxLength: 1 }),
  unit: oneOf('truncate: month or year.', ['month', 'year']),
  value: str('fixed: the text shown.', { maxLength: 1024 }),
}, {
  required: ['function'],
  ...rules(
    { rule: "self.function == 'partial' || (!has(self.keepFirst) && !has(self.keepLast))", message: 'keepFirst and keepLast apply to partial' },
    { rule: "self.function == 'partial' || self.function == 'email' || !has(self.char)", message: 'char applies to partial and email' },
    { rule: "(self.function == 'truncate') == has(self.unit)", message: 'truncate needs unit, and unit applies to truncate only' },
    { rule: "(self.function == 'fixed') == has(self.value)", message: 'fixed needs value, and value applies to fixed only' },
  ),
}));

const encrypt = named('EncryptProtection', obj('Encrypt the values (AES-256-GCM for randomized, AES-SIV for deterministic); the '
  + 'associated data binds each ciphertext to its table and column.', {
  mode: named('EncryptMode', oneOf('randomized: equal plaintexts give different ciphertexts (reveals nothing but length); '
    + 'deterministic: equal plaintexts give equal ciphertexts (allows =, IN, GROUP BY, joins; reveals equality).', ENCRYPT_MODES)),
  searchable: bool('For randomized mode: also store a keyed blind index in a hidden column so `=` and `IN` '
    + 'keep working (reveals which rows share a searched value).', { default: false }),
  keyName,
  maskedView,
}, {
  required: ['mode'],
  ...rules({
    rule: "self.mode == 'randomized' || !has(self.searchable) || !self.searchable",
    message: 'searchable applies to randomized mode; deterministic encryption already supports equality',
    fieldPath: '.searchable', reason: 'FieldValueForbidden',
  }),
}));

function exactlyOne(fields: string[], what: string): CelRule {
  return { rule: `[${fields.map((f) => `has(self.${f})`).join(', ')}].filter(x, x).size() == 1`, message: `exactly one of ${fields.join(', ')} must be set (${what})` };
}

const ANON_METHODS = ['suppress', 'mask', 'pseudonymize', 'generalize', 'noise', 'kAnonymity'];

const anonymize = named('AnonymizeProtection', obj('Replace the values irreversibly; exactly one method.', {
  suppress: obj('Store a constant instead of the value.', {
    value: str('The constant stored (default NULL).', { maxLength: 1024, nullable: true }),
  }),
  mask: obj('Store a partially masked value.', {
    keepFirst: int('Characters kept at the start.', { minimum: 0, maximum: 64 }),
    keepLast: int('Characters kept at the end.', { minimum: 0, maximum: 64 }),
    char: str('Masking character (default `*`).', { minLength: 1, maxLength: 1, default: '*' }),
    format: oneOf('Format-aware masking: email keeps the first character and the domain.', ['email']),
  }, rules({ rule: '!has(self.format) || (!has(self.keepFirst) && !has(self.keepLast))', message: 'format cannot be combined with keepFirst or keepLast' })),
  pseudonymize: obj('Store a keyed HMAC pseudonym (text columns; the uuid format also on uuid columns); equal values give '
    + 'equal pseudonyms in every column sharing the keyName. Not reversible unless `reversible`. Keyed by the key\'s current '
    + 'version: rotating the key changes the pseudonyms of new writes.', {
    keyName,
    reversible: bool('Store a decryptable pseudonym instead: the deterministic encryption (AES-SIV) of the value under a key '
      + 'derived for the keyName alone, in hex (2 × (24 + the value\'s UTF-8 length) hex digits; equal values still give equal '
      + 'pseudonyms in every column sharing the keyName). Readers whose AccessGrant has the plaintext view see the value; '
      + 'other views show the pseudonym. hex format only.', { default: false }),
    format: oneOf('Rendering of the pseudonym: hex (32 hex digits, whatever the input length), uuid (a version-8 UUID), '
      + 'or preserveShape (same length; digits stay digits, ASCII letters letters of the same case, other characters kept).',
    ['hex', 'uuid', 'preserveShape'], { default: 'hex' }),
  }, rules({ rule: "!has(self.reversible) || !self.reversible || !has(self.format) || self.format == 'hex'", message: 'reversible pseudonyms use the hex format' })),
  generalize: obj('Store a coarsened value; exactly one parameter, matching the column\'s data type.', {
    step: num('Numbers: round down to a multiple of step.', { minimum: 0 }),
    truncate: oneOf('Dates and timestamps: truncate to the month or year.', ['month', 'year']),
    keepPrefix: int('Text: keep this many leading characters, drop the rest.', { minimum: 0, maximum: 1024 }),
    gridMeters: int('Points (PostGIS geometry, or text as WKT/EWKT/hex EWKB): snap to the nearest node of a grid of this cell '
      + 'size in the SRS\'s units (metres for projected SRSs); points in degrees (SRID 4326, 4258, 4269) to a grid of this many '
      + 'metres of Web Mercator. Anything but a 2-D point is refused.', { minimum: 1, maximum: 10000000 }),
    shiftMeters: int('Points, as gridMeters reads them: move each point to a random point within this radius (uniform over the '
      + 'disc; CLARUS\'s coarsening "shift"), drawn anew for every write; in the SRS\'s units, metres of Web Mercator for '
      + 'degrees. Not deterministic: comparisons with a constant are refused.', { minimum: 1, maximum: 10000000 }),
  }, rules(exactlyOne(['step', 'truncate', 'keepPrefix', 'gridMeters', 'shiftMeters'], 'generalize'))),
  noise: obj('Store the value plus random noise of the given distribution (numbers and dates), capped at 10 × scale; '
    + 'integers are rounded, decimals keep the input\'s number of places, dates move by whole days.', {
    distribution: oneOf('Noise distribution.', ['laplace', 'gaussian']),
    scale: num('Scale of the noise (Laplace b, Gaussian sigma).', { minimum: 0 }),
    epsilon: num('Differential-privacy budget; with sensitivity, sets scale = sensitivity / epsilon.', { minimum: 0 }),
    sensitivity: num('Largest change one record makes to the value.', { minimum: 0 }),
  }, {
    required: ['distribution'],
    ...rules(
      { rule: 'has(self.epsilon) == has(self.sensitivity)', message: 'epsilon and sensitivity go together' },
      { rule: 'has(self.scale) != has(self.epsilon)', message: 'set either scale or epsilon+sensitivity' },
    ),
  }),
  kAnonymity: obj('Microaggregate the dataset\'s quasi-identifiers per write batch (one COPY FROM, one multi-row '
    + 'INSERT … VALUES of constants, or the single-row INSERTs of one transaction block, held by the proxy until COMMIT; '
    + 'at least k rows) so each record is indistinguishable from at least k-1 others '
    + 'of its batch: numbers and dates get their group\'s mean, other types its most frequent value. Applies to '
    + 'quasiIdentifier columns; every kAnonymity column of a dataset has the same k and tCloseness.', {
    k: int('Smallest group size (at least 2).'),
    tCloseness: num('Optional t: in every group, the distribution of each confidential column\'s values stays within t '
      + 'of the batch\'s (Li et al.\'s ordered earth mover\'s distance; text ordered by code point).', { minimum: 0, maximum: 1 }),
  }, { required: ['k'], ...rules({ rule: 'self.k >= 2', message: 'k must be at least 2', fieldPath: '.k' }) }),
}, rules(exactlyOne(ANON_METHODS, 'anonymize'))));

const split = named('SplitProtection', obj('Store the column only on another backend, together with the dataset\'s row key; the '
  + 'proxy recomposes rows. Exactly one of backend (the whole column) or coordinates (a PostGIS point column split by coordinate).', {
  backend: labelName('CloudBackend that stores the column; must be listed in spec.backends.'),
  coordinates: arr('A geometry(Point) column split by coordinate (CLARUS splitting_type points): X is stored on the first '
    + 'CloudBackend, Y on the second (two distinct backends listed in spec.backends), each as a double precision column with the row key; '
    + 'the SRID is kept on the default backend. The proxy recomposes the point on read. Cannot be combined with encrypt or anonymize.',
  labelName('CloudBackend name.'), { minItems: 2, maxItems: 2 }),
}, rules(
  exactlyOne(['backend', 'coordinates'], 'split'),
  { rule: '!has(self.coordinates) || self.coordinates[0] != self.coordinates[1]', message: 'split.coordinates must name two different backends', fieldPath: '.coordinates' },
)));

const exclusive: CelRule = {
  rule: '!(has(self.encrypt) && has(self.anonymize))',
  message: 'encrypt and anonymize are mutually exclusive',
};

const pointsPlain: CelRule = {
  rule: '!has(self.split) || !has(self.split.coordinates) || !(has(self.encrypt) || has(self.anonymize))',
  message: 'a point column split by coordinates is stored as plain coordinates: it cannot also be encrypted or anonymized',
  fieldPath: '.split.coordinates',
};

/** A column's protection. An empty object stores the column as is, overriding the attribute-type default. */
export const protection: Schema = named('Protection', obj('What the proxy does to the column before it leaves for the cloud. '
  + 'Replaces the attribute-type default as a whole; `{}` stores the column unprotected.', {
  encrypt, anonymize, split,
}, rules(exclusive, pointsPlain)));

/** Attribute-type defaults: no split (placement is per column, so the row-key rule stays checkable). */
const defaultProtection: Schema = named('AttributeTypeDefault', obj('Default protection of columns of this attribute type.', { encrypt, anonymize }, rules(exclusive)));

function noKAnon(t: string): string {
  return `!has(self.${t}) || !has(self.${t}.anonymize) || !has(self.${t}.anonymize.kAnonymity)`;
}

export const attributeTypes: Schema = named('AttributeTypeDefaults', obj('Defaults per attribute type; a column with its own protection ignores them.',
  Object.fromEntries(ATTRIBUTE_TYPES.map((t) => [t, defaultProtection])),
  rules({
    rule: ATTRIBUTE_TYPES.filter((t) => t !== 'quasiIdentifier').map(noKAnon).map((r) => `(${r})`).join(' && '),
    message: 'kAnonymity applies to quasiIdentifier only',
  }),
));
