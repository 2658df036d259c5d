// Rule create-table-as: CREATE TABLE … AS (and CREATE MATERIALIZED VIEW … AS) while a policy
// protects data. Postcondition: the new table does not take a protected table's name, and none of
// its columns carries a protected column's stored form (ciphertext, blind index, anonymized value):
// the new table is outside the policy. Its query is rewritten like any SELECT (equality on
// encrypted columns goes to the stored form). A materialized view is refused: the backend would
// refresh it later without the proxy. SELECT … INTO is the same rule, applied in select.ts.
import type { IntoClause } from '@pgsql/types';
import { body, isObj } from '../ast.ts';
import { refuse, Refusal } from '../refusals.ts';
import { analyzeSelect, newTableTarget, plainNewTable } from '../select.ts';
import type { StatementRule } from './rule.ts';

export const createTableAs: StatementRule = {
  name: 'create-table-as',
  tag: 'CreateTableAsStmt',
  wouldEdit: () => true,
  apply: (ctx, b) => {
    ctx.write = true;
    const into: IntoClause | undefined = isObj(b.into) ? b.into : undefined;
    newTableTarget(ctx, into?.rel);
    if (b.objtype === 'OBJECT_MATVIEW') refuse('materializedView');
    const q = body(b.query, 'SelectStmt');
    if (!q) refuse('statementKind', { kind: 'CreateTableAs' });
    let outs;
    try {
      outs = analyzeSelect(ctx, q, undefined, false);
    } catch (e) {
      // A query that computes on encrypted values: the new table would hold them in clear.
      if (e instanceof Refusal && e.kind === 'encryptedConstruct') refuse('newTableComputed', { what: 'CREATE TABLE … AS', why: e.message.replace(/^clarus: /, '') });
      throw e;
    }
    plainNewTable(outs, 'CREATE TABLE … AS');
    return { outputs: [] };
  },
  postcondition: () => undefined,
};
