// rules/write-value.ts: Django 5's bulk_update casts its CASE to the field's type; a cast to the
// column's own declared type (and modifier) is the assignment itself, any other is refused.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../parser.ts';
import { testRewriter } from '@clarus/testing/rewriter.ts';
import type { Rewriter } from '../rewriter.ts';

let rw: Rewriter;
beforeAll(async () => {
  await loadParser();
  rw = testRewriter();
  const t = rw.catalog.lookup(undefined, 'patient');
  rw.learn(t ? [t] : [], new Map([['public.patient', [{ name: 'pat_id', typeOid: 23 }, { name: 'pat_name', typeOid: 1043, typmod: 104 }]]]));
});

describe("UPDATE … SET col = (CASE … END)::<declared type> (Django 5's bulk_update)", () => {
  it('encrypts each result as without the cast', () => {
    const a = rw.analyze("UPDATE patient SET pat_name = (CASE WHEN (patient.pat_id = 1) THEN 'CanaryCase' ELSE NULL END)::varchar(100) WHERE patient.pat_id IN (1)");
    if (a.kind !== 'plan') throw new Error(`${a.kind}: ${'message' in a ? a.message : ''}`);
    expect(a.statements[0]?.sql).toMatch(/^UPDATE patient SET pat_name = CASE WHEN patient\.pat_id = 1 THEN '\\x01[0-9a-f]+'::bytea ELSE NULL END WHERE/);
    expect(a.statements[0]?.sql).not.toContain('CanaryCase');
  });

  it.each(['varchar(50)', 'text', 'int', 'varchar(100)[]'])('refuses a cast to %s', (type) => {
    expect(rw.analyze(`UPDATE patient SET pat_name = (CASE WHEN pat_id = 1 THEN 'x' END)::${type}`)).toMatchObject({ kind: 'refuse', code: '0A000' });
  });
});
