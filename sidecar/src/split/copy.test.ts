// COPY on split tables (copy.ts): what a COPY plans to (a split read, or INSERT batches over the
// fragments), and the COPY forms refused by name. Proved on real backends in
// sidecar/test/integration/split-sql.test.ts.
import { beforeAll, describe, expect, it } from 'vitest';
import { firstStatement, layoutOf, splitPolicy } from '@clarus/testing/split.ts';
import { loadParser } from '../rewrite/parser.ts';
import { splitLayouts } from './layout.ts';
import type { SplitLayout } from './layout.ts';
import { copyBatch, planCopy } from './copy.ts';
import type { CopyInPlan, CopyOutPlan } from './copy.ts';
import { SplitUnsupported } from './plan.ts';

const POLICY = splitPolicy([
  { name: 'id', attributeType: 'technicalIdentifier', backend: 'a' },
  { name: 'name', attributeType: 'identifier', encrypt: { mode: 'randomized', searchable: false, keyName: 'default' }, backend: 'a' },
  { name: 'ward', attributeType: 'confidential', backend: 'c' },
]);

let l: SplitLayout;
const copy = (sql: string) => {
  const stmt = firstStatement(sql);
  return planCopy(l, stmt.CopyStmt as Record<string, unknown>, splitLayouts(POLICY));
};

beforeAll(async () => {
  await loadParser();
  l = layoutOf(POLICY);
});

describe('COPY on a split table', () => {
  it('COPY TO is a split read of the columns (or of the SELECT), in the asked format', () => {
    const p = copy('COPY patient (ward, name) TO STDOUT (FORMAT csv, HEADER)') as CopyOutPlan;
    expect(p.kind).toBe('copyOut');
    expect(p.format).toMatchObject({ kind: 'csv', delimiter: ',', header: true });
    expect(p.select.relations[0]?.sides.map((s) => s.backend)).toEqual(['c']);
    expect(p.select.direct).toEqual([{ column: 'ward', name: 'ward' }, { column: 'name', name: 'name' }]);
    const q = copy("COPY (SELECT upper(ward) FROM patient WHERE name = 'x' ORDER BY 1) TO STDOUT") as CopyOutPlan;
    expect(q.select.direct).toBeNull();
  });

  it('COPY FROM: INSERT plans per batch size (row-major parameters), a placeholder that sends no data', () => {
    const p = copy('COPY patient (id, name, ward) FROM STDIN') as CopyInPlan;
    expect(p.placeholder).toBe('COPY "public"."patient" ("id") FROM STDIN');
    const columns = p.columns as string[];
    const two = p.insert(columns, 2).plan;
    expect(two.rowCount).toBe(2);
    expect(two.home.params).toEqual([1, 2, 4, 5]);
    expect(two.sides).toEqual([expect.objectContaining({ backend: 'c', params: [3, 6] })]);
    expect(p.insert(columns, 2).plan).toBe(two);
    expect(copyBatch(3) * 3).toBeLessThanOrEqual(20_000);
  });

  it('COPY FROM without a column list: planned for the recorded order once it is read', () => {
    const p = copy('COPY patient FROM STDIN') as CopyInPlan;
    expect(p.columns).toBeNull();
    const one = p.insert(['ward', 'id', 'name'], 1).plan;
    expect(one.home.params).toEqual([2, 3]);
    expect(one.sides).toEqual([expect.objectContaining({ backend: 'c', params: [1] })]);
  });

  it('refuses by name what it cannot do', () => {
    for (const [sql, why] of [
      ['COPY patient (id, ward) FROM STDIN (FORMAT binary)', /binary/],
      ["COPY patient TO '/tmp/x'", /server file or program/],
      ["COPY patient (id) FROM STDIN WHERE id > 1", /WHERE/],
      ["COPY patient (id) TO STDOUT (NULL 'x')", /NULL/],
    ] as const) {
      expect(() => copy(sql), sql).toThrow(SplitUnsupported);
      expect(() => copy(sql), sql).toThrow(why);
    }
  });
});
