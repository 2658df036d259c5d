// Multi-row INSERT … VALUES into a table with k-anonymity columns: the statement's rows are one
// batch, microaggregated when the proxy reads the statement (protection/anonymization/): each
// quasi-identifier value is replaced by its cluster's published value. Postcondition: every value
// of a k-anonymity column is a string constant the microaggregation published, and at least k rows
// share each combination of them; otherwise the statement is refused (fewer rows than k: 21000).
// Values must be constants (parameters are only known at Bind, one row at a time), and so must
// the confidential columns' when t-closeness is set.
import { batchFailure, batchSpecFor } from '../../protection/anonymization/batch.ts';
import { microaggregate } from '../../protection/anonymization/microaggregate.ts';
import type { BatchFailure, BatchReport, BatchSpec } from '../../protection/anonymization/microaggregate.ts';
import { arr, body, castChanges, constText, textConst, unwrapCast } from '../ast.ts';
import type { Json } from '../ast.ts';
import type { CatalogColumn, CatalogTable } from '../catalog.ts';
import { refuse } from '../refusals.ts';

function failed(table: CatalogTable, f: BatchFailure): never {
  const { message } = batchFailure(table.table, f);
  if (f.kind === 'tooFew') refuse('kAnonymityTooFew', { message });
  if (f.kind === 'null') refuse('kAnonymityNull', { message });
  return refuse('kAnonymityFormat', { message });
}

/** The constant text of a value the batch reads (null for NULL). */
function constantOf(table: CatalogTable, column: CatalogColumn, node: unknown): string | null {
  if (body(node, 'SetToDefault')) refuse('kAnonymityValue', { table, column, what: 'DEFAULT' });
  const c = constText(unwrapCast(node));
  if (!c) return refuse('kAnonymityValue', { table, column, what: body(unwrapCast(node), 'ParamRef') ? 'a parameter' : 'an expression' });
  const why = castChanges(node, column.typeOid);
  if (why) refuse('convertedValue', { table, column, why });
  return c.isNull ? null : c.text;
}

function readRows(table: CatalogTable, cols: CatalogColumn[], spec: BatchSpec, lists: Json[]): Array<Array<string | null>> {
  const reads = spec.columns.map((c) => c.role === 'qi' || (c.role === 'confidential' && spec.t !== undefined));
  return lists.map((l) => arr(l.items).map((item, i) => (reads[i] ? constantOf(table, cols[i] as CatalogColumn, item) : null)));
}

/**
 * Microaggregates the rows' k-anonymity values in place; returns the positions of the k-anonymity
 * columns (already protected: the caller writes them as they are) and the batch's report, or
 * undefined when there is none.
 */
export function kAnonymizeValues(table: CatalogTable, cols: CatalogColumn[], lists: Json[]): { qi: Set<number>; report: BatchReport } | undefined {
  const spec = batchSpecFor(cols);
  if (!spec) return undefined;
  const r = microaggregate(spec, readRows(table, cols, spec, lists));
  if (!r.ok) failed(table, r.failure);
  const qi = new Set(spec.columns.flatMap((c, i) => (c.role === 'qi' ? [i] : [])));
  lists.forEach((l, j) => {
    const items = arr(l.items);
    l.items = items.map((item, i) => (qi.has(i) ? textConst((r.rows[j] as Array<string | null>)[i] as string) : item));
  });
  return { qi, report: r.report };
}
