// The logical column order of split tables (issue 12): the order of the client's CREATE TABLE,
// which no single fragment has (each backend holds the row key and its own columns). The proxy
// records it in `clarus_split.columns` on the home backend, in the transaction of the DDL that
// changes it (CREATE TABLE records it, ADD COLUMN appends, DROP COLUMN removes, DROP TABLE
// forgets), and reads it back on the session's home connection, so a block sees its own DDL and
// a replica sees another's as soon as it commits. A table without a row (created on the backends
// directly) keeps the home-first order, and INSERT / COPY FROM without a column list are refused
// on it. Pure (order-io.ts reads and writes the table).
import { SQLSTATE } from '../protocol/sqlstate.ts';
import { quoteLiteral } from '../residual/plan.ts';
import { StatementError } from '../session/pipeline.ts';
import type { SplitLayout } from './layout.ts';

export const COLUMNS = 'clarus_split.columns';

/**
 * Makes the order table (with the decision table, proxy start). Every role may read it (the
 * read-only role's sessions read the order; it holds column names only, which the catalog shows
 * anyway); only its owner, the proxy's read-write role, writes it.
 */
export const COLUMNS_DDL = `CREATE TABLE IF NOT EXISTS ${COLUMNS} (schema_name text NOT NULL, table_name text NOT NULL, columns text[] NOT NULL, PRIMARY KEY (schema_name, table_name));
GRANT USAGE ON SCHEMA clarus_split TO PUBLIC;
GRANT SELECT ON ${COLUMNS} TO PUBLIC`;

/** A change of a split table's recorded order, made with the DDL that causes it. */
export type OrderChange =
  | { kind: 'create'; columns: string[]; ifNotExists: boolean }
  | { kind: 'add'; columns: string[] }
  | { kind: 'drop'; columns: string[] }
  | { kind: 'forget' };

const where = (l: Pick<SplitLayout, 'schema' | 'table'>): string => `schema_name = ${quoteLiteral(l.schema)} AND table_name = ${quoteLiteral(l.table)}`;
const textArray = (names: readonly string[]): string => `ARRAY[${names.map(quoteLiteral).join(', ')}]::text[]`;

/**
 * The SQL that records `change` (home backend, in the DDL's transaction). CREATE TABLE replaces a
 * row left by a table dropped outside the proxy (the CREATE succeeded: no table had the name);
 * CREATE TABLE IF NOT EXISTS keeps an existing row. A table without a row stays without one.
 */
export function recordSql(l: Pick<SplitLayout, 'schema' | 'table'>, change: OrderChange): string {
  switch (change.kind) {
    case 'create': {
      const onConflict = change.ifNotExists ? 'DO NOTHING' : 'DO UPDATE SET columns = EXCLUDED.columns';
      return `INSERT INTO ${COLUMNS} (schema_name, table_name, columns) VALUES (${quoteLiteral(l.schema)}, ${quoteLiteral(l.table)}, ${textArray(change.columns)}) ON CONFLICT (schema_name, table_name) ${onConflict}`;
    }
    case 'add':
      // ADD COLUMN IF NOT EXISTS of a column the table has leaves it where it is.
      return change.columns.map((c) => `UPDATE ${COLUMNS} SET columns = columns || ${quoteLiteral(c)}::text WHERE ${where(l)} AND NOT (${quoteLiteral(c)} = ANY (columns))`).join(';\n');
    case 'drop':
      return `UPDATE ${COLUMNS} SET columns = ARRAY(SELECT c FROM unnest(columns) WITH ORDINALITY u(c, i) WHERE c <> ALL (${textArray(change.columns)}) ORDER BY i) WHERE ${where(l)}`;
    case 'forget':
      return `DELETE FROM ${COLUMNS} WHERE ${where(l)}`;
  }
}

/** The query that reads a table's recorded order (one row, a text[]; no row when none is recorded). */
export function orderQuery(l: Pick<SplitLayout, 'schema' | 'table'>): string {
  return `SELECT columns FROM ${COLUMNS} WHERE ${where(l)}`;
}

/** The quoted array element starting at `s[i]` (a `"`): its text and where the next one starts. */
function quotedElement(s: string, i: number): { item: string; next: number } {
  let item = '';
  let at = i + 1;
  while (at < s.length && s[at] !== '"') {
    if (s[at] === '\\') at++;
    item += s[at] ?? '';
    at++;
  }
  return { item, next: at + 2 };
}

/** A PostgreSQL text[] value in text form (`{a,"b c"}`) as its elements (no NULL element). */
export function parseTextArray(v: string): string[] {
  if (!v.startsWith('{') || !v.endsWith('}')) throw new Error(`not an array literal: ${v}`);
  const out: string[] = [];
  const s = v.slice(1, -1);
  let i = 0;
  while (i < s.length) {
    if (s[i] === '"') {
      const q = quotedElement(s, i);
      out.push(q.item);
      i = q.next;
      continue;
    }
    const end = s.indexOf(',', i);
    out.push(s.slice(i, end < 0 ? s.length : end));
    i = end < 0 ? s.length : end + 1;
  }
  return out;
}

function mismatch(l: SplitLayout, order: readonly string[], names: readonly string[]): StatementError {
  return new StatementError(SQLSTATE.objectNotInPrerequisiteState,
    `clarus: the recorded column order of split table ${l.schema}.${l.table} (${order.join(', ')}) does not match the columns its fragments have (${names.join(', ')})`,
    `The table was changed on a backend without the proxy. Make the fragments match the recorded order, or correct or delete its row in ${COLUMNS} on the home backend.`);
}

/**
 * Where each column of the recorded order is among `names` (the recomposed relation's columns:
 * the home fragment's, then each other fragment's): the permutation that shows them in the
 * logical order. Fails closed (55000) when the two disagree: a column recorded and absent, or
 * one present and not recorded.
 */
export function logicalPermutation(l: SplitLayout, order: readonly string[], names: readonly string[]): number[] {
  const at = order.map((c) => names.indexOf(c));
  if (order.length !== names.length || at.some((i) => i < 0) || new Set(at).size !== at.length) throw mismatch(l, order, names);
  return at;
}

/** Recomposed fields and rows shown in the recorded order (`order`; null: as the fragments gave them, home first). */
export function inOrder<F extends { name: string }, V>(l: SplitLayout | null, order: readonly string[] | null, fields: F[], rows: V[][]): [F[], V[][]] {
  if (order === null || !l) return [fields, rows];
  const at = logicalPermutation(l, order, fields.map((f) => f.name));
  return [at.map((i) => fields[i] as F), rows.map((row) => at.map((i) => row[i] as V))];
}

/**
 * The column list of an INSERT or COPY without one: the first `width` columns of the recorded
 * order (an INSERT's VALUES width: PostgreSQL fills the others with their defaults; COPY: all of
 * them). Refuses when none is recorded.
 */
export function positionalColumns(l: SplitLayout, order: readonly string[] | null, what: string, width = order?.length ?? 0): string[] {
  if (order === null) {
    throw new StatementError(SQLSTATE.featureNotSupported,
      `clarus: ${what} without a column list on split table ${l.schema}.${l.table} (dataset ${l.dataset}) is not supported: its column order was not recorded (the table was not created through the proxy${l.points ? ', or it has a point split by coordinates' : ''}); name the columns`);
  }
  if (width > order.length) throw new StatementError(SQLSTATE.syntaxError, `${what} has more expressions than target columns`);
  return order.slice(0, width);
}
