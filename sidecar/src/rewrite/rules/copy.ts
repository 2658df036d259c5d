// COPY of protected tables, streamed through encryption/decryption in text or CSV format (binary
// is refused); server-side files and programs are refused because their data would bypass the
// proxy. Options that change how fields are found (DELIMITER, QUOTE, HEADER) are honoured; others
// that would make a field mean something else (NULL strings, ESCAPE ≠ QUOTE, FORCE_*) are refused.
import { appliesAtWrite } from '../../protection/anonymize-write.ts';
import { isKAnonymity } from '../../protection/anonymization/batch.ts';
import type { RangeVar } from '@pgsql/types';
import { arr, body, isObj, nodeBody, stringNode, sval } from '../ast.ts';
import type { Json, NodeOf } from '../ast.ts';
import { isEncrypted } from '../catalog.ts';
import type { CatalogColumn, CatalogTable } from '../catalog.ts';
import { blindIndexName } from '../hidden.ts';
import type { Ctx } from '../context.ts';
import { refuse } from '../refusals.ts';
import { positional } from '../context.ts';
import { analyzeSelect } from '../select.ts';
import { tableColumns } from '../scope.ts';
import type { OutCol } from '../scope.ts';

export interface CopyFormat {
  kind: 'text' | 'csv';
  delimiter: string;
  quote: string;
  header: boolean;
}

export type CopyPlan =
  | { direction: 'in'; table: CatalogTable; columns: CatalogColumn[]; format: CopyFormat }
  | { direction: 'out'; outputs: OutCol[]; format: CopyFormat };

function optionText(arg: unknown): string | null {
  const b = body(arg, 'Boolean');
  if (b) return b.boolval ? 'true' : 'false';
  const i = body(arg, 'Integer');
  if (i) return String(i.ival ?? 0);
  return sval(arg);
}

const TRUE = new Set(['true', 'on', '1']);
const FALSE = new Set(['false', 'off', '0']);

function applyOption(f: CopyFormat & { escape?: string; nullString?: string; binary?: boolean }, name: string, value: string | null): void {
  if (name === 'format') {
    const k = (value ?? '').toLowerCase();
    if (k === 'binary') f.binary = true;
    else f.kind = k === 'csv' ? 'csv' : 'text';
  } else if (name === 'header') {
    const v = (value ?? 'true').toLowerCase();
    if (!TRUE.has(v) && !FALSE.has(v)) refuse('copyHeader', { value: v });
    f.header = TRUE.has(v);
  } else if (name === 'delimiter' && value?.length === 1) f.delimiter = value;
  else if (name === 'quote' && value?.length === 1) f.quote = value;
  else if (name === 'escape' && value?.length === 1) f.escape = value;
  else if (name === 'null' && value !== null) f.nullString = value;
  else if (name === 'encoding' || name === 'freeze') return;
  else refuse('copyOption', { name });
}

export function copyFormat(s: Json): CopyFormat {
  const f: CopyFormat & { escape?: string; nullString?: string; binary?: boolean } = { kind: 'text', delimiter: '\t', quote: '"', header: false };
  for (const o of arr(s.options)) {
    const d = nodeBody(o, 'DefElem') as NodeOf<'DefElem'>;
    applyOption(f, String(d.defname), optionText(d.arg));
  }
  if (f.binary) refuse('copyBinary');
  if (f.kind === 'csv' && f.delimiter === '\t' && !arr(s.options).some((o) => body(o, 'DefElem')?.defname === 'delimiter')) f.delimiter = ',';
  const defaultNull = f.kind === 'csv' ? '' : '\\N';
  if (f.nullString !== undefined && f.nullString !== defaultNull) refuse('copyNull');
  if (f.escape !== undefined && f.escape !== f.quote) refuse('copyEscape');
  return { kind: f.kind, delimiter: f.delimiter, quote: f.quote, header: f.header };
}

/**
 * A protection the COPY hooks cannot apply refuses the COPY (fail closed: never store something
 * other than what the policy says). k-anonymity columns are anonymized per COPY, as one batch.
 */
function refuseUnwritable(table: CatalogTable, columns: CatalogColumn[]): void {
  for (const c of columns) {
    if (c.protection.kind === 'anonymize' && !isKAnonymity(c) && !appliesAtWrite(c.protection.spec, c.typeOid)) refuse('anonymizeAtWrite', { table, column: c });
  }
}

/** Returns the plan when the COPY touches protected data, else null (plain COPY passes). */
export function analyzeCopy(ctx: Ctx, s: Json): CopyPlan | null {
  const q = body(s.query, 'SelectStmt');
  const rv: RangeVar | undefined = isObj(s.relation) ? s.relation : undefined;
  const table = rv ? ctx.catalog.lookup(rv.schemaname, String(rv.relname)) : undefined;
  const outputs = q ? analyzeSelect(ctx, q, undefined, true) : [];
  if (!table && !outputs.some((o) => o.prov)) {
    if (ctx.touched.size > 0) return { direction: 'out', outputs, format: { kind: 'text', delimiter: '\t', quote: '"', header: false } };
    return null;
  }
  if (s.filename || s.is_program) refuse('copyFile');
  const format = copyFormat(s);
  if (q) {
    if (outputs.some((o) => o.star)) refuse('copyStar');
    return { direction: 'out', outputs, format };
  }
  const t = table as CatalogTable;
  ctx.touch(t);
  const names = arr(s.attlist).map((a) => sval(a) ?? '');
  if (!names.length && s.is_from) positional(t, 'COPY FROM');
  const columns = names.length ? names.map((n) => t.byName.get(n) ?? { name: n, protection: { kind: 'plain' as const }, typeOid: 25 }) : t.columns;
  for (const c of columns) ctx.touch(t, c.name);
  if (s.whereClause) refuse('copyWhere', { table: t });
  if (s.is_from) {
    ctx.write = true;
    refuseUnwritable(t, columns);
    const bidx = columns.filter((c) => isEncrypted(c) && c.protection.searchable).map((c) => blindIndexName(c.name));
    s.attlist = [...columns.map((c) => c.name), ...bidx].map(stringNode);
    return { direction: 'in', table: t, columns, format };
  }
  s.attlist = columns.map((c) => stringNode(c.name));
  const all = tableColumns(t);
  return { direction: 'out', outputs: columns.map((c) => all.find((o) => o.name === c.name) ?? { name: c.name, prov: null }), format };
}
