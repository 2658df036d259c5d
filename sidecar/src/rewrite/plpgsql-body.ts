// The body of a temporary PL/pgSQL function (temp-function.ts), read from libpg-query's PL/pgSQL
// parse tree and written out again by the proxy: only the statements below are understood, and
// the text the backend receives is made from the tree, never copied from the client's body, so
// nothing the proxy did not read reaches the backend. Each static SQL statement is handed to
// `sql`, which rewrites it as the rules rewrite a top-level statement (or refuses it).
//   BEGIN … [EXCEPTION WHEN <condition> [OR …] THEN …] END    blocks, without DECLARE or labels
//   <INSERT|UPDATE|DELETE|SELECT> [INTO [STRICT] <OUT parameters>]
//   GET [STACKED] DIAGNOSTICS <OUT parameter> = <item>, …
//   RETURN (no value: the OUT parameters are the result), NULL
// Everything else (dynamic EXECUTE, PERFORM, assignments, RAISE, IF, loops, cursors, RETURN
// NEXT/QUERY, CALL, COMMIT…) is refused by name.
import { arr, body, isObj, tagOf } from './ast.ts';
import type { Json } from './ast.ts';
import type { CatalogTable } from './catalog.ts';
import { refuse } from './refusals.ts';

/** An OUT parameter of the function: a protected table's row type (its stored layout), or another type. */
export interface OutParam { name: string; table: CatalogTable | null }

/** What a static SQL statement's rows go into: the OUT parameters named by INTO. */
export interface Into { names: string[]; strict: boolean }

/** Rewrites one static SQL statement of the body (its text, without INTO) or refuses it. */
export type BodySql = (query: string, into: Into | null) => string;

const REFUSED: Record<string, string> = {
  PLpgSQL_stmt_dynexecute: 'EXECUTE of dynamic SQL (the proxy cannot read a statement built at run time)',
  PLpgSQL_stmt_dynfors: 'FOR … IN EXECUTE (dynamic SQL)',
  PLpgSQL_stmt_perform: 'PERFORM',
  PLpgSQL_stmt_assign: 'an assignment (:=)',
  PLpgSQL_stmt_raise: 'RAISE (its message could carry protected values)',
  PLpgSQL_stmt_assert: 'ASSERT',
  PLpgSQL_stmt_if: 'IF',
  PLpgSQL_stmt_case: 'CASE',
  PLpgSQL_stmt_loop: 'LOOP',
  PLpgSQL_stmt_while: 'WHILE',
  PLpgSQL_stmt_fori: 'FOR (integer loop)',
  PLpgSQL_stmt_fors: 'FOR … IN <query> (a loop over rows)',
  PLpgSQL_stmt_forc: 'FOR … IN <cursor>',
  PLpgSQL_stmt_foreach_a: 'FOREACH',
  PLpgSQL_stmt_exit: 'EXIT/CONTINUE',
  PLpgSQL_stmt_return_next: 'RETURN NEXT',
  PLpgSQL_stmt_return_query: 'RETURN QUERY',
  PLpgSQL_stmt_open: 'OPEN (cursors)',
  PLpgSQL_stmt_fetch: 'FETCH/MOVE (cursors)',
  PLpgSQL_stmt_close: 'CLOSE (cursors)',
  PLpgSQL_stmt_call: 'CALL',
  PLpgSQL_stmt_commit: 'COMMIT',
  PLpgSQL_stmt_rollback: 'ROLLBACK',
};

/** GET DIAGNOSTICS items: facts about the last statement or the caught error (no row values). */
const DIAG_ITEMS = new Set(['ROW_COUNT', 'PG_ROUTINE_OID', 'RETURNED_SQLSTATE', 'MESSAGE_TEXT', 'PG_EXCEPTION_DETAIL',
  'PG_EXCEPTION_HINT', 'PG_EXCEPTION_CONTEXT', 'PG_CONTEXT', 'COLUMN_NAME', 'CONSTRAINT_NAME', 'PG_DATATYPE_NAME',
  'TABLE_NAME', 'SCHEMA_NAME']);

/** A PL/pgSQL identifier, always quoted (the names come folded from the parser). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The body's variables, by number (libpg-query omits a field whose value is 0). */
/** Variables PL/pgSQL declares itself (FOUND; SQLSTATE and SQLERRM in an exception handler). */
const IMPLICIT = new Set(['found', 'sqlstate', 'sqlerrm', '(unnamed row)']);

export class Datums {
  private readonly names: string[];
  private readonly defaults: boolean;

  constructor(fn: Json) {
    const datums = arr(fn.datums).map((d) => tagOf(d)?.[1] ?? {});
    this.names = datums.map((d) => String(d.refname ?? ''));
    this.defaults = datums.some((d) => d.default_val !== undefined);
  }

  /** A variable the body declares (DECLARE), if any: refused (its default would run SQL unseen). */
  declared(outs: ReadonlyMap<string, unknown>): string | null {
    if (this.defaults) return 'a default value';
    return this.names.find((n) => !outs.has(n) && !IMPLICIT.has(n)) ?? null;
  }

  name(varno: unknown): string {
    const n = this.names[typeof varno === 'number' ? varno : 0];
    if (n === undefined || n === '') refuse('tempFunction', { why: `a variable the parse tree does not name (${String(varno)})` });
    return n;
  }

  /** Every variable name (lower case), for the check that no SQL statement reads one. */
  all(): string[] {
    return this.names.filter((n) => n !== '' && !n.startsWith('(')).map((n) => n.toLowerCase());
  }
}

export class BodyWriter {
  private readonly datums: Datums;
  private readonly sql: BodySql;
  /** The OUT parameters: the only variables a statement may assign. */
  private readonly outs: ReadonlyMap<string, OutParam>;

  constructor(datums: Datums, outs: ReadonlyMap<string, OutParam>, sql: BodySql) {
    this.datums = datums;
    this.outs = outs;
    this.sql = sql;
  }

  /** The function's body text, written from its top-level block. */
  function(fn: Json): string {
    const top = body(fn.action, 'PLpgSQL_stmt_block');
    if (!top) refuse('tempFunction', { why: 'a body without a top-level block' });
    const declared = this.datums.declared(this.outs);
    if (declared !== null) refuse('tempFunction', { why: `DECLARE (${declared}; only the OUT parameters are variables)` });
    return this.block(top).replace(/;$/, '');
  }

  private block(b: Json): string {
    if (b.label) refuse('tempFunction', { why: `block label <<${String(b.label)}>>` });
    if (arr(b.initvarnos).length > 0) refuse('tempFunction', { why: 'DECLARE (variables other than the OUT parameters)' });
    const handlers = body(b.exceptions, 'PLpgSQL_exception_block');
    const exc = handlers ? ` EXCEPTION ${arr(handlers.exc_list).map((e) => this.handler(e)).join(' ')}` : '';
    return `BEGIN ${this.list(b.body)}${exc} END;`;
  }

  private handler(e: unknown): string {
    const h = body(e, 'PLpgSQL_exception');
    if (!h) refuse('tempFunction', { why: 'an exception handler the proxy does not know' });
    const conds = arr(h.conditions).map((c) => {
      const name = String(body(c, 'PLpgSQL_condition')?.condname ?? '');
      if (!/^[a-z][a-z_]*$/.test(name) || name === 'sqlstate') refuse('tempFunction', { why: `exception condition ${name || '?'} (name a condition, e.g. unique_violation)` });
      return name;
    });
    if (conds.length === 0) refuse('tempFunction', { why: 'an exception handler without a condition' });
    return `WHEN ${conds.join(' OR ')} THEN ${this.list(h.action)}`;
  }

  private list(stmts: unknown): string {
    return arr(stmts).map((s) => this.statement(s)).join(' ');
  }

  private statement(s: unknown): string {
    const t = tagOf(s);
    const [tag, b] = t ?? ['?', {}];
    switch (tag) {
      case 'PLpgSQL_stmt_block': return this.block(b);
      case 'PLpgSQL_stmt_execsql': return this.execsql(b);
      case 'PLpgSQL_stmt_getdiag': return this.getdiag(b);
      case 'PLpgSQL_stmt_return': return this.ret(b);
      case 'PLpgSQL_stmt_null': return 'NULL;';
      default: return refuse('tempFunction', { why: `${REFUSED[tag] ?? tag} in the body` });
    }
  }

  private execsql(b: Json): string {
    const query = body(b.sqlstmt, 'PLpgSQL_expr')?.query;
    if (typeof query !== 'string') refuse('tempFunction', { why: 'a SQL statement without text' });
    const into = b.into ? { names: this.targets(b.target), strict: b.strict === true } : null;
    const sql = this.sql(query, into);
    return into ? `${sql} INTO ${into.strict ? 'STRICT ' : ''}${into.names.map(quoteIdent).join(', ')};` : `${sql};`;
  }

  /** The names INTO assigns: OUT parameters only. */
  private targets(target: unknown): string[] {
    const t = tagOf(target);
    if (!t) refuse('tempFunction', { why: 'INTO without a target' });
    const [tag, b] = t;
    const names = tag === 'PLpgSQL_row' ? arr(b.fields).map((f) => this.datums.name(isObj(f) ? f.varno : undefined)) : [String(b.refname ?? '')];
    for (const n of names) this.assigned(n, 'INTO');
    return names;
  }

  private assigned(name: string, how: string): OutParam {
    const out = this.outs.get(name);
    if (!out) refuse('tempFunction', { why: `${how} ${name}, which is not an OUT parameter` });
    return out;
  }

  private getdiag(b: Json): string {
    const items = arr(b.diag_items).map((i) => {
      const d = body(i, 'PLpgSQL_diag_item') ?? {};
      const kind = String(d.kind ?? '');
      if (!DIAG_ITEMS.has(kind)) refuse('tempFunction', { why: `GET DIAGNOSTICS item ${kind || '?'}` });
      const name = this.datums.name(d.target);
      if (this.assigned(name, 'GET DIAGNOSTICS into').table) refuse('tempFunction', { why: `GET DIAGNOSTICS into ${name}, a row of a protected table` });
      return `${quoteIdent(name)} = ${kind}`;
    });
    return `GET ${b.is_stacked ? 'STACKED ' : ''}DIAGNOSTICS ${items.join(', ')};`;
  }

  private ret(b: Json): string {
    if (b.expr) refuse('tempFunction', { why: 'RETURN with a value (the OUT parameters are the result)' });
    return 'RETURN;';
  }
}
