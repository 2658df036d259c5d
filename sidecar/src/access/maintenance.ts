// The maintenance database (issue 11): test runners connect to `postgres` to create and drop their
// test database (Django's `_nodb_cursor`; it falls back to the test database itself, which cannot
// drop itself). A protecting proxy whose configuration maps no database of that name serves it on
// the default backend's server (config/load.ts backendFor) for these statements only: CREATE and
// DROP DATABASE (of test databases, rewrite/statements.ts), SET, SHOW, transaction control and
// SELECTs that read no relation. Anything else is refused, so the `postgres` database's own tables
// stay out of reach.
import { parseStatements } from '../rewrite/parser.ts';

export const MAINTENANCE_DATABASE = 'postgres';

const ALLOWED = new Set(['CreatedbStmt', 'DropdbStmt', 'VariableSetStmt', 'VariableShowStmt', 'TransactionStmt', 'SelectStmt']);

/** Whether a node names a relation or a FROM item anywhere (sub-selects included). */
function readsRelations(node: unknown): boolean {
  if (Array.isArray(node)) return node.some(readsRelations);
  if (!node || typeof node !== 'object') return false;
  return Object.entries(node).some(([k, v]) => namesRelation(k, v) || readsRelations(v));
}

/** A key that is itself a relation, or a non-empty FROM list. */
const RELATION_KEYS = new Set(['RangeVar', 'intoClause', 'relation']);

function namesRelation(k: string, v: unknown): boolean {
  return RELATION_KEYS.has(k) || (k === 'fromClause' && Array.isArray(v) && v.length > 0);
}

/** Why `sql` is refused in a maintenance session, or null (text that does not parse is the rewriter's to refuse). */
export function maintenanceRefusal(sql: string): string | null {
  let stmts;
  try {
    stmts = parseStatements(sql);
  } catch {
    return null;
  }
  for (const s of stmts) {
    const tag = Object.keys(s.stmt)[0] ?? '';
    if (!ALLOWED.has(tag) || readsRelations(s.stmt)) {
      return `clarus: the proxy serves database "${MAINTENANCE_DATABASE}" only to create and drop test databases (CREATE/DROP DATABASE, SET, SHOW, transaction control, SELECT without relations); connect to the application's database for anything else`;
    }
  }
  return null;
}
