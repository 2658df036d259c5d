// The statement pipeline: the one place where the session hands SQL and results to the rewriter
// (issue 4) without the rewriter ever touching sockets or message framing.
//
// How the session uses it
// -----------------------
// * One Pipeline per client session, made by a PipelineFactory once the client has authenticated
//   (SessionInfo tells who it is and what the user's grants are, RuntimeConfig is the configuration
//   snapshot the session started with; on reload the session keeps it until the statement ends).
// * Simple protocol: every Query message calls `query(sql)` with the whole text (it may hold several
//   statements). Extended protocol: every Parse calls `parse(sql, paramTypes, name)`.
// * The answer is a Decision:
//     pass     - the original message bytes are forwarded unchanged (the cheap path).
//     rewrite  - the session sends `sql` (and `paramTypes`) instead. For a Parse, the decision is
//                remembered with the prepared statement: every Bind of it runs `params` over the
//                parameter values (with each value's format code), every Describe/Execute of it or of
//                its portals runs `result` over RowDescription and DataRow messages.
//                For a Query, `results[i]` transforms the i-th result of the text (one entry per
//                statement, in order; a statement that returns no rows simply has none; missing
//                entries mean "unchanged").
//     refuse   - the refused statement is never sent. In its place the session sends a fixed
//                statement that fails to parse (REFUSAL_SQL in inspect.ts) and shows the client
//                ErrorResponse(code, message) instead of that syntax error. So the backend handles
//                the refusal exactly as PostgreSQL handles a failed statement: an open transaction
//                block is aborted (later statements get 25P02, COMMIT rolls back), an extended
//                batch's implicit transaction is rolled back, and the backend skips to Sync. In the
//                extended protocol the session also drops the client's messages until Sync (Bind
//                would carry the refused statement's parameters). A refusal that follows a backend
//                error in the same batch is not shown: PostgreSQL would have skipped that message.
// * Prepared statements: the decision of a Parse is remembered with the statement. Every Bind of it
//   and every Execute of its portals first calls the decision's `check` (grants may have expired
//   since the Parse: the pipeline has a clock); a Refuse answer fails that Bind/Execute the way a
//   refused Parse fails (the backend never sees the message, the batch is skipped to Sync).
// * Reload: the session swaps pipelines at statement boundaries (a ReadyForQuery with nothing
//   outstanding, and the start of the next statement after it). Prepared statements and portals
//   made under the previous pipeline are planned again with the new one (`parse` once more, same
//   text and types) before their next Bind/Describe/Execute: when the new decision sends the backend
//   the same statement (text, parameter types) and shows the client the same shape (parameter types
//   reported, `shape`), it replaces the old one (new keys, views and checks apply at once);
//   otherwise that Bind is refused with 26000 "prepared statement … must be prepared again after a
//   policy reload" (drivers such as pgjdbc prepare again on 26000). Statements prepared while the
//   previous pipeline was pass-through are unknown to the session: their Binds are refused the same way.
// * COPY: when a statement whose decision has `copy` starts COPY FROM STDIN, each CopyData the client
//   sends passes through `copy.in`; for COPY TO STDOUT each CopyData the backend sends passes
//   through `copy.out`. `begin` is called at the start of every COPY operation (a prepared COPY
//   runs several), before its first chunk, so hooks that keep state start afresh. Chunks from
//   clients need not be row-aligned (psql sends lines, others send arbitrary blocks): a hook that
//   needs whole rows buffers partial ones and returns them later; `finish` is called on CopyDone
//   so buffered bytes can be emitted. The session applies `copy.in` to CopyData by the client's
//   order of messages, not by the backend's timing: data written before the backend's
//   CopyInResponse goes through the hooks of the statement it follows when the statement is
//   exactly one COPY FROM STDIN with hooks; otherwise (several statements, or a statement without
//   hooks) the session stops reading the client until the backend says which COPY, if any, it is
//   in. CopyData/CopyDone/CopyFail that belong to no COPY (the backend would ignore them) are dropped.
// * Decisions may be returned synchronously or as a Promise. While a Promise is pending the session
//   stops reading that client (backpressure), so ordering is kept.
// * A transformer may throw a StatementError (below) for one statement's data: a value that is not
//   a ciphertext of its column (XX001), a Bind value that does not fit its column's type (22P02,
//   22P03), COPY data PostgreSQL would refuse (22P04, 22021). The statement then fails with that
//   SQLSTATE and the session goes on: a failing Bind is not sent; COPY FROM data is replaced by
//   CopyFail; for results (DataRow, COPY TO data) the client gets the ErrorResponse after the rows
//   already sent, the rest of the statement's answers are dropped, and the proxy makes the backend
//   fail too (an open transaction block is aborted; a batch whose Sync the backend has not been
//   sent yet is rolled back). A ProtocolError (protocol/codec.ts) is the client's fault: FATAL
//   08P01 and the connection closes. Anything else a transformer throws is an internal error: the
//   session logs it, answers `XX000` and closes the connection (fail closed: nothing
//   half-transformed reaches the client).
//
// Performance contract: a pipeline whose `passthrough` is true is never called; the session then
// forwards message bytes unmodified without decoding them (no allocation per message). The default
// pipeline below is such a one. Any other pipeline makes the session decode Query/Parse/Bind and
// track responses, which costs a little per message.
import type { RuntimeConfig, RuntimeUser } from '@clarus/policy/runtime/config.ts';
import type { BackendSecrets } from '../config/load.ts';
import type { BackendMessage } from '../protocol/backend.ts';
import type { FieldDescription, WireValue } from '../protocol/types.ts';

export type { FieldDescription, FormatCode, WireValue } from '../protocol/types.ts';
export { formatAt } from '../protocol/types.ts';

/** Who is on the other end of a session. */
export interface SessionInfo {
  /** The user name the client authenticated as (to the proxy, not to the backend). */
  user: string;
  /** The database name the client asked for in its StartupMessage. */
  database: string;
  applicationName: string;
  /** The user's grants from RuntimeConfig.users (empty when the user has none). */
  grants: RuntimeUser['grants'];
  /** Name of the RuntimeBackend this session is connected to. */
  backend: string;
  /** The role the session's backend connection logged in as (SET ROLE to it is a no-op). */
  backendUser?: string;
  /** The backend database the session is connected to (a test database has a catalog of its own). */
  backendDatabase?: string;
  /** A maintenance session (access/maintenance.ts): CREATE/DROP DATABASE of test databases only. */
  maintenance?: boolean;
  /** The backend's `server_version` (its major picks the grammar statements are checked with). */
  serverVersion?: string;
}

/** Transforms one result set: its RowDescription once, then every DataRow. */
export interface ResultTransformer {
  /**
   * The backend's RowDescription fields → the fields the client sees (client-facing type OIDs,
   * sizes, formats). Called for RowDescription answers to Describe and in the simple protocol.
   */
  fields(fields: readonly FieldDescription[]): FieldDescription[];
  /**
   * One DataRow: values per column (null = SQL NULL, distinct from an empty value) → the values
   * the client sees. `formats` are the result-column format codes in Bind form (see formatAt):
   * what Bind asked for in the extended protocol, the RowDescription's formats in the simple one.
   * May return the same array, modified.
   */
  row(values: WireValue[], formats: readonly number[]): WireValue[];
  /**
   * Set for a two-stage statement (issue 10): the backend's rows (after `fields`/`row`) are the
   * candidates of an in-proxy stage; the client sees the stage's fields and rows instead. The
   * session collects the candidate rows up to the stage's bounds, then waits for the stage (the
   * backend's later messages wait too, so the order of answers is kept).
   */
  residual?: ResidualStage;
  /**
   * Called at the statement's CommandComplete (before the client sees it; later backend messages
   * wait): the tag the client sees, or a StatementError that fails the statement. Used by split
   * sessions (issue 12) to finish their own transactions in step with the client's.
   */
  done?(tag: string): Promise<string>;
  /**
   * The statement's CommandComplete (its tag, e.g. `INSERT 0 0`), when there is no `done`: the
   * messages the client sees in its place, in order (a NOTICE before it, another tag; [] shows
   * nothing). Also tells the pipeline that the backend completed the statement (issue 13).
   */
  complete?(tag: string): BackendMessage[];
  /** The backend failed or skipped the statement (or its answer was not shown: a failed cycle). */
  failed?(): void;
}

/** The session settings that change how values are read and printed (from ParameterStatus). */
export type SessionSettings = ReadonlyMap<string, string>;

/**
 * What the client sees of a statement answered in the proxy: `fields` null = no result set (a
 * write without RETURNING: no RowDescription); `tag` defaults to `SELECT <rows>`.
 */
export interface StageResult {
  fields: FieldDescription[] | null;
  rows: WireValue[][];
  tag?: string;
  /**
   * A `COPY … TO STDOUT` the stage answers (split tables): the client gets CopyOutResponse (text,
   * `columns` columns), `data` as CopyData, CopyDone and the tag, instead of a result set.
   */
  copyOut?: { columns: number; data: Uint8Array[] };
  /** Notices sent before the result, as a backend sends them (a skipped `CREATE INDEX IF NOT EXISTS`'s 42P07). */
  notices?: Array<{ code: string; message: string }>;
}

/** The in-proxy stage of a two-stage statement. Rejects with StatementError only. */
export interface ResidualStage {
  /** Most candidate rows / bytes (UTF-8, text form) collected; past either, the statement fails with 54000. */
  readonly maxRows: number;
  readonly maxBytes: number;
  /**
   * Parameters (1-based) only the stage uses: the session sends the backend NULL in their place
   * (their values may be search terms over encrypted values, and never reach the backend).
   */
  readonly blank: readonly number[];
  /** Set for a write that computes: the stage's rows are written back, not shown (see WriteBack). */
  readonly write?: WriteBack;
  /**
   * Set when the stage is row-local (rewrite/two-stage/row-local.ts): the session may run it over
   * successive chunks of the candidate rows (a chunk ends at `rows` rows or `bytes` bytes), sending
   * each chunk's result as it comes, so the candidate limits do not apply. The first chunk goes
   * through `run`, the later ones through `next` (the same, but the statement is not counted again).
   */
  readonly stream?: { readonly rows: number; readonly bytes: number; next: ResidualStage['run'] };
  /**
   * Set when the stage computes its result in parts (a split table's plain projection,
   * split/stage.ts): like `run`, but each part goes to `send` as soon as it is computed (the first
   * with the fields), and the next is computed once `send` resolves (it waits for the client to
   * read the part before). The session uses it for a simple Query or an Execute without a row limit, and counts the
   * rows of every part in the tag; `run` gives the whole result (a portal fetched in parts, a cursor).
   */
  readonly pour?: (candidates: readonly FieldDescription[], rows: Array<Array<string | null>>, formats: readonly number[], settings: SessionSettings,
    params: ReadonlyArray<string | null>, send: (part: StageResult) => Promise<void>) => Promise<void>;
  /**
   * The stage computed at once, without waiting (the fast path of simple projections,
   * rewrite/two-stage/fast-path.ts): `describe`'s or `run`'s answer, or null when only those can
   * give it. The session then goes on reading the backend instead of pausing it for a promise.
   * Throws StatementError as `run` rejects.
   */
  readonly now?: {
    describe(candidates: readonly FieldDescription[], formats: readonly number[]): FieldDescription[] | null;
    /** `first`: the statement's first (or only) chunk, counted as a statement. */
    run(candidates: readonly FieldDescription[], rows: ReadonlyArray<ReadonlyArray<string | null>>, formats: readonly number[], first: boolean): StageResult | null;
  };
  /** The fields the client sees, for a Describe (no rows). `formats` in Bind form (see formatAt). */
  describe(candidates: readonly FieldDescription[], formats: readonly number[], settings: SessionSettings): Promise<FieldDescription[] | null>;
  /**
   * Runs the stage over the candidate rows (text values): the client's fields and rows, encoded per
   * `formats`. `params`: the client's Bind values (text) of the parameters the stage uses.
   */
  run(candidates: readonly FieldDescription[], rows: Array<Array<string | null>>, formats: readonly number[], settings: SessionSettings,
    params: ReadonlyArray<string | null>): Promise<StageResult>;
}

/**
 * How a write that computes (issue 10: `UPDATE t SET enc = f(enc)`, `INSERT … SELECT f(enc)`) stores
 * the stage's rows: the session runs `sql` once per row, its parameters the row's values (text),
 * after the backend stage and in the same transaction (no Sync in between; the backend stage of an
 * UPDATE or DELETE locks the rows it reads). The client sees `UPDATE n` / `INSERT 0 n` / `DELETE n`,
 * or the first error.
 */
export interface WriteBack {
  /** `DECLARE CURSOR`: `sql` declares the backend's cursor over the row numbers; the rows go to `cursor`. */
  readonly command: 'UPDATE' | 'INSERT' | 'DELETE' | 'DECLARE CURSOR';
  /** The per-row statement as the backend gets it (rewritten), and its parameter types. */
  readonly sql: string;
  readonly paramTypes: readonly number[];
  /** Protects a row's values (encrypts them for their columns, adds blind indexes). */
  readonly params?: ParamTransformer;
  /**
   * The same statement over a batch of rows (rewrite/two-stage/write-batch.ts): its `$k` is an array
   * (text form) of the rows' k-th protected values. Absent: one Bind/Execute per row.
   */
  readonly batch?: string;
  /** The whole result in one batch (no row or byte bound per Bind): an INSERT … ON CONFLICT DO UPDATE (two-stage/write.ts WriteSpec.oneBatch). */
  readonly oneBatch?: boolean;
  /** A cursor's rows, held by the proxy (access/computed-cursor.ts). */
  readonly cursor?: HeldCursor;
  /** RETURNING (rewrite/two-stage/returning.ts): the write-back's rows, then the client's list computed over them. */
  readonly returning?: ComputedReturning;
}

/**
 * The RETURNING of a write that computes: `sql` returns the target's columns the client's list
 * reads; `rows` shows them per the user's view (text), and `stage` computes the client's list over
 * them (candidate `fields`: their client-facing types, also for a Describe before any row).
 */
export interface ComputedReturning {
  readonly rows: ResultTransformer;
  readonly stage: ResidualStage;
  readonly fields: readonly FieldDescription[];
}

/** Where the session leaves the computed rows of a `DECLARE … CURSOR` (see WriteBack). */
export interface HeldCursor {
  /** The stage's result (the client's fields, text values). */
  computed(fields: readonly FieldDescription[], rows: ReadonlyArray<ReadonlyArray<WireValue>>): void;
  /** The backend declared the cursor. */
  declared(): void;
}

/** Transforms Bind parameter values; `formats` in Bind form (see formatAt). */
export type ParamTransformer = (values: WireValue[], formats: readonly number[]) => WireValue[];

/** Transforms CopyData payloads of COPY operations (one at a time). */
export interface CopyTransformer {
  /** Called when a COPY operation starts, before its first chunk: drop any state of an earlier one. */
  begin?(): void;
  /** One CopyData payload → zero or more payloads to send on. */
  data(chunk: Uint8Array): Uint8Array[];
  /** Called on CopyDone: anything still buffered. */
  finish?(): Uint8Array[];
}

export interface CopyHooks {
  in?: CopyTransformer;
  out?: CopyTransformer;
}

/**
 * Re-checks a prepared statement's decision at each Bind and Execute (grant expiry, changed
 * views): undefined = go on, a Refuse = fail this Bind/Execute with it.
 */
export type AccessCheck = () => Refuse | undefined;

/**
 * What the session runs on the backend before a client's COMMIT (issue 13: the INSERTs that store
 * the rows held until COMMIT), in the client's transaction block: its own extended batch (statement
 * and portal `clarus_commit_flush`, then its own Sync), whose answers the client does not see but
 * for asynchronous messages, what each statement's `result.complete` shows in place of its
 * CommandComplete (the batch NOTICE) and the first error. Then, as PostgreSQL ends a COMMIT:
 * - every statement completed: the client's COMMIT goes on as decided;
 * - one failed, or `refusal` is set (nothing is sent then): the client sees that error as its
 *   COMMIT's and the transaction ends, rolled back (ReadyForQuery 'I'; a simple COMMIT's
 *   `ROLLBACK` tag is not shown, an extended batch's messages up to Sync are skipped).
 */
export interface BeforeCommit {
  statements: Array<{ sql: string; result?: ResultTransformer }>;
  refusal?: Refuse;
}

/**
 * For a prepared COMMIT: called at each Execute (after `check`); what to run before it, or
 * undefined. A Promise while earlier statements are still unanswered (the session makes the backend
 * flush its answers and waits).
 */
export type BeforeCommitHook = () => BeforeCommit | undefined | Promise<BeforeCommit | undefined>;

export interface Pass {
  kind: 'pass';
  /** For a Parse: called at each Bind/Execute of the statement (see AccessCheck). */
  check?: AccessCheck;
  beforeCommit?: BeforeCommitHook;
}

export interface Refuse {
  kind: 'refuse';
  /** SQLSTATE, e.g. '0A000' or '42501'. */
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

/** A rewritten Parse. */
export interface RewriteStatement {
  kind: 'rewrite';
  sql: string;
  /** Parameter type OIDs sent to the backend (default: the client's). */
  paramTypes?: number[];
  /** Parameter type OIDs reported to the client in ParameterDescription (default: backend's). */
  clientParamTypes?: number[];
  params?: ParamTransformer;
  result?: ResultTransformer;
  copy?: CopyHooks;
  /** Called at each Bind/Execute of the statement (see AccessCheck). */
  check?: AccessCheck;
  beforeCommit?: BeforeCommitHook;
  /**
   * Called when an Execute of one of its portals is sent to the backend (after `check`); the
   * result transformer's `complete` or `failed` follows (a prepared `PREPARE`/`DEALLOCATE` changes
   * the SQL-level namespace at each execution: access/sql-prepared.ts).
   */
  executing?: () => void;
  /**
   * What else the client may have cached about the statement (e.g. the result column types it
   * sees): after a reload, a new decision with the same sql, paramTypes, clientParamTypes and
   * shape replaces this one silently; any difference makes the client prepare it again.
   */
  shape?: string;
}

/** A rewritten simple Query. */
export interface RewriteQuery {
  kind: 'rewrite';
  sql: string;
  /** One entry per statement of `sql`, in order; undefined = unchanged. */
  results?: Array<ResultTransformer | undefined>;
  /** COPY hooks per statement of `sql`, in order. */
  copy?: Array<CopyHooks | undefined>;
  /** `sql` is one COMMIT: what runs before it (see BeforeCommit). */
  before?: BeforeCommit;
}

export type StatementDecision = Pass | RewriteStatement | Refuse;
export type QueryDecision = Pass | RewriteQuery | Refuse;

/** A backend connection other than the session's own a client's cancel goes to (Pipeline.cancelRequested). */
export interface OtherCancelTarget { backend: BackendSecrets; processId: number; secretKey: number; delivered?: (p: Promise<void>) => void }

export interface Pipeline {
  /** True: never called, bytes forwarded unchanged (see the performance contract above). */
  readonly passthrough: boolean;
  /**
   * A client's CancelRequest came. `statement`: the pipeline answers a statement of its own now (a
   * split table's, issue 12), which records the cancel (it fails with 57014 at its next step); the
   * session's backend has answered its part and does not get the cancel. `others`: backend
   * connections other than the session's own running that statement's requests at this instant,
   * which get it; `delivered` is told when the cancel to one is under way (settled: taken).
   */
  cancelRequested?(): { statement: boolean; others: ReadonlyArray<OtherCancelTarget> };
  query(sql: string): QueryDecision | Promise<QueryDecision>;
  /** `name` is the prepared statement name ('' for the unnamed statement). */
  parse(sql: string, paramTypes: readonly number[], name: string): StatementDecision | Promise<StatementDecision>;
  /**
   * A FunctionCall message (the protocol's fast-path function call, e.g. libpq's large-object
   * calls) of the function with this OID. Without this method FunctionCall is relayed; a Refuse
   * is answered like a refused Query (a failing statement is sent in its place).
   */
  functionCall?(oid: number): Pass | Refuse;
  /**
   * Called at every ReadyForQuery from the backend with its transaction status ('I' idle, 'T' in
   * a transaction block, 'E' in a failed one): what the session's statements did is committed
   * (or undone) once it is 'I'.
   */
  ready?(status: 'I' | 'T' | 'E'): void;
  /**
   * The backend answered the end of a client batch (ReadyForQuery 'I') and nothing in the batch
   * failed: work the pipeline still has to commit for it (a split session's fragment writes of
   * the implicit transaction). A promise holds the ReadyForQuery until it settles; the error it
   * resolves to is sent before it, as PostgreSQL reports a failed commit at Sync.
   */
  batchEnd?(): Promise<StatementError | null> | null;
  /**
   * True while the pipeline holds state a replacement could not take over (a split session's
   * fragment transactions in a client's block, rows held until COMMIT): a reload waits for the
   * next boundary.
   */
  busy?(): boolean;
  /**
   * Called with the SQLSTATE and message of every ErrorResponse of the backend (a statement that
   * failed there: e.g. a column the proxy's schema still has was dropped around it).
   */
  backendError?(code: string, message: string): void;
  /**
   * The result transformer of a SQL cursor (DECLARE … CURSOR) of this session, when a protocol
   * Describe names it as a portal the session does not know otherwise.
   */
  cursorResult?(name: string): ResultTransformer | undefined;
  /**
   * Called once when this pipeline replaces `previous` in a session (a reload), before any
   * statement: it takes over what the session's statements left there (SQL-level prepared
   * statements, planned again before their next EXECUTE). 'unknown': the previous one was
   * pass-through (statements it let through are unknown).
   */
  adopt?(previous: Pipeline | 'unknown'): void;
  /**
   * True when `name` may be a statement made by SQL-level PREPARE (sent, or completed and not
   * deallocated): a protocol-level Bind or Describe of it is refused, since the session's idea of
   * that name (an earlier Parse) is not what the backend holds.
   */
  sqlPreparedName?(name: string): boolean;
  /** True while the pipeline remembers statements it rewrote (a pass-through pipeline could not run them). */
  remembersRewrites?(): boolean;
  /** Called once when the session ends (release caches, flush audit records). */
  close?(): void;
}

export type PipelineFactory = ((info: SessionInfo, config: RuntimeConfig) => Pipeline) & {
  /**
   * Called once per session before the factory is first called (its backend known): a promise
   * when something the session's pipelines need is still loading (a backend grammar), awaited
   * then; undefined when all is there.
   */
  ready?: (info: SessionInfo) => Promise<void> | undefined;
};

/**
 * Thrown by a transformer when one statement's data cannot be handled (see the contract above):
 * the statement fails with this SQLSTATE, the session goes on.
 */
export class StatementError extends Error {
  override readonly name = 'StatementError';
  readonly code: string;
  readonly detail: string | undefined;
  constructor(code: string, message: string, detail?: string) {
    super(message);
    this.code = code;
    this.detail = detail;
  }
}

const PASS: Pass = Object.freeze({ kind: 'pass' });

/** The default pipeline: everything passes, unchanged and undecoded. */
export const passthroughPipeline: Pipeline = Object.freeze({
  passthrough: true,
  query: () => PASS,
  parse: () => PASS,
});

export const passthroughFactory: PipelineFactory = () => passthroughPipeline;

/** A shared immutable Pass answer, for pipelines that want to avoid allocating one per call. */
export const pass: Pass = PASS;
