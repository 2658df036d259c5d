// The statements a COMMIT needs first (BeforeCommit in pipeline.ts; issue 13: the INSERTs that
// store the rows held for k-anonymity), run by the session as an extended batch of its own inside
// the client's transaction block, ended by its own Sync so that a failure leaves the backend in an
// aborted block, not skipping the client's messages:
//
//   Close S f, then per statement Parse f / Bind f / Execute f / Close P f / Close S f, then Sync
//
// (a refusal decided before anything is sent: a Parse that fails, whose error the refusal replaces).
// All completed: the client's COMMIT goes on. One failed: the client sees that error as its COMMIT's
// and the block is ended by a ROLLBACK of the session's own, as PostgreSQL ends a transaction
// whose COMMIT failed.
//
// Pure message building and bookkeeping; inspect.ts sends the messages and routes the answers.
import type { BackendMessage } from '../protocol/backend.ts';
import type { FrontendMessage } from '../protocol/frontend.ts';
import type { BeforeCommit } from './pipeline.ts';

/** Statement and portal name of the session's own statements before a COMMIT (names starting `clarus_` are the proxy's). */
export const COMMIT_FLUSH_NAME = 'clarus_commit_flush';

const N = COMMIT_FLUSH_NAME;

/** Parse/Bind/Execute of `sql` under the session's own name, both closed after it. */
function run(sql: string): FrontendMessage[] {
  return [
    { type: 'Parse', name: N, sql, paramTypes: [] },
    { type: 'Bind', portal: N, statement: N, paramFormats: [], values: [], resultFormats: [] },
    { type: 'Execute', portal: N, maxRows: 0 },
    { type: 'Close', target: 'P', name: N },
    { type: 'Close', target: 'S', name: N },
  ];
}

export class CommitFlush {
  readonly before: BeforeCommit;
  /** A statement failed (or the refusal was shown): the COMMIT fails. */
  failed = false;
  /** Statements completed so far. */
  private done = 0;
  /** Resolves when the client may be read again (extended protocol: after the batch's ReadyForQuery). */
  readonly held: Promise<void>;
  private release!: () => void;

  constructor(before: BeforeCommit) {
    this.before = before;
    this.held = new Promise<void>((resolve) => { this.release = resolve; });
  }

  /** The batch; `refused` is the failing Parse sent for a refusal. */
  messages(refused: FrontendMessage): FrontendMessage[] {
    if (this.before.refusal) return [refused, { type: 'Sync' }];
    // A statement of this name left by a failed batch (the backend skipped its Close) goes first.
    const out: FrontendMessage[] = [{ type: 'Close', target: 'S', name: N }];
    for (const s of this.before.statements) out.push(...run(s.sql));
    out.push({ type: 'Sync' });
    return out;
  }

  /**
   * What ends the block after a failure (the client's COMMIT is not run). The failed batch may
   * have left its statement and portal (the backend skipped their Close): closed first.
   */
  static rollback(): FrontendMessage[] {
    return [{ type: 'Close', target: 'P', name: N }, { type: 'Close', target: 'S', name: N }, ...run('ROLLBACK'), { type: 'Sync' }];
  }

  /** A statement's CommandComplete: what the client sees in its place (never the tag itself). */
  completed(tag: string): BackendMessage[] {
    const tr = this.before.statements[this.done++]?.result;
    return (tr?.complete?.(tag) ?? []).filter((m) => m.type !== 'CommandComplete');
  }

  /** The batch failed: the statements not completed hear of it. */
  fail(): void {
    this.failed = true;
    for (const s of this.before.statements.slice(this.done)) s.result?.failed?.();
    this.done = this.before.statements.length;
  }

  /** The batch's ReadyForQuery came: the client may be read again. */
  end(): void {
    this.release();
  }
}
