// The shape every statement rule has (eql-mapper's transformation rules): whether it takes a
// statement, the edit itself, and a postcondition checked on the edited statement. A postcondition
// that does not hold is an internal error of the rule: the statement is refused (fail closed),
// never sent half-rewritten.
import type { RangeVar } from '@pgsql/types';
import { arr, body, sval } from '../ast.ts';
import type { Json } from '../ast.ts';
import { isEncrypted } from '../catalog.ts';
import type { CatalogTable } from '../catalog.ts';
import type { Ctx } from '../context.ts';
import { blindIndexName } from '../hidden.ts';
import { refuse } from '../refusals.ts';
import type { OutCol } from '../scope.ts';
import type { CopyPlan } from './copy.ts';
import type { BatchReport } from '../../protection/anonymization/microaggregate.ts';

/** What a statement's analysis gives the plan besides the edited tree. */
export interface StatementResult {
  outputs: OutCol[];
  copy?: CopyPlan;
  /** A multi-row INSERT into a k-anonymity table: the report of its batch (NOTICE, metrics, audit). */
  batch?: InsertBatch;
}

/** The k-anonymity batch one INSERT … VALUES stored: its table and report. */
export interface InsertBatch { table: CatalogTable; report: BatchReport }

export interface StatementRule {
  /** The rule's name, which is also its file's name under rules/. */
  readonly name: string;
  /** The statement node it handles (`InsertStmt`, `CreateStmt`…). */
  readonly tag: string;
  /**
   * Whether apply may edit (or refuse) this statement. When false the statement is left to the
   * generic handling in statement.ts: passed, or refused when it names a protected table.
   */
  wouldEdit(ctx: Ctx, b: Json): boolean;
  /** Edits the statement body in place; throws a Refusal for what it cannot protect. */
  apply(ctx: Ctx, b: Json): StatementResult;
  /** Checked on the edited body: throws a Refusal when the rule's postcondition does not hold. */
  postcondition(ctx: Ctx, b: Json): void;
}

/** The protected table a statement's `relation` names, if any. */
export function targetTable(ctx: Ctx, b: Json): CatalogTable | undefined {
  const rv = b.relation as RangeVar | undefined;
  return rv?.relname ? ctx.catalog.lookup(rv.schemaname, rv.relname) : undefined;
}

/**
 * Postcondition shared by the rules that name columns of a protected table (INSERT's column list,
 * UPDATE's SET list, COPY FROM's column list, CREATE TABLE's columns): each searchable encrypted
 * column named is accompanied by its hidden blind index.
 */
export function blindIndexesNamed(table: CatalogTable | undefined, names: readonly string[], construct: string): void {
  if (!table) return;
  const named = new Set(names);
  for (const n of names) {
    const c = table.byName.get(n);
    if (c && isEncrypted(c) && c.protection.searchable && !named.has(blindIndexName(n))) {
      refuse('unexpectedShape', { error: `${construct} names ${table.table}.${n} without its blind index` });
    }
  }
}

/** The names of a list of ResTarget nodes (INSERT columns, SET list). */
export function resTargetNames(list: unknown): string[] {
  return arr(list).map((i) => String(body(i, 'ResTarget')?.name ?? ''));
}

/** The names of a list of String nodes (COPY's column list). */
export function stringNames(list: unknown): string[] {
  return arr(list).map((n) => sval(n) ?? '');
}

/** Every name-like string of a tree: String nodes, string constants, `name` / `colname` fields. */
function namesIn(node: unknown, out: Set<string>): void {
  if (Array.isArray(node)) {
    for (const n of node) namesIn(n, out);
    return;
  }
  if (!node || typeof node !== 'object') return;
  for (const [k, v] of Object.entries(node)) {
    if (typeof v === 'string' && (k === 'sval' || k === 'name' || k === 'colname')) out.add(v);
    else namesIn(v, out);
  }
}

function wholeRow(t: CatalogTable, node: unknown): boolean {
  if (Array.isArray(node)) return node.some((n) => wholeRow(t, n));
  if (!node || typeof node !== 'object') return false;
  const ref = body(node, 'ColumnRef');
  if (ref) {
    const fields = arr(ref.fields);
    if (fields.some((f) => body(f, 'A_Star'))) return true;
    if (fields.length === 1 && sval(fields[0]) === t.table) return true;
  }
  return Object.values(node).some((v) => wholeRow(t, v));
}

/**
 * A protected column a definition (CHECK, DEFAULT, GENERATED, index expression or predicate,
 * USING) may read: one it names, or any of them when it reads the whole row (`patient::text`).
 * Conservative: any identifier or string constant equal to a protected column's name counts.
 */
export function protectedColumnIn(t: CatalogTable, node: unknown): string | undefined {
  if (node === undefined || node === null) return undefined;
  const names = new Set<string>();
  namesIn(node, names);
  const cols = [...t.byName.values()].filter((c) => c.protection.kind !== 'plain');
  const hit = cols.find((c) => names.has(c.name));
  if (hit) return hit.name;
  return wholeRow(t, node) ? cols[0]?.name : undefined;
}
