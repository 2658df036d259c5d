// Client → backend (inspect.ts): each client message is handed to the pipeline where it decides
// (Query, Parse, Bind, Describe, Execute, FunctionCall), then forwarded, rewritten or refused, with
// an entry in the queue of answers the backend owes; COPY data from the client is routed through
// the statement's hooks.
import { ProtocolError } from '../protocol/codec.ts';
import { decodeFrontend } from '../protocol/frontend.ts';
import type { FrontendMessage } from '../protocol/frontend.ts';
import { FrontendTag, HEADER_BYTES } from '../protocol/tags.ts';
import { closedSlot, CopySlot } from './copy-route.ts';
import { StatementError } from './pipeline.ts';
import type { BeforeCommit, BeforeCommitHook, CopyTransformer, QueryDecision, Refuse, ResidualStage, ResultTransformer, RewriteQuery, RewriteStatement, StatementDecision } from './pipeline.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';
import { rewriteOf } from './prepared.ts';
import type { Portal, Stmt } from './prepared.ts';
import { applyCopy, copyEnd } from './transform.ts';
import { WriteExchange } from './write-exchange.ts';
import { COPY_FAIL, textParams, refusalBytes, InspectorState } from './inspect-state.ts';
import type { Entry, Raw, Parse, Bind, Describe, Execute } from './inspect-state.ts';

export abstract class InspectorClient extends InspectorState {
  /** A simple COMMIT after the session's own batch (inspect-stage.ts). */
  protected abstract commitQuery(rw: RewriteQuery, before: BeforeCommit, raw: Raw): void;
  /** Execute of a prepared COMMIT that may need the session's own batch first (inspect-stage.ts). */
  protected abstract executeCommit(p: Portal | undefined, raw: Raw, m: Execute, b: ReturnType<BeforeCommitHook>): Promise<void> | undefined;

  client(tag: number, buf: Buffer, start: number, end: number): Promise<void> | undefined {
    if (this.discarding) {
      if (tag !== FrontendTag.Sync) return undefined;
      this.discarding = false;
    }
    const raw: Raw = { tag, buf, start, end };
    if (tag === FrontendTag.CopyData || tag === FrontendTag.CopyDone || tag === FrontendTag.CopyFail) return this.copyFromClient(raw);
    if (tag === FrontendTag.Flush) { this.forward(raw); return undefined; }
    if (tag !== FrontendTag.Sync) { this.cslot = null; this.cexec = null; }
    const d = decodeFrontend(tag, buf, start, end);
    if (!d.ok) throw d.error;
    return this.message(d.msg, raw);
  }

  protected message(m: FrontendMessage, raw: Raw): Promise<void> | undefined {
    switch (m.type) {
      case 'Query':
        // PostgreSQL ignores a Query while it skips to Sync: so does the session (no decision, no answer).
        if (this.backendSkipping) return undefined;
        return this.decided(this.pipeline.query(m.sql), (dec) => this.query(dec, raw));
      case 'Parse': return this.decided(this.pipeline.parse(m.sql, m.paramTypes, m.name), (dec) => this.parse(m, dec, raw));
      case 'Bind': return this.bind(m, raw);
      case 'Describe': return this.describe(m, raw);
      case 'Execute': return this.execute(m, raw);
      case 'Sync': this.sync(raw); return undefined;
      case 'Close':
        if (!this.backendSkipping) {
          if (m.target === 'S') this.forget(this.statements, m.name); else { this.forget(this.portals, m.name); this.computed.forget(m.name); }
        }
        break;
      case 'FunctionCall': this.functionCall(m.oid, raw); return undefined;
      default: throw new ProtocolError(`unexpected ${m.type} message`);
    }
    this.forward(raw);
    return undefined;
  }

  /** FunctionCall: the pipeline may refuse it (a failing statement is sent in its place). */
  protected functionCall(oid: number, raw: Raw): void {
    const dec = this.backendSkipping ? undefined : this.pipeline.functionCall?.(oid);
    if (dec?.kind === 'refuse') { this.refuse(dec, 'simple', '', raw.tag); return; }
    this.enqueue({ k: 'fcall' });
    this.forward(raw);
  }

  protected query(dec: QueryDecision, raw: Raw): Promise<void> | undefined {
    if (dec.kind === 'refuse') { this.refuse(dec, 'simple', '', raw.tag); return undefined; }
    const rw = dec.kind === 'rewrite' ? dec : undefined;
    const tr = rw?.results?.[0];
    if (rw && tr?.residual?.write) return this.simpleWrite(rw.sql, tr, tr.residual.write);
    if (rw?.before) { this.commitQuery(rw, rw.before, raw); return undefined; }
    // Exactly one statement, a COPY FROM STDIN with hooks: its data is routed without waiting.
    const slot = new CopySlot(rw?.copy?.length === 1 && (rw.results?.length ?? 1) <= 1 ? rw.copy[0]?.in : undefined);
    this.queue.push({ k: 'query', rw, idx: 0, slot });
    this.cslot = slot;
    if (dec.kind === 'pass') this.forward(raw);
    else this.send({ type: 'Query', sql: dec.sql }, raw.tag);
    return undefined;
  }

  /**
   * A simple Query that is a write that computes: sent as an extended batch of the proxy's own
   * (unnamed statement and portal, which a Query replaces anyway), held open until the write-back
   * is sent, then ended with a Sync whose ReadyForQuery answers the client's Query.
   */
  protected simpleWrite(sql: string, tr: ResultTransformer, wb: NonNullable<ResidualStage['write']>): Promise<void> {
    const x = new WriteExchange(wb, true);
    const st: RewriteStatement = { kind: 'rewrite', sql, result: tr };
    const e: Extract<Entry, { k: 'execute' }> = { k: 'execute', st, formats: [], slot: new CopySlot(undefined), syncs: [], write: x };
    this.queue.push({ k: 'own', x }, { k: 'own', x }, { k: 'describe', st, into: e }, e);
    this.send({ type: 'Parse', name: '', sql, paramTypes: [] }, FrontendTag.Parse);
    this.send({ type: 'Bind', portal: '', statement: '', paramFormats: [], values: [], resultFormats: [] }, FrontendTag.Bind);
    this.send({ type: 'Describe', target: 'P', name: '' }, FrontendTag.Describe);
    this.send({ type: 'Execute', portal: '', maxRows: 0 }, FrontendTag.Execute);
    this.send({ type: 'Flush' }, FrontendTag.Flush);
    return x.held;
  }

  protected parse(m: Parse, dec: StatementDecision, raw: Raw): void {
    // After a backend error the backend ignores everything up to Sync: send nothing (in particular
    // no text that the pipeline wanted rewritten), answer nothing.
    if (this.backendSkipping) return;
    if (dec.kind === 'refuse') { this.refuse(dec, 'extended', m.name, raw.tag); return; }
    this.queue.push(this.changing('parse', this.statements, m.name, this.remember(this.statements, m.name)));
    this.statements.set(m.name, { dec, sql: m.sql, types: m.paramTypes, stale: false });
    if (dec.kind === 'pass') { this.forward(raw); return; }
    this.send({ type: 'Parse', name: m.name, sql: dec.sql, paramTypes: dec.paramTypes ?? m.paramTypes }, raw.tag);
  }

  protected bind(m: Bind, raw: Raw): Promise<void> | undefined {
    if (this.backendSkipping) return undefined;
    if (this.sqlLevel(m.statement, raw.tag)) return undefined;
    return this.decided(this.prepared.statement(m.statement), (s) => {
      // The backend may have failed an earlier message while the statement was planned again.
      if (this.backendSkipping) return;
      if (s && 'kind' in s) { this.refuseMessage(s, raw.tag); return; }
      this.bindNow(m, raw, s);
    });
  }

  protected bindNow(m: Bind, raw: Raw, s: Stmt | undefined): void {
    const denied = s?.dec.check?.();
    if (denied) { this.refuseMessage(denied, raw.tag); return; }
    const st = rewriteOf(s);
    let values: Array<Uint8Array | null> | undefined;
    if (st?.params) {
      try {
        values = st.params(m.values, m.paramFormats);
      } catch (e) {
        if (!(e instanceof StatementError)) throw e;
        this.refuseMessage(e, raw.tag);
        return;
      }
    }
    const prevPortal = this.remember(this.portals, m.portal);
    this.computed.forget(m.portal);
    const stage = st?.result?.residual;
    const staged = stage !== undefined;
    const params = staged ? textParams(m, s?.types ?? []) : undefined;
    if (params instanceof StatementError) { this.refuseMessage(params, raw.tag); return; }
    this.portals.set(m.portal, { stmt: s, formats: m.resultFormats, stale: false, ...(params ? { params } : {}) });
    this.queue.push(this.changing('bind', this.portals, m.portal, prevPortal));
    // A two-stage statement's candidates are read as text; the client's formats apply to the stage's result.
    // Nothing to change (text results asked, no parameter kept from the backend): the client's bytes as they are.
    if (!values && (!staged || (stage.blank.length === 0 && m.resultFormats.every((f) => f === 0)))) { this.forward(raw); return; }
    let sent = values ?? m.values;
    if (stage && stage.blank.length > 0) sent = sent.map((v, i) => (stage.blank.includes(i + 1) ? null : v));
    this.send({ ...m, values: sent, resultFormats: staged ? [] : m.resultFormats }, raw.tag);
  }

  protected describe(m: Describe, raw: Raw): Promise<void> | undefined {
    // While the backend skips to Sync it executes none of these: keep our state as its state.
    if (this.backendSkipping) { this.forward(raw); return undefined; }
    if (m.target === 'S' && this.sqlLevel(m.name, raw.tag)) return undefined;
    const known = (m.target === 'S' ? this.prepared.statement(m.name) : this.prepared.portal(m.name)) as Stmt | Portal | Refuse | undefined | Promise<Stmt | Portal | Refuse>;
    return this.decided(known, (k) => {
      if (k && 'kind' in k && !this.backendSkipping) { this.refuseMessage(k, raw.tag); return; }
      const stmt = k && 'dec' in k ? k : (k as Portal | undefined)?.stmt;
      const formats = k && !('dec' in k) ? (k as Portal).formats : undefined;
      // A portal the session does not know may be a SQL cursor whose rows the session transforms.
      const cursor = !k && m.target === 'P' ? this.pipeline.cursorResult?.(m.name) : undefined;
      const st = cursor ? { kind: 'rewrite' as const, sql: '', result: cursor } : rewriteOf(stmt);
      this.enqueue({ k: 'describe', st, ...(formats ? { formats } : {}), ...(m.target === 'P' ? { portal: m.name } : {}) });
      this.forward(raw);
    });
  }

  /**
   * A Bind or Describe of a statement SQL-level PREPARE made (the backend's, not what an earlier
   * Parse of that name made): refused, true. It would skip the statement's parameter roles.
   */
  protected sqlLevel(name: string, tag: number): boolean {
    if (!this.pipeline.sqlPreparedName?.(name)) return false;
    this.refuseMessage({ kind: 'refuse', code: SQLSTATE.featureNotSupported, message: `clarus: prepared statement "${name}" was made by SQL PREPARE; run it with EXECUTE (a protocol-level Bind or Describe of it is refused while a policy protects data)` }, tag);
    return true;
  }

  protected execute(m: Execute, raw: Raw): Promise<void> | undefined {
    if (this.backendSkipping) {
      this.cslot = closedSlot();
      this.forward(raw);
      return undefined;
    }
    return this.decided(this.prepared.portal(m.portal), (p) => {
      if (this.backendSkipping) { this.cslot = closedSlot(); this.forward(raw); return; }
      const denied = p && 'kind' in p ? p : p?.stmt?.dec.check?.();
      if (denied) { this.refuseMessage(denied, raw.tag); return; }
      return this.executeAllowed(p as Portal | undefined, raw, m);
    });
  }

  /** Execute of a portal its checks allow: a prepared COMMIT may need statements first; a two-stage statement needs text parameters. */
  protected executeAllowed(p: Portal | undefined, raw: Raw, m: Execute): Promise<void> | undefined {
    const hook = p?.stmt?.dec.beforeCommit;
    if (hook) return this.executeCommit(p, raw, m, hook());
    const staged = rewriteOf(p?.stmt)?.result?.residual !== undefined;
    if (staged && p?.params === 'binary') {
      this.refuseMessage(new StatementError(SQLSTATE.featureNotSupported, 'clarus: a parameter in binary format for a statement computed in the proxy must have its type given in Parse, and be of a common type (bool, integers, floats, text, varchar, char, date, uuid); send it as text'), raw.tag);
      return undefined;
    }
    return this.executeNow(p, raw, m);
  }

  protected executeNow(p: Portal | undefined, raw: Raw, m: Execute): Promise<void> | undefined {
    const st = rewriteOf(p?.stmt);
    st?.executing?.();
    const e: Extract<Entry, { k: 'execute' }> = { k: 'execute', st, formats: p?.formats ?? [], slot: new CopySlot(st?.copy?.in), syncs: [] };
    if (Array.isArray(p?.params)) e.params = p.params;
    const stage = st?.result?.residual;
    if (stage) return this.executeStaged(e, stage, m);
    this.queue.push(e);
    this.cslot = e.slot;
    this.cexec = e;
    this.forward(raw);
    return undefined;
  }

  /** Execute of a two-stage statement's portal (its backend stage runs whole, whatever the row limit). */
  protected executeStaged(e: Extract<Entry, { k: 'execute' }>, stage: ResidualStage, m: Execute): Promise<void> | undefined {
    const portal = m.portal;
    if (!stage.write) {
      // The whole result is computed once; every Execute (row limit or not) takes its share.
      e.held = { portal, max: m.maxRows, serve: this.computed.has(portal) };
      if (e.held.serve) {
        this.queue.push(e);
        this.send({ type: 'Execute', portal, maxRows: 0 }, FrontendTag.Execute);
        return undefined;
      }
      this.computed.begin(portal);
    }
    this.candidateDescribe(e, portal);
    this.cslot = e.slot;
    this.cexec = e;
    this.send({ ...m, maxRows: 0 }, FrontendTag.Execute);
    if (!stage.write) return undefined;
    // A write that computes: the rows must come back before the client's Sync may go on.
    e.write = new WriteExchange(stage.write, false);
    this.send({ type: 'Flush' }, FrontendTag.Flush);
    return e.write.held;
  }

  /**
   * The candidate fields (types) of a two-stage Execute come from a Describe of its portal: the
   * client's, when it is the message just before (libpq sends one before every Execute) and not yet
   * answered, or one the proxy sends. Then the Execute is queued.
   */
  private candidateDescribe(e: Extract<Entry, { k: 'execute' }>, portal: string): void {
    const prev = this.queue[this.queue.length - 1];
    if (prev?.k === 'describe' && prev.portal === portal && prev.st === e.st && e.st !== undefined && !prev.also) {
      prev.also = e;
      this.queue.push(e);
      return;
    }
    this.queue.push({ k: 'describe', st: e.st, into: e }, e);
    this.send({ type: 'Describe', target: 'P', name: portal }, FrontendTag.Describe);
  }

  protected sync(raw: Raw): void {
    const s = this.cslot;
    const e = this.cexec;
    if (s && e && s.ended === 0 && !s.done && !s.failed) {
      // A Sync inside COPY FROM STDIN is consumed by the COPY (libpq sends one right after Execute):
      // no ReadyForQuery will answer it.
      if (s.started.length > 0) { this.relay.toBackend.forward(raw.buf, raw.start - HEADER_BYTES, raw.end); return; }
      const entry: Entry = { k: 'sync' };
      e.syncs.push(entry);
      this.backendSkipping = false;
      this.queue.push(entry);
      this.forward(raw);
      return;
    }
    this.backendSkipping = false;
    this.queue.push({ k: 'sync' });
    this.forward(raw);
  }

  /** CopyData/CopyDone/CopyFail from the client (see copy-route.ts). */
  protected copyFromClient(raw: Raw): Promise<void> | undefined {
    const s = this.cslot;
    // No COPY can be in progress: the backend would ignore the message; it is never sent.
    if (!s) return undefined;
    const route = s.failed ? 'drop' : s.route();
    if (route === 'wait') return new Promise<void>((resolve) => { s.wake = resolve; }).then(() => this.copyFromClient(raw));
    if (route === 'raw') this.forward(raw);
    else if (route !== 'drop') this.throughHooks(s, route, raw);
    if (raw.tag !== FrontendTag.CopyData) s.clientEnded();
    return undefined;
  }

  protected throughHooks(s: CopySlot, hook: CopyTransformer, raw: Raw): void {
    if (s.begun !== s.ended) {
      hook.begin?.();
      s.begun = s.ended;
    }
    try {
      if (raw.tag === FrontendTag.CopyData) {
        for (const out of applyCopy(hook, raw.buf.subarray(raw.start, raw.end))) this.relay.toBackend.push(out);
        return;
      }
      if (raw.tag === FrontendTag.CopyDone) for (const out of copyEnd(hook)) this.relay.toBackend.push(out);
      this.forward(raw);
    } catch (e) {
      if (!(e instanceof StatementError)) throw e;
      // The COPY fails as PostgreSQL would fail it on this data: CopyFail instead of the data (the
      // backend answers with an error, shown to the client as this one); the rest is dropped.
      s.failed = raw.tag === FrontendTag.CopyData;
      s.refusal = refusalBytes(e);
      this.relay.toBackend.push(COPY_FAIL);
    }
  }
}
