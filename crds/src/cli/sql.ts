// `explain --sql`: the protected columns a statement references (see explain/sql.ts), or a parse error.
import type { RuntimeDataset } from '../runtime/config.ts';
import { analyzeSql, formatSqlAnalysis } from '../explain/sql.ts';

export async function explainSql(sql: string, datasets: RuntimeDataset[], defaultBackend: string): Promise<string> {
  try {
    return formatSqlAnalysis(await analyzeSql(sql, datasets, defaultBackend));
  } catch (e) {
    return `ERROR: the statement does not parse: ${(e as Error).message}\n`;
  }
}
