// Every rule of the rewriter, listed in one place.
//
// Statement rules (below, STATEMENT_RULES) are applied by statement.ts, one per statement kind,
// after the allowlist screen (allowlist.ts) has accepted the statement. Clause rules are applied by
// the analysis of the statement that contains the clause:
//   where-equality     WHERE/HAVING/ON equality on an encrypted column   (expr.ts, `predicate`)
//   order-by           ORDER BY never on ciphertext                       (select.ts)
//   group-by-distinct  GROUP BY / DISTINCT only on deterministic values   (select.ts)
//   set-operation      UNION/INTERSECT/EXCEPT arms share a key            (select.ts)
//   star-expansion     `*` expanded, blind indexes never reach the client (select.ts)
//   insert-values, insert-select, on-conflict                              (insert.ts)
//   write-value        the value written into one protected column        (insert-values, update-set)
// Each rule file states its postcondition at its top.
import type { CreateStmt, InsertStmt } from '@pgsql/types';
import { arr, nodeBody } from '../ast.ts';
import type { Json } from '../ast.ts';
import type { Ctx } from '../context.ts';
import { referencedTables } from '../refs.ts';
import { alterTable } from './alter-table.ts';
import { analyzeCopy } from './copy.ts';
import { createIndex } from './create-index.ts';
import { createTable } from './create-table.ts';
import { analyzeDelete } from './delete.ts';
import { foreignKeysOnly } from './foreign-key.ts';
import { analyzeInsert } from './insert.ts';
import { blindIndexesNamed, resTargetNames, stringNames, targetTable } from './rule.ts';
import type { StatementRule } from './rule.ts';
import { analyzeUpdate } from './update-set.ts';
import { createTableAs } from './create-table-as.ts';

const always = (): boolean => true;
const onProtectedTable = (ctx: Ctx, b: Json): boolean => targetTable(ctx, b) !== undefined;
/** CREATE/ALTER TABLE of a protected table, or of another table that names one (a foreign key to it). */
const namesProtectedTable = (ctx: Ctx, b: Json): boolean => onProtectedTable(ctx, b) || referencedTables(ctx.catalog, b).size > 0;
const nothing = (): void => undefined;

/** The table a DDL rule is applied to (wouldEdit said there is one). */
function tableOf(ctx: Ctx, b: Json) {
  const t = targetTable(ctx, b);
  if (!t) throw new Error('rule applied to a statement without a protected table');
  return t;
}

export const STATEMENT_RULES: readonly StatementRule[] = [
  {
    name: 'insert', tag: 'InsertStmt', wouldEdit: always,
    apply: (ctx, b) => {
      ctx.batch = undefined;
      const outputs = analyzeInsert(ctx, b);
      return ctx.batch ? { outputs, batch: ctx.batch } : { outputs };
    },
    postcondition: (ctx, b) => {
      blindIndexesNamed(targetTable(ctx, b), resTargetNames(b.cols), 'INSERT');
      const insert: InsertStmt = b;
      blindIndexesNamed(targetTable(ctx, b), resTargetNames(insert.onConflictClause?.targetList), 'ON CONFLICT DO UPDATE');
    },
  },
  {
    name: 'update-set', tag: 'UpdateStmt', wouldEdit: always,
    apply: (ctx, b) => ({ outputs: analyzeUpdate(ctx, b) }),
    postcondition: (ctx, b) => blindIndexesNamed(targetTable(ctx, b), resTargetNames(b.targetList), 'UPDATE'),
  },
  { name: 'delete', tag: 'DeleteStmt', wouldEdit: always, apply: (ctx, b) => ({ outputs: analyzeDelete(ctx, b) }), postcondition: nothing },
  {
    name: 'copy', tag: 'CopyStmt', wouldEdit: always,
    apply: (ctx, b) => {
      const copy = analyzeCopy(ctx, b);
      return copy ? { outputs: [], copy } : { outputs: [] };
    },
    postcondition: (ctx, b) => {
      if (b.is_from) blindIndexesNamed(targetTable(ctx, b), stringNames(b.attlist), 'COPY FROM');
    },
  },
  {
    name: 'create-table', tag: 'CreateStmt', wouldEdit: namesProtectedTable,
    apply: (ctx, b) => {
      const t = targetTable(ctx, b);
      if (t) createTable(ctx, t, b);
      else foreignKeysOnly(ctx, b, 'CreateStmt');
      return { outputs: [] };
    },
    postcondition: (ctx, b) => {
      const create: CreateStmt = b;
      blindIndexesNamed(targetTable(ctx, b), arr(create.tableElts).map((e) => String(nodeBody(e, 'ColumnDef')?.colname ?? '')), 'CREATE TABLE');
    },
  },
  {
    name: 'create-index', tag: 'IndexStmt', wouldEdit: onProtectedTable,
    apply: (ctx, b) => {
      createIndex(ctx, tableOf(ctx, b), b);
      return { outputs: [] };
    },
    postcondition: nothing,
  },
  {
    name: 'alter-table', tag: 'AlterTableStmt', wouldEdit: namesProtectedTable,
    apply: (ctx, b) => {
      const t = targetTable(ctx, b);
      if (t) alterTable(ctx, t, b);
      else foreignKeysOnly(ctx, b, 'AlterTableStmt');
      return { outputs: [] };
    },
    postcondition: nothing,
  },
  createTableAs,
];

const BY_TAG = new Map(STATEMENT_RULES.map((r) => [r.tag, r]));

/** The statement rule for a statement kind, if there is one. */
export function statementRule(tag: string): StatementRule | undefined {
  return BY_TAG.get(tag);
}
