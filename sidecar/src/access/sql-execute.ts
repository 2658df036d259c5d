// `EXECUTE name(args)` of a SQL-level prepared statement (issue 11; the registry is
// sql-prepared.ts): each argument bound to a parameter with a role (encrypt for a column, blind
// index, anonymize…) must be a constant (a literal, a literal cast to a type without modifier,
// NULL), which is replaced by its protected text, as a Bind value of that parameter would be.
// Anything else there (an expression, a subquery) is refused by name: its value is only known to
// the backend. Arguments of plain parameters are left as they are; the caller checks that they read
// nothing protected. `$n` in EXECUTE's arguments (EXECUTE sent with Parse/Bind) is refused as
// PostgreSQL refuses it (42P02), before its Bind values could reach the backend. Pure: no I/O.
import { arr, body, paramNumbers } from '../rewrite/ast.ts';
import type { Json } from '../rewrite/ast.ts';
import type { ParamRole, ProtectedRef } from '../rewrite/context.ts';
import type { ColumnCipher } from '../protection/encryption/column.ts';
import { deparseStatement } from '../rewrite/parser.ts';
import { paramTransformer } from '../protection/params.ts';
import type { Refuse, WireValue } from '../session/pipeline.ts';
import { StatementError } from '../session/pipeline.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';

/** The keyed cipher of a protected column (the executor's, not the rewriter's placeholders). */
type CipherFor = (ref: ProtectedRef) => ColumnCipher;

export interface ExecuteRewrite {
  /** The EXECUTE the backend gets. */
  sql: string;
  /** Arguments of plain parameters that are not constants: the caller checks them. */
  expressions: Json[];
}

function refuse(code: string, message: string): Refuse {
  return { kind: 'refuse', code, message };
}

/** Which column a role protects, for messages. */
export function roleTarget(role: ParamRole): string {
  if (role.kind === 'anonymize' || role.kind === 'anonymizeArray') return `anonymized column ${role.table.table}.${role.column.name}`;
  return `encrypted column ${role.ref.table.table}.${role.ref.column.name}`;
}

/** The text of each kind of constant (libpg-query leaves out a zero or false value's field). */
const CONSTANT_TEXT: Array<[string, (v: Json) => string]> = [
  ['sval', (v) => String(v.sval ?? '')],
  ['ival', (v) => String(v.ival ?? 0)],
  ['fval', (v) => String(v.fval ?? '0')],
  ['boolval', (v) => (v.boolval ? 'true' : 'false')],
];

/** The text of a constant argument (null: NULL), or undefined when it is not one. */
export function constantText(arg: unknown): string | null | undefined {
  const cast = body(arg, 'TypeCast');
  // A cast with a type modifier may change the value (varchar(3) cuts it): not a plain constant.
  if (cast && arr((cast.typeName as Json | undefined)?.typmods).length > 0) return undefined;
  const c = body(cast ? cast.arg : arg, 'A_Const');
  if (!c) return undefined;
  if (c.isnull) return null;
  const kind = CONSTANT_TEXT.find(([k]) => c[k] !== undefined);
  return kind ? kind[1](c[kind[0]] as Json) : undefined;
}

/** Each constant of a protected parameter replaced by its protected text (a StatementError: it does not fit its column). */
function protectConstants(args: unknown[], values: WireValue[], constants: Map<number, ParamRole>, cipher: CipherFor): Refuse | undefined {
  let sent: WireValue[];
  try {
    sent = paramTransformer(constants, args.length, cipher)(values, []);
  } catch (e) {
    if (!(e instanceof StatementError)) throw e;
    return refuse(e.code, e.message);
  }
  for (const n of constants.keys()) {
    const v = sent[n - 1];
    args[n - 1] = v === null || v === undefined ? { A_Const: { isnull: true } } : { A_Const: { sval: { sval: Buffer.from(v).toString('utf8') } } };
  }
  return undefined;
}

/** An EXECUTE's arguments: the expressions the backend evaluates, the constants the proxy protects (by position), every constant's text. */
interface Arguments { expressions: Json[]; constants: Map<number, ParamRole>; values: WireValue[] }

/** Sorts the arguments; an argument for a protected column that is not a constant is refused. */
function sortArguments(args: unknown[], name: string, roles: ReadonlyMap<number, ParamRole>): Arguments | Refuse {
  const out: Arguments = { expressions: [], constants: new Map(), values: [] };
  for (const [i, arg] of args.entries()) {
    const role = roles.get(i + 1);
    const text = constantText(arg);
    out.values.push(text === undefined || text === null ? null : Buffer.from(text, 'utf8'));
    if (role && text === undefined) {
      return refuse(SQLSTATE.featureNotSupported, `clarus: EXECUTE ${name}: argument ${i + 1} goes to ${roleTarget(role)}: it must be a constant (a literal, a literal cast to a type without modifier, or NULL); an expression or subquery is not supported there`);
    }
    if (role) out.constants.set(i + 1, role);
    else if (text === undefined) out.expressions.push(arg as Json);
  }
  return out;
}

/** The EXECUTE's arguments as the backend must get them, or the refusal naming the argument. */
export function rewriteExecute(stmt: Json, name: string, roles: ReadonlyMap<number, ParamRole>, cipher: CipherFor): ExecuteRewrite | Refuse {
  const b = structuredClone(body(stmt, 'ExecuteStmt') ?? {});
  const args = [...arr(b.params)];
  const [param] = paramNumbers(args);
  if (param !== undefined) return refuse(SQLSTATE.undefinedParameter, `there is no parameter $${param}`);
  const sorted = sortArguments(args, name, roles);
  if ('kind' in sorted) return sorted;
  const { expressions, constants, values } = sorted;
  const failed = protectConstants(args, values, constants, cipher);
  if (failed) return failed;
  if (args.length > 0) b.params = args;
  return { sql: deparseStatement({ ExecuteStmt: b }), expressions };
}
