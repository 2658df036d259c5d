// Dispatch of one parsed statement to its rule. Statements of kinds no rule knows are passed
// when they reference no protected table, and refused when they do (fail closed).
import { tagOf } from './ast.ts';
import type { Json } from './ast.ts';
import type { Ctx } from './context.ts';
import { refuse } from './refusals.ts';
import type { CopyPlan } from './rules/copy.ts';
import { analyzeCopy } from './rules/copy.ts';
import type { Learned } from './rules/create-table.ts';
import { createTable } from './rules/create-table.ts';
import { createIndex } from './rules/create-index.ts';
import { alterTable } from './rules/alter-table.ts';
import { analyzeDelete } from './rules/delete.ts';
import { analyzeInsert } from './rules/insert.ts';
import { analyzeUpdate } from './rules/update-set.ts';
import { analyzeSelect } from './select.ts';
import { referencedTables } from './refs.ts';
import type { OutCol } from './scope.ts';

export interface StatementResult {
  outputs: OutCol[];
  copy?: CopyPlan;
  learned?: Learned;
}

const WRITE_TAGS = new Set(['DropStmt', 'TruncateStmt', 'RenameStmt', 'CommentStmt', 'GrantStmt', 'LockStmt', 'VacuumStmt', 'ClusterStmt', 'ReindexStmt']);

function touchAll(ctx: Ctx, names: Set<string>): void {
  for (const n of names) {
    const [schema, table] = n.split('.') as [string, string];
    const t = ctx.catalog.lookup(schema, table);
    if (t) ctx.touch(t);
  }
}

function other(ctx: Ctx, tag: string, b: Json, text: string): StatementResult {
  const refs = referencedTables(ctx.catalog, b);
  if (refs.size === 0) {
    const opaque = tag === 'DoStmt' || tag === 'CreateFunctionStmt';
    const lower = text.toLowerCase();
    if (opaque && ctx.catalog.names.some((n) => lower.includes(n))) refuse('proceduralCode');
    return { outputs: [] };
  }
  touchAll(ctx, refs);
  if (WRITE_TAGS.has(tag)) {
    ctx.write = true;
    return { outputs: [] };
  }
  refuse('statementKind', { kind: tag.replace(/Stmt$/, '') });
}

function explain(ctx: Ctx, b: Json, text: string): StatementResult {
  const inner = analyzeStatement(ctx, b.query as Json, text);
  void inner;
  return { outputs: [] };
}

export function analyzeStatement(ctx: Ctx, stmt: Json, text: string): StatementResult {
  const t = tagOf(stmt);
  if (!t) return { outputs: [] };
  const [tag, b] = t;
  switch (tag) {
    case 'SelectStmt': return { outputs: analyzeSelect(ctx, b, undefined, true) };
    case 'InsertStmt': return { outputs: analyzeInsert(ctx, b) };
    case 'UpdateStmt': return { outputs: analyzeUpdate(ctx, b) };
    case 'DeleteStmt': return { outputs: analyzeDelete(ctx, b) };
    case 'ExplainStmt': return explain(ctx, b, text);
    case 'CopyStmt': {
      const copy = analyzeCopy(ctx, b);
      return copy ? { outputs: [], copy } : { outputs: [] };
    }
    default: return ddl(ctx, tag, b, text);
  }
}

function ddl(ctx: Ctx, tag: string, b: Json, text: string): StatementResult {
  const rv = (tag === 'CreateStmt' || tag === 'IndexStmt' || tag === 'AlterTableStmt' ? b.relation : undefined) as Json | undefined;
  const table = rv ? ctx.catalog.lookup(rv.schemaname as string | undefined, String(rv.relname)) : undefined;
  if (table && tag === 'CreateStmt') return { outputs: [], learned: createTable(ctx, table, b) };
  if (table && tag === 'IndexStmt') {
    createIndex(ctx, table, b);
    return { outputs: [] };
  }
  if (table && tag === 'AlterTableStmt') {
    alterTable(ctx, table, b);
    return { outputs: [] };
  }
  return other(ctx, tag, b, text);
}
