// Dispatch of one parsed statement to its rule (rules/index.ts), whose postcondition is checked on
// the edited statement. Statements of kinds no rule takes are passed when they reference no
// protected table, and refused when they do (fail closed).
import type { ExplainStmt } from '@pgsql/types';
import { nodeTag, untyped } from './ast.ts';
import type { Ctx } from './context.ts';
import { refuse } from './refusals.ts';
import { statementRule } from './rules/index.ts';
import type { StatementResult } from './rules/rule.ts';
import { analyzeSelect } from './select.ts';
import { referencedTables } from './refs.ts';
import { analyzePrepare } from './rules/prepare.ts';

export type { StatementResult } from './rules/rule.ts';

const WRITE_TAGS = new Set(['DropStmt', 'TruncateStmt', 'RenameStmt', 'CommentStmt', 'GrantStmt', 'LockStmt', 'VacuumStmt', 'ClusterStmt', 'ReindexStmt']);

function touchAll(ctx: Ctx, names: Set<string>): void {
  for (const n of names) {
    const [schema, table] = n.split('.') as [string, string];
    const t = ctx.catalog.lookup(schema, table);
    if (t) ctx.touch(t);
  }
}

function other(ctx: Ctx, tag: string, b: object, text: string): StatementResult {
  const refs = referencedTables(ctx.catalog, b);
  if (refs.size === 0) {
    const opaque = tag === 'DoStmt' || tag === 'CreateFunctionStmt';
    const lower = text.toLowerCase();
    if (opaque && ctx.catalog.names.some((n) => lower.includes(n))) refuse('proceduralCode');
    return { outputs: [] };
  }
  touchAll(ctx, refs);
  if (tag === 'ViewStmt') refuse('viewOverProtected', { table: [...refs].join(', ') });
  if (WRITE_TAGS.has(tag)) {
    ctx.write = true;
    return { outputs: [] };
  }
  refuse('statementKind', { kind: tag.replace(/Stmt$/, '') });
}

function explain(ctx: Ctx, b: ExplainStmt, text: string): StatementResult {
  const inner = analyzeStatement(ctx, b.query, text);
  void inner;
  return { outputs: [] };
}

export function analyzeStatement(ctx: Ctx, stmt: unknown, text: string): StatementResult {
  const t = nodeTag(stmt);
  if (!t) return { outputs: [] };
  const [tag, b] = t;
  if (tag === 'SelectStmt') return { outputs: analyzeSelect(ctx, b, undefined, true) };
  if (tag === 'ExplainStmt') return explain(ctx, b, text);
  // A cursor's rows are its query's: analysed (and rewritten) like it; the session shows FETCHed
  // rows with the query's outputs (access/cursors.ts).
  if (tag === 'DeclareCursorStmt') return { outputs: analyzeStatement(ctx, b.query, text).outputs };
  // A SQL-level prepared statement is rewritten like a Parse of it; EXECUTE returns its outputs (rules/prepare.ts).
  if (tag === 'PrepareStmt') return analyzePrepare(ctx, untyped(b), text, analyzeStatement);
  // The rules take the statement's body untyped (rules/rule.ts), each reading its own kind.
  const rb = untyped(b);
  const rule = statementRule(tag);
  if (!rule || !rule.wouldEdit(ctx, rb)) return other(ctx, tag, b, text);
  const result = rule.apply(ctx, rb);
  rule.postcondition(ctx, rb);
  return result;
}
