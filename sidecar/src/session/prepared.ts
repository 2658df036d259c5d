// Prepared statements and portals as the session knows them: the pipeline's decision for each, and
// what to plan it again from after a reload. A new pipeline (configuration reload) takes over the
// previous one's names as stale: before a stale statement or portal is used, its text is planned
// again with the new pipeline; the new decision replaces the old one when it sends the backend the
// same statement and shows the client the same shape, otherwise the use is refused (26000 for a
// statement, 34000 for a portal: prepare or bind it again). Names prepared while the previous
// pipeline was pass-through were never seen: every use of a name the session does not know is
// then refused the same way.
import type { Pass, Pipeline, Refuse, RewriteStatement, StatementDecision } from './pipeline.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';

export interface Stmt {
  dec: Pass | RewriteStatement;
  /** The client's text and parameter types, to plan it again. */
  sql: string;
  types: readonly number[];
  /** Made under the previous pipeline: planned again before its next use. */
  stale: boolean;
}

/** `stmt` undefined: a statement the session does not know (the backend answers for it). */
/**
 * `params`: the Bind's parameter values as text, kept for a two-stage statement's in-proxy stage
 * ('binary' when one was sent in binary format).
 */
export interface Portal { stmt: Stmt | undefined; formats: readonly number[]; stale: boolean; params?: Array<string | null> | 'binary' }

export type Ready<T> = T | Refuse | undefined | Promise<T | Refuse>;

const isPromise = <V>(v: V | Promise<V>): v is Promise<V> => typeof (v as { then?: unknown } | null | undefined)?.then === 'function';

export function mustPrepareAgain(name: string): Refuse {
  return { kind: 'refuse', code: SQLSTATE.invalidSqlStatementName, message: `prepared statement "${name}" must be prepared again after a policy reload` };
}

export function mustBindAgain(name: string): Refuse {
  return { kind: 'refuse', code: SQLSTATE.invalidCursorName, message: `portal "${name}" must be bound again after a policy reload` };
}

export const rewriteOf = (s: Stmt | undefined): RewriteStatement | undefined => (s?.dec.kind === 'rewrite' ? s.dec : undefined);

function sameNumbers(a: readonly number[] | undefined, b: readonly number[] | undefined): boolean {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  return a.every((v, i) => v === b[i]);
}

/** Same statement for the backend (text, parameter types) and same shape for the client. */
export function sameStatement(s: Stmt, d: Pass | RewriteStatement): boolean {
  const a = s.dec;
  const sql = (x: Pass | RewriteStatement) => (x.kind === 'rewrite' ? x.sql : s.sql);
  const types = (x: Pass | RewriteStatement) => (x.kind === 'rewrite' ? x.paramTypes ?? s.types : s.types);
  const client = (x: Pass | RewriteStatement) => (x.kind === 'rewrite' ? x.clientParamTypes : undefined);
  const shape = (x: Pass | RewriteStatement) => (x.kind === 'rewrite' ? x.shape : undefined);
  return sql(a) === sql(d) && sameNumbers(types(a), types(d)) && sameNumbers(client(a), client(d)) && shape(a) === shape(d);
}

export class Prepared {
  readonly statements = new Map<string, Stmt>();
  readonly portals = new Map<string, Portal>();
  /** Statements may exist on the backend that were prepared while the pipeline was pass-through. */
  readonly inheritedUnknown: boolean;
  private readonly pipeline: Pipeline;

  /** `from`: the previous pipeline's names (kept as stale), or 'unknown' after a pass-through one. */
  constructor(pipeline: Pipeline, from?: Prepared | 'unknown') {
    this.pipeline = pipeline;
    this.inheritedUnknown = from === 'unknown' || (from?.inheritedUnknown ?? false);
    if (!from || from === 'unknown') return;
    for (const [n, s] of from.statements) this.statements.set(n, { ...s, stale: true });
    for (const [n, p] of from.portals) this.portals.set(n, { ...p, stale: true });
  }

  /** Statements or portals with rewritten decisions exist: a pass-through pipeline cannot run them. */
  remembersRewrites(): boolean {
    for (const s of this.statements.values()) if (s.dec.kind === 'rewrite') return true;
    for (const p of this.portals.values()) if (p.stmt?.dec.kind === 'rewrite') return true;
    return false;
  }

  /** The statement ready for use, a refusal, or undefined when the session does not know it. */
  statement(name: string): Ready<Stmt> {
    const s = this.statements.get(name);
    if (!s) return this.inheritedUnknown ? mustPrepareAgain(name) : undefined;
    return s.stale ? this.replan(name, s) : s;
  }

  /** The portal ready for use, a refusal, or undefined when the session does not know it. */
  portal(name: string): Ready<Portal> {
    const p = this.portals.get(name);
    if (!p) return this.inheritedUnknown ? mustBindAgain(name) : undefined;
    if (!p.stale) return p;
    if (!p.stmt) return mustBindAgain(name);
    const adopt = (r: Stmt | Refuse): Portal | Refuse => {
      if ('kind' in r) return r.code === SQLSTATE.invalidSqlStatementName ? mustBindAgain(name) : r;
      const fresh: Portal = { stmt: r, formats: p.formats, stale: false };
      if (this.portals.get(name) === p) this.portals.set(name, fresh);
      return fresh;
    };
    const r = this.replan(null, p.stmt);
    return isPromise(r) ? r.then(adopt) : adopt(r);
  }

  /** Plans a stale statement with the current pipeline (`name` null: the one behind a portal). */
  private replan(name: string | null, s: Stmt): Stmt | Refuse | Promise<Stmt | Refuse> {
    const adopt = (dec: StatementDecision): Stmt | Refuse => {
      if (dec.kind === 'refuse') return dec;
      if (!sameStatement(s, dec)) return mustPrepareAgain(name ?? '');
      const fresh: Stmt = { dec, sql: s.sql, types: s.types, stale: false };
      if (name !== null && this.statements.get(name) === s) this.statements.set(name, fresh);
      return fresh;
    };
    const d = this.pipeline.parse(s.sql, s.types, name ?? '');
    return isPromise(d) ? d.then(adopt) : adopt(d);
  }
}
