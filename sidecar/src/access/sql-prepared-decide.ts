// The decisions of texts that use SQL-level prepared statements (issue 11): PREPARE, EXECUTE,
// DEALLOCATE [ALL], DISCARD ALL, in a simple Query (alone or among other statements) or in a
// Parse (the extended protocol). Each PREPARE is rewritten like a Parse of its statement
// (rewrite/rules/prepare.ts) and remembered (sql-prepared.ts) once the backend completes it; each
// EXECUTE gets its arguments protected by the statement's parameter roles (sql-execute.ts), its
// access decided as the statement's, and its rows shown with the statement's outputs for the
// user's views now. The other statements of such a text take their ordinary decision one by one.
import type { View } from '@clarus/crds/types.ts';
import { arr, body, tagOf } from '../rewrite/ast.ts';
import type { Json } from '../rewrite/ast.ts';
import type { ParsedStatement } from '../rewrite/parser.ts';
import { deparseStatement, parseStatements } from '../rewrite/parser.ts';
import type { KeyedRewriter as Rewriter } from '../protection/keyed-rewriter.ts';
import type { AccessCheck, QueryDecision, Refuse, ResultTransformer, StatementDecision } from '../session/pipeline.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';
import { changeHooks, Local, SqlPrepared } from './sql-prepared.ts';
import type { Change, PrepareAnalysis, SqlStatement } from './sql-prepared.ts';
import { rewriteExecute } from './sql-execute.ts';
import type { ExecuteRewrite } from './sql-execute.ts';

type Analysis = ReturnType<Rewriter['analyze']>;
type Plan = Extract<Analysis, { kind: 'plan' }>;

/** What the decisions need of the protection pipeline. */
export interface DecideDeps {
  rewriter: Rewriter;
  /** The access decision and audit line of a statement (its analysis), or the refusal. */
  access(sql: string, a: Analysis): { views: Map<string, View>; check?: AccessCheck } | Refuse;
  /** The result transformer of a plan's one statement for these views (none: nothing protected shown). */
  result(plan: Plan, views: Map<string, View>): { result?: ResultTransformer; shape: string } | Refuse;
  /** The ordinary decision of one statement's text. */
  ordinary(sql: string): QueryDecision | Promise<QueryDecision>;
}

function refuse(code: string, message: string): Refuse {
  return { kind: 'refuse', code, message };
}

/** A statement whose decision needs a text of its own (COPY, a computed write, a COMMIT with held rows…). */
const alone = (what: string): Refuse => refuse(SQLSTATE.featureNotSupported, `clarus: this statement cannot be sent in one text with PREPARE/EXECUTE/DEALLOCATE; send it on its own: ${what}`);

const mustPrepareAgain = (name: string): Refuse => refuse(SQLSTATE.invalidSqlStatementName, `prepared statement "${name}" must be prepared again after a policy reload`);

/** Cheap pre-check: only texts that may hold one of these statements are parsed again. */
const MAY_HOLD = /\b(prepare|execute|deallocate|discard)\b/i;
const NAMESPACE = new Set(['PrepareStmt', 'ExecuteStmt', 'DeallocateStmt']);

function isNamespaceStatement(stmt: Json): boolean {
  const t = tagOf(stmt);
  return t !== null && (NAMESPACE.has(t[0]) || (t[0] === 'DiscardStmt' && t[1].target === 'DISCARD_ALL'));
}

/** The statements of a text that uses the SQL-level namespace, or null (texts that do not parse have none: they are refused). */
function namespaceText(sql: string): ParsedStatement[] | null {
  if (!MAY_HOLD.test(sql)) return null;
  try {
    const parsed = parseStatements(sql);
    return parsed.some((p) => isNamespaceStatement(p.stmt)) ? parsed : null;
  } catch {
    return null;
  }
}

/** The namespace change of DEALLOCATE / DISCARD ALL. */
function removal(stmt: Json): Change {
  const d = body(stmt, 'DeallocateStmt');
  return d?.name && !d.isall ? { op: 'deallocate', name: String(d.name) } : { op: 'all' };
}

/** The answer to EXECUTE of a name that is not a SQL-level statement of this session. */
function notFound(name: string, kind: 'absent' | 'unknown' | 'protocol' | 'unsure'): Refuse {
  switch (kind) {
    case 'absent': return refuse(SQLSTATE.invalidSqlStatementName, `prepared statement "${name}" does not exist`);
    case 'unknown': return mustPrepareAgain(name);
    case 'protocol': return refuse(SQLSTATE.featureNotSupported, `clarus: EXECUTE of ${name}, a statement prepared with the protocol's Parse message, is refused while a policy protects data; run it with Bind/Execute`);
    case 'unsure': return refuse(SQLSTATE.featureNotSupported, `clarus: EXECUTE ${name} was sent before the backend answered a PREPARE or DEALLOCATE of ${name} sent earlier; wait for its answer, then send EXECUTE again`);
  }
}

/** Whether an ordinary rewrite is one statement's whole answer: one result, no COPY, nothing sent before it, no write-back. */
function answersAlone(d: Extract<QueryDecision, { kind: 'rewrite' }>): boolean {
  if ((d.results?.length ?? 0) > 1 || d.before) return false;
  return !d.copy?.some(Boolean) && !d.results?.[0]?.residual?.write;
}

interface Part { sql: string; result?: ResultTransformer; hooks?: ReturnType<typeof changeHooks> }

interface Executed { rw: ExecuteRewrite; s: SqlStatement; result?: ResultTransformer; shape: string; check?: AccessCheck }

export class SqlPreparedDecisions {
  readonly registry = new SqlPrepared();
  private readonly deps: DecideDeps;

  constructor(deps: DecideDeps) {
    this.deps = deps;
  }

  /** A Query's decision when its text uses the SQL-level namespace; undefined otherwise. */
  query(sql: string): QueryDecision | undefined {
    const parsed = namespaceText(sql);
    if (!parsed) return undefined;
    const local = new Local();
    const parts: Part[] = [];
    for (const p of parsed) {
      const part = this.part(p, local);
      if ('kind' in part) return part;
      parts.push(part);
    }
    // The text goes to the backend now: its changes wait for their answers.
    for (const p of parts) p.hooks?.open();
    return { kind: 'rewrite', sql: parts.map((p) => p.sql).join(';\n'), results: parts.map((p) => p.result ?? p.hooks) };
  }

  private part(p: ParsedStatement, local: Local): Part | Refuse {
    const tag = tagOf(p.stmt)?.[0];
    if (tag === 'PrepareStmt') return this.prepare(p, local);
    if (tag === 'ExecuteStmt') {
      const e = this.execute(p.stmt, p.text, local);
      return 'kind' in e ? e : { sql: e.rw.sql, ...(e.result ? { result: e.result } : {}) };
    }
    return isNamespaceStatement(p.stmt) ? this.remove(p, local) : this.ordinaryPart(p);
  }

  /** Another statement of the text: its ordinary decision, when it is one statement's answer. */
  private ordinaryPart(p: ParsedStatement): Part | Refuse {
    const d = this.deps.ordinary(p.text);
    if ('then' in d) return alone('a COMMIT that stores rows held for k-anonymity');
    if (d.kind !== 'rewrite') return d.kind === 'refuse' ? d : { sql: p.text };
    if (!answersAlone(d)) return alone(p.text.slice(0, 80));
    const r = d.results?.[0];
    return { sql: d.sql, ...(r ? { result: r } : {}) };
  }

  /** DEALLOCATE name / ALL, DISCARD ALL: their ordinary decision, and the change once completed. */
  private remove(p: ParsedStatement, local: Local): Part | Refuse {
    const d = this.deps.ordinary(p.text);
    if ('then' in d) return alone(p.text);
    if (d.kind === 'refuse') return d;
    const change = removal(p.stmt);
    local.add(change);
    return { sql: p.text, hooks: changeHooks(this.registry, change) };
  }

  /** The statement a PREPARE text makes (its analysis and access decided now), or the refusal. */
  private prepared(name: string, text: string): { s: SqlStatement; check?: AccessCheck } | Refuse {
    const a = this.deps.rewriter.analyze(text);
    const acc = this.deps.access(text, a);
    if ('kind' in acc) return acc;
    if (a.kind === 'refuse') return refuse(a.code, a.message);
    const sent = a.kind === 'plan' ? (a.statements[0]?.sql ?? text) : text;
    return { s: { name, text, analysis: a as PrepareAnalysis, sent, stale: false }, ...(acc.check ? { check: acc.check } : {}) };
  }

  private prepare(p: ParsedStatement, local: Local): Part | Refuse {
    const name = String(body(p.stmt, 'PrepareStmt')?.name ?? '');
    const made = this.prepared(name, p.text);
    if ('kind' in made) return made;
    const change: Change = { op: 'prepare', s: made.s };
    local.add(change);
    return { sql: made.s.sent, hooks: changeHooks(this.registry, change) };
  }

  /** The statement EXECUTE of `name` runs (planned again after a reload), or the refusal. */
  private statement(name: string, local?: Local): SqlStatement | Refuse {
    const f = this.registry.find(name, local);
    if (f.kind !== 'statement') return notFound(name, f.kind);
    if (!f.s.stale) return f.s;
    const again = this.prepared(name, f.s.text);
    if ('kind' in again) return again;
    if (again.s.sent !== f.s.sent) return mustPrepareAgain(name);
    this.registry.refreshed(again.s);
    return again.s;
  }

  /** EXECUTE: the statement, its arguments protected, its access decided and its rows' transformer. */
  private execute(stmt: Json, text: string, local?: Local): Executed | Refuse {
    const name = String(body(stmt, 'ExecuteStmt')?.name ?? '');
    const s = this.statement(name, local);
    if ('kind' in s) return s;
    const acc = this.deps.access(text, s.analysis);
    if ('kind' in acc) return acc;
    const plan = s.analysis.kind === 'plan' ? s.analysis : null;
    const rw = this.executeArgs(stmt, name, plan);
    if ('kind' in rw) return rw;
    const shown = this.shown(plan, acc.views);
    if ('kind' in shown) return shown;
    return { rw, s, shape: shown.shape, ...(shown.result ? { result: shown.result } : {}), ...(acc.check ? { check: acc.check } : {}) };
  }

  /** The rows' transformer and shape of the statement EXECUTE runs (none for a statement the rewriter passes). */
  private shown(plan: Plan | null, views: Map<string, View>): ReturnType<DecideDeps['result']> {
    return plan ? this.deps.result(plan, views) : { shape: '' };
  }

  /** The EXECUTE's arguments with its constants protected, or the refusal. */
  private executeArgs(stmt: Json, name: string, plan: Plan | null): ExecuteRewrite | Refuse {
    const rw = rewriteExecute(stmt, name, plan?.params ?? new Map(), (r) => this.deps.rewriter.cipher(r));
    if ('kind' in rw) return rw;
    return this.readsProtected(name, rw.expressions) ?? rw;
  }

  /** Arguments of plain parameters are computed by the backend: they must read nothing protected. */
  private readsProtected(name: string, expressions: Json[]): Refuse | undefined {
    if (expressions.length === 0) return undefined;
    const probe = deparseStatement({ SelectStmt: { targetList: expressions.map((val) => ({ ResTarget: { val } })), limitOption: 'LIMIT_OPTION_DEFAULT', op: 'SETOP_NONE' } });
    const a = this.deps.rewriter.analyze(probe);
    if (a.kind === 'pass') return undefined;
    const why = a.kind === 'refuse' ? a.message.replace(/^clarus: /, '') : 'they read protected tables';
    return refuse(SQLSTATE.featureNotSupported, `clarus: EXECUTE ${name}: the arguments ${arr(expressions).length === 1 ? 'that is an expression' : 'that are expressions'} must read nothing protected (${why})`);
  }

  /** A Parse whose text is one PREPARE, EXECUTE, DEALLOCATE or DISCARD ALL; undefined otherwise. */
  parse(sql: string): StatementDecision | undefined {
    const parsed = namespaceText(sql);
    if (parsed?.length !== 1) return undefined;
    const p = parsed[0] as ParsedStatement;
    const tag = tagOf(p.stmt)?.[0];
    if (tag === 'ExecuteStmt') return this.parseExecute(p);
    const part = tag === 'PrepareStmt' ? this.prepare(p, new Local()) : this.remove(p, new Local());
    if ('kind' in part) return part;
    const hooks = part.hooks as ReturnType<typeof changeHooks>;
    // A prepared PREPARE/DEALLOCATE changes the namespace at each Execute of it.
    return { kind: 'rewrite', sql: part.sql, result: hooks, executing: hooks.open, shape: `sql-namespace:${part.sql}` };
  }

  private parseExecute(p: ParsedStatement): StatementDecision {
    const e = this.execute(p.stmt, p.text);
    if ('kind' in e) return e;
    const name = e.s.name;
    // The statement EXECUTE was planned for must still be the one of that name at each Bind/Execute.
    const check: AccessCheck = () => {
      const f = this.registry.find(name);
      if (f.kind !== 'statement' || f.s.sent !== e.s.sent) return refuse(SQLSTATE.invalidSqlStatementName, `prepared statement "${name}" changed since this EXECUTE was parsed; parse the EXECUTE again`);
      return e.check?.();
    };
    return { kind: 'rewrite', sql: e.rw.sql, shape: `sql-execute:${e.s.sent};${e.shape}`, check, ...(e.result ? { result: e.result } : {}) };
  }
}
