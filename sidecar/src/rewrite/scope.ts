// Name resolution: the relations visible at one query level (tables, subqueries, CTEs, joins)
// and the enclosing levels for correlated subqueries. Unknown relations (not in the policy)
// contribute unknown columns, which are treated as plain data.
import type { CatalogColumn, CatalogTable } from './catalog.ts';
import type { ProtectedRef } from './context.ts';
import { isEncrypted } from './catalog.ts';
import type { OutAnon } from './expr.ts';

/** An output column of a query level: its name and, when it carries ciphertext, where from. */
export interface OutCol {
  name: string;
  prov: ProtectedRef | null;
  /** An unexpanded `*` of an unknown relation: unknown number of columns. */
  star?: boolean;
  /** A blind-index column added so outer levels can compare a searchable column (never shown). */
  hidden?: boolean;
  /** What it carries of anonymized columns (expr.ts OutAnon), null: none; undefined: not traced. */
  anon?: OutAnon | null;
  /** The output is a bare NULL literal (it carries no value of any column). */
  nullConst?: boolean;
}

export interface Relation {
  alias: string;
  /** Set for a protected (policy) table referenced directly. */
  table?: CatalogTable;
  /** Known columns (policy table, subquery, CTE); undefined = unknown relation. */
  columns?: OutCol[];
}

export interface Scope {
  relations: Relation[];
  ctes: Map<string, OutCol[]>;
  parent?: Scope;
  /** True when the FROM clause has JOIN … USING or NATURAL JOIN (star expansion would differ). */
  mergedJoin: boolean;
}

export function newScope(parent?: Scope): Scope {
  return { relations: [], ctes: new Map(parent?.ctes ?? []), parent, mergedJoin: false };
}

function outCol(t: CatalogTable, c: CatalogColumn): OutCol {
  return {
    name: c.name,
    prov: isEncrypted(c) ? { table: t, column: c } : null,
    anon: c.protection.kind === 'anonymize' ? { ref: { table: t, column: c as OutAnon['ref']['column'] }, exact: true } : null,
  };
}

export function tableColumns(t: CatalogTable): OutCol[] {
  return t.columns.map((c) => outCol(t, c));
}

/**
 * A protected policy column the loaded column list lacks: added around this proxy since the load
 * (another replica, straight to the backend). Named in a statement, it is still protected.
 */
function policyColumn(rel: Relation, name: string): OutCol | undefined {
  const c = rel.table?.byName.get(name);
  return rel.table && c && c.protection.kind !== 'plain' ? outCol(rel.table, c) : undefined;
}

export type Resolved = { kind: 'column'; rel: Relation; col: OutCol } | { kind: 'unknown' };

function findIn(scope: Scope, names: string[]): Resolved | null {
  const col = names[names.length - 1] as string;
  const qual = names.length >= 2 ? names[names.length - 2] : undefined;
  const schema = names.length >= 3 ? names[names.length - 3] : undefined;
  for (const rel of scope.relations) {
    if (qual !== undefined && rel.alias !== qual) continue;
    if (schema !== undefined && rel.table && rel.table.schema !== schema) continue;
    const c = rel.columns?.find((x) => x.name === col) ?? policyColumn(rel, col);
    if (c) return { kind: 'column', rel, col: c };
    if (qual !== undefined) return { kind: 'unknown' };
  }
  return null;
}

/**
 * Resolves a ColumnRef's names through this level, then the enclosing ones. A level with a
 * relation the policy does not describe (unknown columns) may hold an unqualified name itself;
 * PostgreSQL would then take that one, not an outer level's. When the outer match is a protected
 * column, the proxy cannot tell which one the backend will use: `ambiguous`.
 */
export function resolve(scope: Scope, names: string[]): Resolved | { kind: 'ambiguous'; col: OutCol } {
  let uncertain = false;
  for (let s: Scope | undefined = scope; s; s = s.parent) {
    const r = findIn(s, names);
    if (r) return uncertain && r.kind === 'column' && r.col.prov ? { kind: 'ambiguous', col: r.col } : r;
    if (names.length === 1 && s.relations.some((rel) => !rel.columns || rel.columns.some((c) => c.star))) uncertain = true;
  }
  return { kind: 'unknown' };
}
