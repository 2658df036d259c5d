import { describe, expect, it } from 'vitest';
import { loadParser, parseStatements } from '../rewrite/parser.ts';
import type { Json } from '../rewrite/ast.ts';
import { candidates, indexColumnNames, indexStem, makeObjectName, nameAddition } from './index-name.ts';

await loadParser();

const stmt = (sql: string): Json => ((parseStatements(sql)[0] as { stmt: Json }).stmt.IndexStmt as Json);

describe('index names as PostgreSQL chooses them (DefineIndex)', () => {
  it('column and expression names, numbered when repeated; "expr" for an operator', () => {
    const st = stmt("CREATE INDEX ON t (a, lower(b), (a || 'x'), (b::int), (1::int), coalesce(a, b), (CASE WHEN a THEN 1 END), a, (row(a)), nullif(a, b), ((x).y), greatest(a, b)) INCLUDE (c)");
    expect(indexColumnNames([...(st.indexParams as unknown[]), ...(st.indexIncludingParams as unknown[])]))
      .toEqual(['a', 'lower', 'expr', 'b', 'int4', 'coalesce', 'case', 'a1', 'row', 'nullif', 'y', 'greatest', 'c']);
    expect(indexStem('t', stmt('CREATE INDEX ON t (a, a, a)'))).toEqual({ table: 't', addition: 'a_a1_a2', label: 'idx' });
    expect(indexStem('t', stmt('CREATE INDEX ON t ((xmlelement(name x, a)))'))).toBeUndefined();
  });

  it('candidates: the label numbered from the second on; long names shortened, the longer part first, on a character', () => {
    expect(candidates({ table: 'patient', addition: 'ward', label: 'idx' }, 0, 3)).toEqual(['patient_ward_idx', 'patient_ward_idx1', 'patient_ward_idx2']);
    const long = 'c'.repeat(70);
    expect(makeObjectName('patient', long, 'idx')).toBe(`patient_${'c'.repeat(51)}_idx`);
    expect(Buffer.byteLength(makeObjectName('é'.repeat(40), 'ward', 'idx10'))).toBeLessThanOrEqual(63);
    expect(makeObjectName('é'.repeat(40), 'ward', 'idx10')).toBe(`${'é'.repeat(26)}_ward_idx10`);
    // As PostgreSQL 15 names them (checked on a server).
    expect(makeObjectName('é'.repeat(31), 'ward', 'idx')).toBe(`${'é'.repeat(27)}_ward_idx`);
    expect(makeObjectName('t', 'c'.repeat(63), 'idx')).toBe(`t_${'c'.repeat(57)}_idx`);
    expect(nameAddition(['a'.repeat(40), 'b'.repeat(40), 'c'])).toBe(`${'a'.repeat(40)}_${'b'.repeat(40)}`);
  });
});
