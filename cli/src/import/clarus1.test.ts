// CLARUS 1.0 import: each fixture maps to the expected policy, the result passes validation, and
// what cannot be mapped is reported with its line and reason.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@clarus/crds/generate.ts';
import { formatIssue, validateManifests } from '@clarus/policy/validate/index.ts';
import { importClarus1, type ImportResult } from './clarus1.ts';
import { parseXml, XmlError } from './xml.ts';

const FIX = join(REPO_ROOT, 'cli/test/fixtures/clarus1');

async function imp(file: string, extra: { wildcardTable?: string } = {}): Promise<ImportResult> {
  return importClarus1(await readFile(join(FIX, file), 'utf8'), { name: 'imported', namespace: 'hospital', ...extra });
}

function errorsOf(r: ImportResult): string[] {
  const docs = [r.policy, ...r.backends].map((doc) => ({ doc: JSON.parse(JSON.stringify(doc)) as unknown, source: 'import' }));
  return validateManifests(docs).issues.filter((i) => i.severity === 'error').map(formatIssue);
}

describe('clarus policy import', () => {
  it('maps the anonymization module: suppression, k-anonymity with t-closeness, backend from cspN', async () => {
    const r = await imp('ehealth-anonymization.xml');
    expect(r.unmapped).toEqual([]);
    expect(r.policy.spec.attributeTypes).toEqual({
      identifier: { anonymize: { suppress: {} } },
      quasiIdentifier: { anonymize: { kAnonymity: { k: 3, tCloseness: 0.2 } } },
    });
    expect(r.policy.spec.datasets).toEqual([{
      name: 'public-patient', table: 'public.patient', columns: [
        { name: 'pat_id', attributeType: 'technicalIdentifier' }, { name: 'pat_name', attributeType: 'identifier' },
        { name: 'pat_zip', attributeType: 'quasiIdentifier' }, { name: 'pat_birth', attributeType: 'quasiIdentifier' },
        { name: 'diagnosis', attributeType: 'confidential' }, { name: 'ward', attributeType: 'nonConfidential' },
      ],
    }]);
    expect(r.backends.map((b) => b.spec)).toEqual([{ host: 'pg.cloud-a.example', port: 5433, database: 'ehealth', credentialsSecretRef: { name: 'csp1-creds' }, readOnlyCredentialsSecretRef: { name: 'csp1-readonly-creds' }, tls: { mode: 'verify-full', caSecretRef: { name: 'csp1-ca' } } }]);
    expect(errorsOf(r)).toEqual([]);
  });

  it('maps encryption and searchable encryption with id_key as keyring key names', async () => {
    const enc = await imp('boreholes-encryption.xml');
    expect(enc.policy.spec.attributeTypes).toEqual({ identifier: { encrypt: { mode: 'randomized', keyName: '176' } } });
    expect(enc.notes.some((n) => n.includes('id_key "176" → keyring key 176'))).toBe(true);
    const se = await imp('searchable.xml');
    expect(se.policy.spec.attributeTypes).toEqual({ identifier: { encrypt: { mode: 'randomized', searchable: true, keyName: 'enckey' } } });
    expect(errorsOf(enc)).toEqual([]);
    expect(errorsOf(se)).toEqual([]);
  });

  it('maps splitting: replicated technical identifier becomes the row key, clouds="2" a split to csp2', async () => {
    const r = await imp('splitting.xml');
    expect(r.unmapped).toEqual([]);
    expect(r.policy.spec.backends).toEqual(['csp1', 'csp2']);
    expect(r.policy.spec.datasets[0]).toEqual({
      name: 'patient', table: 'patient', rowKey: 'pat_id', columns: [
        { name: 'pat_id', attributeType: 'technicalIdentifier' },
        { name: 'pat_name', attributeType: 'identifier' },
        { name: 'diagnosis', attributeType: 'confidential', protection: { split: { backend: 'csp2' } } },
      ],
    });
    expect(r.policy.spec.attributeTypes?.identifier).toEqual({ encrypt: { mode: 'randomized', keyName: 'names' } });
    expect(r.backends.map((b) => b.spec.database)).toEqual(['patients1', 'patients2']);
    expect(errorsOf(r)).toEqual([]);
  });

  it('turns an empty <data/> into a pass-through policy', async () => {
    const r = await imp('passthrough.xml');
    expect(r.unmapped).toEqual([]);
    expect(r.policy.spec.datasets).toEqual([]);
    expect(r.policy.spec.attributeTypes).toBeUndefined();
    expect(r.notes).toContain('no attributes in <data>: pass-through policy (nothing is protected)');
    expect(errorsOf(r)).toEqual([]);
  });

  it('reports precisely what cannot be mapped', async () => {
    const r = await imp('unmappable.xml');
    expect(r.unmapped).toEqual([
      'line 4: attribute "*/nom_com": a table wildcard cannot be mapped; name the table, or pass --wildcard-table TABLE',
      'line 5: attribute "boreholes/*": a column wildcard cannot be mapped; a SecurityPolicy lists its columns by name',
      'line 7: attribute_type "secret" is not one of identifier, quasi_identifier, confidential, non_confidential, technical_identifier',
      'line 19: protocol plugin "WFS": only PostgreSQL is supported',
      'line 20: protocol parameter "endpoint" is not cspN',
      'line 11: splitting_type "points" (splitting each value across 2 clouds) is not supported; the whole column is placed on csp2 instead',
      'line 16: protection module "homomorphic" is not supported (encryption, searchable encryption, anonymization, splitting)',
      'table boreholes: split columns are joined on a row key, but no attribute of the table is a technical_identifier',
    ]);
  });

  it('maps a table wildcard when told which table it means', async () => {
    const r = await imp('unmappable.xml', { wildcardTable: 'public.boreholes' });
    expect(r.policy.spec.datasets.map((d) => d.table)).toEqual(['public.boreholes', 'boreholes']);
    expect(r.notes).toContain('line 4: table wildcard in "*/nom_com" mapped to public.boreholes');
  });
});

describe('XML reader', () => {
  it('reads attributes in either quote style, entities, comments and self-closing elements', () => {
    const root = parseXml('<?xml version="1.0"?>\n<!-- c --><a x=\'1\' y="&lt;&amp;&#65;"><b/><c>text</c></a>');
    expect(root).toMatchObject({ name: 'a', attrs: { x: '1', y: '<&A' }, children: [{ name: 'b' }, { name: 'c' }] });
  });

  it.each([
    ['<a><b></a>', /line 1: expected <\/b>/],
    ['<a x="1" x="2"/>', /duplicate attribute x/],
    ['<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a/>', /DOCTYPE is not allowed/],
    ['<a>\n<b>', /<b> is not closed/],
    ['<a/><b/>', /content after the root element/],
    ['<a y="&bogus;"/>', /unknown entity/],
  ])('rejects %s', (xml, message) => {
    expect(() => parseXml(xml)).toThrow(XmlError);
    expect(() => parseXml(xml)).toThrow(message);
  });
});
