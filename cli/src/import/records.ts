// The anonymization module's `<file>`/`<dataset>` containers: CLARUS read one record per line of a
// file, holding every attribute whatever table its name gives (`eHealthDB/episode/ep_age`,
// `eHealthDB/patient/pat_zip`, … are the header of one flat file), and k-anonymized, t-closed and
// suppressed whole records. The faithful Clarus form is one dataset on one table holding the record,
// each column named by the last part of its attribute's name. Pure.
import { IDENT, parseName, type ResolvedColumn } from './names.ts';
import type { RawAttribute } from './document.ts';

/** The record table when `--dataset-table` is not given and the record spans several tables. */
export const DEFAULT_RECORD_TABLE = 'records';

export interface RecordColumn { attribute: RawAttribute; at: ResolvedColumn; note: string }
export interface RecordMapping { columns: RecordColumn[]; sources: string[] }
interface Sink { notes: string[]; refusals: string[] }

/** `[schema.]table` of `--dataset-table`, or undefined when it is not two plain identifiers at most. */
export function parseRecordTable(spec: string): { schema?: string; table: string } | undefined {
  const parts = spec.trim().split('.');
  if (parts.length > 2 || !parts.every((p) => IDENT.test(p))) return undefined;
  return parts.length === 2 ? { schema: (parts[0] as string).toLowerCase(), table: (parts[1] as string).toLowerCase() } : { table: (parts[0] as string).toLowerCase() };
}

/** The table part of a joint attribute's name, as written (`*` when it gives none or a pattern). */
function sourceTable(a: RawAttribute): string {
  const p = parseName(a.name);
  if (typeof p === 'string' || p.table.includes('*') || (p.schema ?? '').includes('*')) return '*';
  return (p.schema !== undefined ? `${p.schema}.${p.table}` : p.table).toLowerCase();
}

/**
 * Whether the joint attributes are read as one record table: always with `--dataset-table`; without
 * it when their names give more than one table (or none), since no one table of the names holds the
 * record. Joint attributes of a single table keep that table (the record is that table's row).
 */
export function usesRecordTable(joint: RawAttribute[], option: { table: string } | undefined): boolean {
  if (joint.length === 0) return false;
  if (option !== undefined) return true;
  const tables = new Set(joint.map(sourceTable));
  return tables.size > 1 || tables.has('*');
}

const lastPart = (name: string): string => name.trim().split('/').pop() ?? '';

/** Same column name from two different attributes: one table cannot hold both. */
function clash(a: RawAttribute, prev: RawAttribute, column: string, table: string): string {
  return `line ${a.line}: attribute "${a.name}" and "${prev.name}" (line ${prev.line}) both end in "${column}": CLARUS's record held them as two fields, the record table ${table} cannot hold two columns of one name, and merging them would protect one field under the other's rule; rename one in the XML`;
}

interface Collect { table: { schema?: string; table: string }; shown: string; byColumn: Map<string, RawAttribute>; asked: (a: RawAttribute) => boolean; sink: Sink }

/** One attribute's column of the record table, or undefined (refused, dropped, or already listed). */
function recordColumn(a: RawAttribute, c: Collect): RecordColumn | undefined {
  const column = lastPart(a.name);
  if (!IDENT.test(column)) {
    const why = `"${column}" names no column of the record table ${c.shown}: ${column.includes('*') ? 'a pattern' : 'not a plain SQL identifier'}`;
    if (c.asked(a)) c.sink.refusals.push(`line ${a.line}: attribute "${a.name}": ${why}; its protection would be lost`);
    else c.sink.notes.push(`line ${a.line}: attribute "${a.name}" dropped (${why}); it asks for no protection, and columns a policy does not list pass through as they are`);
    return undefined;
  }
  const key = column.toLowerCase();
  const prev = c.byColumn.get(key);
  if (prev) {
    if (prev.name.trim().toLowerCase() !== a.name.trim().toLowerCase()) c.sink.refusals.push(clash(a, prev, column, c.shown));
    return undefined;
  }
  c.byColumn.set(key, a);
  const src = sourceTable(a);
  return {
    attribute: a, at: { ...(c.table.schema !== undefined ? { schema: c.table.schema } : {}), table: c.table.table, column: key },
    note: `line ${a.line}: "${a.name}" → ${key}: a field of CLARUS's record${src === '*' ? '' : ` (${src} in the name)`}, a column of the record table ${c.shown}`,
  };
}

/**
 * The record table's columns. An attribute whose last part is a pattern or not a plain SQL
 * identifier names no column: refused when its type asks for protection, else dropped with a note.
 */
export function recordColumns(joint: RawAttribute[], table: { schema?: string; table: string }, asked: (a: RawAttribute) => boolean, sink: Sink): RecordMapping {
  const c: Collect = { table, shown: table.schema !== undefined ? `${table.schema}.${table.table}` : table.table, byColumn: new Map(), asked, sink };
  const columns = joint.flatMap((a) => recordColumn(a, c) ?? []);
  const sources = [...new Set(columns.map((x) => sourceTable(x.attribute)).filter((t) => t !== '*'))];
  return { columns, sources };
}

/** The file-level note of the record mapping: what the record table is, and what it does not cover. */
export function recordNote(table: { schema?: string; table: string }, sources: string[], fromOption: boolean): string {
  const shown = table.schema !== undefined ? `${table.schema}.${table.table}` : table.table;
  const named = sources.length > 0 ? ` The tables the names give (${sources.join(', ')}) are not datasets of this policy: the names were the header of CLARUS's file, not tables; if your data is in those tables, import it per table (<data>), which k-anonymizes each table's rows.` : '';
  return `<file>/<dataset>: one record per row of table ${shown}${fromOption ? ' (--dataset-table)' : ` (the default; choose it with --dataset-table [SCHEMA.]TABLE)`}, with every attribute as a column named by the last part of its name; k-anonymity, t-closeness and suppression apply to whole records, as CLARUS's anonymization module applied them.${named}`;
}
