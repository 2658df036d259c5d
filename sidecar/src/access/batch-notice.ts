// The report of each k-anonymity batch to the client: a NOTICE (SQLSTATE 00000) before the
// statement's CommandComplete, with the records, classes, achieved k and t and the information
// loss (reportLine), for a COPY FROM and a multi-row INSERT (also the flush of rows held until
// COMMIT, held-inserts.ts). A multi-row INSERT's batch is counted in the metrics and audited when
// the backend has completed it; a COPY's when its data is complete (copy-hooks.ts).
import type { BackendMessage } from '../protocol/backend.ts';
import { errorFields } from '../protocol/errors.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';
import { batchSpecFor, reportLine } from '../protection/anonymization/batch.ts';
import type { BatchReport } from '../protection/anonymization/microaggregate.ts';
import type { CatalogTable } from '../rewrite/catalog.ts';
import type { StatementPlan } from '../rewrite/rewriter.ts';
import type { ResultTransformer } from '../session/pipeline.ts';
import { countBatch } from './anonymization-stats.ts';
import type { BatchReporter } from './copy-hooks.ts';

type Reported = { table: CatalogTable; report: BatchReport };

export function batchNotice(r: Reported): BackendMessage {
  return { type: 'NoticeResponse', fields: errorFields({ severity: 'NOTICE', code: SQLSTATE.successfulCompletion, message: `clarus: ${reportLine(`${r.table.schema}.${r.table.table}`, r.report)}` }) };
}

function withNotice(tr: ResultTransformer | undefined, take: () => Reported | undefined): ResultTransformer {
  return {
    ...(tr ?? { fields: (f) => [...f], row: (v) => v }),
    complete: (tag) => {
      const r = take();
      const done: BackendMessage = { type: 'CommandComplete', tag };
      return r ? [batchNotice(r), done] : [done];
    },
  };
}

/**
 * The statement's result transformer with the batch's NOTICE, and the reporter its COPY hooks call
 * (unchanged for a statement without a k-anonymity batch).
 */
export function batchNotices(s: StatementPlan, tr: ResultTransformer | undefined, onReport?: BatchReporter): { result: ResultTransformer | undefined; onReport?: BatchReporter } {
  const batch = s.batch;
  if (batch) {
    return {
      result: withNotice(tr, () => {
        countBatch(batch.report);
        onReport?.(batch.table, batch.report);
        return batch;
      }),
      ...(onReport ? { onReport } : {}),
    };
  }
  if (s.copy?.direction !== 'in' || !batchSpecFor(s.copy.columns)) return { result: tr, ...(onReport ? { onReport } : {}) };
  let last: Reported | undefined;
  return {
    result: withNotice(tr, () => {
      const r = last;
      last = undefined;
      return r;
    }),
    onReport: (table, report) => {
      last = { table, report };
      onReport?.(table, report);
    },
  };
}
