// One corpus of SecurityPolicies for the question "do the CRD's rules (schema + CEL, what the API
// server enforces) and the TypeScript rule set (policy/src/rules/securitypolicy.ts: the operator,
// render, `clarus policy validate`, the proxy) give the same verdict?". Each case mutates the good
// policy of cel-cases.ts in a schema-valid way. Where the two sides differ by design, the case says
// which side rejects alone and why; every other case must get the same verdict from both.
// Used by policy/src/rules/verdict.test.ts (cel-js) and policy/test/integration/apiserver.test.ts
// (the real kube-apiserver).
import { base, manifest, type Mutate } from './cel-cases.ts';
import type { Manifest } from '../src/validate/resource.ts';

export interface VerdictCase {
  name: string;
  mutate: Mutate;
  annotations?: Record<string, string>;
  /** Absent: both sides agree. Otherwise the one side that rejects, and why the other cannot or need not. */
  only?: { side: 'api' | 'ts'; why: string };
  /** Whether the policy is refused (by both sides, or by `only.side`). */
  refused: boolean;
}

const ds = (s: Record<string, any>): Record<string, any> => s.datasets[0]; // eslint-disable-line @typescript-eslint/no-explicit-any
const column = (s: Record<string, any>, name: string): Record<string, any> => ds(s).columns.find((c: { name: string }) => c.name === name); // eslint-disable-line @typescript-eslint/no-explicit-any

export const verdictCases: VerdictCase[] = [
  { name: 'the good policy', mutate: () => undefined, refused: false },
  { name: 'no backends (a proxy that forwards to a partner), nothing split', mutate: (s) => { s.backends = []; delete column(s, 'diagnosis').protection.split; }, refused: false },
  { name: 'a backend listed twice', mutate: (s) => { s.backends = ['a', 'b', 'b']; }, refused: true },
  { name: 'a dataset name listed twice', mutate: (s) => { s.datasets.push({ name: 'patients', table: 'public.other', columns: [{ name: 'x', attributeType: 'nonConfidential' }] }); }, refused: true },
  { name: 'a table listed twice', mutate: (s) => { s.datasets.push({ name: 'p2', table: 'public.patient', columns: [{ name: 'x', attributeType: 'nonConfidential' }] }); }, refused: true },
  { name: 'one table under two spellings', mutate: (s) => { s.datasets.push({ name: 'p2', table: 'Patient', columns: [{ name: 'x', attributeType: 'nonConfidential' }] }); }, refused: true },
  { name: 'a column listed twice', mutate: (s) => { ds(s).columns.push({ name: 'zip', attributeType: 'nonConfidential' }); }, refused: true },
  {
    name: 'a column listed twice in another case', mutate: (s) => { ds(s).columns.push({ name: 'ZIP', attributeType: 'nonConfidential' }); }, refused: true,
    only: { side: 'ts', why: 'the list-map key of columns compares names exactly; the proxy folds them as PostgreSQL folds unquoted names, so the operator, render and the proxy refuse the policy (a CEL rule over 128 columns pairwise would cost too much)' },
  },
  { name: 'rowKey not a column', mutate: (s) => { ds(s).rowKey = 'nope'; }, refused: true },
  { name: 'encrypt and anonymize on one column', mutate: (s) => { column(s, 'name').protection.anonymize = { suppress: {} }; }, refused: true },
  { name: 'encrypt and anonymize in an attribute type\'s default no column uses', mutate: (s) => { s.attributeTypes.identifier.anonymize = { suppress: {} }; }, refused: true },
  { name: 'encrypt and anonymize in the default a column takes', mutate: (s) => { s.attributeTypes.identifier.anonymize = { suppress: {} }; delete column(s, 'name').protection; }, refused: true },
  { name: 'a split backend not in spec.backends', mutate: (s) => { s.backends = ['a', 'c']; }, refused: true },
  { name: 'split columns without a rowKey', mutate: (s) => { delete ds(s).rowKey; }, refused: true },
  { name: 'a point split by coordinates over two listed backends', mutate: (s) => { column(s, 'diagnosis').protection = { split: { coordinates: ['b', 'a'] } }; }, refused: false },
  { name: 'a point split by coordinates to a backend not in spec.backends', mutate: (s) => { column(s, 'diagnosis').protection = { split: { coordinates: ['a', 'c'] } }; }, refused: true },
  { name: 'a point split by coordinates without a rowKey', mutate: (s) => { column(s, 'diagnosis').protection = { split: { coordinates: ['a', 'b'] } }; delete ds(s).rowKey; }, refused: true },
  { name: 'a point split by coordinates to one backend twice', mutate: (s) => { column(s, 'diagnosis').protection = { split: { coordinates: ['b', 'b'] } }; }, refused: true },
  { name: 'a point split by coordinates and encrypted', mutate: (s) => { column(s, 'diagnosis').protection = { split: { coordinates: ['a', 'b'] }, encrypt: { mode: 'deterministic' } }; }, refused: true },
  { name: 'both backend and coordinates', mutate: (s) => { column(s, 'diagnosis').protection = { split: { backend: 'b', coordinates: ['a', 'b'] } }; }, refused: true },
  { name: 'a column without protection of an attribute type with a default', mutate: (s) => { delete column(s, 'name').protection; }, refused: false },
  {
    name: 'kAnonymity columns of one dataset with different k', mutate: (s) => { column(s, 'zip').protection = { anonymize: { kAnonymity: { k: 3 } } }; }, refused: true,
    only: { side: 'ts', why: 'one microaggregation publishes every kAnonymity column of a dataset; the CEL rules do not compare columns\' settings (the message names both columns and their k)' },
  },
  {
    name: 'a policy printed by clarus policy import --partial', mutate: () => undefined, annotations: { 'clarus.io/import-partial': 'splitting dropped' }, refused: true,
    only: { side: 'ts', why: 'a CRD\'s CEL rules cannot read metadata.annotations; the operator, render and the proxy refuse the policy instead' },
  },
  {
    name: 'rowKey names a column that is not a technicalIdentifier', mutate: (s) => { ds(s).rowKey = 'zip'; }, refused: true,
    only: { side: 'api', why: 'a rule on one dataset\'s own fields: the API server refuses the object, so the TypeScript rules never see it in a cluster; `clarus policy validate` reports it through the same CEL rule (cel-js)' },
  },
  {
    name: 'a column split to the default backend', mutate: (s) => { column(s, 'diagnosis').protection.split.backend = 'a'; }, refused: true,
    only: { side: 'api', why: 'as above: a CEL rule on the policy\'s own fields, also run offline through cel-js by `clarus policy validate`' },
  },
  {
    name: 'a searchable deterministic column', mutate: (s) => { column(s, 'diagnosis').protection.encrypt.searchable = true; }, refused: true,
    only: { side: 'api', why: 'a field-level rule of the protection schema (CEL), run offline through cel-js too' },
  },
];

export function verdictManifest(c: VerdictCase): Manifest {
  const spec = base.SecurityPolicy?.() ?? {};
  c.mutate(spec);
  const m = manifest('SecurityPolicy', spec);
  return c.annotations ? { ...m, metadata: { ...m.metadata, annotations: c.annotations } } : m;
}

/** The verdict each side must give: [API server refuses, TypeScript rules refuse]. */
export function expectedVerdict(c: VerdictCase): [boolean, boolean] {
  if (!c.only) return [c.refused, c.refused];
  return [c.only.side === 'api', c.only.side === 'ts'];
}
