// The split tables' objects on other backends, as the catalog loader reads them (objectsQuery's rows).
import { describe, expect, it } from 'vitest';
import { objectsFromRows, objectsQuery } from './catalog-loader.ts';

describe('objects of a split table on another backend', () => {
  it('the query leaves out the primary key and the type records, and asks for both definition forms', () => {
    const sql = objectsQuery([{ schema: 'public', table: 'pt' } as never]);
    expect(sql).toContain('NOT i.indisprimary');
    expect(sql).toContain("NOT LIKE 'clarus:%'");
    expect(sql).toContain('pg_get_indexdef(i.indexrelid, 0, true)');
    expect(sql).toContain("('public', 'pt')");
    // Operator classes and collations by name: their ids are the other backend's.
    expect(sql).toContain('LEFT JOIN pg_catalog.pg_opclass o ON o.oid = x.id');
  });

  it('an index row carries its access method, key count, operator classes and collations by name, and options', () => {
    const row = ['public', 'pt', 'index', 'pt_w', 'false', 'false', 'CREATE INDEX pt_w ON public.pt USING hash (ward)', 'CREATE INDEX pt_w ON public.pt USING hash (ward)', '["ward","diag"]', '', '', '',
      'hash', '1', '[["pg_catalog","text_ops"]]', '[["pg_catalog","default"]]', '0'];
    expect(objectsFromRows([row]).get('public.pt')?.[0]?.index).toEqual({ am: 'hash', keys: 1, classes: '[["pg_catalog","text_ops"]]', collations: '[["pg_catalog","default"]]', options: '0' });
  });

  it('rows become objects per table; a blind index is named as its column', () => {
    const rows = [
      ['public', 'pt', 'index', 'pt_diag_idx', 'false', 'true', 'CREATE INDEX pt_diag_idx ON public.pt USING btree (diagnosis__bidx)', 'CREATE INDEX pt_diag_idx ON public.pt USING btree (diagnosis__bidx)', '["diagnosis__bidx"]', '', '', ''],
      ['public', 'pt', 'index', 'pt_ward_key', 'true', 'true', 'CREATE UNIQUE INDEX pt_ward_key ON public.pt USING btree (ward)', 'CREATE UNIQUE INDEX pt_ward_key ON public.pt USING btree (ward)', '["ward"]', 'pt_ward_key', 'UNIQUE (ward)', 'UNIQUE (ward)'],
      ['public', 'pt', 'check', 'ward_len', 'false', 'false', 'CHECK ((length(ward) > 0))', 'CHECK (length(ward) > 0)', '["ward"]', '', '', ''],
    ];
    const got = objectsFromRows(rows).get('public.pt') ?? [];
    expect(got.map((o) => [o.kind, o.name, o.columns, o.unique, o.constraint?.name])).toEqual([
      ['index', 'pt_diag_idx', ['diagnosis'], false, undefined],
      ['index', 'pt_ward_key', ['ward'], true, 'pt_ward_key'],
      ['check', 'ward_len', ['ward'], false, undefined],
    ]);
    expect(got[2]?.pretty).toBe('CHECK (length(ward) > 0)');
  });
});
