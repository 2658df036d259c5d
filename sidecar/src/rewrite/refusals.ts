// Every refusal the rewriter can answer, in one typed list: which construct, over which column
// (and its protection mode), gives which SQLSTATE and message. Rules name an entry (`refuse(
// 'copyWhere', { table })`) instead of writing a SQLSTATE and a text; the Refusal they throw
// carries the entry's name, so tests and the audit log can tell refusals apart without parsing
// messages. A refusal is an answer, not a failure (docs/security-model.md).
import { SQLSTATE } from '../protocol/sqlstate.ts';
import type { CatalogColumn, CatalogTable } from './catalog.ts';
import type { ProtectedRef } from './context.ts';

/** SQLSTATE feature_not_supported: what the proxy does not understand or cannot protect, it refuses. */
const NOT_SUPPORTED = SQLSTATE.featureNotSupported;

interface Entry<A> {
  code: string;
  message: (a: A) => string;
}

function entry<A = Record<string, never>>(message: (a: A) => string, code: string = NOT_SUPPORTED): Entry<A> {
  return { code, message: (a) => `clarus: ${message(a)}` };
}

/** An entry whose message is used as is (no `clarus:` prefix). */
function raw<A = Record<string, never>>(message: (a: A) => string, code: string = NOT_SUPPORTED): Entry<A> {
  return { code, message };
}

type Named = { table: Pick<CatalogTable, 'table'> };
type NamedColumn = Named & { column: Pick<CatalogColumn, 'name'> };

function modeOf(ref: ProtectedRef): string {
  return ref.column.protection.searchable ? `${ref.column.protection.mode} searchable` : ref.column.protection.mode;
}

const NOT_ALLOWED = 'refused while a policy protects data';

export const REFUSALS = {
  // Constructs on protected columns (column and mode in the message).
  encryptedConstruct: entry<{ ref: ProtectedRef; construct: string }>(({ ref, construct }) => `${construct} on encrypted column ${ref.table.table}.${ref.column.name} (${modeOf(ref)}) is not supported`),
  anonymizedConstruct: entry<NamedColumn & { method: string; construct: string }>(({ table, column, method, construct }) => `${construct} on anonymized column ${table.table}.${column.name} (${method}) is not supported`),
  anonymizedMix: entry<{ construct: string; column: string; only: string }>(({ construct, column, only }) => `${construct} combining ${column} with a constant, a parameter or a value that may hold one is not supported; ${only}`),
  anonymizedMixDerived: entry<{ construct: string; column: string; only: string }>(({ construct, column, only }) => `${construct} combining a column of a subquery or WITH query (which may carry ${column}) with a constant, a parameter or a value that may hold one is not supported; compare the table's column directly (${only})`),
  anonymizedInNonList: entry<{ column: string }>(({ column }) => `IN over something other than a list on ${column} is not supported`),
  anonymizedOperand: entry<{ construct: string; column: string; what: string; only: string }>(({ construct, column, what, only }) => `${construct} of ${column} with ${what} is not supported; ${only}`),
  anonymizeAtWrite: entry<NamedColumn>(({ table, column }) => `writing ${table.table}.${column.name} needs an anonymization this proxy does not apply at write time (pseudonymize, noise and k-anonymity belong to the anonymization module)`),
  anonymizedExpression: entry<NamedColumn>(({ table, column }) => `an expression as the value of anonymized column ${table.table}.${column.name} is not supported (only constants and parameters)`),
  ambiguousOuterColumn: entry<{ name: string; protectedColumn: string }>(({ name, protectedColumn }) => `column ${name} could come from a relation the policy does not describe or from protected column ${protectedColumn} of an outer query; qualify it with its table`),
  parameterTwoContexts: entry<{ n: number }>(({ n }) => `parameter $${n} is used in two different protected contexts; use separate parameters`),
  unsafeTable: entry<Named & { why: string }>(({ table, why }) => `table ${table.table} cannot be used: ${why}`),
  splitDataset: entry<{ tables: string }>(({ tables }) => `${tables}; splitting a dataset across backends is not supported by this proxy version, so statements on it are refused`),

  // Writes.
  positional: entry<Named & { what: string }>(({ table, what }) => `${what} into protected table ${table.table} without a column list is not supported; name the columns (the proxy never relies on the column order)`),
  convertedValue: entry<NamedColumn & { why: string }>(({ table, column, why }) => `${why} as the value of protected column ${table.table}.${column.name} is not supported; PostgreSQL would convert it, the proxy protects the value as written`),
  returningOldNew: entry(() => 'RETURNING old/new row values is not supported'),
  insertUnnest: entry<NamedColumn>(({ table, column }) => `INSERT … SELECT * FROM UNNEST(…) into protected table ${table.table}: the array for column ${column.name} cannot be read; send every array as a constant, or every protected column's array as a parameter ($n::type[]; k-anonymity columns take constants only), or use INSERT … VALUES`),
  insertSelect: entry<NamedColumn & { why: string }>(({ table, column, why }) => `INSERT … SELECT into protected column ${table.table}.${column.name}: ${why}; use INSERT … VALUES or COPY`),
  ciphertextIntoPlain: entry<NamedColumn & { source: string }>(({ table, column, source }) => `INSERT … SELECT of encrypted column ${source} into unprotected column ${table.table}.${column.name}: the ciphertext would be stored there and read back as ciphertext, and the proxy never stores a decrypted value in clear; select the column into a column protected like it`),
  onConflictWhere: entry<Named>(({ table }) => `ON CONFLICT … WHERE (a partial index) on protected table ${table.table} is not supported`),
  kAnonymityValue: entry<NamedColumn & { what: string }>(({ table, column, what }) => `${what} as the value of k-anonymity column ${table.table}.${column.name} is not supported: a multi-row INSERT is microaggregated from its constants when the proxy reads it (use constants, or COPY)`),
  /** A batch the microaggregation refuses (messages from protection/anonymization/batch.ts, without the prefix added twice). */
  kAnonymityTooFew: raw<{ message: string }>(({ message }) => message, SQLSTATE.cardinalityViolation),
  kAnonymityNull: raw<{ message: string }>(({ message }) => message, SQLSTATE.nullValueNotAllowed),
  kAnonymityFormat: raw<{ message: string }>(({ message }) => message, SQLSTATE.invalidTextRepresentation),
  multiAssign: entry<Named & { column: string }>(({ table, column }) => `multiple-column assignment to protected column ${table.table}.${column} is not supported`),

  // SELECT.
  selectInto: entry(() => 'SELECT INTO from a protected table is not supported'),
  newTableFromProtected: entry<{ what: string; column: string }>(({ what, column }) => `${what} with a column that carries ${column}: the new table would hold its stored form outside the policy; add the new table to the policy and fill it with INSERT … SELECT`),
  newTableComputed: entry<{ what: string; why: string }>(({ what, why }) => `${what} of values computed from encrypted columns is not supported (${why}): the new table would hold them outside the policy; add the new table to the policy, create it, and fill it with INSERT … SELECT, which the proxy computes and encrypts for the new table's columns`),
  newTableNamedProtected: entry<{ name: string }>(({ name }) => `a table made by CREATE TABLE … AS / SELECT INTO may not take the name of protected table ${name}: its values would be stored without protection`),
  materializedView: entry(() => 'CREATE MATERIALIZED VIEW over a protected table is not supported (the backend would refresh it without the proxy)'),
  viewOverProtected: entry<{ table: string }>(({ table }) => `CREATE VIEW over protected table ${table} is not supported in this statement`),
  viewWrite: entry<{ view: string; what: string }>(({ view, what }) => `cannot ${what} view ${view}: it is a view over protected tables kept by the proxy, which is never written through; write into its tables`),
  viewDepth: entry<{ view: string; max: number }>(({ view, max }) => `view ${view} nests views more than ${max} deep`),
  viewOption: entry<{ what: string }>(({ what }) => `CREATE VIEW over a protected table with ${what} is not supported (the proxy keeps the view's SELECT and computes it; the backend never evaluates it)`),
  viewConstant: entry<{ column: string }>(({ column }) => `a view over protected tables may not hold a constant in an expression with ${column}: its definition is stored on the backend, where the constant would be plaintext about a protected column; compare in the statement that reads the view (SELECT … FROM v WHERE ${column} = $1)`),
  viewDependency: entry<{ what: string; relation: string; views: string }>(({ what, relation, views }) => `${what} ${relation} is not supported while views over protected tables name it (${views}): the proxy keeps their SELECT as text, which would keep the old name; drop those views, then create them again after the change`),
  viewQuery: entry<{ why: string }>(({ why }) => `the SELECT of this view cannot be computed by the proxy when read through the view: ${why.replace(/^clarus: /, '')}`),
  modifyingWith: entry(() => 'data-modifying statements in WITH over protected tables are not supported'),
  recursiveWith: entry<{ cte: string }>(({ cte }) => `WITH RECURSIVE over encrypted columns (${cte}) is not supported`),
  fromItem: entry<{ tag: string }>(({ tag }) => `${tag} over a protected table is not supported`),
  naturalJoin: entry(() => 'NATURAL JOIN over a table with encrypted columns is not supported; name the join columns'),
  starJoinUsing: entry(() => 'SELECT * with JOIN USING over encrypted columns is not supported; list the columns'),

  // COPY.
  copyHeader: entry<{ value: string }>(({ value }) => `COPY HEADER ${value} is not supported for protected tables`),
  copyOption: entry<{ name: string }>(({ name }) => `COPY option ${name} is not supported for protected tables`),
  copyBinary: entry(() => 'COPY in binary format is not supported for protected tables; use text or csv'),
  copyNull: entry(() => 'COPY NULL other than the default is not supported for protected tables'),
  copyEscape: entry(() => 'COPY ESCAPE different from QUOTE is not supported for protected tables'),
  copyFile: entry(() => 'COPY to or from a server file or program is not supported for protected tables; use STDIN/STDOUT'),
  copyStar: entry(() => 'COPY (SELECT *) over an unknown relation next to encrypted columns is not supported; list the columns'),
  copyWhere: entry<Named>(({ table }) => `COPY … WHERE on protected table ${table.table} is not supported`),

  // DDL.
  constraint: entry<Named & { kind: string; column: string }>(({ table, kind, column }) => `${kind} constraint over protected column ${table.table}.${column} is not supported`),
  createLike: entry<Named>(({ table }) => `CREATE TABLE … LIKE/OF for protected table ${table.table} is not supported`),
  inheritance: entry<Named>(({ table }) => `inheritance/partitioning of protected table ${table.table} is not supported`),
  expressionIndex: entry<Named & { column: string }>(({ table, column }) => `expression index over protected column ${table.table}.${column} is not supported`),
  partialIndex: entry<Named & { column: string }>(({ table, column }) => `partial index whose predicate uses protected column ${table.table}.${column} is not supported`),
  foreignKey: entry<{ what: string; why: string }>(({ what, why }) => `FOREIGN KEY ${what} is not supported: ${why}`),
  hiddenStorage: entry<Named & { what: string }>(({ table, what }) => `${what} is storage the proxy keeps for protected table ${table.table}; it cannot be added, changed, dropped or renamed through the proxy`),
  alterTypeNarrows: entry<Named & { column: string }>(({ table, column }) => `ALTER COLUMN … TYPE with a shorter length limit on encrypted column ${table.table}.${column} is not supported: PostgreSQL would check every stored value against it and the proxy cannot read them in an ALTER TABLE; declare a limit at least the current one (or none)`),
  alterType: entry<Named & { column: string; from: string; to: string }>(({ table, column, from, to }) => `ALTER COLUMN … TYPE ${to} on encrypted column ${table.table}.${column} (declared ${from}) is not supported: the stored values are encrypted ${from} values and only a type that keeps every one of them valid can be declared (text/varchar/char among themselves, a wider integer or float); without USING`),
  alterColumn: entry<Named & { subtype: string; column: string }>(({ table, subtype, column }) => `ALTER TABLE ${subtype} on protected column ${table.table}.${column} is not supported`),
  alterDefinition: entry<Named & { column: string }>(({ table, column }) => `ALTER TABLE definition referencing protected column ${table.table}.${column} is not supported`),

  // Statements and the allowlist screen.
  proceduralCode: entry(() => 'procedural code over protected tables is not supported'),
  /** A temporary PL/pgSQL function (temp-function.ts) with something the proxy does not rewrite. */
  tempFunction: entry<{ why: string }>(({ why }) => `temporary PL/pgSQL function: ${why}; the proxy rewrites only a function in pg_temp, without arguments, whose body holds BEGIN … EXCEPTION … END blocks of static INSERT/UPDATE/DELETE (RETURNING * INTO an OUT row of the same table), SELECT … INTO over unprotected tables, GET [STACKED] DIAGNOSTICS and RETURN (docs/sql-support.md)`),
  /** The SELECT that calls such a function (temp-function-call.ts) in an unsupported way. */
  tempFunctionCall: entry<{ why: string }>(({ why }) => `call of a temporary PL/pgSQL function: ${why}; call it in the same query text that creates it, as SELECT (f.out).column, …, f.text_out FROM pg_temp.f() (docs/sql-support.md)`),
  statementKind: entry<{ kind: string }>(({ kind }) => `${kind} statements over protected tables are not supported`),
  sqlPrepare: entry<{ name: string; why: string }>(({ name, why }) => `PREPARE ${name} is not supported: ${why}`),
  sqlPrepareComputed: entry<{ name: string; why: string }>(({ name, why }) => `PREPARE ${name} of a statement the proxy computes in two stages is not supported (${why}); send the statement itself, as a simple query or with the extended protocol (Parse/Bind), where the proxy computes it`),
  unknownConstruct: entry<{ tag: string }>(({ tag }) => `the proxy's analysis does not know the construct ${tag}; ${NOT_ALLOWED}`),
  unknownStatement: entry<{ tag: string }>(({ tag }) => `the proxy's analysis does not know the statement ${tag}; ${NOT_ALLOWED}`),
  function: entry<{ name: string }>(({ name }) => `function ${name}() is not on the proxy's allowlist of built-in functions without side effects; ${NOT_ALLOWED}`),
  operator: entry<{ name: string }>(({ name }) => `operator ${name} outside pg_catalog is ${NOT_ALLOWED}`),
  missingQualifier: raw<{ name: string }>(({ name }) => `missing FROM-clause entry for table "${name}"`, SQLSTATE.undefinedTable),
  shadowingRelation: entry<{ name: string }>(({ name }) => `relation ${name} has the name of a protected table in another schema; refused so that the proxy and PostgreSQL cannot resolve it differently`),
  shadowingTemporary: entry<{ name: string }>(({ name }) => `a temporary table named like protected table ${name} would shadow it; refused`),
  shadowingWith: entry<{ name: string }>(({ name }) => `WITH query named ${name} shadows a protected table; use another name`),
  nestedModification: entry<{ kind: string }>(({ kind }) => `a data-modifying statement (${kind}) inside another statement over a protected table is not supported`),
  statement: entry<{ why: string }>(({ why }) => why),
  /** A SET of a pinned setting: the message has no `clarus:` prefix (the session's pinned-settings check sends the same text). */
  setting: raw<{ why: string }>(({ why }) => why),

  // Values the proxy cannot protect as declared (22P02, invalid_text_representation).
  invalidText: raw<{ error: string }>(({ error }) => error, SQLSTATE.invalidTextRepresentation),
  /** PostgreSQL's own message for a value longer than its column's declared length. */
  valueTooLong: raw<{ error: string }>(({ error }) => error, SQLSTATE.stringDataRightTruncation),
  notAnonymizable: entry<{ what: string }>(({ what }) => `${what} cannot be anonymized as declared`, SQLSTATE.invalidTextRepresentation),
  notGeneralizable: entry<NamedColumn>(({ table, column }) => `value for ${table.table}.${column.name} cannot be generalized as declared`, SQLSTATE.invalidTextRepresentation),
  /** PostgreSQL's own message (42601): the proxy counts the values to pair them with columns. */
  insertArity: raw(() => 'INSERT has more expressions than target columns', SQLSTATE.syntaxError),

  // The rewriter itself (fail closed).
  syntax: entry<{ error: string }>(({ error }) => error, SQLSTATE.syntaxError),
  tooLong: entry<{ bytes: number; max: number }>(({ bytes, max }) => `statement of ${bytes} bytes is longer than the ${max} bytes the proxy analyses (limits.maxStatementBytes)`, SQLSTATE.programLimitExceeded),
  tooDeep: entry(() => 'statement is nested too deeply for the proxy to analyse', SQLSTATE.statementTooComplex),
  backendGrammar: entry<{ reason: string }>(({ reason }) => `statement refused: ${reason}`),
  unsendable: entry<{ reason: string }>(({ reason }) => `the rewritten statement cannot be sent: ${reason}`),
  unexpectedShape: entry<{ error: string }>(({ error }) => `cannot rewrite this statement shape safely (${error})`),
  /** The executor's fill (rewrite/placeholders.ts): the text's markers are not exactly the plan's. */
  placeholderMismatch: entry<{ listed: number; seen: number }>(({ listed, seen }) => `the rewritten statement's protected constants do not match its plan (${listed} listed, ${seen} found)`, SQLSTATE.internalError),
  /** The executor could not protect a constant of the plan (keys unusable, a key version missing). */
  protectFailed: entry<{ error: string }>(({ error }) => `cannot protect a constant of this statement (${error})`, SQLSTATE.internalError),
} as const;

export type RefusalKind = keyof typeof REFUSALS;
export type RefusalArgs<K extends RefusalKind> = (typeof REFUSALS)[K] extends Entry<infer A> ? A : never;
type ArgList<K extends RefusalKind> = Record<string, never> extends RefusalArgs<K> ? [] : [RefusalArgs<K>];

/** A refusal: SQLSTATE plus a message naming the column and the construct. */
export class Refusal extends Error {
  readonly code: string;
  /** The entry of REFUSALS it comes from (absent for refusals with another SQLSTATE: 22P02, 42601…). */
  readonly kind: RefusalKind | undefined;
  constructor(code: string, message: string, kind?: RefusalKind) {
    super(message);
    this.code = code;
    this.kind = kind;
  }
}

/** The Refusal for an entry of REFUSALS. */
export function refusalOf<K extends RefusalKind>(kind: K, ...args: ArgList<K>): Refusal {
  const e = REFUSALS[kind] as Entry<unknown>;
  return new Refusal(e.code, e.message(args[0] ?? {}), kind);
}

/** Throws the Refusal for an entry of REFUSALS. */
export function refuse<K extends RefusalKind>(kind: K, ...args: ArgList<K>): never {
  throw refusalOf(kind, ...args);
}
