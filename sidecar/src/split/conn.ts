// A connection the proxy holds to one backend for the fragments of split tables (issue 12): the
// proxy's own credentials (the session's role), the project's protocol codec, one request at a
// time. Extended protocol with explicit parameter types and text formats, so values reach the
// backend exactly as the fragment's rewriter produced them.
import type { BackendSecrets } from '../config/load.ts';
import { connectBackend } from '../io/backend.ts';
import type { BackendConnection } from '../io/backend.ts';
import { dataRowViews, decodeBackend } from '../protocol/backend.ts';
import type { BackendMessage, Fields } from '../protocol/backend.ts';
import { Framer, NEXT_ERROR, NEXT_NONE } from '../protocol/framer.ts';
import { encodeFrontend } from '../protocol/frontend.ts';
import type { FieldDescription } from '../protocol/types.ts';
import { BackendTag } from '../protocol/tags.ts';

const MAX_MESSAGE = 1 << 30;

export interface FragmentResult {
  fields: FieldDescription[];
  /** Text-format values (null = SQL NULL). */
  rows: Array<Array<Buffer | null>>;
  tag: string;
}

/** The backend answered with an ErrorResponse (its fields: C = SQLSTATE, M, D…). */
export class FragmentError extends Error {
  override readonly name = 'FragmentError';
  readonly fields: Fields;
  readonly backend: string;
  constructor(backend: string, fields: Fields) {
    super(fields.M ?? 'error');
    this.fields = fields;
    this.backend = backend;
  }
}

/** The connection broke (the backend died, the network failed). */
export class FragmentLost extends Error {
  override readonly name = 'FragmentLost';
  readonly backend: string;
  constructor(backend: string, message: string) {
    super(message);
    this.backend = backend;
  }
}

interface Waiter { resolve: (r: FragmentResult[]) => void; reject: (e: Error) => void; results: FragmentResult[]; current: FragmentResult | null; error: FragmentError | null }

export class FragmentConnection {
  readonly backend: string;
  /** 'I' idle, 'T' in a transaction block, 'E' in a failed one (from the last ReadyForQuery). */
  status: 'I' | 'T' | 'E' = 'I';
  /** Session settings this connection was given (SET), as far as no rollback undid them. */
  readonly applied = new Map<string, string>();
  private readonly conn: BackendConnection;
  private readonly framer = new Framer(MAX_MESSAGE);
  private waiter: Waiter | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private lost: string | null = null;
  /** A client's cancel forwarded to this connection, until the backend took it (see cancelSent). */
  private cancelling: Promise<void> = Promise.resolve();

  /** The backend's connection settings (a cancel is sent there). */
  readonly secrets: BackendSecrets;

  private constructor(secrets: BackendSecrets, conn: BackendConnection) {
    this.backend = secrets.spec.name;
    this.secrets = secrets;
    this.conn = conn;
    conn.socket.on('data', (c: Buffer) => this.data(c));
    conn.socket.on('error', (e) => this.broken(e.message));
    conn.socket.on('close', () => this.broken('the backend closed the connection'));
    if (conn.rest.length > 0) this.data(conn.rest);
  }

  static async open(b: BackendSecrets, timeoutMs: number, applicationName = 'clarus-split'): Promise<FragmentConnection> {
    const conn = await connectBackend(b, { application_name: applicationName }, timeoutMs);
    return new FragmentConnection(b, conn);
  }

  get alive(): boolean { return this.lost === null; }

  /** Running a request now (what a client's cancel should reach). */
  get busy(): boolean { return this.waiter !== null; }

  /** The backend's key for CancelRequest. */
  get cancelKey(): { processId: number; secretKey: number } { return { processId: this.conn.processId, secretKey: this.conn.secretKey }; }

  /**
   * A client's cancel is on its way to this connection's backend (`delivery` settles once the
   * backend closed the cancel connection: the signal is given). No request is sent before: one sent
   * meanwhile could be the one the cancel reaches, whatever statement it belongs to; once given, the
   * signal finds the backend running the request it was meant for or idle (which ignores it).
   */
  cancelSent(delivery: Promise<void>): void {
    const before = this.cancelling;
    this.cancelling = Promise.all([before, delivery.catch(() => undefined)]).then(() => undefined);
  }

  /** One simple Query (one result per statement of the text). */
  query(sql: string): Promise<FragmentResult[]> {
    return this.request([encodeFrontend({ type: 'Query', sql }).finish()]);
  }

  /** One statement with parameters (text format), through the unnamed statement and portal. */
  async execute(sql: string, paramTypes: readonly number[], values: ReadonlyArray<Buffer | null>): Promise<FragmentResult> {
    const msgs = [
      encodeFrontend({ type: 'Parse', name: '', sql, paramTypes: [...paramTypes] }).finish(),
      encodeFrontend({ type: 'Bind', portal: '', statement: '', paramFormats: [], values: values.map((v) => (v === null ? null : new Uint8Array(v))), resultFormats: [] }).finish(),
      encodeFrontend({ type: 'Describe', target: 'P', name: '' }).finish(),
      encodeFrontend({ type: 'Execute', portal: '', maxRows: 0 }).finish(),
      encodeFrontend({ type: 'Sync' }).finish(),
    ];
    const r = await this.request(msgs);
    return r[0] ?? { fields: [], rows: [], tag: '' };
  }

  /**
   * Several statements with parameters in one round trip (one Sync): one result each, in order.
   * A failing statement skips the rest (the backend discards them until the Sync) and rejects.
   */
  executeAll(stmts: ReadonlyArray<{ sql: string; paramTypes: readonly number[]; values: ReadonlyArray<Buffer | null> }>): Promise<FragmentResult[]> {
    return this.request([...stmts.flatMap((s) => [
      encodeFrontend({ type: 'Parse', name: '', sql: s.sql, paramTypes: [...s.paramTypes] }).finish(),
      encodeFrontend({ type: 'Bind', portal: '', statement: '', paramFormats: [], values: s.values.map((v) => (v === null ? null : new Uint8Array(v))), resultFormats: [] }).finish(),
      encodeFrontend({ type: 'Describe', target: 'P', name: '' }).finish(),
      encodeFrontend({ type: 'Execute', portal: '', maxRows: 0 }).finish(),
    ]), encodeFrontend({ type: 'Sync' }).finish()]);
  }

  /** The result fields of a statement (Parse + Describe, nothing executed); empty without a result set. */
  async describe(sql: string, paramTypes: readonly number[]): Promise<FieldDescription[]> {
    const r = await this.request([
      encodeFrontend({ type: 'Parse', name: '', sql, paramTypes: [...paramTypes] }).finish(),
      encodeFrontend({ type: 'Describe', target: 'S', name: '' }).finish(),
      encodeFrontend({ type: 'Sync' }).finish(),
    ]);
    return r[0]?.fields ?? [];
  }

  close(): void {
    if (this.lost === null) this.lost = 'closed';
    if (!this.conn.socket.destroyed) this.conn.socket.end(encodeFrontend({ type: 'Terminate' }).finish());
  }

  destroy(): void {
    this.lost ??= 'closed';
    this.conn.socket.destroy();
  }

  private request(msgs: Buffer[]): Promise<FragmentResult[]> {
    const run = this.queue.then(() => this.cancelling).then(() => new Promise<FragmentResult[]>((resolve, reject) => {
      if (this.lost !== null) { reject(new FragmentLost(this.backend, `connection to backend "${this.backend}" lost: ${this.lost}`)); return; }
      this.waiter = { resolve, reject, results: [], current: null, error: null };
      this.conn.socket.write(Buffer.concat(msgs));
    }));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private broken(why: string): void {
    if (this.lost !== null && this.lost !== 'closed') return;
    const was = this.lost;
    this.lost = why;
    const w = this.waiter;
    this.waiter = null;
    if (w && was === null) w.reject(new FragmentLost(this.backend, `connection to backend "${this.backend}" lost: ${why}`));
  }

  private data(chunk: Buffer): void {
    this.framer.push(chunk);
    for (;;) {
      const r = this.framer.next();
      if (r === NEXT_NONE) return;
      if (r === NEXT_ERROR) { this.broken('invalid message from the backend'); this.conn.socket.destroy(); return; }
      // The bulk of a scan: its values kept as views of the received bytes (no copy, no message object).
      if (this.framer.tag === BackendTag.DataRow && this.waiter) {
        const values = dataRowViews(this.framer.buf, this.framer.start, this.framer.end);
        if (!values) { this.broken('invalid message from the backend'); this.conn.socket.destroy(); return; }
        (this.waiter.current ??= { fields: [], rows: [], tag: '' }).rows.push(values);
        continue;
      }
      const d = decodeBackend(this.framer.tag, this.framer.buf, this.framer.start, this.framer.end);
      if (!d.ok) { this.broken('invalid message from the backend'); this.conn.socket.destroy(); return; }
      this.message(d.msg);
    }
  }

  private message(m: BackendMessage): void {
    const w = this.waiter;
    if (m.type === 'ReadyForQuery') {
      this.status = m.status;
      if (!w) return;
      this.waiter = null;
      if (w.current) w.results.push(w.current);
      if (w.error) w.reject(w.error);
      else w.resolve(w.results);
      return;
    }
    if (!w) return;
    const cur = (): FragmentResult => (w.current ??= { fields: [], rows: [], tag: '' });
    switch (m.type) {
      case 'RowDescription': cur().fields = m.fields; break;
      case 'CommandComplete': cur().tag = m.tag; w.results.push(cur()); w.current = null; break;
      case 'EmptyQueryResponse': w.results.push(cur()); w.current = null; break;
      case 'ErrorResponse': w.error ??= new FragmentError(this.backend, m.fields); w.current = null; break;
      default: break;
    }
  }
}
