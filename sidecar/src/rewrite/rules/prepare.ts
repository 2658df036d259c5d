// SQL-level `PREPARE name [(types)] AS statement` (issue 11): the statement is analysed and
// rewritten like a Parse of it: its `$n` are parameters, and the roles the rules give them
// (encrypt for a column, blind index, anonymize…) are applied by the session at each `EXECUTE`
// (access/sql-prepared.ts), as they are at each Bind. A parameter that now carries a stored form is
// declared with that form's type (bytea, bytea[], text[]), so the backend's prepared statement takes
// what EXECUTE sends; the others keep the client's declared type (or none: PostgreSQL infers it).
//
// Postcondition: every parameter with a role whose stored form has its own type is declared with it.
import { arr } from '../ast.ts';
import type { Json } from '../ast.ts';
import type { Ctx, ParamRole } from '../context.ts';
import { Refusal, refuse } from '../refusals.ts';
import { computable } from '../two-stage/plan.ts';
import type { StatementResult } from './rule.ts';

type Analyze = (ctx: Ctx, stmt: unknown, text: string) => StatementResult;

/** The type a parameter with this role is sent as (protection/params.ts paramTypeFor), or null: the client's. */
export function storedParamType(role: ParamRole): 'bytea' | 'bytea[]' | 'text[]' | null {
  if (role.kind === 'anonymize') return null;
  if (role.kind === 'anonymizeArray') return 'text[]';
  return role.kind === 'equalityAny' || role.kind === 'blindIndexAny' || role.kind === 'encryptArray' ? 'bytea[]' : 'bytea';
}

function typeName(name: 'bytea' | 'bytea[]' | 'text[]' | 'unknown'): Json {
  const base = name.replace('[]', '');
  return { TypeName: { names: [{ String: { sval: base } }], typemod: -1, ...(name.endsWith('[]') ? { arrayBounds: [{ Integer: { ival: -1 } }] } : {}) } };
}

function declareStoredTypes(ctx: Ctx, b: Json): void {
  const types = [...arr(b.argtypes)];
  for (const [n, role] of [...ctx.params].sort((x, y) => x[0] - y[0])) {
    const t = storedParamType(role);
    if (t === null) continue;
    while (types.length < n - 1) types.push(typeName('unknown'));
    types[n - 1] = typeName(t);
  }
  if (types.length > 0) b.argtypes = types;
}

function postcondition(ctx: Ctx, b: Json): void {
  const types = arr(b.argtypes);
  for (const [n, role] of ctx.params) {
    const t = storedParamType(role);
    if (t === null) continue;
    const names = JSON.stringify(types[n - 1] ?? null);
    if (!names.includes(`"${t.replace('[]', '')}"`)) throw new Error(`PREPARE parameter $${n} is not declared as ${t}`);
  }
}

/**
 * Analyses `PREPARE … AS statement`: the statement's outputs are what EXECUTE returns. A statement
 * the proxy would compute in two stages is refused by name (its EXECUTE could not be computed).
 */
export function analyzePrepare(ctx: Ctx, b: Json, text: string, analyze: Analyze): StatementResult {
  let result: StatementResult;
  try {
    result = analyze(ctx, b.query, text);
  } catch (e) {
    if (e instanceof Refusal && computable(e)) refuse('sqlPrepareComputed', { name: String(b.name ?? ''), why: e.message.replace(/^clarus: /, '') });
    throw e;
  }
  if (result.batch) refuse('sqlPrepare', { name: String(b.name ?? ''), why: `its INSERT is a k-anonymity batch of ${result.batch.table.table}, anonymized when it is analysed; send the INSERT itself` });
  declareStoredTypes(ctx, b);
  postcondition(ctx, b);
  return result;
}
