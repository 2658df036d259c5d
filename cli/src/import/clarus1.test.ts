// CLARUS 1.0 import, construct by construct: each form maps to the expected policy, which passes
// validation, or is refused with its line and reason when the result would protect less. The
// published CLARUS files themselves are in published.test.ts.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@clarus/crds/generate.ts';
import { formatIssue, validateManifests } from '@clarus/policy/validate/index.ts';
import { importClarus1, type ImportResult } from './clarus1.ts';
import type { CatalogTable } from './names.ts';
import { parseXml, XmlError } from './xml.ts';

const FIX = join(REPO_ROOT, 'cli/test/fixtures/clarus1');

async function imp(file: string): Promise<ImportResult> {
  return importClarus1(await readFile(join(FIX, file), 'utf8'), { name: 'imported', namespace: 'hospital' });
}

function errorsOf(r: ImportResult): string[] {
  const docs = [r.policy, ...r.backends].map((doc) => ({ doc: JSON.parse(JSON.stringify(doc)) as unknown, source: 'import' }));
  return validateManifests(docs).issues.filter((i) => i.severity === 'error').map(formatIssue);
}

function xml(body: string, protection: string, protocol = '<protocol plugin="PostgreSQL"/>'): string {
  return `<?xml version="1.0"?>\n<schema>\n${body}\n${protection}\n${protocol}\n</schema>`;
}
const rule = (module: string, rules: string): string => `<protection module="${module}"><attribute_types>${rules}</attribute_types></protection>`;
const inline = (text: string, tables?: CatalogTable[]): ImportResult => importClarus1(text, { name: 'imported', namespace: 'hospital', ...(tables ? { tables } : {}) });

describe('clarus policy import', () => {
  it('maps the anonymization module: suppression, k-anonymity with t-closeness, backend from cspN', async () => {
    const r = await imp('ehealth-anonymization.xml');
    expect(r.refusals).toEqual([]);
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

  it('maps CLARUS encryption to deterministic (as CLARUS was) and searchable to randomized with a blind index, each with its note', async () => {
    const enc = await imp('boreholes-encryption.xml');
    expect(enc.policy.spec.attributeTypes).toEqual({ identifier: { encrypt: { mode: 'deterministic', keyName: '176' } } });
    expect(enc.typeNotes.identifier?.[0]).toBe('id_key "176" → keyring key 176 (clarus keys generate --key 176)');
    expect(enc.typeNotes.identifier?.[1]).toMatch(/^CLARUS "encryption" encryption was deterministic \(equality was pushed to the cloud\) → deterministic/);
    const se = await imp('searchable.xml');
    expect(se.policy.spec.attributeTypes).toEqual({ identifier: { encrypt: { mode: 'randomized', searchable: true, keyName: 'enckey' } } });
    expect(se.typeNotes.identifier?.[1]).toMatch(/CLARUS also served <, <=, >, >= on these columns, which the proxy now refuses/);
    expect(errorsOf(enc)).toEqual([]);
    expect(errorsOf(se)).toEqual([]);
  });

  it('compares module, plugin, protection and type names case-insensitively, and accepts "simple" and "supression"', () => {
    const r = inline(xml('<DATA><attribute name="t/a" attribute_type="IDENTIFIER"/><attribute name="t/b" attribute_type="Confidential"/></DATA>',
      rule('Anonymization', '<attribute_type type="Identifier" protection="Supression"/>') + rule('ENCRYPTION', '<attribute_type type="confidential" protection="Simple" id_key="k"/>'),
      '<protocol plugin="postgresql"/>'));
    expect(r.refusals).toEqual([]);
    expect(r.policy.spec.attributeTypes).toEqual({ identifier: { anonymize: { suppress: {} } }, confidential: { encrypt: { mode: 'deterministic', keyName: 'k' } } });
    expect(r.typeNotes.identifier?.[0]).toBe('"supression" (so spelled in published CLARUS files, which CLARUS accepted) read as suppression');
  });

  it('finds <attribute> in <data>, <dataset>, <file> and unknown elements, and reports what it drops', () => {
    const r = inline(xml('<file header="yes" record_separator=";"><attribute name="t/a" attribute_type="identifier" data_type="text" extra="1"/></file><dataset><attribute name="t/b" attribute_type="identifier"/></dataset><group><attribute name="t/c" attribute_type="identifier"/></group>',
      rule('anonymization', '<attribute_type type="identifier" protection="suppression"/>'), '<protocol plugin="PostgreSQL" listen="5432"><parameter param="endpoint" value="x"/></protocol>'));
    expect(r.refusals).toEqual([]);
    expect(r.policy.spec.datasets).toEqual([{ name: 't', table: 't', columns: [{ name: 'a', attributeType: 'identifier' }, { name: 'b', attributeType: 'identifier' }, { name: 'c', attributeType: 'identifier' }] }]);
    expect(r.notes).toEqual(expect.arrayContaining([
      'line 5: listen="5432" dropped: the port clients connect to is the ClarusProxy\'s spec.service.port',
      'line 5: <parameter param="endpoint"> in <protocol> dropped: only cspN parameters name a backend',
      'line 3: <file header="yes"> dropped: it describes a file format; Clarus protects tables',
      'line 3: <file record_separator=";"> dropped: it describes a file format; Clarus protects tables',
      'line 3: extra="1" on <attribute> is not a CLARUS 1.0 setting; ignored, as CLARUS did',
      'line 3: <group> is not a CLARUS 1.0 element; CLARUS ignored it and so does the import (its attributes are still read)',
      'data_type (text) dropped: the proxy reads each column\'s type from the database',
    ]));
  });

  describe('<file>/<dataset>: one record per row of one table, as the anonymization module read its file', () => {
    const anon = rule('anonymization', '<attribute_type type="identifier" protection="suppression"/><attribute_type type="quasi_identifier" protection="k-anonymity" k="4"/><attribute_type type="confidential" protection="t-closeness" t="0.2"/>');
    const record = '<dataset><attribute name="db/episode/ep_age" attribute_type="quasi_identifier"/><attribute name="db/patient/pat_zip" attribute_type="quasi_identifier"/><attribute name="db/episode/ep_pat" attribute_type="identifier"/><attribute name="db/document_diagnose/dia_id" attribute_type="confidential"/></dataset>';
    const recordCols = [{ name: 'ep_age', attributeType: 'quasiIdentifier' }, { name: 'pat_zip', attributeType: 'quasiIdentifier' }, { name: 'ep_pat', attributeType: 'identifier' }, { name: 'dia_id', attributeType: 'confidential' }];
    const withTable = (body: string, rules: string, datasetTable?: { schema?: string; table: string }): ImportResult =>
      importClarus1(xml(body, rules, ''), { name: 'imported', namespace: 'hospital', ...(datasetTable ? { datasetTable } : {}) });

    it('maps attributes spread over several tables to one dataset on the record table (default records), k and t over whole records', () => {
      const r = withTable(record, anon);
      expect(r.refusals).toEqual([]);
      expect(r.policy.spec.datasets).toEqual([{ name: 'records', table: 'records', columns: recordCols }]);
      expect(r.policy.spec.attributeTypes?.quasiIdentifier).toEqual({ anonymize: { kAnonymity: { k: 4, tCloseness: 0.2 } } });
      expect(r.columnNotes['records/pat_zip']).toEqual(['line 3: "db/patient/pat_zip" → pat_zip: a field of CLARUS\'s record (patient in the name), a column of the record table records']);
      expect(r.notes.find((n) => n.startsWith('<file>/<dataset>'))).toMatch(/table records \(the default; choose it with --dataset-table.*The tables the names give \(episode, patient, document_diagnose\) are not datasets of this policy/);
      expect(r.backends.map((b) => b.spec.database)).toEqual(['db']);
      expect(errorsOf(r)).toEqual([]);
    });

    it('--dataset-table names the record table, also for a record of one table; <data> keeps its tables', () => {
      const r = withTable(`${record}<data><attribute name="patient/pat_name" attribute_type="identifier"/></data>`, anon, { schema: 'hosp', table: 'visits' });
      expect(r.refusals).toEqual([]);
      expect(r.policy.spec.datasets).toEqual([
        { name: 'patient', table: 'patient', columns: [{ name: 'pat_name', attributeType: 'identifier' }] },
        { name: 'hosp-visits', table: 'hosp.visits', columns: recordCols },
      ]);
      const one = withTable('<file><attribute name="meuse/geom" attribute_type="identifier"/></file>', anon, { table: 'soil' });
      expect(one.policy.spec.datasets).toEqual([{ name: 'soil', table: 'soil', columns: [{ name: 'geom', attributeType: 'identifier' }] }]);
      expect(withTable('<file><attribute name="meuse/geom" attribute_type="identifier"/></file>', anon).policy.spec.datasets[0]?.table).toBe('meuse');
    });

    it('refuses two fields whose names end alike (one table cannot hold both), and a protected field named by a pattern', () => {
      const clash = withTable('<dataset><attribute name="db/episode/id" attribute_type="quasi_identifier"/><attribute name="db/patient/id" attribute_type="identifier"/><attribute name="db/patient/x" attribute_type="quasi_identifier"/></dataset>', anon);
      expect(clash.refusals).toEqual(['line 3: attribute "db/patient/id" and "db/episode/id" (line 3) both end in "id": CLARUS\'s record held them as two fields, the record table records cannot hold two columns of one name, and merging them would protect one field under the other\'s rule; rename one in the XML']);
      const same = withTable('<dataset><attribute name="db/episode/id" attribute_type="non_confidential"/><attribute name="db/patient/id" attribute_type="non_confidential"/></dataset>', anon);
      expect(same.refusals).toHaveLength(1);
      const pat = withTable('<dataset><attribute name="a/ge*" attribute_type="identifier"/><attribute name="b/dist.m" attribute_type="non_confidential"/></dataset>', anon);
      expect(pat.refusals).toEqual(['line 3: attribute "a/ge*": "ge*" names no column of the record table records: a pattern; its protection would be lost']);
      expect(pat.notes).toContain('line 3: attribute "b/dist.m" dropped ("dist.m" names no column of the record table records: not a plain SQL identifier); it asks for no protection, and columns a policy does not list pass through as they are');
    });
  });

  it('resolves every name form against the table list: col, table/col, db/table/col, db/schema.table/col, * anywhere', () => {
    const tables: CatalogTable[] = [
      { schema: 'public', table: 'boreholes', columns: ['gid', 'geom', 'code_bss'] }, { schema: 'geo', table: 'boreholes', columns: ['gid', 'geom'] },
      { schema: 'geo', table: 'wells', columns: ['geom', 'depth'] }, { schema: 'public', table: 'other' },
    ];
    const enc = rule('encryption', '<attribute_type type="identifier" protection="encryption"/>');
    const one = (name: string): string[] => inline(xml(`<data><attribute name="${name}" attribute_type="identifier"/></data>`, enc), tables).policy.spec.datasets
      .flatMap((d) => d.columns.map((c) => `${d.table}.${c.name}`));
    expect(one('geom')).toEqual(['public.boreholes.geom', 'geo.boreholes.geom', 'geo.wells.geom', 'public.other.geom']);
    expect(one('boreholes/geom')).toEqual(['public.boreholes.geom', 'geo.boreholes.geom']);
    expect(one('db/geo.boreholes/geom')).toEqual(['geo.boreholes.geom']);
    expect(one('*/geo.*/geom')).toEqual(['geo.boreholes.geom', 'geo.wells.geom']);
    expect(one('db/*.b*/ge*')).toEqual(['public.boreholes.geom', 'geo.boreholes.geom']);
    expect(one('public.boreholes/*')).toEqual(['public.boreholes.gid', 'public.boreholes.geom', 'public.boreholes.code_bss']);
    expect(inline(xml('<data><attribute name="*/ge*" attribute_type="identifier"/></data>', enc), tables).refusals)
      .toEqual(['line 3: attribute "*/ge*": column pattern "ge*" needs the columns of public.other; list them (--table public.other:COL,…); its protection would be lost']);
  });

  it('merges the spellings of one table into one dataset (the rewriter kept only the later one)', () => {
    const r = inline(xml('<data><attribute name="patient/pat_name" attribute_type="identifier"/><attribute name="public.patient/pat_ssn" attribute_type="identifier"/><attribute name="db/PUBLIC.Patient/pat_name" attribute_type="identifier"/></data>',
      rule('encryption', '<attribute_type type="identifier" protection="encryption"/>')));
    expect(r.refusals).toEqual([]);
    expect(r.policy.spec.datasets).toEqual([{ name: 'patient', table: 'patient', columns: [{ name: 'pat_name', attributeType: 'identifier' }, { name: 'pat_ssn', attributeType: 'identifier' }] }]);
    expect(errorsOf(r)).toEqual([]);
    // The first spelling names the dataset, folded as PostgreSQL folds unquoted names (the proxy matches it so).
    const upper = inline(xml('<data><attribute name="db/PUBLIC.Patient/Pat_Name" attribute_type="identifier"/><attribute name="patient/pat_ssn" attribute_type="identifier"/><attribute name="public.patient/pat_name" attribute_type="identifier"/></data>',
      rule('encryption', '<attribute_type type="identifier" protection="encryption"/>')));
    expect(upper.refusals).toEqual([]);
    expect(upper.policy.spec.datasets).toEqual([{ name: 'public-patient', table: 'public.patient', columns: [{ name: 'pat_name', attributeType: 'identifier' }, { name: 'pat_ssn', attributeType: 'identifier' }] }]);
  });

  it('refuses what would protect less, with the line and the reason', () => {
    const refusals = (body: string, rules: string, protocol?: string): string[] => inline(xml(`<data>${body}</data>`, rules, protocol)).refusals;
    const id = '<attribute name="t/a" attribute_type="identifier"/>';
    const anon = (attrs: string): string => rule('anonymization', `<attribute_type type="identifier" protection="coarsening" ${attrs}/>`);
    expect(refusals(id, anon('coarsening_type="shift"'))).toEqual(['line 4: coarsening shift needs radius; CLARUS has no default the import could copy']);
    expect(refusals(id, anon('coarsening_type="shift" radius="-3"'))).toEqual(['line 4: radius="-3" must be a positive number (meters)']);
    expect(refusals(id, anon('coarsening_type="microaggregation"'))).toEqual(['line 4: protection "coarsening" needs k; CLARUS has no default the import could copy']);
    expect(refusals(id, anon('coarsening_type="blur" k="3"'))).toEqual(['line 4: coarsening_type "blur" is not one CLARUS 1.0 defines (shift, microaggregation)']);
    expect(refusals('<attribute name="t/a" attribute_type="confidential"/>', rule('splitting', '<attribute_type type="confidential" protection="splitting" clouds="3"/>')))
      .toEqual(['line 4: CLARUS splitting spreads each value over 3 cloud(s) so that no cloud holds it whole; Clarus places a whole column on one backend, which would then hold the value whole: not representable']);
    expect(refusals(id, rule('splitting', '<attribute_type type="identifier" protection="splitting" clouds="2" splitting_type="lines"/>')))
      .toEqual(['line 4: splitting_type "lines" spreads each value over 2 cloud(s) so that no cloud holds it whole; Clarus places a whole column on one backend, which would then hold the value whole: not representable']);
    expect(refusals(id, rule('homomorphic', '<attribute_type type="identifier" protection="paillier"/>')))
      .toEqual(['line 4: protection module "homomorphic" is not one CLARUS 1.0 defines (encryption, searchable encryption, anonymization, splitting)']);
    expect(refusals(id, rule('encryption', '<attribute_type type="identifier" protection="encryption" mode="cbc"/>')))
      .toEqual(['line 4: parameter mode="cbc" of protection "encryption" has no Clarus equivalent']);
    expect(refusals('<attribute name="t/a" attribute_type="secret"/>', ''))
      .toEqual(['line 3: attribute "t/a": attribute_type "secret" is not one of identifier, quasi_identifier, confidential, non_confidential, technical_identifier; the import cannot tell how it was meant to be protected']);
    expect(refusals('<attribute name="t/dist.m" attribute_type="identifier"/>', rule('encryption', '<attribute_type type="identifier" protection="encryption"/>')))
      .toEqual(['line 3: attribute "t/dist.m": "dist.m" in t is not a plain SQL identifier, which a SecurityPolicy column must be; its protection would be lost']);
    expect(refusals('<attribute name="t/a" attribute_type="confidential"/>', rule('anonymization', '<attribute_type type="confidential" protection="t-closeness" t="0.2"/>')))
      .toEqual(['t-closeness t=0.2 needs k-anonymity of the quasi-identifiers, which the policy does not ask for']);
    expect(refusals(`${id}<attribute name="T/A" attribute_type="confidential"/>`, ''))
      .toEqual(['line 3: column t.a is also identifier (line 3); CLARUS\'s choice between the two cannot be told']);
    expect(refusals(id, rule('encryption', '<attribute_type type="identifier" protection="encryption"/>') + rule('anonymization', '<attribute_type type="identifier" protection="suppression"/>')))
      .toEqual(['line 4: identifier gets two protections from different rules; Clarus applies one protection per column']);
    expect(refusals(id, '', '<protocol plugin="HTTP"/>')).toEqual(['line 5: protocol plugin "HTTP": Clarus is a PostgreSQL proxy; CLARUS\'s HTTP plugin has no equivalent']);
  });

  it('maps a non-integer shift radius to shiftMeters rounded up, and splitting on one cloud to the default backend', () => {
    const r = inline(xml('<data><attribute name="t/geom" attribute_type="identifier"/><attribute name="t/gid" attribute_type="technical_identifier"/><attribute name="t/x" attribute_type="non_confidential"/></data>',
      rule('anonymization', '<attribute_type type="identifier" protection="coarsening" coarsening_type="shift" radius="12.5"/>')
      + rule('splitting', '<attribute_type type="technical_identifier" protection="replicate" clouds="2"/><attribute_type type="non_confidential" protection="splitting" clouds="1"/>')));
    expect(r.refusals).toEqual([]);
    expect(r.policy.spec.attributeTypes).toEqual({ identifier: { anonymize: { generalize: { shiftMeters: 13 } } } });
    expect(r.policy.spec.datasets[0]?.rowKey).toBe('gid');
    expect(r.notes).toContain('nonConfidential: splitting on 1 cloud → stored whole on the default backend, as in CLARUS');
    expect(errorsOf(r)).toEqual([]);
  });

  it('maps splitting of geometric identifiers (points, 2 or more clouds) to split.coordinates on csp1 and csp2, stubbing a missing backend', () => {
    const split = (attrs: string): ReturnType<typeof inline> => inline(xml('<data><attribute name="t/geom" attribute_type="identifier"/><attribute name="t/gid" attribute_type="technical_identifier"/></data>',
      rule('splitting', `<attribute_type type="technical_identifier" protection="replicate" clouds="2"/><attribute_type type="identifier" protection="splitting" ${attrs}/>`)));
    for (const attrs of ['clouds="2" splitting_type="points"', 'clouds="2"', 'CLOUDS="3" Splitting_Type="Points"'.toLowerCase()]) {
      const r = split(attrs);
      expect(r.refusals, attrs).toEqual([]);
      expect(r.policy.spec.datasets[0]).toEqual({ name: 't', table: 't', rowKey: 'gid', columns: [
        { name: 'geom', attributeType: 'identifier', protection: { split: { coordinates: ['csp1', 'csp2'] } } }, { name: 'gid', attributeType: 'technicalIdentifier' }] });
      expect(r.backends.map((b) => b.metadata.name)).toEqual(['csp1', 'csp2']);
      expect(r.columnNotes['t/geom']?.[0]).toMatch(/^splitting( points)? over [23] clouds → split.coordinates \[csp1, csp2\]/);
      expect(errorsOf(r)).toEqual([]);
    }
    const noKey = inline(xml('<data><attribute name="t/geom" attribute_type="identifier"/></data>', rule('splitting', '<attribute_type type="identifier" protection="splitting" clouds="2"/>')));
    expect(noKey.refusals).toEqual(['table t: its points are split across backends, which needs a row key to join the parts, and the CLARUS policy replicates no technical_identifier (CLARUS joined by row order); name one with --row-key t=COLUMN']);
  });

  it('drops, with a note, what protected nothing and cannot be placed', () => {
    const r = inline(xml('<data><attribute name="c1" attribute_type="non_confidential"/><attribute name="t/dist.m" attribute_type="non_confidential"/></data>', ''));
    expect(r.refusals).toEqual([]);
    expect(r.policy.spec.datasets).toEqual([]);
    expect(r.notes).toContain('line 3: attribute "c1" dropped (a pattern; give the tables it means with --table SCHEMA.TABLE[:COL,…] or --catalog FILE); it asks for no protection, and columns a policy does not list pass through as they are');
    expect(r.notes).toContain('no attribute reaches a table: a pass-through policy (the CLARUS policy protects nothing either)');
  });

  it('turns an empty <data/> into a pass-through policy', async () => {
    const r = await imp('passthrough.xml');
    expect(r.refusals).toEqual([]);
    expect(r.policy.spec.datasets).toEqual([]);
    expect(r.policy.spec.attributeTypes).toBeUndefined();
    expect(r.notes).toContain('no attribute reaches a table: a pass-through policy (the CLARUS policy protects nothing either)');
    expect(errorsOf(r)).toEqual([]);
  });

  it('refuses a file with every unmappable construct, listing each', async () => {
    const r = await imp('unmappable.xml');
    expect(r.refusals).toEqual([
      'line 7: attribute "boreholes/depth": attribute_type "secret" is not one of identifier, quasi_identifier, confidential, non_confidential, technical_identifier; the import cannot tell how it was meant to be protected',
      'line 19: protocol plugin "WFS": Clarus is a PostgreSQL proxy; CLARUS\'s WFS plugin has no equivalent',
      'line 16: protection module "homomorphic" is not one CLARUS 1.0 defines (encryption, searchable encryption, anonymization, splitting)',
      'line 4: attribute "*/nom_com": a pattern; give the tables it means with --table SCHEMA.TABLE[:COL,…] or --catalog FILE; its protection would be lost',
      'line 5: attribute "boreholes/*": a pattern; give the tables it means with --table SCHEMA.TABLE[:COL,…] or --catalog FILE; its protection would be lost',
      'table boreholes: its points are split across backends, which needs a row key to join the parts, and the CLARUS policy replicates no technical_identifier (CLARUS joined by row order); name one with --row-key boreholes=COLUMN',
    ]);
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
