// `explain --sql`: the proxy's rewriting of the statement (or its refusal), and the protected
// columns it references; a parse error is reported as such.
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { formatRewrite, rewriteSql } from './explain/rewrite.ts';
import { analyzeSql } from './explain/sql.ts';

export async function explainSql(sql: string, policy: RuntimePolicy): Promise<string> {
  try {
    const refs = await analyzeSql(sql, policy.datasets, policy.defaultBackend);
    return formatRewrite(await rewriteSql(sql, policy), refs.rows);
  } catch (e) {
    return `ERROR: the statement does not parse: ${(e as Error).message}\n`;
  }
}
