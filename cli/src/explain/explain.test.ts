// `explain`: the table states each column's protection, placement and leak; --sql finds the
// protected columns a statement references with the real PostgreSQL parser.
import { describe, expect, it } from 'vitest';
import type { SecurityPolicy } from '@clarus/crds/types.ts';
import { analyzeSql } from './sql.ts';
import { explainPolicy, policyDatasets } from './table.ts';

const policy: SecurityPolicy = {
  apiVersion: 'clarus.io/v1alpha1', kind: 'SecurityPolicy', metadata: { name: 'p', namespace: 'ns' },
  spec: {
    backends: ['a', 'b'], keyring: { secretName: 'k' },
    attributeTypes: { identifier: { encrypt: { mode: 'randomized' } } },
    datasets: [{
      name: 'people', table: 'people', rowKey: 'id', columns: [
        { name: 'id', attributeType: 'technicalIdentifier' },
        { name: 'name', attributeType: 'identifier' },
        { name: 'ssn', attributeType: 'identifier', protection: { encrypt: { mode: 'randomized', searchable: true } } },
        { name: 'city', attributeType: 'quasiIdentifier', protection: { anonymize: { pseudonymize: {} } } },
        { name: 'salary', attributeType: 'confidential', protection: { split: { backend: 'b' }, encrypt: { mode: 'deterministic' } } },
        { name: 'note', attributeType: 'nonConfidential' },
      ],
    }],
  },
};

describe('explain', () => {
  it('prints one row per column with protection, backend and leak', () => {
    const lines = explainPolicy(policy).split('\n');
    const row = (c: string) => lines.find((l) => l.includes(`public.people.${c} `)) ?? '';
    expect(row('name')).toMatch(/identifier\s+encrypt randomized \(key default\)\s+a\s+length and NULL-ness only$/);
    expect(row('ssn')).toMatch(/\+blind index.*equality of values that are searched/);
    expect(row('city')).toMatch(/pseudonymize hex.*equality and frequency of values \(linkable across tables\)$/);
    expect(row('salary')).toMatch(/encrypt deterministic \(key default\), split → b\s+b\s+equality and frequency of values, length; only b sees it, linked by the row key$/);
    expect(row('note')).toMatch(/none \(stored as is\)\s+a\s+the plaintext value$/);
    expect(lines[0]).toBe('SecurityPolicy ns/p: default backend a, unsupported statements: reject');
  });

  it('a point split by coordinates: per backend, the hidden part it holds and that no backend holds the point', () => {
    const points: SecurityPolicy = { ...policy, spec: { ...policy.spec, backends: ['a', 'b', 'c'], datasets: [{ name: 'sites', table: 'sites', rowKey: 'gid', columns: [
      { name: 'gid', attributeType: 'technicalIdentifier' },
      { name: 'geom', attributeType: 'identifier', protection: { split: { coordinates: ['b', 'c'] } } },
    ] }] } };
    const lines = explainPolicy(points).split('\n');
    expect(lines.find((l) => l.includes('public.sites.geom '))).toMatch(/split by coordinates → X b, Y c, SRID a\s+b \+ c\s+its SRID only; X is on b, Y on c: no backend holds the point$/);
    expect(lines.filter((l) => /^[abc] +sites/.test(l)).map((l) => l.replace(/ {2,}/g, ' | '))).toEqual([
      'a | sites | gid, geom__srid + columns the policy does not list | geom: its SRID only; X is on b, Y on c: no backend holds the point',
      'b | sites | gid, geom__x | geom: its X coordinate (in clear, linked by the row key); not the point',
      'c | sites | gid, geom__y | geom: its Y coordinate (in clear, linked by the row key); not the point',
    ]);
  });

  it('--sql lists the protected columns a statement references, and nothing for other tables', async () => {
    const { datasets, defaultBackend } = policyDatasets(policy);
    const a = await analyzeSql("SELECT p.name, note FROM people p WHERE ssn = '1'; UPDATE people SET salary = 1", datasets, defaultBackend);
    expect(a.statements).toBe(2);
    expect(a.rows.map((r) => r[1])).toEqual(['public.people.name', 'public.people.ssn', 'public.people.salary']);
    const star = await analyzeSql('SELECT * FROM public.people', datasets, defaultBackend);
    expect(star.rows.map((r) => r[1])).toEqual(['public.people.name', 'public.people.ssn', 'public.people.city', 'public.people.salary']);
    const insert = await analyzeSql("INSERT INTO people (id, name) VALUES (1, 'a')", datasets, defaultBackend);
    expect(insert.rows.map((r) => r[1])).toEqual(['public.people.name']);
    const other = await analyzeSql('SELECT name FROM other.people', datasets, defaultBackend);
    expect(other.rows).toEqual([]);
    await expect(analyzeSql('SELEC 1', datasets, defaultBackend)).rejects.toThrow(/syntax error/);
  });
});
