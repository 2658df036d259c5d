// The k-anonymity batch of a write: which of the written columns are microaggregated (the
// kAnonymity quasi-identifiers) and which are confidential (kept within t), the dataset's k and t,
// and the answer to a batch that cannot be anonymized. One k and one t per dataset (the policy
// rules enforce it), read from the first kAnonymity column. Used by COPY FROM (access/copy-hooks.ts)
// and multi-row INSERT … VALUES (rewrite/rules/insert-values.ts).
import type { CatalogColumn } from '../../rewrite/catalog.ts';
import { SQLSTATE } from '../../protocol/sqlstate.ts';
import type { BatchFailure, BatchReport, BatchSpec } from './microaggregate.ts';
import { kindOf } from './values.ts';

/** Whether the column's values are microaggregated per batch. */
export function isKAnonymity(c: Pick<CatalogColumn, 'protection'>): boolean {
  return c.protection.kind === 'anonymize' && c.protection.spec.kAnonymity !== undefined;
}

/** The batch spec over the written columns (positions as written), or undefined when none is k-anonymous. */
export function batchSpecFor(columns: readonly CatalogColumn[]): BatchSpec | undefined {
  const first = columns.find(isKAnonymity);
  if (!first || first.protection.kind !== 'anonymize') return undefined;
  const ka = first.protection.spec.kAnonymity as { k: number; tCloseness?: number };
  return {
    k: ka.k,
    t: ka.tCloseness,
    columns: columns.map((c) => ({
      name: c.name,
      role: isKAnonymity(c) ? 'qi' : c.attributeType === 'confidential' ? 'confidential' : 'other',
      kind: kindOf(c.typeOid),
    })),
  };
}

/** SQLSTATE and message for a batch the microaggregation refuses (no data value in it). */
export function batchFailure(table: string, f: BatchFailure): { code: string; message: string } {
  switch (f.kind) {
    case 'tooFew':
      return { code: SQLSTATE.cardinalityViolation, message: `clarus: ${table} is k-anonymous (k=${f.k}): a batch (one COPY, one multi-row INSERT, or the single-row INSERTs of one transaction block, stored together at COMMIT) needs at least ${f.k} records to be anonymized, this one has ${f.records}; nothing was stored` };
    case 'null':
      return { code: SQLSTATE.nullValueNotAllowed, message: `clarus: NULL in k-anonymity column ${table}.${f.column} is not supported` };
    case 'format':
      return { code: SQLSTATE.invalidTextRepresentation, message: `clarus: a value of k-anonymity column ${table}.${f.column} is not a number or a date in YYYY-MM-DD or YYYY/MM/DD` };
  }
}

/** One line for logs and notices. */
export function reportLine(table: string, r: BatchReport): string {
  const f = (x: number | null): string => (x === null ? 'n/a' : x.toFixed(4));
  return `k-anonymity of ${table}: ${r.records} records in ${r.classes} classes, achieved k=${r.k}, t=${f(r.t)}, SSE/SST=${f(r.sseSstRaw)} (standardized ${f(r.sseSst)}), categories changed ${f(r.categoriesChanged)}, merges for t ${r.merges}`;
}
