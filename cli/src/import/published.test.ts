// Every CLARUS 1.0 policy published in the CLARUS repositories (../shared/data/clarus/policies,
// origin in INDEX.tsv), imported as a user would with `clarus policy import`: per file, either the
// exact SecurityPolicy, which then validates and renders, or the exact refusal with no YAML on
// stdout. A file added to the folder without an expectation here fails the test.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '@clarus/crds/generate.ts';
import type { AttributeType, AttributeTypeDefaults, ColumnSpec, DatasetSpec, SecurityPolicy } from '@clarus/crds/types.ts';
import { formatIssue, validateManifests } from '@clarus/policy/validate/index.ts';
import { main } from '../policy.ts';

const DATA = join(REPO_ROOT, '..', 'shared', 'data', 'clarus');
const POLICIES = join(DATA, 'policies');
/** The boreholes table as the CLARUS test data has it (`boreholesBD/ades_geofla_centroid/<col>`). */
const BOREHOLES = readFileSync(join(DATA, 'boreholes2.txt'), 'latin1').split('\n')[0]?.split(';').map((h) => h.split('/')[2] ?? '') ?? [];
const TABLE = `public.ades_geofla_centroid:${BOREHOLES.join(',')}`;

interface Run { code: number; out: string; err: string }

async function imp(file: string, ...extra: string[]): Promise<Run> {
  const r = { out: '', err: '' };
  const code = await main(['import', join(POLICIES, file), '--name', 'imported', '--namespace', 'ns', ...extra], { out: (s) => { r.out += s; }, err: (s) => { r.err += s; } });
  return { code, ...r };
}

const cols = (type: AttributeType, names: string): ColumnSpec[] => names.split(',').map((name) => ({ name, attributeType: type }));
const ds = (table: string, columns: ColumnSpec[], rowKey?: string): DatasetSpec => ({ name: table.replace(/[._]/g, '-'), table, ...(rowKey ? { rowKey } : {}), columns });
const pattern = (line: number, name: string): string => `line ${line}: attribute "${name}": a pattern; give the tables it means with --table SCHEMA.TABLE[:COL,…] or --catalog FILE; its protection would be lost`;
/** The eHealth record's fields (data_clarus2.txt's header, last parts), by attribute type. */
const EHEALTH_TYPES: Record<string, AttributeType> = {
  ep_id: 'nonConfidential', ep_age: 'quasiIdentifier', ep_range: 'quasiIdentifier', dis_id: 'nonConfidential', dis_adm: 'quasiIdentifier', dis_dis: 'quasiIdentifier',
  dis_days: 'quasiIdentifier', ep_pat: 'identifier', pat_gen: 'quasiIdentifier', pat_zip: 'quasiIdentifier', dia_id: 'confidential',
};
const EHEALTH_ORDER = Object.keys(EHEALTH_TYPES);
const NO_ORDER = ['dis_dis', 'ep_age', 'ep_range', 'dis_id', 'dis_adm', 'pat_gen', 'ep_id', 'dia_id', 'dis_days', 'ep_pat', 'pat_zip'];
/** A <dataset>/<file> of the eHealth record: one dataset on the record table (default `records`), k=5 over the whole record. */
const ehealth = (order: string[], t?: number): Outcome => ({
  attributeTypes: { identifier: { anonymize: { suppress: {} } }, quasiIdentifier: { anonymize: { kAnonymity: { k: 5, ...(t !== undefined ? { tCloseness: t } : {}) } } } },
  datasets: [ds('records', order.map((name) => ({ name, attributeType: EHEALTH_TYPES[name] as AttributeType })))], databases: ['eHealthDB'],
});
const BORE_TEXT = 'nom_com,adresse,code_bss,denominati,type_point,district,circonscri,precision,altitude,prof_max';
const GEOM_MICRO: ColumnSpec = { name: 'geom', attributeType: 'quasiIdentifier', protection: { anonymize: { kAnonymity: { k: 3 } } } };
const GRID: AttributeTypeDefaults = { identifier: { anonymize: { generalize: { shiftMeters: 1000 } } } };
const GEOM_POINTS: ColumnSpec = { name: 'geom', attributeType: 'identifier', protection: { split: { coordinates: ['csp1', 'csp2'] } } };
const NO_ROW_KEY = (table: string): string => `table ${table}: its points are split across backends, which needs a row key to join the parts, and the CLARUS policy replicates no technical_identifier (CLARUS joined by row order); name one with --row-key ${table}=COLUMN`;

type Outcome = { refused: string[] } | { attributeTypes?: AttributeTypeDefaults; datasets: DatasetSpec[]; databases: string[] };
interface Case { plain: Outcome; withTable?: Outcome }

const EXPECTED: Record<string, Case> = {
  S01_anonymization: { plain: ehealth(EHEALTH_ORDER) },
  S02_anonymization: { plain: ehealth(EHEALTH_ORDER) },
  S03_anonymization: { plain: ehealth(EHEALTH_ORDER, 0.1) },
  S04_anonymization: { plain: { refused: [NO_ROW_KEY('meuse')] } },
  S05_anonymization: {
    plain: { attributeTypes: GRID, datasets: [ds('ades_geofla_centroid', [...cols('nonConfidential', `gid,${BORE_TEXT}`), ...cols('identifier', 'geom')])], databases: ['boreholesBD'] },
    withTable: { attributeTypes: GRID, datasets: [ds('public.ades_geofla_centroid', [...cols('nonConfidential', `gid,${BORE_TEXT}`), ...cols('identifier', 'geom')])], databases: ['boreholesBD'] },
  },
  S06_anonymization: {
    plain: { datasets: [ds('ades_geofla_centroid', [...cols('nonConfidential', `gid,${BORE_TEXT}`), GEOM_MICRO])], databases: ['boreholesBD'] },
    withTable: { datasets: [ds('public.ades_geofla_centroid', [...cols('nonConfidential', `gid,${BORE_TEXT}`), GEOM_MICRO])], databases: ['boreholesBD'] },
  },
  S07_anonymization: { plain: ehealth(NO_ORDER) },
  S08_anonymization: { plain: ehealth(NO_ORDER.filter((c) => c !== 'dis_id')) },
  S18_proxy_security: {
    plain: {
      attributeTypes: { identifier: { anonymize: { suppress: {} } }, quasiIdentifier: { anonymize: { kAnonymity: { k: 3, tCloseness: 0.1 } } } },
      datasets: [ds('patient', [...cols('nonConfidential', 'pat_id'), ...cols('identifier', 'pat_name,pat_last1,pat_last2'), ...cols('quasiIdentifier', 'pat_gen'), ...cols('confidential', 'pat_zip')])],
      databases: ['postgres'],
    },
  },
  S19_proxy_boreholes: {
    plain: { refused: [pattern(24, '*/geom')] },
    withTable: { datasets: [ds('public.ades_geofla_centroid', [...cols('nonConfidential', BORE_TEXT), GEOM_MICRO])], databases: ['postgres'] },
  },
  S20_proxy_boreholes: {
    plain: { refused: [pattern(24, '*/geom')] },
    withTable: { attributeTypes: GRID, datasets: [ds('public.ades_geofla_centroid', [...cols('nonConfidential', BORE_TEXT), ...cols('identifier', 'geom')])], databases: ['postgres'] },
  },
  S21_proxy_boreholes: {
    plain: { refused: BORE_TEXT.split(',').map((c, i) => pattern(4 + 2 * i, `*/${c}`)) },
    withTable: {
      attributeTypes: { identifier: { encrypt: { mode: 'randomized', searchable: true, keyName: 'enckey' } } },
      datasets: [ds('public.ades_geofla_centroid', [...cols('identifier', BORE_TEXT), ...cols('nonConfidential', 'geom')])], databases: ['postgres'],
    },
  },
  S22_proxy_boreholes: {
    plain: { refused: [...BORE_TEXT.split(','), 'geom'].map((c, i) => pattern(4 + 2 * i, `*/${c}`)) },
    withTable: {
      attributeTypes: { identifier: { encrypt: { mode: 'deterministic', keyName: '176' } } },
      datasets: [ds('public.ades_geofla_centroid', cols('identifier', `${BORE_TEXT},geom`))], databases: ['postgres'],
    },
  },
  S23_proxy_boreholes: {
    plain: { refused: [pattern(24, '*/geom')] },
    withTable: { datasets: [ds('public.ades_geofla_centroid', [...cols('nonConfidential', BORE_TEXT), GEOM_POINTS, ...cols('technicalIdentifier', 'gid')], 'gid')], databases: ['geodata1', 'geodata2'] },
  },
  S24_proxy_metadata: {
    plain: {
      datasets: [ds('a', cols('nonConfidential', 'c2,c4,c8,c10')), ds('b', cols('nonConfidential', 'c3,c5,c9,c11')), ds('s1.a', cols('nonConfidential', 'c6,c12')), ds('s1.b', cols('nonConfidential', 'c7,c13'))],
      databases: ['postgres'],
    },
  },
  S25_proxy_tcp: { plain: { refused: ['line 3: protocol plugin "TCP/IP": Clarus is a PostgreSQL proxy; CLARUS\'s TCP/IP plugin has no equivalent'] } },
};

const FILES = readdirSync(POLICIES).filter((f) => f.endsWith('.xml')).sort();
const expectationOf = (file: string): Case | undefined => Object.entries(EXPECTED).find(([k]) => file.startsWith(k))?.[1];

/** Import output + a proxy and every Secret it needs, validated and rendered together. */
function renderIssues(yaml: string, keyNames: string[]): string[] {
  const docs = parseAllDocuments(yaml).map((d) => d.toJS() as Record<string, unknown>);
  const backends = docs.filter((d) => d.kind === 'CloudBackend').map((d) => (d.metadata as { name: string }).name);
  const secret = (name: string, stringData: Record<string, string>): Record<string, unknown> => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'ns' }, stringData });
  const extra = [
    { apiVersion: 'clarus.io/v1alpha1', kind: 'ClarusProxy', metadata: { name: 'proxy', namespace: 'ns' }, spec: { policyRef: { name: 'imported' } } },
    secret('imported-keys', Object.fromEntries(['default', ...keyNames].map((k) => [`${k}.v1`, Buffer.alloc(32, 7).toString('base64')]))),
    ...backends.flatMap((b) => [secret(`${b}-creds`, { username: 'u', password: 'p' }), secret(`${b}-readonly-creds`, { username: 'r', password: 'p' }), secret(`${b}-ca`, { 'ca.crt': 'x' })]),
  ];
  return validateManifests([...docs, ...extra].map((doc) => ({ doc, source: 'import' }))).issues.filter((i) => i.severity === 'error').map(formatIssue);
}

async function check(file: string, outcome: Outcome, extra: string[]): Promise<void> {
  const r = await imp(file, ...extra);
  if ('refused' in outcome) {
    expect(r.err.split('\n').filter((l) => l.startsWith('refused: ')).map((l) => l.slice('refused: '.length))).toEqual(outcome.refused);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    return;
  }
  expect(r.err).not.toMatch(/^refused: /m);
  expect(r.code).toBe(0);
  const docs = parseAllDocuments(r.out).map((d) => d.toJS() as Record<string, unknown>);
  const policy = docs[0] as unknown as SecurityPolicy;
  expect(policy.spec.attributeTypes).toEqual(outcome.attributeTypes);
  expect(policy.spec.datasets).toEqual(outcome.datasets);
  expect(docs.slice(1).map((d) => (d.spec as { database: string }).database)).toEqual(outcome.databases);
  const keyNames = Object.values(policy.spec.attributeTypes ?? {}).flatMap((p) => (p?.encrypt?.keyName ? [p.encrypt.keyName] : []));
  expect(renderIssues(r.out, keyNames)).toEqual([]);
}

describe('every published CLARUS 1.0 policy', () => {
  it('has an expectation here (16 files, as INDEX.tsv lists)', () => {
    const index = readFileSync(join(POLICIES, 'INDEX.tsv'), 'utf8').split('\n').slice(1).filter(Boolean).map((l) => l.split('\t')[0]);
    expect(FILES).toEqual(index);
    expect(FILES).toHaveLength(16);
    expect(FILES.filter((f) => !expectationOf(f))).toEqual([]);
  });

  it.each(FILES)('%s: as published', async (file) => {
    await check(file, (expectationOf(file) as Case).plain, []);
  });

  it.each(FILES)('%s: with the boreholes table listed (--table)', async (file) => {
    const c = expectationOf(file) as Case;
    await check(file, c.withTable ?? c.plain, ['--table', TABLE]);
  });

  it('S04 (meuse points split over 2 clouds, no replicated identifier) imports with --row-key, validates and renders', async () => {
    const r = await imp('S04_anonymization-module_properties3_20ec894.xml', '--row-key', 'meuse=gid');
    expect(r.err).not.toMatch(/^refused: /m);
    expect(r.code).toBe(0);
    const docs = parseAllDocuments(r.out).map((d) => d.toJS() as Record<string, unknown>);
    const policy = docs[0] as unknown as SecurityPolicy;
    const meuse = policy.spec.datasets[0] as DatasetSpec;
    expect(meuse.rowKey).toBe('gid');
    expect(meuse.columns.find((c) => c.name === 'gid')).toEqual({ name: 'gid', attributeType: 'technicalIdentifier' });
    expect(meuse.columns.find((c) => c.name === 'geom')).toEqual(GEOM_POINTS);
    expect(policy.spec.backends).toEqual(['csp1', 'csp2']);
    expect(docs.slice(1).map((d) => (d.metadata as { name: string }).name)).toEqual(['csp1', 'csp2']);
    expect(r.out).toContain('# note: --row-key: nonConfidential → technicalIdentifier');
    expect(renderIssues(r.out, ['123'])).toEqual([]);
    expect((await imp('S04_anonymization-module_properties3_20ec894.xml', '--row-key', 'meuse=nope')).err).toContain('refused: table meuse: its points are split across backends, which needs a row key to join the parts, and the CLARUS policy replicates no technical_identifier (CLARUS joined by row order); name one with --row-key meuse=COLUMN (nope is not a column the policy lists)');
    expect((await imp('S04_anonymization-module_properties3_20ec894.xml', '--row-key', 'meuse=cadmium')).err).toContain('refused: --row-key meuse=cadmium: the row key is stored as is on every backend, and the CLARUS policy protects cadmium');
  });

  it('--partial prints a policy that protects less only marked so, and every validator refuses it', async () => {
    const r = await imp('S23_proxy_boreholes_3857_splitting_points_to_points_755ac44.xml', '--partial');
    expect(r.code).toBe(1);
    expect(r.err).toContain('WARNING: --partial: the policy printed PROTECTS LESS than');
    const policy = parseAllDocuments(r.out)[0]?.toJS() as SecurityPolicy;
    expect(policy.metadata.annotations).toEqual({ 'clarus.io/import-partial': `1 refusal(s) of clarus policy import, first: ${pattern(24, '*/geom').slice(0, 200)}` });
    expect(r.out).toContain('# PROTECTS LESS THAN THE XML: line 24: attribute "*/geom"');
    const issues = renderIssues(r.out, []);
    expect(issues.length).toBeGreaterThan(0);
    expect(issues.every((i) => i.includes('metadata.annotations[clarus.io/import-partial]: the policy was imported with --partial and protects less than its source'))).toBe(true);
  });

  it('--dataset-table names the eHealth record table; a malformed name is a usage error with no YAML', async () => {
    const r = await imp('S01_anonymization-module_properties_0f5ad62.xml', '--dataset-table', 'Hospital.Episodes');
    expect(r.code).toBe(0);
    const policy = parseAllDocuments(r.out)[0]?.toJS() as SecurityPolicy;
    expect(policy.spec.datasets.map((d) => [d.name, d.table, d.columns.length])).toEqual([['hospital-episodes', 'hospital.episodes', 11]]);
    expect(r.err).toContain('note: <file>/<dataset>: one record per row of table hospital.episodes (--dataset-table)');
    const bad = await imp('S01_anonymization-module_properties_0f5ad62.xml', '--dataset-table', 'a.b.c');
    expect(bad.code).toBe(2);
    expect(bad.out).toBe('');
    expect(bad.err).toContain('--dataset-table a.b.c: expected TABLE or SCHEMA.TABLE (plain SQL identifiers)');
  });

  it('says each note next to what it is about', async () => {
    const r = await imp('S22_proxy_boreholes_3857_simple_encryption_cab5ccb.xml', '--table', TABLE);
    expect(r.out).toMatch(/ {4}identifier:\n {6}# note: id_key "176" → keyring key 176[^\n]*\n {6}# note: CLARUS "encryption" encryption was deterministic[^\n]*\n {6}encrypt:\n {8}mode: deterministic/);
    expect(r.out).toContain('        # note: line 4: "*/nom_com": pattern expanded against the table list: 1 column(s) in public.ades_geofla_centroid\n        - name: nom_com\n');
    expect(r.err).toContain('note: patterns were expanded against the tables known at import (--table, --catalog, --from-backend); a table created later is not covered until the import is run again');
    const s06 = await imp('S06_anonymization-module_properties5_e7cbfe0.xml');
    expect(s06.out).toMatch(/# note: coarsening microaggregation k=3 → kAnonymity k=3[^\n]*declared quasiIdentifier[^\n]*\n {8}- name: geom\n/);
  });
});
