// SQL-level prepared statements of one session (issue 11): what each `PREPARE name AS …` the
// session sent means, so that `EXECUTE name(args)` can protect its arguments with the roles the
// rewrite gave the statement's parameters and show its rows with the statement's outputs. Pure: no I/O.
//
// SQL-level and protocol-level prepared statements share one namespace on the backend. The proxy
// must never take a name for a statement it is not: `EXECUTE p('<plaintext>')` of a statement the
// proxy rewrote to take ciphertext would store the plaintext. So what a name means is only believed
// once the backend has said so:
// - a PREPARE counts once its CommandComplete arrives (a duplicate name fails with 42P05 and leaves
//   the earlier statement); DEALLOCATE / DEALLOCATE ALL / DISCARD ALL forget once theirs arrives;
// - a protocol-level Parse of a name marks it as protocol-level at once (its EXECUTE is refused);
// - while a change of a name sent earlier is unanswered, an EXECUTE of that name is refused — but
//   within one simple Query the statements before the EXECUTE count at once: if one of them fails,
//   PostgreSQL skips the rest of the text, EXECUTE included (`PREPARE p AS …; EXECUTE p(…)` works).
// After a reload the names are kept as stale: the next EXECUTE plans the PREPARE again, and uses it
// when the backend would get the same statement with the same result shape; otherwise it is refused
// with 26000 until the client prepares it again (like protocol-level statements, session/prepared.ts).
import type { Rewriter } from '../rewrite/rewriter.ts';
import type { ResultTransformer } from '../session/pipeline.ts';

/** The analysis of an accepted PREPARE: a plan, or pass (it touches nothing protected). */
export type PrepareAnalysis = Extract<ReturnType<Rewriter['analyze']>, { kind: 'plan' | 'pass' }>;

/** One SQL-level prepared statement as the proxy sent it. */
export interface SqlStatement {
  readonly name: string;
  /** The client's PREPARE text (planned again after a reload). */
  readonly text: string;
  /** The PREPARE's analysis (a plan: its parameters' roles, its outputs). */
  readonly analysis: PrepareAnalysis;
  /** The PREPARE text the backend got: a new plan is adopted after a reload only when it is the same. */
  readonly sent: string;
  /** Made under an earlier configuration: planned again before its next EXECUTE. */
  readonly stale: boolean;
}

/** What an EXECUTE of a name finds. */
export type Found =
  | { kind: 'statement'; s: SqlStatement }
  | { kind: 'absent' }
  | { kind: 'protocol' }
  /** Names from before a pass-through configuration, which the session never saw. */
  | { kind: 'unknown' }
  /** A PREPARE/DEALLOCATE of it sent earlier is not answered yet. */
  | { kind: 'unsure' };

type Known = SqlStatement | 'protocol';

/** A change of the namespace that counts once the backend completes it. */
export type Change = { op: 'prepare'; s: SqlStatement } | { op: 'deallocate'; name: string } | { op: 'all' };

const nameOf = (c: Change): string | null => (c.op === 'prepare' ? c.s.name : c.op === 'deallocate' ? c.name : null);

export class SqlPrepared {
  private readonly known = new Map<string, Known>();
  private readonly inflight = new Map<string, number>();
  private inflightAll = 0;
  /**
   * Names a SQL PREPARE took (completed, not deallocated since), whatever protocol-level Parses say
   * (one of the same name fails while it exists), and PREPAREs not answered yet: a protocol-level
   * Bind or Describe of them is refused (it would skip the statement's parameter roles).
   */
  private readonly sqlNames = new Set<string>();
  private readonly preparing = new Map<string, number>();
  /** Names may exist on the backend that the session never saw (a pass-through configuration before). */
  private unknownBefore = false;

  /** Takes over an earlier configuration's names as stale (`'unknown'`: it was pass-through). */
  adopt(from: SqlPrepared | 'unknown'): void {
    if (from === 'unknown') { this.unknownBefore = true; return; }
    this.unknownBefore ||= from.unknownBefore;
    for (const [n, k] of from.known) this.known.set(n, k === 'protocol' ? k : { ...k, stale: true });
    for (const n of from.sqlNames) this.sqlNames.add(n);
  }

  /** A protocol-level Parse of `name` (not the unnamed statement): its EXECUTE is refused from now on. */
  protocol(name: string): void {
    if (name !== '') this.known.set(name, 'protocol');
  }

  /** True when statements the proxy rewrote are remembered (a pass-through configuration cannot run them). */
  remembersRewrites(): boolean {
    for (const k of this.known.values()) if (k !== 'protocol' && k.analysis.kind === 'plan' && k.analysis.statements.some((s) => s.changed)) return true;
    return false;
  }

  /** What EXECUTE of `name` finds, with the changes of the same text (`local`) applied first. */
  find(name: string, local?: Local): Found {
    const l = local?.get(name);
    if (l !== undefined) return l === 'absent' ? { kind: 'absent' } : { kind: 'statement', s: l };
    if (local?.all) return { kind: 'absent' };
    if (this.changing(name)) return { kind: 'unsure' };
    const k = this.known.get(name);
    if (k === 'protocol') return { kind: 'protocol' };
    if (k) return { kind: 'statement', s: k };
    return this.unknownBefore ? { kind: 'unknown' } : { kind: 'absent' };
  }

  /** A change of `name` (or of all names) was sent and is not answered yet. */
  private changing(name: string): boolean {
    return (this.inflight.get(name) ?? 0) > 0 || this.inflightAll > 0;
  }

  /** True when `name` may be a statement of SQL PREPARE on the backend (see sqlNames). */
  sqlLevel(name: string): boolean {
    return this.sqlNames.has(name) || (this.preparing.get(name) ?? 0) > 0;
  }

  /** A stale statement planned again and found the same: it replaces the old one. */
  refreshed(s: SqlStatement): void {
    if (this.known.get(s.name) !== undefined) this.known.set(s.name, s);
  }

  /** The change was sent to the backend: EXECUTEs of its name from other texts wait for its answer. */
  open(c: Change): void {
    const n = nameOf(c);
    if (n === null) this.inflightAll++;
    else this.inflight.set(n, (this.inflight.get(n) ?? 0) + 1);
    if (c.op === 'prepare') bump(this.preparing, c.s.name, 1);
  }

  /** The backend answered the change: `ok` when it completed it. */
  resolve(c: Change, ok: boolean): void {
    const n = nameOf(c);
    if (n === null) this.inflightAll = Math.max(0, this.inflightAll - 1);
    else bump(this.inflight, n, -1);
    if (c.op === 'prepare') bump(this.preparing, c.s.name, -1);
    if (ok) this.apply(c);
  }

  private apply(c: Change): void {
    if (c.op === 'prepare') {
      this.known.set(c.s.name, c.s);
      this.sqlNames.add(c.s.name);
    } else if (c.op === 'deallocate') {
      this.known.delete(c.name);
      this.sqlNames.delete(c.name);
    } else {
      // DEALLOCATE ALL / DISCARD ALL drop protocol-level statements too.
      this.known.clear();
      this.sqlNames.clear();
      this.unknownBefore = false;
    }
  }
}

function bump(m: Map<string, number>, name: string, by: number): void {
  const left = (m.get(name) ?? 0) + by;
  if (left > 0) m.set(name, left); else m.delete(name);
}

/** The changes of one text so far, in order (what later statements of the same text see). */
export class Local {
  private readonly names = new Map<string, SqlStatement | 'absent'>();
  all = false;
  readonly changes: Change[] = [];

  get(name: string): SqlStatement | 'absent' | undefined { return this.names.get(name); }

  add(c: Change): void {
    this.changes.push(c);
    if (c.op === 'prepare') this.names.set(c.s.name, c.s);
    else if (c.op === 'deallocate') this.names.set(c.name, 'absent');
    else { this.names.clear(); this.all = true; }
  }
}

/**
 * The result transformer of a statement that changes the namespace (no rows): each execution
 * `open`s the change (a simple Query's statement once, when it is sent; a prepared one at each
 * Execute); its CommandComplete applies it, a failure or skip drops it (the oldest open first:
 * the backend answers in order, and after a failure it skips everything up to Sync).
 */
export function changeHooks(registry: SqlPrepared, change: Change): ResultTransformer & { open(): void } {
  const opened: Change[] = [];
  const settle = (ok: boolean): void => {
    const c = opened.shift();
    if (c) registry.resolve(c, ok);
  };
  return {
    fields: (f) => [...f],
    row: (v) => v,
    open: () => { opened.push(change); registry.open(change); },
    complete: (tag) => { settle(true); return [{ type: 'CommandComplete', tag }]; },
    failed: () => { settle(false); },
  };
}
