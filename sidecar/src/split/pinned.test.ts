import { beforeAll, describe, expect, it } from 'vitest';
import { firstStatement, layoutOf, splitPolicy } from '@clarus/testing/split.ts';
import { loadParser } from '../rewrite/parser.ts';
import type { SplitLayout } from './layout.ts';
import { planSplit } from './plan.ts';
import type { SelectPlan } from './plan.ts';
import { keyTexts, MAX_PINNED } from './pinned.ts';

const POLICY = splitPolicy([
  { name: 'id', attributeType: 'technicalIdentifier', backend: 'a' },
  { name: 'name', attributeType: 'identifier', backend: 'a' },
  { name: 'ward', attributeType: 'confidential', backend: 'b' },
]);

let l: SplitLayout;
const keys = (sql: string) => ((planSplit(l, firstStatement(sql)) as SelectPlan).relations[0])?.keys;

beforeAll(async () => {
  await loadParser();
  l = layoutOf(POLICY);
});

describe('pinned row keys of a split SELECT', () => {
  it('takes key = $n, constant = key and key IN (…) among the top-level conjuncts', () => {
    expect(keys('SELECT name, ward FROM patient WHERE id = $1')).toEqual([{ param: 1 }]);
    expect(keys('SELECT * FROM patient p WHERE name = $1 AND 7 = p.id')).toEqual([{ text: '7' }]);
    expect(keys("SELECT ward FROM patient WHERE id IN (0, -3, '12', $2, NULL)")).toEqual([{ text: '0' }, { text: '-3' }, { text: '12' }, { param: 2 }, { none: true }]);
  });

  it('pins nothing for other forms: other columns or operators, OR, casts, numeric constants, subqueries, a long IN list', () => {
    for (const sql of [
      'SELECT * FROM patient WHERE name = $1',
      'SELECT * FROM patient WHERE id < $1',
      'SELECT * FROM patient WHERE id = $1 OR name = $2',
      "SELECT * FROM patient WHERE id = '7'::int",
      'SELECT * FROM patient WHERE id = 2.5',
      'SELECT * FROM patient WHERE id = (SELECT 1)',
      'SELECT * FROM patient WHERE id = ward::int',
      `SELECT * FROM patient WHERE id IN (${Array.from({ length: MAX_PINNED + 1 }, (_, i) => i).join(', ')})`,
    ]) expect(keys(sql), sql).toBeUndefined();
  });

  it('gives the key texts of the client parameters, without NULLs or repeats', () => {
    expect(keyTexts([{ param: 2 }, { text: '5' }, { none: true }, { param: 1 }, { param: 3 }], ['5', '9', null])).toEqual(['9', '5']);
  });
});
