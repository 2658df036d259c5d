// The decoding path of a session, used when the pipeline is not pass-through: it hands Query and
// Parse to the pipeline, applies rewrites and refusals, and keeps a queue of the answers the
// backend owes (one entry per forwarded message) so that each RowDescription/DataRow/CopyData is
// transformed by the transformer of the statement it belongs to, and locally generated refusals
// reach the client in protocol order. See pipeline.ts for the contract.
import { backendBytes, decodeBackend } from '../protocol/backend.ts';
import type { BackendMessage } from '../protocol/backend.ts';
import { ProtocolError } from '../protocol/codec.ts';
import { errorBytes } from '../protocol/errors.ts';
import { decodeFrontend, encodeFrontend } from '../protocol/frontend.ts';
import type { FrontendMessage } from '../protocol/frontend.ts';
import { applyCopy, copyEnd, transformRow, transformRowDescription } from './transform.ts';
import type { CopyState } from './transform.ts';
import type { CopyHooks, Pipeline, QueryDecision, Refuse, ResultTransformer, RewriteQuery, RewriteStatement, StatementDecision } from './pipeline.ts';
import type { Relay } from './relay.ts';
import { unsafeParameterStatus } from './settings.ts';

type Entry =
  | { k: 'sync' | 'fcall' }
  /**
   * Messages that change what a statement or portal name means. `undo` puts the previous meaning
   * back when the backend skips the message after an error; `failed` is what a failure of the
   * message itself leaves (PostgreSQL drops the unnamed statement/portal before Parse/Bind).
   */
  | { k: 'parse' | 'bind' | 'close'; undo: () => void; failed: () => void; refusal?: Buffer }
  | { k: 'describe'; st: RewriteStatement | undefined }
  | { k: 'execute'; st: RewriteStatement | undefined; formats: readonly number[] }
  | { k: 'query'; rw: RewriteQuery | undefined; idx: number; refusal?: Buffer };

type Changing = Extract<Entry, { k: 'parse' | 'bind' | 'close' }>;

interface Portal { st: RewriteStatement | undefined; formats: readonly number[] }
/** A client message as received: tag and body range in its buffer. */
interface Raw { tag: number; buf: Buffer; start: number; end: number }
type Parse = Extract<FrontendMessage, { type: 'Parse' }>;
type Bind = Extract<FrontendMessage, { type: 'Bind' }>;

const T = (c: string) => c.charCodeAt(0);
const isPromise = <V>(v: V | Promise<V>): v is Promise<V> => typeof (v as { then?: unknown }).then === 'function';
/**
 * Sent in place of a refused statement: it fails at parse time with a syntax error, whose
 * ErrorResponse the session replaces with the refusal. So the backend treats the refusal exactly
 * as PostgreSQL treats any failed statement (the transaction block or the implicit transaction of an
 * extended batch is aborted; later statements get 25P02; COMMIT rolls back), and no part of the
 * refused statement reaches it.
 */
export const REFUSAL_SQL = 'CLARUS REFUSED STATEMENT';

export class Inspector {
  private readonly pipeline: Pipeline;
  private readonly relay: Relay;
  private readonly queue: Entry[] = [];
  private readonly statements = new Map<string, RewriteStatement>();
  private readonly portals = new Map<string, Portal>();
  /** A refusal was answered: drop client messages until Sync (the protocol's error recovery). */
  private discarding = false;
  /** The backend reported an error and skips until the Sync it has not been sent yet. */
  private backendSkipping = false;
  private resultFormats: readonly number[] = [];
  private copyIn: CopyState | null = null;
  private copyOut: CopyState | null = null;

  constructor(pipeline: Pipeline, relay: Relay) {
    this.pipeline = pipeline;
    this.relay = relay;
  }

  close(): void { this.pipeline.close?.(); }

  // ---- client → backend ----

  client(tag: number, buf: Buffer, start: number, end: number): Promise<void> | undefined {
    if (this.discarding) {
      if (tag !== T('S')) return undefined;
      this.discarding = false;
    }
    const raw: Raw = { tag, buf, start, end };
    if (tag === T('d') || tag === T('c') || tag === T('f')) { this.copyFromClient(raw); return undefined; }
    if (tag === T('H')) { this.forward(raw); return undefined; }
    const d = decodeFrontend(tag, buf, start, end);
    if (!d.ok) throw d.error;
    return this.message(d.msg, raw);
  }

  private message(m: FrontendMessage, raw: Raw): Promise<void> | undefined {
    switch (m.type) {
      case 'Query': return this.decided(this.pipeline.query(m.sql), (dec) => this.query(dec, raw));
      case 'Parse': return this.decided(this.pipeline.parse(m.sql, m.paramTypes, m.name), (dec) => this.parse(m, dec, raw));
      case 'Bind': this.bind(m, raw); return undefined;
      case 'Sync': this.backendSkipping = false; this.queue.push({ k: 'sync' }); break;
      default: this.track(m);
    }
    this.forward(raw);
    return undefined;
  }

  /** Describe, Execute, Close, FunctionCall: remember what the backend will answer. */
  private track(m: FrontendMessage): void {
    // While the backend skips to Sync it executes none of these: keep our state as its state.
    if (this.backendSkipping) return;
    switch (m.type) {
      case 'Describe':
        this.enqueue({ k: 'describe', st: m.target === 'S' ? this.statements.get(m.name) : this.portals.get(m.name)?.st });
        return;
      case 'Execute': {
        const p = this.portals.get(m.portal);
        this.enqueue({ k: 'execute', st: p?.st, formats: p?.formats ?? [] });
        return;
      }
      case 'Close':
        if (m.target === 'S') this.forget(this.statements, m.name); else this.forget(this.portals, m.name);
        return;
      case 'FunctionCall': this.enqueue({ k: 'fcall' }); return;
      default: throw new ProtocolError(`unexpected ${m.type} message`);
    }
  }

  private decided<D>(d: D | Promise<D>, then: (d: D) => void): Promise<void> | undefined {
    if (!isPromise(d)) { then(d); return undefined; }
    // The framer's current message buffer stays valid: it is only replaced by the next next().
    return d.then(then);
  }

  private forward(raw: Raw): void {
    this.relay.track(raw.tag);
    this.relay.toBackend.forward(raw.buf, raw.start - 5, raw.end);
  }

  private send(m: FrontendMessage, tag: number): void {
    this.relay.track(tag);
    this.relay.toBackend.push(encodeFrontend(m).finish());
  }

  private forget<V>(map: Map<string, V>, name: string): void {
    const undo = this.remember(map, name);
    map.delete(name);
    this.enqueue({ k: 'close', undo, failed: undo });
  }

  /** A function that gives `name` back its current meaning in `map`. */
  private remember<V>(map: Map<string, V>, name: string): () => void {
    const prev = map.get(name);
    return prev === undefined ? () => { map.delete(name); } : () => { map.set(name, prev); };
  }

  private changing<V>(k: 'parse' | 'bind', map: Map<string, V>, name: string, undo: () => void): Changing {
    return { k, undo, failed: name === '' ? () => { map.delete(name); } : undo };
  }

  private enqueue(e: Entry): void {
    if (!this.backendSkipping) this.queue.push(e);
  }

  private query(dec: QueryDecision, raw: Raw): void {
    if (dec.kind === 'refuse') { this.refuse(dec, 'simple', '', raw.tag); return; }
    this.queue.push({ k: 'query', rw: dec.kind === 'rewrite' ? dec : undefined, idx: 0 });
    if (dec.kind === 'pass') this.forward(raw);
    else this.send({ type: 'Query', sql: dec.sql }, raw.tag);
  }

  private parse(m: Parse, dec: StatementDecision, raw: Raw): void {
    // After a backend error the backend ignores everything up to Sync: send nothing (in particular
    // no text that the pipeline wanted rewritten), answer nothing.
    if (this.backendSkipping) return;
    if (dec.kind === 'refuse') { this.refuse(dec, 'extended', m.name, raw.tag); return; }
    this.queue.push(this.changing('parse', this.statements, m.name, this.remember(this.statements, m.name)));
    if (dec.kind === 'pass') { this.statements.delete(m.name); this.forward(raw); return; }
    this.statements.set(m.name, dec);
    this.send({ type: 'Parse', name: m.name, sql: dec.sql, paramTypes: dec.paramTypes ?? m.paramTypes }, raw.tag);
  }

  private bind(m: Bind, raw: Raw): void {
    if (this.backendSkipping) return;
    const st = this.statements.get(m.statement);
    const prevPortal = this.remember(this.portals, m.portal);
    this.portals.set(m.portal, { st, formats: m.resultFormats });
    this.queue.push(this.changing('bind', this.portals, m.portal, prevPortal));
    if (!st?.params) { this.forward(raw); return; }
    this.send({ ...m, values: st.params(m.values, m.paramFormats) }, raw.tag);
  }

  private refuse(r: Refuse, kind: 'simple' | 'extended', name: string, tag: number): void {
    const spec = { code: r.code, message: r.message, ...(r.detail ? { detail: r.detail } : {}), ...(r.hint ? { hint: r.hint } : {}) };
    const refusal = errorBytes(spec);
    if (kind === 'simple') {
      this.queue.push({ k: 'query', rw: undefined, idx: 0, refusal });
      this.send({ type: 'Query', sql: REFUSAL_SQL }, tag);
      return;
    }
    // The client's Bind/Execute of the refused statement carry its parameters: never send them.
    this.discarding = true;
    this.queue.push({ ...this.changing('parse', this.statements, name, this.remember(this.statements, name)), refusal });
    this.send({ type: 'Parse', name, sql: REFUSAL_SQL, paramTypes: [] }, tag);
  }

  private copyFromClient(raw: Raw): void {
    const c = this.copyIn;
    if (!c) { this.forward(raw); return; }
    if (raw.tag === T('d')) { for (const out of applyCopy(c, raw.buf.subarray(raw.start, raw.end))) this.relay.toBackend.push(out); return; }
    if (raw.tag === T('c')) for (const out of copyEnd(c)) this.relay.toBackend.push(out);
    this.copyIn = null;
    this.forward(raw);
  }

  // ---- backend → client ----

  backend(tag: number, buf: Buffer, start: number, end: number): void {
    if (!this.backendMessage(tag, buf, start, end)) this.relay.toClient.forward(buf, start - 5, end);
  }

  /** Bookkeeping for one backend message; true when it was sent on already (transformed). */
  private backendMessage(tag: number, buf: Buffer, start: number, end: number): boolean {
    const h = this.handlers[tag];
    return h ? h(buf, start, end, tag) : false;
  }

  private answered = (): boolean => { this.queue.shift(); return false; };

  /** Per backend tag: what to do (see backendMessage). */
  private readonly handlers: Array<((buf: Buffer, start: number, end: number, tag: number) => boolean) | undefined> = (() => {
    const h: Array<((buf: Buffer, start: number, end: number, tag: number) => boolean) | undefined> = new Array(256);
    for (const c of '123ns') h[T(c)] = this.answered;
    h[T('Z')] = () => { this.copyIn = null; this.copyOut = null; return this.answered(); };
    h[T('S')] = (b, s, e) => this.parameterStatus(b, s, e);
    h[T('t')] = () => this.parameterDescription();
    h[T('T')] = (b, s, e) => this.rowDescription(b, s, e);
    h[T('D')] = (b, s, e) => this.dataRow(b, s, e);
    h[T('C')] = h[T('I')] = () => { this.commandDone(); return false; };
    h[T('E')] = () => this.error();
    h[T('G')] = h[T('H')] = (b, s, e, tag) => { this.copyStart(tag, b, s, e); return false; };
    h[T('d')] = (b, s, e) => this.copyOutData(b, s, e);
    h[T('c')] = (b, s, e) => this.copyOutDone(b, s, e);
    return h;
  })();

  private copyOutData(buf: Buffer, start: number, end: number): boolean {
    if (!this.copyOut) return false;
    for (const o of applyCopy(this.copyOut, buf.subarray(start, end))) this.relay.toClient.push(o);
    return true;
  }

  private copyOutDone(buf: Buffer, start: number, end: number): boolean {
    if (!this.copyOut) return false;
    for (const o of copyEnd(this.copyOut)) this.relay.toClient.push(o);
    this.copyOut = null;
    this.relay.toClient.forward(buf, start - 5, end);
    return true;
  }

  private head(): Entry | undefined { return this.queue[0]; }

  private transformer(): ResultTransformer | undefined {
    const h = this.head();
    if (!h) return undefined;
    if (h.k === 'query') return h.rw?.results?.[h.idx];
    if (h.k === 'execute' || h.k === 'describe') return h.st?.result;
    return undefined;
  }

  private copyHooks(): CopyHooks | undefined {
    const h = this.head();
    if (h?.k === 'query') return h.rw?.copy?.[h.idx];
    if (h?.k === 'execute') return h.st?.copy;
    return undefined;
  }

  private decode(tag: number, buf: Buffer, start: number, end: number): BackendMessage {
    const d = decodeBackend(tag, buf, start, end);
    if (!d.ok) throw d.error;
    return d.msg;
  }

  /** A setting the analysis depends on changed behind the proxy: end the session (fail closed). */
  private parameterStatus(buf: Buffer, start: number, end: number): boolean {
    const m = this.decode(T('S'), buf, start, end);
    const why = m.type === 'ParameterStatus' ? unsafeParameterStatus(m.name, m.value) : null;
    if (why) throw new Error(`clarus: ${why}; the session is closed because the proxy's analysis would no longer read statements as the backend does`);
    return false;
  }

  private parameterDescription(): boolean {
    const h = this.head();
    const types = h?.k === 'describe' ? h.st?.clientParamTypes : undefined;
    if (!types) return false;
    this.relay.toClient.push(backendBytes({ type: 'ParameterDescription', types }));
    return true;
  }

  private rowDescription(buf: Buffer, start: number, end: number): boolean {
    const tr = this.transformer();
    const h = this.head();
    if (h?.k === 'describe') this.queue.shift();
    if (h?.k !== 'query' && !tr) return false;
    const m = this.decode(T('T'), buf, start, end);
    if (h?.k === 'query') this.resultFormats = m.type === 'RowDescription' ? m.fields.map((f) => f.format) : [];
    if (!tr) return false;
    this.relay.toClient.push(transformRowDescription(tr, m));
    return true;
  }

  private dataRow(buf: Buffer, start: number, end: number): boolean {
    const tr = this.transformer();
    if (!tr) return false;
    const h = this.head();
    const formats = h?.k === 'execute' ? h.formats : this.resultFormats;
    this.relay.toClient.push(transformRow(tr, this.decode(T('D'), buf, start, end), formats));
    return true;
  }

  private commandDone(): void {
    const h = this.head();
    if (h?.k === 'query') { h.idx++; return; }
    if (h?.k === 'execute') this.queue.shift();
  }

  /** Returns true when the error was the answer to a refusal and the refusal went out instead. */
  private error(): boolean {
    this.copyIn = null;
    this.copyOut = null;
    const h = this.head();
    const refusal = h && 'refusal' in h ? h.refusal : undefined;
    if (refusal) { this.relay.toClient.push(refusal); this.relay.refusedInCycle(); }
    if (h?.k === 'query') h.idx++;
    // Simple protocol and FunctionCall: ReadyForQuery follows. Extended: the backend skips to Sync.
    if (h?.k !== 'query' && h?.k !== 'fcall') this.skipToSync();
    return refusal !== undefined;
  }

  private skipToSync(): void {
    const dropped: Entry[] = [];
    while (this.queue.length > 0 && this.queue[0]?.k !== 'sync') dropped.push(this.queue.shift() as Entry);
    if (this.queue.length === 0) this.backendSkipping = true;
    this.undoParses(dropped);
  }

  /**
   * Statement and portal names must mean on our side what they mean on the backend, or a Bind
   * could skip a parameter transformer or rows be shown untransformed: undo, newest first, the
   * messages the backend skipped, and apply what the failure of the first one left.
   */
  private undoParses(dropped: Entry[]): void {
    for (let i = dropped.length - 1; i >= 0; i--) {
      const e = dropped[i];
      if (e?.k === 'parse' || e?.k === 'bind' || e?.k === 'close') (i === 0 ? e.failed : e.undo)();
    }
  }

  private copyStart(tag: number, buf: Buffer, start: number, end: number): void {
    const hooks = this.copyHooks();
    const hook = tag === T('G') ? hooks?.in : hooks?.out;
    if (!hook) return;
    const m = this.decode(tag, buf, start, end);
    if (m.type !== 'CopyInResponse' && m.type !== 'CopyOutResponse') return;
    hook.begin?.(m.format, m.columnFormats);
    if (tag === T('G')) this.copyIn = { hook }; else this.copyOut = { hook };
  }
}

