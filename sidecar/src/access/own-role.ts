// `SET [SESSION | LOCAL] ROLE r` where r is the role the session's backend connection logged in as
// (or NONE, which is that role too): it changes no privilege, and migration tools send it to put
// a connection back as they found it (Flyway: `SET ROLE '<current_user at start>'` after every
// migration). The role is pinned while a policy protects data (rewrite/statements.ts), so any
// other SET ROLE stays refused.
import { arr, body } from '../rewrite/ast.ts';
import type { Json } from '../rewrite/ast.ts';
import { parseStatements } from '../rewrite/parser.ts';

function roleValue(stmt: Json): string | undefined {
  const b = body(stmt, 'VariableSetStmt');
  if (!b || b.kind !== 'VAR_SET_VALUE' || b.name !== 'role') return undefined;
  const args = arr(b.args);
  const c = args.length === 1 ? body(args[0], 'A_Const') : undefined;
  const v = (c?.sval as Json | undefined)?.sval;
  return typeof v === 'string' ? v : undefined;
}

/** Whether `sql` is one SET ROLE to the backend login `login` (a no-op the proxy lets through). */
export function setsOwnRole(sql: string, login: string | undefined): boolean {
  if (!login || !/^\s*set\s/i.test(sql)) return false;
  let stmts;
  try {
    stmts = parseStatements(sql);
  } catch {
    return false;
  }
  const only = stmts.length === 1 ? stmts[0] : undefined;
  const role = only ? roleValue(only.stmt) : undefined;
  return role !== undefined && (role === login || role === 'none');
}
