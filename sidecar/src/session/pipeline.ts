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
// * COPY: when a statement whose decision has `copy` starts COPY FROM STDIN, each CopyData the client
//   sends passes through `copy.in`; for COPY TO STDOUT each CopyData the backend sends passes
//   through `copy.out`. Chunks from clients need not be row-aligned (psql sends lines, others send
//   arbitrary blocks): a hook that needs whole rows buffers partial ones and returns them later;
//   `finish` is called on CopyDone so buffered bytes can be emitted.
// * Decisions may be returned synchronously or as a Promise. While a Promise is pending the session
//   stops reading that client (backpressure), so ordering is kept.
// * A transformer that throws is an internal error: the session logs it, answers `XX000` and closes
//   the connection (fail closed: nothing half-transformed reaches the client).
//
// Performance contract: a pipeline whose `passthrough` is true is never called; the session then
// forwards message bytes unmodified without decoding them (no allocation per message). The default
// pipeline below is such a one. Any other pipeline makes the session decode Query/Parse/Bind and
// track responses, which costs a little per message.
import type { RuntimeConfig, RuntimeUser } from '../../../crds/src/runtime/config.ts';
import type { FieldDescription, FormatCode, WireValue } from '../protocol/types.ts';

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
}

/** Transforms Bind parameter values; `formats` in Bind form (see formatAt). */
export type ParamTransformer = (values: WireValue[], formats: readonly number[]) => WireValue[];

/** Transforms CopyData payloads of one COPY operation. */
export interface CopyTransformer {
  /** Called once when COPY starts: overall format and per-column formats from Copy*Response. */
  begin?(format: FormatCode, columnFormats: readonly FormatCode[]): void;
  /** One CopyData payload → zero or more payloads to send on. */
  data(chunk: Uint8Array): Uint8Array[];
  /** Called on CopyDone: anything still buffered. */
  finish?(): Uint8Array[];
}

export interface CopyHooks {
  in?: CopyTransformer;
  out?: CopyTransformer;
}

export interface Pass { kind: 'pass' }

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
}

/** A rewritten simple Query. */
export interface RewriteQuery {
  kind: 'rewrite';
  sql: string;
  /** One entry per statement of `sql`, in order; undefined = unchanged. */
  results?: Array<ResultTransformer | undefined>;
  /** COPY hooks per statement of `sql`, in order. */
  copy?: Array<CopyHooks | undefined>;
}

export type StatementDecision = Pass | RewriteStatement | Refuse;
export type QueryDecision = Pass | RewriteQuery | Refuse;

export interface Pipeline {
  /** True: never called, bytes forwarded unchanged (see the performance contract above). */
  readonly passthrough: boolean;
  query(sql: string): QueryDecision | Promise<QueryDecision>;
  /** `name` is the prepared statement name ('' for the unnamed statement). */
  parse(sql: string, paramTypes: readonly number[], name: string): StatementDecision | Promise<StatementDecision>;
  /** Called once when the session ends (release caches, flush audit records). */
  close?(): void;
}

export type PipelineFactory = (info: SessionInfo, config: RuntimeConfig) => Pipeline;

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
