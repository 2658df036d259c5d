// COPY hooks for protected tables: FROM STDIN encrypts each row's protected fields and appends
// the blind-index fields; TO STDOUT presents ciphertext fields per the user's view. Data that
// PostgreSQL would refuse (a row with too many or too few fields, a value its column's type does
// not accept) and stored values that are not ciphertexts fail the statement (StatementError);
// the header line of COPY FROM … HEADER is replaced by the column names. A table with k-anonymity
// columns is anonymized per COPY, as one batch (copy-batch.ts, protection/anonymization/).
import { anonymizeText } from '../protection/anonymize-write.ts';
import type { WriteKeys } from '../protection/anonymize-write.ts';
import { writeKeys } from '../protection/anonymization/keys.ts';
import { batchFailure, batchSpecFor, isKAnonymity } from '../protection/anonymization/batch.ts';
import { microaggregate } from '../protection/anonymization/microaggregate.ts';
import type { BatchReport } from '../protection/anonymization/microaggregate.ts';
import { batchCopyTransformer } from '../protection/copy-batch.ts';
import { anonymizationStats, countBatch } from './anonymization-stats.ts';
import { assignedText, OID, ValueFormatError, ValueTooLongError } from '../protection/encryption/canonical.ts';
import { csvRowTransformer, encodeCsvField } from '../protection/copy-csv.ts';
import { byteaFromText, byteaText, copyRowTransformer, escapeField } from '../protection/copy-text.ts';
import { textCopyOut } from '../protection/copy-out-text.ts';
import { textCopyIn } from '../protection/copy-in-text.ts';
import type { BytesCipher, InColumn } from '../protection/copy-in-text.ts';
import { textFields } from '../protection/copy-lines.ts';
import type { ColumnCipher } from '../protection/encryption/column.ts';
import type { RowFn } from '../protection/copy-text.ts';
import type { ProtectedOutput } from '../protection/results.ts';
import { presentText, storedBytes } from '../protection/results.ts';
import type { CopyHooks, CopyTransformer } from '../session/pipeline.ts';
import { StatementError } from '../session/pipeline.ts';
import { arr, body, sval } from '../rewrite/ast.ts';
import { isEncrypted } from '../rewrite/catalog.ts';
import type { CatalogColumn, CatalogTable } from '../rewrite/catalog.ts';
import type { CopyFormat, CopyPlan } from '../rewrite/rules/copy.ts';
import { parseStatements } from '../rewrite/parser.ts';
import type { KeyedRewriter } from '../protection/keyed-rewriter.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';

function rows(f: CopyFormat, fn: RowFn, headerNames?: string[]) {
  if (f.kind === 'csv') {
    const headerText = headerNames?.map((n) => encodeCsvField(n, f)).join(f.delimiter);
    return csvRowTransformer(headerText === undefined ? f : { ...f, headerText }, fn);
  }
  const headerText = headerNames?.map((n) => escapeField(n, f.delimiter)).join(f.delimiter);
  return copyRowTransformer(fn, headerText === undefined ? f : { ...f, headerText });
}

/**
 * COPY with an ENCODING other than UTF-8: the data would not be the UTF-8 the proxy reads and
 * encrypts, so the statement is refused (0A000). Null when there is none, or it is UTF-8.
 */
export function copyEncodingRefusal(sql: string): { code: string; message: string } | null {
  let stmts;
  try {
    stmts = parseStatements(sql);
  } catch {
    return null;
  }
  for (const { stmt } of stmts) {
    const copy = body(stmt, 'CopyStmt');
    for (const o of arr(copy?.options)) {
      const d = body(o, 'DefElem');
      if (d?.defname !== 'encoding') continue;
      const name = sval(d.arg) ?? '';
      if (!['utf8', 'unicode'].includes(name.toLowerCase().replace(/[^a-z0-9]/g, ''))) {
        return { code: SQLSTATE.featureNotSupported, message: `clarus: COPY with ENCODING ${name} is not supported for protected tables; send UTF8` };
      }
    }
  }
  return null;
}

/** A field the column's type does not accept fails the COPY as PostgreSQL's input function would. */
function valueError<R>(f: () => R): R {
  try {
    return f();
  } catch (e) {
    if (e instanceof ValueTooLongError) throw new StatementError(SQLSTATE.stringDataRightTruncation, e.message);
    if (e instanceof ValueFormatError) throw new StatementError(SQLSTATE.invalidTextRepresentation, e.message);
    throw e;
  }
}

function stored(o: ProtectedOutput, v: string): Buffer {
  if (o.encoding === 'hexText') return storedBytes(o, Buffer.from(v, 'utf8'), 0);
  try {
    return byteaFromText(v);
  } catch {
    throw new StatementError(SQLSTATE.dataCorrupted, `clarus: a value stored in protected column ${o.column ?? '?'} is not a ciphertext of that column`);
  }
}

/** The stored form of an anonymized field; a value the protection cannot take fails the COPY (never NULL instead). */
function anonymized(table: string, c: CatalogColumn, v: string, keys: WriteKeys): string | null {
  const out = c.protection.kind === 'anonymize' ? anonymizeText(c.protection.spec, v, c.typeOid, keys) : undefined;
  if (out === undefined) throw new StatementError(SQLSTATE.invalidTextRepresentation, `clarus: value for ${table}.${c.name} cannot be anonymized as declared`);
  return out;
}

/** COPY TO whose protected fields can be handled as bytes (copy-out-text.ts): text format, plaintext views. */
function bytesOut(f: CopyFormat, outs: ProtectedOutput[]): boolean {
  const plain = outs.every((o) => o.view === 'plaintext' && o.encoding === undefined);
  return f.kind === 'text' && !f.header && plain && new Set(outs.map((o) => o.index)).size === outs.length;
}

/** Types whose assigned text is the text itself (assignedText), so a field's bytes are its plaintext. */
const TEXT_AS_IS = new Set<number>([OID.text, OID.varchar, OID.bpchar]);

/**
 * COPY FROM whose lines can be handled as bytes (copy-in-text.ts): text format without header,
 * no anonymized column, encrypted columns of a type whose text is encrypted as it is; undefined
 * otherwise. `row` is the general path for the lines it does not take.
 */
function bytesIn(f: CopyFormat, columns: CatalogColumn[], ciphers: Array<ColumnCipher | undefined>, row: RowFn): CopyTransformer | undefined {
  if (f.kind !== 'text' || f.header) return undefined;
  const cols = columns.map((c, i) => inColumn(c, ciphers[i]));
  if (cols.some((c) => c === undefined)) return undefined;
  const d = f.delimiter.charCodeAt(0);
  return textCopyIn(cols as InColumn[], f.delimiter, (line) => `${row(textFields(line, d)).map((v) => escapeField(v, f.delimiter)).join(f.delimiter)}\n`);
}

/** How the byte path takes a column, or undefined when it cannot (then the general path takes the COPY). */
function inColumn(c: CatalogColumn, cipher: ColumnCipher | undefined): InColumn | undefined {
  if (c.protection.kind === 'anonymize') return undefined;
  if (c.protection.kind === 'plain' || !cipher) return { kind: 'plain' };
  // varchar(n) / char(n) are cut or refused by length (fitDeclaredLength): the general path.
  const asIs = TEXT_AS_IS.has(c.typeOid) && (c.typmod === undefined || c.typmod < 4);
  if (!asIs || !cipher.encryptBytes || !cipher.encryptBytesMany) return undefined;
  return { kind: 'encrypt', cipher: cipher as BytesCipher, searchable: c.protection.searchable };
}

/** Called with the report of each anonymized batch (audit log, metrics). */
export type BatchReporter = (table: CatalogTable, report: BatchReport) => void;

export function copyHooks(rw: KeyedRewriter, plan: CopyPlan, outs: ProtectedOutput[], onReport?: BatchReporter): CopyHooks | undefined {
  if (plan.direction === 'out') {
    if (outs.length === 0) return undefined;
    const slow = (o: ProtectedOutput, v: string): string | null => presentText(o, stored(o, v));
    if (bytesOut(plan.format, outs)) return { out: textCopyOut(outs, plan.format.delimiter, slow) };
    return {
      out: rows(plan.format, (fields) => {
        for (const o of outs) {
          const v = fields[o.index];
          if (v !== null && v !== undefined) fields[o.index] = presentText(o, stored(o, v));
        }
        return fields;
      }),
    };
  }
  const { table, columns } = plan;
  // One cipher per encrypted column, resolved when the COPY starts rather than per field.
  const ciphers = columns.map((c) => (isEncrypted(c) ? rw.cipher({ table, column: c }) : undefined));
  const keys = writeKeys((r) => rw.cipher(r));
  const check = (fields: Array<string | null>): void => {
    if (fields.length > columns.length) throw new StatementError(SQLSTATE.badCopyFileFormat, 'extra data after last expected column');
    if (fields.length < columns.length) throw new StatementError(SQLSTATE.badCopyFileFormat, `missing data for column "${columns[fields.length]?.name ?? ''}"`);
  };
  const protect = (fields: Array<string | null>): Array<string | null> => {
    const extra: Array<string | null> = [];
    const out = columns.map((c, i) => {
      const v = fields[i] ?? null;
      // k-anonymity columns arrive microaggregated (batch below).
      if (isKAnonymity(c)) return v;
      if (c.protection.kind === 'anonymize') return v === null ? null : anonymized(table.table, c, v, keys);
      const cipher = ciphers[i];
      if (!cipher || c.protection.kind !== 'encrypt') return v;
      return encryptedField({ column: c, searchable: c.protection.searchable === true, cipher }, v, extra);
    });
    return [...out, ...extra];
  };
  const names = columns.map((c) => c.name);
  const spec = batchSpecFor(columns);
  if (!spec) {
    const row = (fields: Array<string | null>): Array<string | null> => { check(fields); return protect(fields); };
    return { in: bytesIn(plan.format, columns, ciphers, row) ?? rows(plan.format, row, names) };
  }
  // A k-anonymity table: the whole COPY is one batch, anonymized at CopyDone (copy-batch.ts).
  const f = plan.format;
  const headerText = f.kind === 'csv' ? names.map((n) => encodeCsvField(n, f)).join(f.delimiter) : names.map((n) => escapeField(n, f.delimiter)).join(f.delimiter);
  return {
    in: batchCopyTransformer({ ...f, headerText }, check, (all) => {
      // An empty COPY stores nothing, as PostgreSQL's would.
      if (all.length === 0) return [];
      const r = microaggregate(spec, all);
      if (!r.ok) {
        anonymizationStats.refused++;
        const e = batchFailure(table.table, r.failure);
        throw new StatementError(e.code, e.message);
      }
      countBatch(r.report);
      onReport?.(table, r.report);
      return r.rows.map(protect);
    }),
  };
}

/** An encrypted column of a COPY FROM, with its cipher (resolved once per COPY). */
interface EncryptedColumn { column: CatalogColumn; searchable: boolean; cipher: ReturnType<KeyedRewriter['cipher']> }

/** An encrypted column's stored field (its blind index appended to `extra` when the column is searchable). */
function encryptedField({ column, searchable, cipher }: EncryptedColumn, v: string | null, extra: Array<string | null>): string | null {
  const text = v === null ? null : valueError(() => assignedText(column.typeOid, column.typmod, v));
  if (searchable) extra.push(text === null ? null : byteaText(cipher.blindIndex(text)));
  return text === null ? null : byteaText(cipher.encrypt(text));
}
