import { beforeAll, describe, expect, it } from 'vitest';
import { firstStatement, splitPolicy } from '@clarus/testing/split.ts';
import { nodeBody } from '../rewrite/ast.ts';
import { loadParser } from '../rewrite/parser.ts';
import { protectedColumnsOf, splitLayouts } from './layout.ts';
import type { SplitLayout } from './layout.ts';
import { checkInsertSelectFlows, checkUpdateFlows } from './flows.ts';

const enc = { mode: 'randomized' as const, searchable: false, keyName: 'default' };
const POLICY = splitPolicy([
  { name: 'id', attributeType: 'technicalIdentifier', backend: 'a' },
  { name: 'name', attributeType: 'identifier', encrypt: enc, backend: 'a' },
  { name: 'diag', attributeType: 'confidential', encrypt: enc, backend: 'b' },
  { name: 'ward', attributeType: 'confidential', backend: 'c' },
  { name: 'bed', attributeType: 'confidential', backend: 'c' },
], { name: 'visits', schema: 'public', table: 'visit', columns: [{ name: 'reason', attributeType: 'confidential', encrypt: enc, backend: 'a' }] });

let l: SplitLayout;
let env: Parameters<typeof checkUpdateFlows>[0];
const check = (sql: string): string | null => {
  const s = firstStatement(sql);
  try {
    const upd = nodeBody(s, 'UpdateStmt');
    if (upd) checkUpdateFlows(env, l, upd);
    else checkInsertSelectFlows(env, l, nodeBody(s, 'InsertStmt') ?? {});
    return null;
  } catch (e) { return (e as Error).message; }
};

beforeAll(async () => {
  await loadParser();
  const layouts = splitLayouts(POLICY);
  l = layouts.get('public.patient') as SplitLayout;
  env = { layouts, protectedColumns: protectedColumnsOf(POLICY) };
});

describe('values computed into unprotected split columns', () => {
  it('accepts constants, parameters, the same backend\'s unprotected columns and the row key', () => {
    for (const sql of ["UPDATE patient SET ward = 'x' || $1", 'UPDATE patient SET ward = upper(bed) || id::text', 'UPDATE patient p SET ward = q.bed FROM patient q WHERE q.id = p.id',
      'UPDATE patient SET diag = name || ward', // an encrypted target is stored encrypted
      'INSERT INTO patient (id, ward) SELECT id + 1, bed FROM patient', 'INSERT INTO patient (id, ward) SELECT x, w FROM (SELECT id AS x, bed AS w FROM patient) s',
      'INSERT INTO patient (id, ward) WITH s(k, w) AS (SELECT id, ward FROM patient) SELECT k, w FROM s', 'INSERT INTO patient (id, name) SELECT 1, reason FROM visit']) {
      expect(check(sql), sql).toBeNull();
    }
  });

  it('refuses protected sources, other backends\' columns, subqueries and what it cannot resolve', () => {
    const cases: Array<[string, string]> = [
      ['UPDATE patient SET ward = name', 'protected column patient.name'],
      ['UPDATE patient SET ward = CASE WHEN diag IS NULL THEN 1 END', 'protected column patient.diag'],
      ['UPDATE patient SET bed = ward || id', ''], // same backend: accepted (checked below)
      ['UPDATE patient p SET ward = v.reason FROM visit v', 'protected column visit.reason'],
      ['UPDATE patient p SET ward = v.other FROM visit v', 'visit.other, stored on a'],
      ['UPDATE patient p SET ward = other FROM visit v', 'cannot tie'],
      ['UPDATE patient SET ward = (SELECT 1)', 'a subquery'],
      ['INSERT INTO patient (id, ward) SELECT id, name FROM patient', 'protected column patient.name'],
      ['INSERT INTO patient (id, ward) SELECT * FROM patient', 'cannot read item by item'],
      ['INSERT INTO patient (id, ward) SELECT 1, 2 UNION SELECT 3, 4', 'cannot read item by item'],
      ['INSERT INTO patient (id, ward) SELECT x, w FROM (SELECT id AS x, diag AS w FROM patient) s', 'protected column patient.diag'],
      ['INSERT INTO patient (id, ward) SELECT id, w FROM patient, LATERAL (SELECT bed AS w) s', 'cannot tie'],
      ['INSERT INTO patient (id) SELECT name FROM patient', 'into id (stored in clear on every backend) from protected column patient.name'],
      ['INSERT INTO patient (id, ward) SELECT v, w FROM generate_series(1, 2) v, (SELECT 1 AS w) s', 'cannot tie'],
    ];
    for (const [sql, why] of cases) {
      const got = check(sql);
      if (why === '') expect(got, sql).toBeNull();
      else expect(got, sql).toContain(why);
    }
  });
});
