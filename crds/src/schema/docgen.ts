// Schema → docs/policy-reference.md: one table of fields per kind, then its validation rules.
import { CATEGORIES, GROUP, VERSION } from './index.ts';
import type { KindDef } from './common.ts';
import { schemaName, type Schema } from './props.ts';
import { KEYRING_CURRENT_ANNOTATION } from '../types.ts';

interface Row { path: string; type: string; required: boolean; def: string; description: string; constraints: string }
interface RuleRow { path: string; message: string; rule: string }

function typeLabel(s: Schema): string {
  if (s['x-kubernetes-int-or-string']) return 'int or string';
  if (s.enum) return s.enum.map((v) => `\`${String(v)}\``).join(' | ');
  if (s.type === 'array') return `[]${s.items ? typeLabel(s.items) : 'any'}`;
  if (s.type === 'object' && s.additionalProperties && !s.properties) return `map[string]${typeLabel(s.additionalProperties)}`;
  return s.type ?? 'any';
}

// Each constraint the table shows, and how (undefined: not shown for this schema).
const CONSTRAINTS: Array<(s: Schema) => string | undefined> = [
  (s) => (s.minimum !== undefined ? `≥ ${s.minimum}` : undefined),
  (s) => (s.maximum !== undefined ? `≤ ${s.maximum}` : undefined),
  (s) => (s.minLength !== undefined && s.minLength > 0 ? `length ≥ ${s.minLength}` : undefined),
  (s) => (s.maxLength !== undefined ? `length ≤ ${s.maxLength}` : undefined),
  (s) => (s.minItems !== undefined && s.minItems > 0 ? `items ≥ ${s.minItems}` : undefined),
  (s) => (s.maxItems !== undefined ? `items ≤ ${s.maxItems}` : undefined),
  (s) => (s.format ? `format ${s.format}` : undefined),
  (s) => (s['x-kubernetes-list-type'] === 'map' ? `unique ${s['x-kubernetes-list-map-keys']?.join(',')}` : undefined),
  (s) => (s['x-kubernetes-list-type'] === 'set' ? 'unique' : undefined),
];

function constraints(s: Schema): string {
  return CONSTRAINTS.map((c) => c(s)).filter((c): c is string => c !== undefined).join(', ');
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

interface Out { rows: Row[]; rules: RuleRow[]; seen: Map<Schema, string> }

function row(s: Schema, path: string, required: boolean, first: string | undefined): Row {
  const named = schemaName(s);
  return {
    path, type: first && named ? `${named}, as \`${first}\`` : typeLabel(s), required, def: s.default === undefined ? '' : `\`${JSON.stringify(s.default)}\``,
    description: s.description ?? '', constraints: constraints(s),
  };
}

function walk(s: Schema, path: string, required: boolean, out: Out): void {
  const first = out.seen.get(s);
  const named = schemaName(s);
  if (path) out.rows.push(row(s, path, required, first));
  // A shared schema (the same protection under every attribute type and column) is listed once.
  if (first && named && (s.properties || s.items)) return;
  if (named) out.seen.set(s, path);
  walkChildren(s, path, out);
}

/** The schema's own rules at `rulePath`, then its properties under `prefix`. */
function walkLevel(s: Schema, rulePath: string, prefix: string, out: Out): void {
  for (const r of s['x-kubernetes-validations'] ?? []) out.rules.push({ path: rulePath, message: r.message, rule: r.rule });
  const req = new Set(s.required ?? []);
  for (const [k, v] of Object.entries(s.properties ?? {})) walk(v, `${prefix}${k}`, req.has(k), out);
}

function walkChildren(s: Schema, path: string, out: Out): void {
  walkLevel(s, path || '.', path ? `${path}.` : '', out);
  if (s.type === 'array' && s.items) walkLevel(s.items, `${path}[]`, `${path}[].`, out);
}

function kindSection(def: KindDef): string {
  const out: Out = { rows: [], rules: [], seen: new Map() };
  walk({ type: 'object', properties: { spec: def.spec }, required: ['spec'] }, '', true, out);
  const { rows, rules: rulesOut } = out;
  const lines = [
    `## ${def.kind}`, '',
    def.description, '',
    `\`apiVersion: ${GROUP}/${VERSION}\` · plural \`${def.plural}\` · short names ${def.shortNames.map((n) => `\`${n}\``).join(', ')}`
      + ` · categories ${CATEGORIES.map((c) => `\`${c}\``).join(', ')}${def.scale ? ' · scale subresource' : ''}`, '',
    '| field | type | required | default | constraints | description |', '|---|---|---|---|---|---|',
    ...rows.map((r) => `| \`${r.path}\` | ${cell(r.type)} | ${r.required ? 'yes' : ''} | ${cell(r.def)} | ${cell(r.constraints)} | ${cell(r.description)} |`),
    '', `### ${def.kind} validation rules (CEL, checked by the apiserver and \`clarus policy validate\`)`, '',
    '| on | message | rule |', '|---|---|---|',
    ...rulesOut.map((r) => `| \`${r.path}\` | ${cell(r.message)} | \`${cell(r.rule)}\` |`),
    '', `### ${def.kind} status`, '',
    ...Object.entries(def.status.properties ?? {}).map(([k, v]) => `- \`status.${k}\`: ${v.description ?? ''}`),
    '', `Columns of \`kubectl get ${def.plural}\`: ${def.printerColumns.map((c) => c.name.toUpperCase()).join(', ')}.`, '',
  ];
  return lines.join('\n');
}

const FORMATS = [
  '## Keyring Secret', '',
  'Written by `clarus keys generate --name NAME [--namespace NS] [--key KEYNAME…]`, rotated by '
    + '`clarus keys rotate -f SECRET.yaml [--key KEYNAME…]`.', '',
  '- data keys `<keyName>.v<N>` (keyName a DNS label, N ≥ 1): the base64 text of 32 random bytes (written as '
    + '`stringData`; raw 32-byte values are accepted too);',
  `- annotation \`${KEYRING_CURRENT_ANNOTATION}: "default=2,pii=1"\`: the version new writes use per key `
    + '(absent: the highest version);',
  '- a `default` key is required; every `keyName` a policy uses must have at least one version;',
  '- rotation adds a version and makes it current; old versions stay so existing ciphertexts keep decrypting.', '',
  '## Runtime configuration directory', '',
  '`clarus policy render -f … --out DIR` writes, and a proxy pod mounts at `/etc/clarus`, the same tree '
    + '(the types are in `policy/src/runtime/config.ts`):', '',
  '```',
  'DIR/config.json                          policy, backends, users, limits; no secret values',
  'DIR/secrets/keyring/<keyName>.v<N>       master keys',
  'DIR/secrets/backends/<backend>/username  backend credentials (and password, ca.crt)',
  'DIR/secrets/users/<user>.scram           SCRAM-SHA-256 verifier (4096 iterations)',
  'DIR/secrets/tls/tls.crt, tls.key, ca.crt server certificate; ca.crt enables client certificates',
  'DIR/secrets/upstream/tls.crt, tls.key, ca.crt  client certificate towards a partner proxy',
  '```', '',
  'In the operator\'s Secret each file is stored under a flattened key: the path without `secrets/`, '
    + 'with `/` replaced by `__` (e.g. `backends__cloud-a__password`). `config.json` carries `hash`, the '
    + 'sha256 of its canonical JSON and of every file, which changes exactly when the configuration does.', '',
];

export function generateReference(kinds: readonly KindDef[]): string {
  return [
    '<!-- GENERATED by `make generate` (crds/src/generate.ts) from crds/src/schema. Do not edit. -->',
    '# Policy reference', '',
    `Four namespaced kinds in \`${GROUP}/${VERSION}\`. \`kubectl get clarus\` lists them all; `
      + '`kubectl explain <kind>.spec` shows the same descriptions. `clarus policy validate` applies the same '
      + 'schema and rules offline, plus the references between resources. See docs/security-model.md for '
      + 'what each protection leaks.', '',
    ...kinds.map(kindSection),
    ...FORMATS,
  ].join('\n');
}
