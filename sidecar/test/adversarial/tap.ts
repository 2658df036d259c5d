// A recording TCP relay between the proxy and the backend PostgreSQL: everything the proxy sends
// the backend (what an honest-but-curious cloud provider receives) is kept byte for byte, and the
// frontend messages are decoded enough to tell which statements were forwarded during a step
// (Query, Parse, Bind, Execute, FunctionCall, CopyData). Backend → proxy bytes are relayed unseen.
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';

export interface TapMessage {
  seq: number;
  conn: number;
  /** application_name of the connection's StartupMessage ('' when none). */
  app: string;
  /** The message tag as a letter (Q, P, B, E, F, d, …) or 'startup'. */
  type: string;
  /** A readable summary: SQL text for Q/P, parameter values for B, oid+args for F. */
  text: string;
}

const CONTENT = new Set(['Q', 'P', 'B', 'E', 'F', 'd']);
/**
 * The proxy answers a refusal itself and sends the backend this fixed text in the refused
 * statement's place (it fails to parse, so the backend aborts the transaction as PostgreSQL would;
 * sidecar/src/session/inspect.ts REFUSAL_SQL). It carries nothing of the statement: not a forward.
 */
const REFUSAL_MARKER = /^(\[[^\]]*\] )?CLARUS REFUSED STATEMENT$/;
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;

function cstr(buf: Buffer, pos: number): [string, number] {
  const end = buf.indexOf(0, pos);
  if (end < 0) return [buf.subarray(pos).toString('latin1'), buf.length];
  return [buf.subarray(pos, end).toString('utf8'), end + 1];
}

function summarize(tag: string, body: Buffer): string {
  try {
    if (tag === 'Q') return cstr(body, 0)[0];
    if (tag === 'P') {
      const [name, p] = cstr(body, 0);
      return `[${name}] ${cstr(body, p)[0]}`;
    }
    if (tag === 'B') {
      const [portal, p1] = cstr(body, 0);
      const [stmt, p2] = cstr(body, p1);
      let p = p2;
      const nf = body.readInt16BE(p); p += 2 + 2 * nf;
      const n = body.readInt16BE(p); p += 2;
      const vals: string[] = [];
      for (let i = 0; i < n; i++) {
        const len = body.readInt32BE(p); p += 4;
        if (len < 0) { vals.push('NULL'); continue; }
        vals.push(JSON.stringify(body.subarray(p, p + len).toString('latin1')));
        p += len;
      }
      return `portal=${portal} stmt=${stmt} params=[${vals.join(', ')}]`;
    }
    if (tag === 'F') return `oid=${body.readUInt32BE(0)} args=${JSON.stringify(body.subarray(4).toString('latin1'))}`;
    if (tag === 'd') return `${body.length} bytes: ${JSON.stringify(body.subarray(0, 200).toString('latin1'))}`;
    if (tag === 'E') return `portal=${cstr(body, 0)[0]}`;
  } catch { /* fall through */ }
  return `${body.length} bytes`;
}

export class WireTap {
  readonly port: number;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private chunks: Buffer[] = [];
  private base = 0;
  private total = 0;
  private seq = 0;
  private connSeq = 0;
  messages: TapMessage[] = [];

  private constructor(server: Server, port: number) {
    this.server = server;
    this.port = port;
  }

  static async start(host: string, targetPort: number): Promise<WireTap> {
    const ref: { tap?: WireTap } = {};
    const server = createServer((client) => ref.tap?.accept(client, host, targetPort));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const addr = server.address();
    const tap = new WireTap(server, typeof addr === 'object' && addr ? addr.port : 0);
    ref.tap = tap;
    return tap;
  }

  private accept(client: Socket, host: string, port: number): void {
    const conn = ++this.connSeq;
    const upstream = connect(port, host);
    this.sockets.add(client);
    this.sockets.add(upstream);
    let app = '';
    let startupDone = false;
    let buf: Buffer = Buffer.alloc(0);
    const onFrontend = (chunk: Buffer): void => {
      this.record(chunk);
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      for (;;) {
        if (!startupDone) {
          if (buf.length < 8) break;
          const len = buf.readInt32BE(0);
          if (buf.length < len) break;
          const code = buf.readInt32BE(4);
          if (code !== SSL_REQUEST && code !== GSSENC_REQUEST && code !== CANCEL_REQUEST) {
            const params: string[] = [];
            for (let p = 8; p < len - 1;) {
              const [k, p1] = cstr(buf, p);
              const [v, p2] = cstr(buf, p1);
              if (!k) break;
              if (k === 'application_name') app = v;
              params.push(`${k}=${v}`);
              p = p2;
            }
            this.push({ conn, app, type: 'startup', text: params.join(' ') });
            startupDone = true;
          }
          buf = buf.subarray(len);
          continue;
        }
        if (buf.length < 5) break;
        const len = buf.readInt32BE(1);
        if (buf.length < len + 1) break;
        const tag = String.fromCharCode(buf[0] as number);
        this.push({ conn, app, type: tag, text: summarize(tag, buf.subarray(5, len + 1)) });
        buf = buf.subarray(len + 1);
      }
    };
    client.on('data', (c: Buffer) => { onFrontend(c); upstream.write(c); });
    upstream.on('data', (c: Buffer) => client.write(c));
    const close = (): void => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('close', close);
    upstream.on('close', close);
    client.on('error', close);
    upstream.on('error', close);
  }

  private push(m: Omit<TapMessage, 'seq'>): void {
    this.messages.push({ seq: ++this.seq, ...m });
  }

  private record(chunk: Buffer): void {
    this.chunks.push(Buffer.from(chunk));
    this.total += chunk.length;
  }

  /** A position in the recording: bytes and messages seen so far. */
  mark(): { bytes: number; seq: number } {
    return { bytes: this.total, seq: this.seq };
  }

  /** Every frontend byte recorded since `bytes` (chunks are concatenated, so a value split over writes is found). */
  bytesSince(bytes: number): Buffer {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, bytes - this.base));
  }

  /** Statement-carrying messages (Q, P, B, E, F, CopyData) since `seq`, except the proxy's catalog loader. */
  forwardedSince(seq: number): TapMessage[] {
    return this.messages.filter((m) => m.seq > seq && CONTENT.has(m.type) && m.app !== 'clarus-catalog' && !REFUSAL_MARKER.test(m.text));
  }

  /** Forgets the recording up to now (positions stay valid as offsets). */
  trim(): void {
    this.base = this.total;
    this.chunks = [];
    this.messages = [];
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
