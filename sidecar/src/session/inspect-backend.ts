// Backend → client (inspect.ts): each backend message closes or advances the queue entry it
// answers; RowDescription, DataRow and COPY data are transformed by the transformer of the
// statement they belong to; errors replace the backend's by the proxy's refusal, undo what the
// backend skipped, and a data error fails the statement as PostgreSQL would (poison).
import { backendBytes, decodeBackend, isFatalError } from '../protocol/backend.ts';
import { encodeFrontend } from '../protocol/frontend.ts';
import { BackendTag, FrontendTag, HEADER_BYTES, TxStatusByte } from '../protocol/tags.ts';
import { StatementError } from './pipeline.ts';
import type { ResidualStage, ResultTransformer } from './pipeline.ts';
import { applyCopy, copyEnd, transformRow, transformRowDescription } from './transform.ts';
import { WriteExchange } from './write-exchange.ts';
import { NOOP, ANSWERED, ASYNC, REFUSAL_SQL, REFUSED_NAME, COPY_FAIL, refusalBytes, refusalOf } from './inspect-state.ts';
import type { Entry } from './inspect-state.ts';
import { InspectorClient } from './inspect-client.ts';

export abstract class InspectorBackend extends InspectorClient {
  // Defined by inspect-stage.ts.
  protected abstract flushAnswer(tag: number, buf: Buffer, start: number, end: number): boolean;
  protected abstract ownAnswer(tag: number, buf: Buffer, start: number, end: number): boolean;
  protected abstract served(): boolean;
  protected abstract staged(): boolean;
  protected abstract candidateFields(tr: ResultTransformer, stage: ResidualStage, buf: Buffer, start: number, end: number): boolean;
  protected abstract candidateRow(tr: ResultTransformer, buf: Buffer, start: number, end: number): boolean;
  protected abstract writeEnded(x: WriteExchange): void;
  protected abstract stageFailed(e: unknown): void;

  /**
   * One backend message. Returns false when it answered the proxy's own message and is not part
   * of the client's conversation (the relay then does not count it).
   */
  backend(tag: number, buf: Buffer, start: number, end: number): boolean {
    if (this.queue[0]?.k === 'inject') return this.injectAnswer(tag, buf, start, end);
    if (this.queue[0]?.k === 'flush') return this.flushAnswer(tag, buf, start, end);
    if (this.queue[0]?.k === 'own' && !this.suppress) return this.ownAnswer(tag, buf, start, end);
    if (this.suppress) { this.suppressed(tag, buf, start, end); return true; }
    if (!this.backendMessage(tag, buf, start, end)) this.relay.toClient.forward(buf, start - HEADER_BYTES, end);
    return true;
  }

  /** Bookkeeping for one backend message; true when it was sent on already (transformed). */
  protected backendMessage(tag: number, buf: Buffer, start: number, end: number): boolean {
    const h = this.handlers[tag];
    return h ? h(buf, start, end, tag) : false;
  }

  protected answered = (): boolean => { this.queue.shift(); return false; };

  /** Per backend tag: what to do (see backendMessage). */
  protected readonly handlers: Array<((buf: Buffer, start: number, end: number, tag: number) => boolean) | undefined> = (() => {
    const h: Array<((buf: Buffer, start: number, end: number, tag: number) => boolean) | undefined> = new Array(256);
    for (const t of ANSWERED) h[t] = this.answered;
    h[BackendTag.ReadyForQuery] = (b, s, e) => this.batchEnd(b, s, e) || (this.backendReady(b, s), this.ready(), false);
    h[BackendTag.ParameterDescription] = (b, s, e) => this.parameterDescription(b, s, e);
    h[BackendTag.RowDescription] = (b, s, e) => this.rowDescription(b, s, e);
    h[BackendTag.DataRow] = (b, s, e) => this.dataRow(b, s, e);
    h[BackendTag.CommandComplete] = (b, s, e) => this.served() || this.staged() || this.completed(b, s, e) || this.completeHook(b, s, e);
    h[BackendTag.EmptyQueryResponse] = () => this.staged() || (this.commandDone(), false);
    h[BackendTag.ErrorResponse] = (b, s, e) => { this.backendError(b, s, e); return this.error(true); };
    h[BackendTag.ParameterStatus] = (b, s, e) => { this.setting(b, s, e); return false; };
    h[BackendTag.CopyInResponse] = () => { this.copyInStart(); return false; };
    h[BackendTag.CopyOutResponse] = () => { this.copyOutStart(); return false; };
    h[BackendTag.CopyData] = (b, s, e) => this.copyOutData(b, s, e);
    h[BackendTag.CopyDone] = (b, s, e) => this.copyOutDone(b, s, e);
    return h;
  })();

  /**
   * ReadyForQuery 'I' ending a batch without error: the pipeline may still commit work of the
   * batch's implicit transaction (split writes); the ReadyForQuery waits for it, preceded by its
   * error if the commit fails. False when there is nothing to wait for.
   */
  protected batchEnd(buf: Buffer, start: number, end: number): boolean {
    if (buf[start] !== TxStatusByte.idle || this.relay.cycleFailed) return false;
    const commit = this.pipeline.batchEnd?.();
    if (!commit) return false;
    const rfq = Buffer.from(buf.subarray(start - HEADER_BYTES, end));
    this.backendReady(buf, start);
    this.ready();
    this.relay.waitBackend(commit.then((err) => {
      if (err) this.relay.toClient.push(refusalBytes(err));
      this.relay.toClient.push(rfq);
    }));
    return true;
  }

  /** Tells the pipeline the backend's transaction status (ReadyForQuery's one payload byte). */
  protected backendError(buf: Buffer, start: number, end: number): void {
    if (!this.pipeline.backendError) return;
    const d = decodeBackend(BackendTag.ErrorResponse, buf, start, end);
    if (d.ok && d.msg.type === 'ErrorResponse') this.pipeline.backendError(d.msg.fields.C ?? '', d.msg.fields.M ?? '');
  }

  protected backendReady(buf: Buffer, start: number): void {
    const status = String.fromCharCode(buf[start] ?? 0);
    // Outside a transaction block no portal is left on the backend.
    if (status !== 'T') this.computed.clear();
    if (status === 'I' || status === 'T' || status === 'E') this.pipeline.ready?.(status);
  }

  protected ready(): void {
    this.copyOut = null;
    const h = this.head();
    if (h?.k === 'query') h.slot.backendDone();
    this.queue.shift();
  }

  protected copyOutData(buf: Buffer, start: number, end: number): boolean {
    if (!this.copyOut) return false;
    try {
      for (const o of applyCopy(this.copyOut, buf.subarray(start, end))) this.relay.toClient.push(o);
    } catch (e) {
      if (!(e instanceof StatementError)) throw e;
      this.poison(e);
    }
    return true;
  }

  protected copyOutDone(buf: Buffer, start: number, end: number): boolean {
    if (!this.copyOut) return false;
    try {
      for (const o of copyEnd(this.copyOut)) this.relay.toClient.push(o);
    } catch (e) {
      if (!(e instanceof StatementError)) throw e;
      this.poison(e);
      return true;
    }
    this.copyOut = null;
    this.relay.toClient.forward(buf, start - HEADER_BYTES, end);
    return true;
  }

  protected parameterDescription(buf: Buffer, start: number, end: number): boolean {
    const h = this.head();
    const types = h?.k === 'describe' ? h.st?.clientParamTypes : undefined;
    if (!types) return false;
    // 0: a parameter the rewrite left alone whose type the client did not give: the backend's
    // inference for the rewritten statement (same numbering) is its real type (asyncpg needs it).
    const m = types.includes(0) ? this.decode(BackendTag.ParameterDescription, buf, start, end) : undefined;
    const backend = m?.type === 'ParameterDescription' ? m.types : [];
    this.relay.toClient.push(backendBytes({ type: 'ParameterDescription', types: types.map((t, i) => t || (backend[i] ?? 0)) }));
    return true;
  }

  protected rowDescription(buf: Buffer, start: number, end: number): boolean {
    const tr = this.transformer();
    if (tr?.residual) return this.candidateFields(tr, tr.residual, buf, start, end);
    const h = this.head();
    if (h?.k === 'describe') this.queue.shift();
    if (h?.k !== 'query' && !tr) return false;
    const last = this.lastFields;
    if (tr && last?.tr === tr && buf.subarray(start, end).equals(last.input)) {
      if (h?.k === 'query') this.resultFormats = last.formats;
      this.relay.toClient.push(last.output);
      return true;
    }
    const m = this.decode(BackendTag.RowDescription, buf, start, end);
    const formats = m.type === 'RowDescription' ? m.fields.map((f) => f.format) : [];
    if (h?.k === 'query') this.resultFormats = formats;
    if (!tr) return false;
    const output = transformRowDescription(tr, m);
    this.lastFields = { tr, input: Buffer.from(buf.subarray(start, end)), output, formats };
    this.relay.toClient.push(output);
    return true;
  }

  protected dataRow(buf: Buffer, start: number, end: number): boolean {
    const tr = this.transformer();
    if (!tr) return false;
    const h = this.head();
    if (tr.residual) return this.candidateRow(tr, buf, start, end);
    const formats = h?.k === 'execute' ? h.formats : this.resultFormats;
    try {
      this.relay.toClient.push(transformRow(tr, this.decode(BackendTag.DataRow, buf, start, end), formats));
    } catch (e) {
      if (!(e instanceof StatementError)) throw e;
      this.poison(e);
    }
    return true;
  }

  /**
   * CommandComplete of a statement whose transformer has `done` (split sessions' transaction
   * control, issue 12): the hook runs (later backend messages wait), then the client gets the tag
   * it returns, or the statement fails with its StatementError. False when there is no hook.
   */
  protected completed(buf: Buffer, start: number, end: number): boolean {
    const tr = this.transformer();
    if (!tr?.done || this.suppress) return false;
    const m = this.decode(BackendTag.CommandComplete, buf, start, end);
    if (m.type !== 'CommandComplete') return false;
    const hide = this.tagHidden();
    this.relay.waitBackend(tr.done(m.tag).then((tag) => {
      if (!hide) this.relay.toClient.push(backendBytes({ type: 'CommandComplete', tag }));
      this.commandDone();
    }, (e: unknown) => {
      this.stageFailed(e);
      this.commandDone();
    }));
    return true;
  }

  /**
   * CommandComplete of a statement without `done`: its transformer's `complete` may show other
   * answers in its place (pipeline.ts); the statement is done either way.
   */
  protected completeHook(buf: Buffer, start: number, end: number): boolean {
    const hook = this.transformer()?.complete;
    const hide = this.tagHidden();
    this.commandDone();
    if (!hook) return hide;
    const m = this.decode(BackendTag.CommandComplete, buf, start, end);
    if (m.type !== 'CommandComplete') return false;
    const out = hook(m.tag);
    if (!hide) for (const o of out) this.relay.toClient.push(backendBytes(o));
    return true;
  }

  /** The head is a COMMIT whose own statements before it failed: the client already has the error, not the backend's ROLLBACK tag. */
  protected tagHidden(): boolean {
    const h = this.head();
    return h?.k === 'query' && h.after?.failed === true;
  }

  protected commandDone(): void {
    const h = this.head();
    if (h?.k === 'query') { h.idx++; return; }
    if (h?.k === 'execute') {
      h.slot.backendDone();
      this.queue.shift();
    }
  }

  /**
   * Bookkeeping for an ErrorResponse; `show`: the refusal it answers may replace it. Returns true
   * when the refusal went out instead.
   */
  protected error(show: boolean): boolean {
    this.copyOut = null;
    const h = this.head();
    this.statementFailed();
    const refusal = refusalOf(h);
    const replaced = show && refusal !== undefined;
    if (replaced) { this.relay.toClient.push(refusal); this.relay.refusedInCycle(); }
    if (h?.k === 'query') {
      // The rest of the Query is skipped (its transformers hear of it); ReadyForQuery follows.
      this.skippedAfter(h);
      h.idx++;
      h.slot.backendDone();
      return replaced;
    }
    // FunctionCall: ReadyForQuery follows. Extended: the backend skips to Sync.
    if (h?.k !== 'fcall') this.skipToSync();
    return replaced;
  }

  /** The statements of a Query after the one that failed are skipped: their transformers hear of it. */
  protected skippedAfter(h: Extract<Entry, { k: 'query' }>): void {
    for (const tr of h.rw?.results?.slice(h.idx + 1) ?? []) tr?.failed?.();
  }

  /** The statement at the head failed at the backend: its transformer hears of it (pipeline.ts `failed`). */
  protected statementFailed(): void {
    const h = this.head();
    if (h?.k === 'query' || h?.k === 'execute') this.transformer()?.failed?.();
  }

  protected skipToSync(): void {
    const dropped: Entry[] = [];
    while (this.queue.length > 0 && this.queue[0]?.k !== 'sync') dropped.push(this.queue.shift() as Entry);
    if (this.queue.length === 0) this.backendSkipping = true;
    for (const e of dropped) {
      if (e.k !== 'execute') continue;
      e.slot.backendDone();
      if (e.held) this.computed.forget(e.held.portal);
      e.st?.result?.failed?.();
    }
    this.undoParses(dropped);
    // A write that computes failed on the backend: it is over.
    for (const e of dropped) {
      const x = e.k === 'own' ? e.x : e.k === 'execute' ? e.write : undefined;
      if (x) this.writeEnded(x);
    }
  }

  /**
   * Statement and portal names must mean on our side what they mean on the backend, or a Bind
   * could skip a parameter transformer or rows be shown untransformed: undo, newest first, the
   * messages the backend skipped, and apply what the failure of the first one left.
   */
  protected undoParses(dropped: Entry[]): void {
    for (let i = dropped.length - 1; i >= 0; i--) {
      const e = dropped[i];
      if (e?.k === 'parse' || e?.k === 'bind' || e?.k === 'close') (i === 0 ? e.failed : e.undo)();
    }
  }

  /** The backend entered COPY FROM STDIN for the statement at the head of the queue. */
  protected copyInStart(): void {
    const h = this.head();
    if (h?.k !== 'query' && h?.k !== 'execute') {
      // A COPY for no statement the session knows: fail it, no client data can be meant for it.
      this.relay.toBackend.push(COPY_FAIL);
      return;
    }
    if (h.k === 'execute' && h.syncs.length > 0) {
      for (const s of h.syncs) {
        const i = this.queue.indexOf(s);
        if (i >= 0) { this.queue.splice(i, 1); this.relay.swallowedSync(); }
      }
      h.syncs = [];
    }
    h.slot.backendStarted(this.copyHooks()?.in ?? 'raw');
  }

  protected copyOutStart(): void {
    const hook = this.copyHooks()?.out;
    if (!hook) return;
    hook.begin?.();
    this.copyOut = hook;
  }

  /**
   * A data error in the statement being answered (a stored value that is not a ciphertext of its
   * column): the client gets the error after what it already received, the rest of the
   * statement's answers are dropped, and the backend is made to fail as well so that transaction
   * semantics are PostgreSQL's.
   */
  protected poison(e: StatementError): void {
    const head = this.head();
    if (head?.k === 'query' || head?.k === 'execute') head.cand = undefined;
    this.relay.toClient.push(refusalBytes(e));
    this.relay.statementFailed();
    this.suppress = true;
    this.copyOut = null;
    const h = this.head();
    if (h?.k === 'execute' && !this.queue.some((x) => x.k === 'sync')) {
      // The batch is still open on the backend: a failing statement makes it roll back the batch's
      // implicit transaction (or abort the block) and skip to the client's Sync, as the failed
      // Execute would have; the client's messages up to that Sync are dropped.
      this.queue.push({ k: 'parse', undo: NOOP, failed: NOOP });
      this.send({ type: 'Parse', name: REFUSED_NAME, sql: REFUSAL_SQL, paramTypes: [] }, FrontendTag.Parse);
      this.discarding = true;
      this.cslot = null;
      this.cexec = null;
      return;
    }
    // The end of the batch or query already reached the backend: a failing statement of the
    // proxy's own after it aborts an open transaction block (shown to the client as 'E').
    this.relay.toBackend.push(encodeFrontend({ type: 'Query', sql: REFUSAL_SQL }).finish());
    this.queue.push({ k: 'inject' });
    this.abortBlock = true;
  }

  /** Answers while a failed statement's cycle ends: bookkeeping only, nothing reaches the client but async messages. */
  protected suppressed(tag: number, buf: Buffer, start: number, end: number): void {
    this.whileSuppressed[tag]?.(buf, start, end);
  }

  /** Per backend tag, while suppressing (see suppressed); tags not listed are dropped. */
  protected readonly whileSuppressed: Array<((buf: Buffer, start: number, end: number) => void) | undefined> = (() => {
    const h: Array<((buf: Buffer, start: number, end: number) => void) | undefined> = new Array(256);
    const forward = (b: Buffer, s: number, e: number): void => { this.relay.toClient.forward(b, s - HEADER_BYTES, e); };
    for (const t of ASYNC) h[t] = forward;
    h[BackendTag.ErrorResponse] = (b, s, e) => {
      if (isFatalError(b, s, e)) forward(b, s, e);
      this.error(false);
    };
    h[BackendTag.ReadyForQuery] = (b, s, e) => { this.backendReady(b, s); this.endSuppression(b, s, e); };
    for (const t of ANSWERED) h[t] = () => { this.queue.shift(); };
    h[BackendTag.RowDescription] = () => { if (this.head()?.k === 'describe') this.queue.shift(); };
    h[BackendTag.CommandComplete] = h[BackendTag.EmptyQueryResponse] = () => { this.transformer()?.failed?.(); this.commandDone(); };
    h[BackendTag.CopyInResponse] = () => {
      // PostgreSQL would have skipped this COPY: fail it at once, drop the client's data for it.
      this.relay.toBackend.push(COPY_FAIL);
      const head = this.head();
      if (head?.k === 'query' || head?.k === 'execute') head.slot.backendStarted('drop');
    };
    return h;
  })();

  /** The ReadyForQuery that ends the failed statement's cycle: an open block is shown as failed. */
  protected endSuppression(buf: Buffer, start: number, end: number): void {
    this.suppress = false;
    this.ready();
    if (this.abortBlock && buf[start] === TxStatusByte.inBlock) this.relay.toClient.push(backendBytes({ type: 'ReadyForQuery', status: 'E' }));
    else this.relay.toClient.forward(buf, start - HEADER_BYTES, end);
    this.abortBlock = false;
  }

  /** An answer to the proxy's own Query (see poison): not shown, not counted; FATAL errors excepted. */
  protected injectAnswer(tag: number, buf: Buffer, start: number, end: number): boolean {
    if (tag === BackendTag.ReadyForQuery) {
      const h = this.queue.shift();
      if (h?.k === 'inject' && h.ready) this.backendReady(buf, start);
      return false;
    }
    if (ASYNC.includes(tag) || (tag === BackendTag.ErrorResponse && isFatalError(buf, start, end))) {
      this.relay.toClient.forward(buf, start - HEADER_BYTES, end);
      return true;
    }
    return false;
  }
}
