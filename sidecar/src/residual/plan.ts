// One residual call as one batch of frontend messages, sent to the engine in a single synchronous
// exchange: create the candidate tables the engine does not hold yet (committed: creating a table
// costs more than the rest of a small call), open a transaction, apply the session settings, COPY
// each relation's rows into its table, make the transaction read-only, run the residual query with
// the extended protocol (one statement, no parameters, text results, at most maxResultRows + 1
// rows), and roll everything back: the tables are empty again and nothing else is left behind.
import { createHash } from 'node:crypto';
import { encodeFrontend, type FrontendMessage } from '../protocol/frontend.ts';
import { Writer } from '../protocol/codec.ts';
import { copyChunks, newBudget, type LoadBudget } from './copy.ts';
import { ResidualUnsupportedError } from './errors.ts';
import { SUPPORTED_TYPES, type ResidualCall, type ResidualRelation, type ResidualSettings } from './types.ts';

/** PostgreSQL's NAMEDATALEN - 1: longer identifiers would be truncated, silently merging names. */
const MAX_IDENT_BYTES = 63;

export function quoteIdent(name: string): string {
  if (name.length === 0 || name.includes('\0') || Buffer.byteLength(name, 'utf8') > MAX_IDENT_BYTES) {
    throw new ResidualUnsupportedError(`clarus: residual relation or column name ${JSON.stringify(name)} is not a valid identifier`);
  }
  return `"${name.replace(/"/g, '""')}"`;
}

export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new ResidualUnsupportedError('clarus: a residual setting contains a NUL character');
  return `'${value.replace(/'/g, "''")}'`;
}

/** SET LOCAL statements for the session settings that shape text input and output. */
export function settingsSql(s: ResidualSettings = {}): string {
  const out: string[] = [];
  if (s.timeZone !== undefined) out.push(`SET LOCAL TimeZone = ${quoteLiteral(s.timeZone)}`);
  if (s.dateStyle !== undefined) out.push(`SET LOCAL DateStyle = ${quoteLiteral(s.dateStyle)}`);
  if (s.intervalStyle !== undefined) out.push(`SET LOCAL IntervalStyle = ${quoteLiteral(s.intervalStyle)}`);
  if (s.extraFloatDigits !== undefined) out.push(`SET LOCAL extra_float_digits = ${Math.trunc(s.extraFloatDigits)}`);
  if (s.byteaOutput !== undefined) out.push(`SET LOCAL bytea_output = ${quoteLiteral(s.byteaOutput)}`);
  return out.map((x) => x + '; ').join('');
}

/** The column list with types, which identifies a table's shape. */
export function tableSignature(rel: ResidualRelation): string {
  if (rel.columns.length === 0) throw new ResidualUnsupportedError(`clarus: residual relation ${rel.name} has no columns`);
  const cols = rel.columns.map((c) => {
    const type = SUPPORTED_TYPES.get(c.typeOid);
    if (type === undefined) throw new ResidualUnsupportedError(`clarus: column ${rel.name}.${c.name} has type oid ${c.typeOid}, which the in-proxy stage does not evaluate`);
    return `${quoteIdent(c.name)} ${type}`;
  });
  return cols.join(', ');
}

/**
 * The schema that holds the candidate tables of calls of one shape (relation names and column
 * types): each shape keeps its tables, and the residual query finds them through search_path, so
 * calls of alternating shapes do not drop and create tables.
 */
export function shapeSchema(call: Pick<ResidualCall, 'relations'>): string {
  const shape = call.relations.map((r) => `${quoteIdent(r.name)}(${tableSignature(r)})`).join(';');
  return `s_${createHash('sha256').update(shape).digest('hex').slice(0, 24)}`;
}

export function createTableSql(schema: string, name: string, signature: string): string {
  return `CREATE UNLOGGED TABLE ${quoteIdent(schema)}.${quoteIdent(name)} (${signature})`;
}

/** The encoded batch, and how many ReadyForQuery messages precede the residual query's own. */
export interface CallBatch {
  bytes: Uint8Array;
  loadPhases: number;
  budget: LoadBudget;
  maxResultRows: number;
}

function loadMessages(schema: string, rel: ResidualRelation, budget: LoadBudget): FrontendMessage[] {
  const chunks = copyChunks(rel.rows, rel.columns.length, budget);
  return [
    { type: 'Query', sql: `COPY ${quoteIdent(schema)}.${quoteIdent(rel.name)} FROM STDIN` },
    ...chunks.map((data): FrontendMessage => ({ type: 'CopyData', data })),
    { type: 'CopyDone' },
  ];
}
/** How the residual query is prepared: parsed into `name` now, or already prepared under it. */
export interface Prepare { name: string; parse: boolean }

function queryMessages(sql: string, maxResultRows: number, params: ReadonlyArray<string | null>, prepare: Prepare): FrontendMessage[] {
  // Parameters are untyped text, as a client sends them: the engine infers each one's type from
  // where the query uses it, as the backend would have.
  const values = params.map((p) => (p === null ? null : Buffer.from(p, 'utf8')));
  return [
    ...(prepare.parse ? [{ type: 'Parse', name: prepare.name, sql, paramTypes: [] } as FrontendMessage] : []),
    { type: 'Bind', portal: '', statement: prepare.name, paramFormats: [], values, resultFormats: [] },
    { type: 'Describe', target: 'P', name: '' },
    { type: 'Execute', portal: '', maxRows: maxResultRows + 1 },
    { type: 'Sync' },
  ];
}

/** Throws unless relation names are distinct. */
export function checkNames(call: ResidualCall): void {
  const names = new Set<string>();
  for (const r of call.relations) {
    if (names.has(r.name)) throw new ResidualUnsupportedError(`clarus: residual relation ${r.name} is given twice`);
    names.add(r.name);
  }
}

/**
 * Builds the whole batch for a call, after `ddl` (statements run outside the call's transaction:
 * the candidate tables to create). Throws ResidualLimitError / ResidualUnsupportedError before
 * anything is sent.
 */
export function buildCall(call: ResidualCall, ddl: readonly string[], schema: string = shapeSchema(call), prepare: Prepare = { name: '', parse: true }): CallBatch {
  checkNames(call);
  const budget = newBudget(call.limits.maxRows, call.limits.maxBytes);
  const maxResultRows = call.limits.maxResultRows ?? call.limits.maxRows;
  const prelude: FrontendMessage[] = ddl.length > 0 ? [{ type: 'Query', sql: ddl.join('; ') }] : [];
  const messages: FrontendMessage[] = [
    ...prelude,
    // The query names the relations unqualified: they are found in the shape's schema.
    { type: 'Query', sql: `BEGIN; ${settingsSql(call.settings)}SET LOCAL search_path = ${quoteIdent(schema)}` },
    ...call.relations.flatMap((r) => loadMessages(schema, r, budget)),
    { type: 'Query', sql: 'SET LOCAL transaction_read_only = on' },
    ...queryMessages(call.sql, maxResultRows, call.params ?? [], prepare),
    { type: 'Query', sql: 'ROLLBACK' },
  ];
  const w = new Writer();
  for (const m of messages) encodeFrontend(m, w);
  return { bytes: w.finish(), loadPhases: prelude.length + call.relations.length + 2, budget, maxResultRows };
}
