// The batched write-back: every parameter becomes a column of one unnest() of arrays, nothing else
// of the rules' statement changes; array literals quote every element.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../parser.ts';
import { batchedWriteBack } from './write-batch.ts';
import { arrayLiteral } from '../../session/write-exchange.ts';

beforeAll(async () => { await loadParser(); });

const U = 'unnest(CAST($1 AS oid[]), CAST($2 AS tid[]), CAST($3 AS bytea[])) AS clarus_wb(clarus_wb_1, clarus_wb_2, clarus_wb_3)';

describe('batchedWriteBack', () => {
  it.each([
    ['UPDATE patient SET pat_ssn = substr($3, 17), pat_ssn__bidx = substr($3, 1, 16), pat_id = pat_id + 1 WHERE patient.tableoid = $1 AND patient.ctid = $2', ['oid', 'tid', 'bytea'],
      `UPDATE patient SET pat_ssn = substr(clarus_wb.clarus_wb_3, 17), pat_ssn__bidx = substr(clarus_wb.clarus_wb_3, 1, 16), pat_id = pat_id + 1 FROM ${U} WHERE patient.tableoid = clarus_wb.clarus_wb_1 AND patient.ctid = clarus_wb.clarus_wb_2`],
    ['UPDATE patient AS p SET pat_name = $3 WHERE p.tableoid = $1 AND p.ctid = $2', ['oid', 'tid', 'bytea'],
      `UPDATE patient AS p SET pat_name = clarus_wb.clarus_wb_3 FROM ${U} WHERE p.tableoid = clarus_wb.clarus_wb_1 AND p.ctid = clarus_wb.clarus_wb_2`],
    ['DELETE FROM visit WHERE visit.tableoid = $1 AND visit.ctid = $2', ['oid', 'tid'],
      'DELETE FROM visit USING unnest(CAST($1 AS oid[]), CAST($2 AS tid[])) AS clarus_wb(clarus_wb_1, clarus_wb_2) WHERE visit.tableoid = clarus_wb.clarus_wb_1 AND visit.ctid = clarus_wb.clarus_wb_2'],
    ['INSERT INTO visit (visit_id, reason) VALUES ($1, $2)', ['int4', 'bytea'],
      'INSERT INTO visit (visit_id, reason) SELECT clarus_wb.clarus_wb_1, clarus_wb.clarus_wb_2 FROM unnest(CAST($1 AS int4[]), CAST($2 AS bytea[])) AS clarus_wb(clarus_wb_1, clarus_wb_2)'],
  ])('%s', (sql, types, want) => {
    expect(batchedWriteBack(sql, types)).toBe(want);
  });

  it('leaves other shapes and unknown types row by row', () => {
    expect(batchedWriteBack('INSERT INTO visit (visit_id) VALUES ($1), ($2)', ['int4', 'int4'])).toBeNull();
    expect(batchedWriteBack('UPDATE visit SET reason = $1 FROM patient WHERE patient.pat_id = visit.pat_id', ['bytea'])).toBeNull();
    expect(batchedWriteBack('DELETE FROM visit WHERE visit.ctid = $1', [])).toBeNull();
    expect(batchedWriteBack('DELETE FROM visit WHERE visit.ctid = $1', ['tid); DROP TABLE x; --'])).toBeNull();
  });

  it('quotes every array element (NULL stays unquoted)', () => {
    expect(arrayLiteral(['a', null, 'NULL', '\\x00ff', 'say "hi", {x}', ''])).toBe('{"a",NULL,"NULL","\\\\x00ff","say \\"hi\\", {x}",""}');
  });
});
