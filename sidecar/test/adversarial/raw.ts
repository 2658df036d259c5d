// A hand-driven PostgreSQL protocol client for the adversarial suite: arbitrary StartupMessage
// parameters (client_encoding, options, GUCs), statement text as raw bytes (e.g. Shift-JIS), a
// hand-built extended-protocol sequence, FunctionCall. Self-contained encoders so the suite does
// not depend on the proxy's own codec; only the SCRAM client is shared with the test harness.
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { ScramClient } from '../../src/auth/scram.ts';

export interface RawMsg { tag: string; body: Buffer }
export interface RawResult {
  ok: boolean;
  code?: string;
  message?: string;
  rows: Array<Array<string | null>>;
  tags: string[];
  notices: string[];
  /** Raw bytes of FunctionCallResponse values / CopyData, as text. */
  values: string[];
}

function msg(tag: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head[0] = tag.charCodeAt(0);
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}
const z = (s: string | Buffer): Buffer => Buffer.concat([typeof s === 'string' ? Buffer.from(s, 'utf8') : s, Buffer.from([0])]);
const i16 = (n: number): Buffer => { const b = Buffer.alloc(2); b.writeInt16BE(n); return b; };
const i32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b; };

export const wire = {
  query: (sql: string | Buffer): Buffer => msg('Q', z(sql)),
  parse: (name: string, sql: string | Buffer, types: number[] = []): Buffer =>
    msg('P', Buffer.concat([z(name), z(sql), i16(types.length), ...types.map(i32)])),
  bind: (portal: string, stmt: string, values: Array<string | null>): Buffer =>
    msg('B', Buffer.concat([z(portal), z(stmt), i16(0), i16(values.length),
      ...values.map((v) => (v === null ? i32(-1) : Buffer.concat([i32(Buffer.byteLength(v)), Buffer.from(v)]))), i16(0)])),
  describe: (kind: 'S' | 'P', name: string): Buffer => msg('D', Buffer.concat([Buffer.from(kind), z(name)])),
  execute: (portal = ''): Buffer => msg('E', Buffer.concat([z(portal), i32(0)])),
  copyData: (data: string | Buffer): Buffer => msg('d', typeof data === 'string' ? Buffer.from(data) : data),
  copyDone: (): Buffer => msg('c', Buffer.alloc(0)),
  sync: (): Buffer => msg('S', Buffer.alloc(0)),
  functionCall: (oid: number, args: Array<string | null>): Buffer =>
    msg('F', Buffer.concat([i32(oid), i16(0), i16(args.length),
      ...args.map((v) => (v === null ? i32(-1) : Buffer.concat([i32(Buffer.byteLength(v)), Buffer.from(v)]))), i16(0)])),
  terminate: (): Buffer => msg('X', Buffer.alloc(0)),
};

export class RawSession {
  private buf = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  closed = false;
  private readonly socket: Socket;
  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => { this.buf = Buffer.concat([this.buf, c]); this.wake(); });
    socket.on('close', () => { this.closed = true; this.wake(); });
    socket.on('error', () => undefined);
  }
  private wake(): void { for (const w of this.waiters.splice(0)) w(); }

  private async next(timeoutMs = 20_000): Promise<RawMsg> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.buf.length >= 5) {
        const len = this.buf.readInt32BE(1);
        if (this.buf.length >= len + 1) {
          const m = { tag: String.fromCharCode(this.buf[0] as number), body: this.buf.subarray(5, len + 1) };
          this.buf = this.buf.subarray(len + 1);
          return m;
        }
      }
      if (this.closed) throw new Error('connection closed by the proxy');
      if (Date.now() > deadline) throw new Error('timed out waiting for the proxy');
      await new Promise<void>((r) => { this.waiters.push(r); setTimeout(r, 200); });
    }
  }

  static fields(body: Buffer): Record<string, string> {
    const f: Record<string, string> = {};
    let p = 0;
    while (p < body.length && body[p] !== 0) {
      const k = String.fromCharCode(body[p] as number);
      const end = body.indexOf(0, p + 1);
      f[k] = body.subarray(p + 1, end).toString('utf8');
      p = end + 1;
    }
    return f;
  }

  /**
   * Connects and authenticates (SCRAM) with extra StartupMessage parameters. Resolves with the
   * session, or with the ErrorResponse fields when the proxy refuses the connection.
   */
  static async open(port: number, user: string, password: string, params: Record<string, string> = {}): Promise<RawSession | { code: string; message: string }> {
    const s = connect(port, '127.0.0.1');
    await new Promise<void>((r, j) => { s.once('connect', () => r()); s.once('error', j); });
    const c = new RawSession(s);
    const kv = Object.entries({ user, database: 'postgres', ...params }).flatMap(([k, v]) => [z(k), z(v)]);
    const body = Buffer.concat([i32(196608), ...kv, Buffer.from([0])]);
    s.write(Buffer.concat([i32(body.length + 4), body]));
    const scram = new ScramClient(password);
    for (;;) {
      const m = await c.next();
      if (m.tag === 'E') { const f = RawSession.fields(m.body); s.destroy(); return { code: f.C ?? '', message: f.M ?? '' }; }
      if (m.tag === 'R') {
        const code = m.body.readInt32BE(0);
        if (code === 10) {
          const first = Buffer.from(scram.first());
          s.write(msg('p', Buffer.concat([z('SCRAM-SHA-256'), i32(first.length), first])));
        } else if (code === 11) {
          const fin = scram.final(m.body.subarray(4).toString()) ?? '';
          s.write(msg('p', Buffer.from(fin)));
        }
      }
      if (m.tag === 'Z') return c;
    }
  }

  /** Sends bytes as they are. */
  send(...parts: Buffer[]): void { this.socket.write(Buffer.concat(parts)); }

  /**
   * Reads until ReadyForQuery, collecting the outcome. A CopyInResponse is answered with what
   * `onCopyIn(n)` returns for the n-th one (CopyData/CopyDone/Sync… bytes), else with CopyFail.
   */
  async collect(onCopyIn?: (n: number) => Buffer[]): Promise<RawResult> {
    let copies = 0;
    const r: RawResult = { ok: true, rows: [], tags: [], notices: [], values: [] };
    for (;;) {
      const m = await this.next();
      switch (m.tag) {
        case 'E': {
          const f = RawSession.fields(m.body);
          if (r.ok) { r.ok = false; r.code = f.C; r.message = f.M; }
          break;
        }
        case 'N': r.notices.push(RawSession.fields(m.body).M ?? ''); break;
        case 'C': r.tags.push(m.body.subarray(0, m.body.length - 1).toString()); break;
        case 'D': {
          const n = m.body.readInt16BE(0);
          const row: Array<string | null> = [];
          let p = 2;
          for (let i = 0; i < n; i++) {
            const len = m.body.readInt32BE(p); p += 4;
            if (len < 0) { row.push(null); continue; }
            row.push(m.body.subarray(p, p + len).toString('utf8')); p += len;
          }
          r.rows.push(row);
          break;
        }
        case 'V': {
          const len = m.body.readInt32BE(0);
          r.values.push(len < 0 ? 'NULL' : m.body.subarray(4, 4 + len).toString('utf8'));
          break;
        }
        case 'd': r.values.push(m.body.toString('utf8')); break;
        case 'G': this.send(...(onCopyIn ? onCopyIn(copies++) : [msg('f', z('adversarial test: no COPY data'))])); break;
        case 'Z': return r;
        default: break;
      }
    }
  }

  async query(sql: string | Buffer): Promise<RawResult> {
    this.send(wire.query(sql));
    return this.collect();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.socket.end(wire.terminate());
    await new Promise<void>((r) => { if (this.closed) r(); else { this.socket.once('close', () => r()); setTimeout(r, 1000); } });
  }
}
