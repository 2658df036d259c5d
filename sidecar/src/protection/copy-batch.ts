// COPY FROM for tables with k-anonymity columns: the whole COPY is one batch. Rows are read as
// PostgreSQL reads them (copy-lines.ts) and kept until CopyDone; nothing reaches the backend before
// then. At CopyDone the batch is anonymized as a whole and sent; a batch the anonymization refuses
// (fewer than k records…) fails the COPY with a StatementError, and the session sends CopyFail to
// the backend, so nothing is stored. The buffer is bounded: past `maxBytes` of COPY data the COPY
// fails with 54000.
import { StatementError } from '../session/pipeline.ts';
import type { CopyTransformer } from '../session/pipeline.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';
import { CopyLineReader, csvFields, textFields, utf8Text } from './copy-lines.ts';
import { encodeCsvField } from './copy-csv.ts';
import { escapeField } from './copy-text.ts';

export type Row = Array<string | null>;

export interface BatchCopyFormat {
  kind: 'text' | 'csv';
  delimiter: string;
  quote: string;
  header: boolean;
  /** The header line sent in place of the client's (the column names). */
  headerText?: string | undefined;
}

/** Default bound of the COPY data kept for one k-anonymity batch (64 MiB: parsed rows take several times that). */
export const MAX_BATCH_BYTES = 64 << 20;
const CHUNK = 1 << 16;

/**
 * `check` runs on each row as it is read (field count); `batch` turns all rows into the rows to
 * send (or throws a StatementError).
 */
export function batchCopyTransformer(f: BatchCopyFormat, check: (row: Row) => void, batch: (rows: Row[]) => Row[], maxBytes = MAX_BATCH_BYTES): CopyTransformer {
  const csv = f.kind === 'csv';
  const delimiter = Buffer.from(f.delimiter, 'utf8')[0] as number;
  const quote = Buffer.from(f.quote, 'utf8')[0] as number;
  const encode = (row: Row): string => (csv ? row.map((v) => encodeCsvField(v, f)) : row.map((v) => escapeField(v, f.delimiter))).join(f.delimiter);
  let reader = new CopyLineReader({ csv, quote: f.quote });
  let rows: Row[] = [];
  let header: string | undefined;
  let pendingHeader = f.header;
  let bytes = 0;
  const onLine = (line: Buffer): void => {
    if (pendingHeader) {
      pendingHeader = false;
      const text = utf8Text(line);
      header = f.headerText ?? text;
      return;
    }
    const row = csv ? csvFields(line, delimiter, quote) : textFields(line, delimiter);
    check(row);
    rows.push(row);
  };
  const reset = (): void => {
    reader = new CopyLineReader({ csv, quote: f.quote });
    rows = [];
    header = undefined;
    pendingHeader = f.header;
    bytes = 0;
  };
  /** A failed COPY drops what it buffered at once (a prepared COPY keeps its hooks). */
  const failing = <R>(run: () => R): R => {
    try {
      return run();
    } catch (e) {
      reset();
      throw e;
    }
  };
  return {
    begin: reset,
    data(chunk) {
      return failing(() => {
        bytes += chunk.length;
        if (bytes > maxBytes) throw new StatementError(SQLSTATE.programLimitExceeded, `clarus: a k-anonymity batch is limited to ${maxBytes} bytes of COPY data; split the data into several COPY statements`);
        reader.push(chunk, onLine);
        return [];
      });
    },
    finish() {
      const out = failing(() => {
        reader.end(onLine);
        return batch(rows);
      });
      rows = [];
      const chunks: Uint8Array[] = [];
      let text = header === undefined ? '' : `${header}\n`;
      for (const r of out) {
        text += `${encode(r)}\n`;
        if (text.length >= CHUNK) {
          chunks.push(Buffer.from(text, 'utf8'));
          text = '';
        }
      }
      if (text.length) chunks.push(Buffer.from(text, 'utf8'));
      return chunks;
    },
  };
}
