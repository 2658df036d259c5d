// The session's own exchanges with the backend (inspect.ts): two-stage statements (issue 10:
// candidates in, the in-proxy stage's result out), the session's own statements before a COMMIT
// (commit-flush.ts), and writes that compute (write-exchange.ts).
import { backendBytes, dataRowsBytes } from '../protocol/backend.ts';
import { encodeFrontend } from '../protocol/frontend.ts';
import type { FrontendMessage } from '../protocol/frontend.ts';
import { BackendTag, FrontendTag, HEADER_BYTES } from '../protocol/tags.ts';
import { closedSlot, CopySlot } from './copy-route.ts';
import { StatementError } from './pipeline.ts';
import type { BeforeCommit, BeforeCommitHook, FieldDescription, ResidualStage, ResultTransformer, RewriteQuery, StageResult, WireValue } from './pipeline.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';
import { noticeBytes } from '../protocol/errors.ts';
import type { Portal } from './prepared.ts';
import { WriteExchange } from './write-exchange.ts';
import { CommitFlush } from './commit-flush.ts';
import { NOOP, ASYNC, isPromise, REFUSAL_SQL, REFUSED_NAME, refusalBytes } from './inspect-state.ts';
import type { Candidates, Entry, Raw, Execute } from './inspect-state.ts';
import { InspectorBackend } from './inspect-backend.ts';

export abstract class InspectorStage extends InspectorBackend {
  private lastCandidates?: { tr: ResultTransformer; input: Buffer; fields: FieldDescription[] };
  /** The stage pouring its result now (poured): a client's CancelRequest stops it (cancelRequested). */
  private pouring: { cancel(): void } | null = null;
  private lastStageFields?: { fields: FieldDescription[]; bytes: Buffer };

  /** RowDescription of a two-stage statement's backend stage: the candidate fields. */
  protected candidateFields(tr: ResultTransformer, stage: ResidualStage, buf: Buffer, start: number, end: number): boolean {
    const h = this.head();
    const fields = this.candidatesOf(tr, buf, start, end);
    if (!fields) return false;
    if (h?.k === 'query') { h.cand = { stage, fields, rows: [], bytes: 0 }; return true; }
    if (h?.k !== 'describe') return false;
    this.queue.shift();
    if (h.into) { h.into.cand = { stage, fields, rows: [], bytes: 0 }; return true; }
    if (h.also) h.also.cand = { stage, fields, rows: [], bytes: 0 };
    this.describeStage(stage, fields, h.formats ?? []);
    return true;
  }

  /**
   * The candidate fields of a backend stage's RowDescription; the last ones are kept with the bytes
   * they came from (a prepared statement's are the same on every execution), so the stage's
   * per-plan caches see the same fields again.
   */
  private candidatesOf(tr: ResultTransformer, buf: Buffer, start: number, end: number): FieldDescription[] | null {
    const last = this.lastCandidates;
    if (last?.tr === tr && buf.subarray(start, end).equals(last.input)) return last.fields;
    const m = this.decode(BackendTag.RowDescription, buf, start, end);
    if (m.type !== 'RowDescription') return null;
    const fields = tr.fields(m.fields);
    this.lastCandidates = { tr, input: Buffer.from(buf.subarray(start, end)), fields };
    return fields;
  }

  /** RowDescription bytes of a stage's fields; the last ones are kept (the stage's caches give the same fields again). */
  protected rowDescriptionBytes(fields: FieldDescription[]): Buffer {
    const last = this.lastStageFields;
    if (last?.fields === fields) return last.bytes;
    const bytes = backendBytes({ type: 'RowDescription', fields });
    this.lastStageFields = { fields, bytes };
    return bytes;
  }

  /** A client's Describe of a two-stage statement: the stage's fields, computed over no rows. */
  private describeStage(stage: ResidualStage, fields: FieldDescription[], formats: readonly number[]): void {
    const answer = (out: FieldDescription[] | null): void => { this.relay.toClient.push(out ? this.rowDescriptionBytes(out) : backendBytes({ type: 'NoData' })); };
    // A write without RETURNING describes no rows; with one, the fields of its list.
    const ret = stage.write?.returning;
    if (stage.write && !ret) { answer(null); return; }
    const now = ret ? null : stage.now?.describe(fields, formats);
    if (now) { answer(now); return; }
    const described = ret ? ret.stage.describe(ret.fields, formats, this.relay.settings) : stage.describe(fields, formats, this.relay.settings);
    this.relay.waitBackend(described.then(answer, (e: unknown) => this.stageFailed(e)));
  }

  protected candidateRow(tr: ResultTransformer, buf: Buffer, start: number, end: number): boolean {
    const h = this.head();
    const cand = h?.k === 'query' || h?.k === 'execute' ? h.cand : undefined;
    if (!cand) throw new Error('candidate row without candidate fields');
    try {
      const m = this.decode(BackendTag.DataRow, buf, start, end);
      if (m.type !== 'DataRow') return false;
      const row = tr.row(m.values, []).map((v) => {
        if (v === null) return null;
        cand.bytes += v.length;
        return Buffer.from(v.buffer, v.byteOffset, v.length).toString('utf8');
      });
      cand.rows.push(row);
      if (h && this.streamed(h, cand)) return true;
      const stage = cand.stage;
      if (cand.rows.length > stage.maxRows) throw new StatementError(SQLSTATE.programLimitExceeded, `clarus: the statement computed in the proxy would load more than ${stage.maxRows} candidate rows (residual row limit)`);
      if (cand.bytes > stage.maxBytes) throw new StatementError(SQLSTATE.programLimitExceeded, `clarus: the statement computed in the proxy would load more than ${stage.maxBytes} bytes of candidate values (residual byte limit)`);
    } catch (e) {
      if (!(e instanceof StatementError)) throw e;
      this.poison(e);
      // A write that computes holds the client's Sync (or sends its own at the end): the exchange is
      // over now, or the backend would never be told to send the error of the failing statement.
      if (h?.k === 'execute' && h.write) this.writeEnded(h.write);
    }
    return true;
  }

  /**
   * CommandComplete of a two-stage statement's backend stage: the in-proxy stage runs (later
   * backend messages wait), then its rows and CommandComplete go to the client. False when the
   * statement at the head is not one (or failed already).
   */
  protected staged(): boolean {
    const h = this.head();
    if ((h?.k !== 'query' && h?.k !== 'execute') || !h.cand || this.suppress) return false;
    const cand = h.cand;
    h.cand = undefined;
    if (this.streamEnd(h, cand)) return true;
    const simple = h.k === 'query';
    const write = h.k === 'execute' ? h.write : undefined;
    // The values a write stores are text (the write-back's Bind), whatever the client asked for.
    const formats = h.k === 'execute' && !write ? h.formats : [];
    if (write && h.k === 'execute') write.formats = h.formats;
    const params = h.k === 'execute' ? h.params ?? [] : [];
    const held = h.k === 'execute' ? h.held : undefined;
    const done = (out: StageResult): void => {
      if (write) { this.writeBack(write, out.rows, out.fields ?? []); return; }
      // A read's result is held for its portal; a statement with its own tag (a split write) is not.
      if (held && out.tag === undefined) { this.computed.store(held.portal, out.rows); this.serveChunk(held); return; }
      if (held) this.computed.forget(held.portal);
      for (const n of out.notices ?? []) this.relay.toClient.push(noticeBytes(n));
      if (out.copyOut) { this.stageCopyOut(out.copyOut, out.tag ?? 'COPY 0'); return; }
      if (simple && out.fields) this.relay.toClient.push(this.rowDescriptionBytes(out.fields));
      if (out.rows.length > 0) this.relay.toClient.push(dataRowsBytes(out.rows));
      this.relay.toClient.push(backendBytes({ type: 'CommandComplete', tag: out.tag ?? `SELECT ${out.rows.length}` }));
      this.commandDone();
    };
    const failed = (e: unknown): void => {
      this.stageFailed(e);
      this.commandDone();
      if (write) this.writeEnded(write);
    };
    if (!write && this.stageNow(() => cand.stage.now?.run(cand.fields, cand.rows, formats, true), done, failed)) return true;
    this.relay.waitBackend(cand.stage.run(cand.fields, cand.rows, formats, this.relay.settings, params).then(done, failed));
    return true;
  }

  /** The stage's answer at once when it has one (ResidualStage.now): true when `done` or `failed` ran. */
  private stageNow(now: () => StageResult | null | undefined, done: (out: StageResult) => void, failed: (e: unknown) => void): boolean {
    let out;
    try {
      out = now();
    } catch (e) {
      if (!(e instanceof StatementError)) throw e;
      failed(e);
      return true;
    }
    if (!out) return false;
    done(out);
    return true;
  }

  /**
   * A row-local stage streams (stage.stream), for a simple Query or an Execute without a row limit
   * (a portal fetched in parts keeps the held result): true when it does; a full chunk is run now.
   */
  private streamed(h: Entry, cand: Candidates): boolean {
    const s = cand.stage.stream;
    if (!s || !this.mayStream(h)) return false;
    if (cand.rows.length >= s.rows || cand.bytes >= s.bytes) this.streamChunk(h, cand, false);
    return true;
  }

  /**
   * A streaming stage at the backend's tag: its last chunk, then the tag counting every row sent;
   * or a stage computing its result in parts (stage.pour) is run. False for a held result.
   */
  private streamEnd(h: Extract<Entry, { k: 'query' | 'execute' }>, cand: Candidates): boolean {
    if (cand.sent !== undefined) { this.streamChunk(h, cand, true); return true; }
    if (!cand.stage.pour || !this.mayStream(h)) return false;
    this.poured(h, cand);
    return true;
  }

  /** A read answered whole in one go: a simple Query, or an Execute without a row limit (not a write). */
  private mayStream(h: Entry): h is Extract<Entry, { k: 'query' | 'execute' }> {
    if (h.k === 'query') return true;
    return h.k === 'execute' && !h.write && (!h.held || h.held.max === 0);
  }

  /**
   * A stage that computes its result in parts (stage.pour): each part's rows go to the client as
   * soon as they are computed (the first with a simple Query's RowDescription), the next part once
   * the client has read the previous one; then the tag counting every row. Later backend messages wait. A
   * failure after some parts: PostgreSQL's error after the rows already sent.
   */
  private poured(h: Extract<Entry, { k: 'query' | 'execute' }>, cand: Candidates): void {
    const formats = h.k === 'execute' ? h.formats : [];
    const params = h.k === 'execute' ? h.params ?? [] : [];
    if (h.k === 'execute' && h.held) this.computed.forget(h.held.portal);
    let sent: number | undefined;
    // The stage computes part k+1 while the client reads part k; part k+1 waits for that to end
    // (at most two parts in the proxy at a time).
    let room: Promise<void> = Promise.resolve();
    // A client's CancelRequest (cancelRequested): the next part fails with PostgreSQL's 57014, also
    // one waiting for the client to read (the pour ends, its fragment cursors are closed, at once).
    let cancelled = false;
    let wake = (): void => undefined;
    const cancel = new Promise<void>((resolve) => { wake = resolve; });
    const flight = { cancel: () => { cancelled = true; wake(); } };
    this.pouring = flight;
    const send = async (out: StageResult): Promise<void> => {
      await Promise.race([room, cancel]);
      if (cancelled) throw new StatementError(SQLSTATE.queryCanceled, 'canceling statement due to user request');
      if (this.relay.closed) throw new StatementError(SQLSTATE.connectionFailure, 'clarus: the client is gone');
      if (sent === undefined && h.k === 'query' && out.fields) this.relay.toClient.push(backendBytes({ type: 'RowDescription', fields: out.fields }));
      if (out.rows.length > 0) this.relay.toClient.push(dataRowsBytes(out.rows));
      sent = (sent ?? 0) + out.rows.length;
      // Sent once the stage's current step is over: a part that is also the last goes out in one
      // write with the tag and ReadyForQuery (a select by key), a part followed by more at once.
      room = new Promise<void>((resolve) => { setImmediate(resolve); }).then(() => this.relay.sent());
    };
    const pour = cand.stage.pour as NonNullable<ResidualStage['pour']>;
    const over = (): void => { if (this.pouring === flight) this.pouring = null; };
    this.relay.waitBackend(pour(cand.fields, cand.rows, formats, this.relay.settings, params, send).then(() => {
      over();
      this.relay.toClient.push(backendBytes({ type: 'CommandComplete', tag: `SELECT ${sent ?? 0}` }));
      this.commandDone();
    }, (e: unknown) => {
      over();
      this.stageFailed(e);
      this.commandDone();
    }));
  }

  /**
   * A client's CancelRequest reached this session: a stage pouring its result stops at its next
   * part (57014 after the rows sent, as PostgreSQL cancels a statement mid-result). True when one was.
   */
  cancelRequested(): boolean {
    const p = this.pouring;
    p?.cancel();
    return p !== null;
  }

  /**
   * Runs the stage over the candidate rows collected so far and sends its rows (the first chunk
   * with a simple Query's RowDescription); later backend messages wait. `last`: then the tag.
   */
  private streamChunk(h: Extract<Entry, { k: 'query' | 'execute' }>, cand: Candidates, last: boolean): void {
    const rows = cand.rows;
    cand.rows = [];
    cand.bytes = 0;
    const first = cand.sent === undefined;
    cand.sent ??= 0;
    const formats = h.k === 'execute' ? h.formats : [];
    const params = h.k === 'execute' ? h.params ?? [] : [];
    const stage = cand.stage;
    const done = (out: StageResult): void => {
      if (first && h.k === 'query' && out.fields) this.relay.toClient.push(this.rowDescriptionBytes(out.fields));
      if (out.rows.length > 0) this.relay.toClient.push(dataRowsBytes(out.rows));
      cand.sent = (cand.sent ?? 0) + out.rows.length;
      if (!last) return;
      this.relay.toClient.push(backendBytes({ type: 'CommandComplete', tag: `SELECT ${cand.sent}` }));
      this.commandDone();
    };
    const failed = (e: unknown): void => {
      // PostgreSQL's error after the rows already sent; the rest of the statement's answers are dropped.
      this.stageFailed(e);
      if (last) this.commandDone();
    };
    if (this.stageNow(() => stage.now?.run(cand.fields, rows, formats, first), done, failed)) return;
    const run = first ? stage.run(cand.fields, rows, formats, this.relay.settings, params) : (stage.stream as NonNullable<ResidualStage['stream']>).next(cand.fields, rows, formats, this.relay.settings, params);
    this.relay.waitBackend(run.then(done, failed));
  }

  /** A COPY … TO STDOUT answered by the stage (split tables): the COPY messages, then the tag. */
  protected stageCopyOut(copy: NonNullable<StageResult['copyOut']>, tag: string): void {
    this.relay.toClient.push(backendBytes({ type: 'CopyOutResponse', format: 0, columnFormats: Array.from({ length: copy.columns }, () => 0 as const) }));
    for (const data of copy.data) this.relay.toClient.push(backendBytes({ type: 'CopyData', data }));
    this.relay.toClient.push(backendBytes({ type: 'CopyDone' }));
    this.relay.toClient.push(backendBytes({ type: 'CommandComplete', tag }));
    this.commandDone();
  }

  /** Sends the session's own batch before a COMMIT; `then` runs at its ReadyForQuery. */
  protected flushFirst(before: BeforeCommit, then: (x: CommitFlush) => void): CommitFlush {
    const x = new CommitFlush(before);
    this.queue.push({ k: 'flush', x, then });
    const refused: FrontendMessage = { type: 'Parse', name: REFUSED_NAME, sql: REFUSAL_SQL, paramTypes: [] };
    for (const m of x.messages(refused)) this.relay.toBackend.push(encodeFrontend(m).finish());
    // Decided after a wait (the client is not read meanwhile): nothing else would send it now.
    this.relay.flush();
    return x;
  }

  /** A simple COMMIT after the own batch: sent at once (after a failure the backend answers it ROLLBACK, which is not shown). */
  protected commitQuery(rw: RewriteQuery, before: BeforeCommit, raw: Raw): void {
    const x = this.flushFirst(before, () => undefined);
    const slot = new CopySlot(undefined);
    this.queue.push({ k: 'query', rw, idx: 0, slot, after: x });
    this.cslot = slot;
    this.send({ type: 'Query', sql: rw.sql }, raw.tag);
  }

  /**
   * Execute of a prepared COMMIT: the client is not read until the own batch is answered; then its
   * Execute goes on, or, after a failure, the session ends the block with its own ROLLBACK and
   * drops the client's messages up to Sync (its portal was failed with the block).
   */
  protected executeCommit(p: Portal | undefined, raw: Raw, m: Execute, b: ReturnType<BeforeCommitHook>): Promise<void> | undefined {
    // Answers to earlier statements may wait in the backend's buffer: have them sent.
    if (isPromise(b)) this.send({ type: 'Flush' }, FrontendTag.Flush);
    return this.decided(b, (before) => {
      // The backend failed an earlier message meanwhile: it skips this Execute (the block is aborted).
      if (this.backendSkipping) { this.cslot = closedSlot(); this.forward(raw); return undefined; }
      if (!before) return this.executeNow(p, raw, m);
      const x = this.flushFirst(before, () => {
        if (!x.failed) { this.executeNow(p, raw, m); return; }
        this.queue.push({ k: 'inject', ready: true });
        for (const r of CommitFlush.rollback()) this.relay.toBackend.push(encodeFrontend(r).finish());
        this.discarding = true;
        this.cslot = null;
        this.cexec = null;
      });
      return x.held;
    });
  }

  /** An asynchronous message amid the answers to the proxy's own messages: forwarded to the client (a ParameterStatus also noted). */
  private forwardAsync(tag: number, buf: Buffer, start: number, end: number): boolean {
    if (!ASYNC.includes(tag)) return false;
    if (tag === BackendTag.ParameterStatus) this.setting(buf, start, end);
    this.relay.toClient.forward(buf, start - HEADER_BYTES, end);
    return true;
  }

  /** An answer to the own batch before a COMMIT: not shown but asynchronous messages, NOTICEs in place of tags, and the first error. */
  protected flushAnswer(tag: number, buf: Buffer, start: number, end: number): boolean {
    const h = this.head() as Extract<Entry, { k: 'flush' }>;
    if (this.forwardAsync(tag, buf, start, end)) return true;
    if (tag === BackendTag.CommandComplete) {
      const m = this.decode(tag, buf, start, end);
      if (m.type === 'CommandComplete') for (const o of h.x.completed(m.tag)) this.relay.toClient.push(backendBytes(o));
    } else if (tag === BackendTag.ErrorResponse) {
      this.flushFailed(h.x, buf, start, end);
    } else if (tag === BackendTag.ReadyForQuery) {
      this.backendReady(buf, start);
      this.queue.shift();
      h.then(h.x);
      h.x.end();
    }
    return false;
  }

  /** The own batch failed: the client sees the error (or the refusal) as its COMMIT's. */
  protected flushFailed(x: CommitFlush, buf: Buffer, start: number, end: number): void {
    if (x.failed) return;
    x.fail();
    const refusal = x.before.refusal;
    if (refusal) {
      this.relay.toClient.push(refusalBytes(refusal));
      this.relay.refusedInCycle();
      return;
    }
    this.backendError(buf, start, end);
    this.relay.toClient.forward(buf, start - HEADER_BYTES, end);
    this.relay.statementFailed();
  }

  /** The stage computed the rows of the write at the head: write them back (the head is done). */
  protected writeBack(x: WriteExchange, rows: WireValue[][], fields: readonly FieldDescription[]): void {
    let msgs;
    try {
      msgs = x.messages(rows, fields);
    } catch (e) {
      // A computed value that does not fit its column: the statement fails before anything is written.
      this.stageFailed(e);
      this.commandDone();
      this.writeEnded(x);
      return;
    }
    this.commandDone();
    if (x.nothing(rows)) { this.writeDone(x); return; }
    const answered = msgs.length;
    msgs.forEach((m, i) => {
      this.queue.push({ k: 'own', x, ...(i === answered - 1 ? { last: true } : {}) });
      this.send(m, FrontendTag[m.type as 'Bind']);
    });
    this.send({ type: 'Flush' }, FrontendTag.Flush);
  }

  /** An answer to the proxy's own message of a write: not shown but errors and asynchronous messages. */
  protected ownAnswer(tag: number, buf: Buffer, start: number, end: number): boolean {
    const h = this.head() as Extract<Entry, { k: 'own' }>;
    if (this.forwardAsync(tag, buf, start, end)) return true;
    if (tag === BackendTag.ErrorResponse) {
      // The statement fails with the backend's error; the backend skips to Sync.
      this.relay.toClient.forward(buf, start - HEADER_BYTES, end);
      this.skipToSync();
      return true;
    }
    if (tag === BackendTag.DataRow) {
      // A row the write-back RETURNs: kept for the RETURNING list (the entry goes on to its CommandComplete).
      const m = this.decode(tag, buf, start, end);
      if (m.type === 'DataRow') h.x.row(m.values);
      return false;
    }
    if (tag === BackendTag.CommandComplete) {
      const m = this.decode(tag, buf, start, end);
      if (m.type === 'CommandComplete') h.x.completed(m.tag);
    }
    this.queue.shift();
    if (h.last) this.writeDone(h.x);
    return false;
  }

  protected writeDone(x: WriteExchange): void {
    const ret = x.wb.returning;
    if (!ret) {
      this.relay.toClient.push(backendBytes({ type: 'CommandComplete', tag: x.tag() }));
      this.writeEnded(x);
      return;
    }
    // RETURNING: the client's list, computed over the rows the write-backs returned (later backend messages wait).
    this.relay.waitBackend(ret.stage.run(ret.fields, x.returned, x.formats, this.relay.settings, []).then((out) => {
      if (x.simple && out.fields) this.relay.toClient.push(backendBytes({ type: 'RowDescription', fields: out.fields }));
      for (const values of out.rows) this.relay.toClient.push(backendBytes({ type: 'DataRow', values }));
      this.relay.toClient.push(backendBytes({ type: 'CommandComplete', tag: x.tag() }));
      this.writeEnded(x);
    }, (e: unknown) => { this.returningFailed(x, e); }));
  }

  /**
   * The RETURNING list failed after the write-backs: the batch is still open on the backend (the
   * client's Sync is held), so a failing statement of the proxy's own rolls the write back (or aborts
   * the block), as PostgreSQL fails the whole statement; the client's messages up to Sync are dropped.
   */
  protected returningFailed(x: WriteExchange, e: unknown): void {
    if (!(e instanceof StatementError)) throw e;
    this.relay.toClient.push(refusalBytes(e));
    this.relay.statementFailed();
    this.suppress = true;
    this.queue.push({ k: 'parse', undo: NOOP, failed: NOOP });
    this.send({ type: 'Parse', name: REFUSED_NAME, sql: REFUSAL_SQL, paramTypes: [] }, FrontendTag.Parse);
    this.discarding = true;
    this.cslot = null;
    this.cexec = null;
    this.writeEnded(x);
  }

  /** The exchange is over: a simple Query's batch ends with the proxy's Sync; the client is read again. */
  protected writeEnded(x: WriteExchange): void {
    if (!x.end() || !x.simple) return;
    this.discarding = false;
    this.backendSkipping = false;
    this.queue.push({ k: 'sync' });
    this.send({ type: 'Sync' }, FrontendTag.Sync);
    // A simple Query destroys the unnamed statement and portal: the batch the proxy sent in its
    // place must not leave its own behind (a later Bind of '' fails, as PostgreSQL fails it).
    this.statements.delete('');
    this.portals.delete('');
    this.computed.forget('');
    this.queue.push({ k: 'inject' });
    for (const m of [{ type: 'Close', target: 'S', name: '' }, { type: 'Close', target: 'P', name: '' }, { type: 'Sync' }] as const) this.relay.toBackend.push(encodeFrontend(m).finish());
  }

  /** CommandComplete of an Execute of a portal whose result the proxy holds: its next rows instead. */
  protected served(): boolean {
    const h = this.head();
    if (h?.k !== 'execute' || !h.held?.serve || this.suppress) return false;
    this.serveChunk(h.held);
    return true;
  }

  protected serveChunk(held: { portal: string; max: number }): void {
    const chunk = this.computed.take(held.portal, held.max);
    if (chunk.rows.length > 0) this.relay.toClient.push(dataRowsBytes(chunk.rows));
    // PostgreSQL's tag counts the rows of this Execute.
    this.relay.toClient.push(backendBytes(chunk.suspended ? { type: 'PortalSuspended' } : { type: 'CommandComplete', tag: `SELECT ${chunk.rows.length}` }));
    this.commandDone();
  }

  /** The in-proxy stage failed on this statement's data (StatementError): the statement fails. */
  protected stageFailed(e: unknown): void {
    if (!(e instanceof StatementError)) throw e;
    this.poison(e);
  }
}
