// Flyway's `SELECT set_config('search_path', $1, false)` (rewrite/search-path.ts): the value arrives
// at Bind, so the statement is accepted as it is and each Bind's value is checked there — the
// pinned schemas (`"$user", public` in any order or spelling) go on, any other value fails that Bind
// (0A000) before it reaches the backend. Pure.
import { parseStatements } from '../rewrite/parser.ts';
import { isPinnedSearchPath, searchPathParameter, searchPathSchemas } from '../rewrite/search-path.ts';
import { StatementError } from '../session/pipeline.ts';
import type { RewriteStatement } from '../session/pipeline.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';

const PINNED = 'search_path is pinned by the proxy while a policy protects data (the analysis depends on it); it can only be set to its pinned schemas ("$user", public)';

/** The decision of a Parse that is exactly that call, or undefined for any other text. */
export function searchPathBind(sql: string): RewriteStatement | undefined {
  if (!/search_path/i.test(sql)) return undefined;
  let n: number | null;
  try {
    const parsed = parseStatements(sql);
    n = parsed.length === 1 && parsed[0] ? searchPathParameter(parsed[0].stmt) : null;
  } catch {
    return undefined;
  }
  if (n === null) return undefined;
  const at = n - 1;
  return {
    kind: 'rewrite', sql, shape: 'search-path',
    params: (values) => {
      const v = values[at];
      if (v === null || v === undefined || !isPinnedSearchPath(searchPathSchemas(Buffer.from(v).toString('utf8')))) throw new StatementError(SQLSTATE.featureNotSupported, PINNED);
      return values;
    },
  };
}
