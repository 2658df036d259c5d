// Temporary PL/pgSQL functions (issue 11): Sequelize's findOrCreate sends, in one query text,
//   CREATE OR REPLACE FUNCTION pg_temp.testfunc(OUT response "t", OUT sequelize_caught_exception text)
//     RETURNS RECORD AS $f$ BEGIN INSERT INTO "t" (…) VALUES (…) RETURNING * INTO response;
//     EXCEPTION WHEN unique_violation THEN GET STACKED DIAGNOSTICS sequelize_caught_exception =
//     PG_EXCEPTION_DETAIL; END $f$ LANGUAGE plpgsql;
//   SELECT (testfunc.response)."id", …, testfunc.sequelize_caught_exception FROM pg_temp.testfunc();
//   DROP FUNCTION IF EXISTS pg_temp.testfunc();
// The function is accepted when it lives in pg_temp (it dies with the session: nothing runs later
// without the proxy), takes no arguments, and its body is the subset plpgsql-body.ts reads. Each
// static statement of the body is parsed, screened and rewritten exactly as at top level (literals
// encrypted, blind indexes added), and the proxy writes the body out again from what it read.
// Postcondition: the function the backend receives holds only rewritten statements; an OUT
// parameter of a protected table's row type holds a stored row of that table (ciphertext and
// hidden columns), filled only by `RETURNING *` of a write on that table; a SQL statement of the
// body reads no PL/pgSQL variable (a value the proxy could not see). The call (temp-function-call.ts)
// decrypts those rows per the user's grant.
import { parsePlPgSQLSync } from 'libpg-query';
import { screen } from './allowlist.ts';
import { arr, body, colRefNames, isObj, sval, tagOf } from './ast.ts';
import type { Json } from './ast.ts';
import type { Catalog, CatalogTable } from './catalog.ts';
import type { Ctx } from './context.ts';
import { backendAgrees } from './grammar.ts';
import type { Major } from './grammar.ts';
import { deparseStatement, parseTree } from './parser.ts';
import { splitTables } from './split.ts';
import { BodyWriter, Datums } from './plpgsql-body.ts';
import type { Into, OutParam } from './plpgsql-body.ts';
import { referencedTables } from './refs.ts';
import { refuse } from './refusals.ts';
import type { OutCol } from './scope.ts';

export type { OutParam } from './plpgsql-body.ts';

/** A temporary function of the text being analysed: its name (in pg_temp) and OUT parameters. */
export interface TempFunction { name: string; outs: Map<string, OutParam> }

/** What the rewriter does for one statement of a body (the same as for a top-level statement). */
interface BodyDeps {
  /** Parses one statement, checks the backend's grammar reads it alike, screens it (allowlist.ts). */
  parse(sql: string): Json;
  /** Rewrites it with the rules: the text to send and its outputs (refuses what the rules refuse). */
  rewrite(stmt: Json): { sql: string; outputs: OutCol[]; batch?: unknown };
  /** Checks the backend's grammar reads the text written into the body as the rewriter built it. */
  check(sql: string): void;
}

/** What the rewriter lends the body's rewrite. */
export interface RewriterDeps {
  catalog: Catalog;
  major: Major;
  /** The rewriter's analysis of one top-level statement: the text to send, its outputs, whether it writes. */
  statement(ctx: Ctx, stmt: Json, text: string): { sql: string; outputs: OutCol[]; write: boolean; batch?: unknown };
  /** Throws a Refusal when the backend's grammar does not read a rewritten text as built. */
  check(sql: string): void;
  /** The statement with the proxy's views it names expanded (views.ts), as at top level; refuses writes into them. */
  expand?(stmt: Json): Json;
}

/** One statement of a body, parsed alone: one statement, read alike by the backend's grammar, screened. */
function parseBodyStatement(ctx: Ctx, d: RewriterDeps, text: string): Json {
  let parsed;
  try {
    parsed = parseTree(text);
  } catch (e) {
    return refuse('syntax', { error: (e as Error).message });
  }
  if (!parsed.statements[0]?.stmt || parsed.statements.length !== 1) return why('a SQL statement of the body that is not one statement');
  const agree = backendAgrees(d.major, text, parsed.tree);
  if (!agree.ok) refuse('backendGrammar', { reason: agree.reason });
  const stmt = d.expand ? d.expand(parsed.statements[0].stmt) : parsed.statements[0].stmt;
  const s = screen(stmt, d.catalog);
  if (s.everyDataset) why('a statement of the body that reaches every dataset');
  // A split table's statements are planned by split/ from the whole text: not inside a body.
  if (splitTables(d.catalog, [stmt]).length > 0) why('a statement of the body on a split table');
  ctx.write ||= s.write;
  return stmt;
}

function bodyDeps(ctx: Ctx, d: RewriterDeps): BodyDeps {
  return {
    parse: (text) => parseBodyStatement(ctx, d, text),
    rewrite: (stmt) => {
      const before = { params: ctx.params.size, max: ctx.maxParam };
      const r = d.statement(ctx, stmt, deparseStatement(stmt));
      // The body is sent as text inside CREATE FUNCTION: there is no Bind to fill a parameter.
      if (ctx.params.size !== before.params || ctx.maxParam !== before.max) why('a statement whose rewrite needs parameters');
      ctx.write ||= r.write;
      return r;
    },
    check: (text) => d.check(text),
  };
}

/** Options of CREATE FUNCTION that change nothing the proxy relies on. */
const HARMLESS_OPTIONS = new Set(['as', 'language', 'volatility', 'strict']);

function why(w: string): never {
  return refuse('tempFunction', { why: w });
}

function option(b: Json, name: string): unknown {
  const d = arr(b.options).map((o) => body(o, 'DefElem')).find((o) => o?.defname === name);
  return d?.arg;
}

/** CREATE FUNCTION … LANGUAGE plpgsql (any schema): the statements this file decides on. */
export function isPlpgsqlFunction(stmt: Json): boolean {
  const b = body(stmt, 'CreateFunctionStmt');
  return b !== null && sval(option(b, 'language'))?.toLowerCase() === 'plpgsql';
}

/** DROP FUNCTION of functions in pg_temp only (not a schema change of a protected table). */
export function dropsTempFunction(stmt: Json): boolean {
  const b = body(stmt, 'DropStmt');
  const objects = arr(b?.objects).map((o) => arr(body(o, 'ObjectWithArgs')?.objname).map((n) => sval(n)));
  return b?.removeType === 'OBJECT_FUNCTION' && objects.length > 0 && objects.every((n) => n.length === 2 && n[0] === 'pg_temp');
}

function typeNames(tn: unknown): string[] {
  return isObj(tn) ? arr(tn.names).map((n) => sval(n) ?? '') : [];
}

/** The protected table whose row type `tn` names, null for another type; refused when ambiguous. */
function rowTypeOf(catalog: Catalog, tn: Json): CatalogTable | null {
  const names = typeNames(tn);
  const name = names[names.length - 1] ?? '';
  const schema = names.length > 1 ? names[names.length - 2] : undefined;
  const t = catalog.lookup(schema, name);
  if (t === undefined && !catalog.isProtectedName(name)) return null;
  if (tn.pct_type || tn.setof || arr(tn.arrayBounds).length > 0) why(`a parameter of type ${names.join('.')} (an array, SETOF or %TYPE of a protected table's row type)`);
  return t ?? why(`type ${names.join('.')} has the name of a protected table in another schema`);
}

function outParam(catalog: Catalog, p: unknown): OutParam {
  const fp = body(p, 'FunctionParameter');
  const name = String(fp?.name ?? '');
  if (!fp || fp.mode !== 'FUNC_PARAM_OUT') why(`parameter ${name || '?'} is not an OUT parameter (arguments would reach the body as values the proxy cannot see)`);
  if (!name || fp.defexpr) why('an unnamed OUT parameter or one with a default');
  return { name, table: rowTypeOf(catalog, fp.argType as Json) };
}

function checkOptions(b: Json): void {
  for (const o of arr(b.options)) {
    const name = String(body(o, 'DefElem')?.defname ?? '?');
    if (!HARMLESS_OPTIONS.has(name)) why(`option ${name.toUpperCase()}`);
  }
  const as = arr(body(option(b, 'as'), 'List')?.items);
  if (as.length !== 1 || sval(as[0]) === null) why('a body other than one string');
}

function checkReturns(b: Json): void {
  const names = typeNames(b.returnType);
  const ret = names[names.length - 1];
  if (b.returnType && ((ret !== 'record' && ret !== 'void') || (b.returnType as Json).setof)) why(`RETURNS ${names.join('.')} (only RECORD or VOID, the OUT parameters being the result)`);
}

/**
 * The temporary function a CREATE FUNCTION … LANGUAGE plpgsql defines, after checking everything
 * but its body; refused when it is not one the proxy can rewrite.
 */
export function tempFunctionOf(b: Json, catalog: Catalog): TempFunction {
  const names = arr(b.funcname).map((n) => sval(n) ?? '');
  if (b.is_procedure) why('CREATE PROCEDURE');
  if (names.length !== 2 || names[0] !== 'pg_temp') why(`function ${names.join('.')} is not in the temporary schema pg_temp (a lasting function would run later without the proxy)`);
  if (b.sql_body) why('a SQL-standard body');
  checkOptions(b);
  checkReturns(b);
  const outs = new Map<string, OutParam>();
  for (const p of arr(b.parameters)) {
    const o = outParam(catalog, p);
    if (outs.has(o.name)) why(`two OUT parameters named ${o.name}`);
    outs.set(o.name, o);
  }
  return { name: names[1] as string, outs };
}

/** The PL/pgSQL parse of the function as the backend will read it (from the deparsed statement). */
function plpgsqlOf(b: Json): Json {
  let tree: unknown;
  try {
    tree = parsePlPgSQLSync(deparseStatement({ CreateFunctionStmt: b }));
  } catch (e) {
    return refuse('syntax', { error: (e as Error).message });
  }
  const funcs = isObj(tree) ? arr(tree.plpgsql_funcs) : [];
  const fn = funcs.length === 1 ? body(funcs[0], 'PLpgSQL_function') : null;
  return fn ?? why('a body the PL/pgSQL parser does not read as one function');
}

/**
 * Rewrites the body of CREATE FUNCTION `b` in place (refused when it is not a temporary function
 * the proxy can rewrite); the function it defines.
 */
export function rewriteTempFunction(ctx: Ctx, b: Json, d: RewriterDeps): TempFunction {
  const fn = tempFunctionOf(b, d.catalog);
  const tree = plpgsqlOf(b);
  const datums = new Datums(tree);
  const variables = new Set([...datums.all(), fn.name.toLowerCase()]);
  const deps = bodyDeps(ctx, d);
  const one = (query: string, into: Into | null): string => bodyStatement({ catalog: d.catalog, fn, variables, deps }, query, into);
  const text = new BodyWriter(datums, fn.outs, one).function(tree);
  const as = arr(b.options).map((o) => body(o, 'DefElem')).find((o) => o?.defname === 'as') as Json;
  as.arg = { List: { items: [{ String: { sval: ` ${text} ` } }] } };
  ctx.write = true;
  return fn;
}

interface BodyCtx { catalog: Catalog; fn: TempFunction; variables: ReadonlySet<string>; deps: BodyDeps }

const BODY_STATEMENTS = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'SelectStmt']);

/** What one node reads that PL/pgSQL would take for a variable (or `$n`, an argument), if anything. */
function variableAt(t: [string, Json] | null, variables: ReadonlySet<string>): string | null {
  if (t?.[0] === 'ParamRef') return `$${String(t[1].number ?? '?')}`;
  const first = t?.[0] === 'ColumnRef' ? colRefNames(t[1])[0]?.toLowerCase() : undefined;
  return first !== undefined && variables.has(first) ? first : null;
}

/** A name the statement reads that PL/pgSQL would take for a variable (or `$n`, an argument). */
function variableRead(node: unknown, variables: ReadonlySet<string>): string | null {
  const children = Array.isArray(node) ? node : isObj(node) ? Object.values(node) : [];
  const here = isObj(node) ? variableAt(tagOf(node), variables) : null;
  if (here) return here;
  for (const n of children) {
    const hit = variableRead(n, variables);
    if (hit) return hit;
  }
  return null;
}

/** A RETURNING list that is exactly `*`. */
function onlyStar(list: unknown[]): boolean {
  const only = list.length === 1 ? body(list[0], 'ResTarget') : null;
  const ref = only && only.name === undefined ? body(only.val, 'ColumnRef') : null;
  return ref !== null && colRefNames(ref).join('.') === '*';
}

/** RETURNING of the write: none, `*`, or anything else (refused). */
function returning(b: Json): 'none' | 'star' {
  const clause = b.returningClause as Json | undefined;
  const list = arr(clause?.exprs ?? b.returningList);
  if (list.length === 0) return 'none';
  return onlyStar(list) && clause?.options === undefined ? 'star' : why('RETURNING other than RETURNING * INTO an OUT parameter');
}

function relationOf(catalog: Catalog, b: Json): CatalogTable | undefined {
  const rv = b.relation as Json | undefined;
  return rv ? catalog.lookup(rv.schemaname as string | undefined, String(rv.relname)) : undefined;
}

/** A write's RETURNING * INTO: one OUT row of the written table, or plain OUT parameters of an unprotected write. */
function checkInto(c: BodyCtx, b: Json, stmt: Json, into: Into | null): void {
  const star = returning(b) === 'star';
  if (star !== (into !== null)) why(star ? 'RETURNING without INTO' : 'INTO without RETURNING *');
  if (!into) return;
  const target = relationOf(c.catalog, b);
  const rows = into.names.map((n) => c.fn.outs.get(n)?.table ?? null);
  if (target) {
    if (rows.length !== 1 || rows[0] !== target) why(`RETURNING * from protected table ${target.table} goes INTO one OUT parameter of its row type`);
  } else if (rows.some((r) => r !== null) || referencedTables(c.catalog, stmt).size > 0) {
    why('RETURNING * INTO a row of a protected table from another table, or from a write that reads one');
  }
}

function checkSelect(c: BodyCtx, stmt: Json, into: Into | null): void {
  if (!into) why('SELECT without INTO');
  if (referencedTables(c.catalog, stmt).size > 0) why('SELECT … INTO over a protected table (its values would be assigned to variables the proxy cannot follow)');
  if (into.names.some((n) => c.fn.outs.get(n)?.table)) why('SELECT … INTO a row of a protected table');
}

/** One static statement of the body: checked, rewritten as at top level, with RETURNING * put back. */
function bodyStatement(c: BodyCtx, query: string, into: Into | null): string {
  const stmt = c.deps.parse(query);
  const [tag, b] = tagOf(stmt) ?? ['?', {}];
  if (!BODY_STATEMENTS.has(tag)) why(`${tag.replace(/Stmt$/, '').toUpperCase()} in the body`);
  const variable = variableRead(stmt, c.variables);
  if (variable) why(`the statement reads ${variable}, a PL/pgSQL variable or argument (a value the proxy cannot see)`);
  if (tag === 'SelectStmt') checkSelect(c, stmt, into);
  else checkInto(c, b, stmt, into);
  // The OUT row takes the table's stored row as is: the rules rewrite the write without its
  // RETURNING (which they would turn into the logical columns), and `RETURNING *` is put back.
  const star = tag !== 'SelectStmt' && into !== null;
  delete b.returningClause;
  delete b.returningList;
  const r = c.deps.rewrite(stmt);
  if (r.batch) why('a write microaggregated as a batch (k-anonymity)');
  if (r.outputs.some((o) => o.prov || o.anon || o.star)) why('a statement whose result carries protected values');
  const sql = star ? `${r.sql} RETURNING *` : r.sql;
  c.deps.check(sql);
  return sql;
}
