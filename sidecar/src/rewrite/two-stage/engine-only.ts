// The last resort of the two-stage split (issue 10): a SELECT whose computations the other splits
// cannot place (an IN subquery over randomized values, a FROM subquery that computes, a computing
// WITH query read next to a table) runs entirely in the engine. Every table it names becomes one arm
// of the backend stage (all its columns, no condition: the backend learns that the tables were read
// whole), and a WITH query of the table's name in the engine, so the statement runs there as written:
// the engine resolves its names, correlations and subqueries exactly as PostgreSQL would.
//
// Only tables the catalog knows (loaded from the backend), named without a schema; never a statement
// that reads an anonymized column (its stored form is not its value). The checks that views of the
// proxy's carry (view-guards.ts) read the backend's catalog: they are taken out for the backend stage.
import { arr, body, colRefNames, columnRef, isObj, tagOf } from '../ast.ts';
import { guardBackend, liftGuards } from '../view-guards.ts';
import { armFilters } from './arm-filters.ts';
import type { ArmPushable } from './arm-filters.ts';
import type { Json } from '../ast.ts';
import { armsJoined, Collector, no, withParams } from './split.ts';
import type { Block, TwoStage } from './split.ts';
import { engineOnly } from './with.ts';

/** What the catalog says of a table: its columns the engine may load, and its anonymized ones. */
export interface TableColumns { columns: string[]; anonymized: string[] }
export type TablesOf = (name: string) => TableColumns | null;

interface Found { tables: Map<string, TableColumns>; refs: Set<string> }

function scan(node: unknown, ctes: ReadonlySet<string>, tablesOf: TablesOf, out: Found): void {
  if (Array.isArray(node)) { for (const n of node) scan(n, ctes, tablesOf, out); return; }
  if (!node || typeof node !== 'object') return;
  const t = tagOf(node);
  if (t?.[0] === 'RangeVar') {
    const name = String(t[1].relname);
    if (t[1].schemaname || t[1].catalogname) no('a table named with its schema');
    if (!ctes.has(name) && !out.tables.has(name)) out.tables.set(name, tablesOf(name) ?? no(`table ${name}, whose columns are not known`));
  }
  if (t?.[0] === 'ColumnRef') out.refs.add(colRefNames(t[1]).at(-1) ?? '');
  if (t?.[0] === 'RangeFunction' || t?.[0] === 'RangeTableSample') no('a function or TABLESAMPLE in FROM');
  if (t?.[0] === 'LockingClause' || t?.[0] === 'IntoClause') no('FOR UPDATE/SHARE or INTO');
  for (const v of Object.values(node as Json)) scan(v, ctes, tablesOf, out);
}

/** Splits `s` with every table it names loaded whole and the statement computed in the engine. */
export function splitAllInEngine(statement: Json, differs: ReadonlySet<string>, tablesOf: TablesOf, pushable?: ArmPushable): TwoStage {
  // The checks of the views expanded in it read the backend's catalog: they go with the backend stage.
  const lifted = liftGuards(statement);
  const node = isObj(lifted.node) ? lifted.node : statement;
  const filters = pushable ? armFilters(node, tablesOf, pushable) : { statement: node, byTable: new Map<string, unknown[]>() };
  const split = splitAll(filters.statement, differs, tablesOf, filters.byTable);
  guardBackend(split.backend, lifted.guards);
  return split;
}

function splitAll(s: Json, differs: ReadonlySet<string>, tablesOf: TablesOf, filters: ReadonlyMap<string, unknown[]>): TwoStage {
  if (s.intoClause || arr(s.lockingClause).length > 0) no('FOR UPDATE/SHARE or INTO');
  const w = body(s.withClause, 'WithClause') ?? (s.withClause as Json | undefined);
  if (w?.recursive) no('WITH RECURSIVE');
  const ctes = arr(w?.ctes).map((x) => body(x, 'CommonTableExpr') as Json);
  const found: Found = { tables: new Map(), refs: new Set() };
  scan(s, new Set(ctes.map((x) => String(x.ctename))), tablesOf, found);
  if (found.tables.size === 0) no('no table');
  for (const t of found.tables.values()) if (t.anonymized.some((a) => found.refs.has(a))) no('an anonymized column');
  const params: number[] = [];
  const arms = [...found.tables].map(([name, t], i) => {
    const c = new Collector(differs, `t${i + 1}_`, params);
    for (const col of t.columns) { c.refs.push(columnRef([name, col])); c.names.push(`t${i + 1}_${c.names.length + 1}`); }
    const b: Block = { from: [{ RangeVar: { relname: name, inh: true, relpersistence: 'p', location: -1 } }], pushed: filters.get(name) ?? [], kept: 0, residual: {} };
    return { c, b, name, t };
  });
  const top = new Collector(differs, 'x', params);
  const residual = engineOnly({ ...s, withClause: undefined }, top, differs) as Json;
  delete residual.withClause;
  const tableCtes = arms.map(({ c, name, t }, i) => ({ CommonTableExpr: { ctename: name, ctematerialized: 'CTEMaterializeDefault', location: -1, ctequery: { SelectStmt: {
    targetList: t.columns.map((col, k) => ({ ResTarget: { name: col, val: columnRef(['clarus_candidates', c.names[k] as string]), location: -1 } })),
    fromClause: [{ RangeVar: { relname: 'clarus_candidates', inh: true, relpersistence: 'p', location: -1 } }],
    whereClause: { A_Expr: { kind: 'AEXPR_OP', name: [{ String: { sval: '=' } }], lexpr: columnRef(['clarus_candidates', 'arm']), rexpr: { A_Const: { ival: { ival: i + 1 } } }, location: -1 } },
    limitOption: 'LIMIT_OPTION_DEFAULT', op: 'SETOP_NONE' } } } }));
  // The statement's own WITH queries follow the tables' (they may read them), parameters renumbered.
  const own = ctes.map((cte) => ({ CommonTableExpr: { ...cte, ctequery: engineOnly(cte.ctequery, top, differs) } }));
  const engineWith = { ...(w ?? {}), ctes: [...tableCtes, ...own] };
  residual.withClause = body(s.withClause, 'WithClause') ? { WithClause: engineWith } : engineWith;
  const backend = armsJoined(arms);
  const columns = ['arm', ...arms.flatMap(({ c }) => c.names)];
  const { blank } = withParams(backend, columns, top, arms.map(({ b }) => b.pushed));
  return { backend, residual, columns, params, blank, pushed: arms.reduce((n, { b }) => n + b.pushed.length, 0), kept: 0 };
}
