// Reading the handshake phase of a connection (startup packets, authentication messages) with
// awaits. Once the handshake is over, detach() returns the bytes that arrived after it and the
// socket is handed to the relay.
import type { Socket } from 'node:net';
import { frameAt } from '../protocol/framer.ts';
import type { FramerLimits } from '../protocol/framer.ts';
import { readStartup } from '../protocol/startup.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';
import type { StartupPacket } from '../protocol/startup.ts';

/** A tagged message as received: its tag, its body, and the whole message (header included). */
export interface RawMessage { tag: number; body: Buffer; raw: Buffer }

export class SocketReader {
  private buf: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  private closed: Error | null = null;
  private readonly socket: Socket;
  private readonly onData = (c: Buffer): void => { this.buf = this.buf.length === 0 ? c : Buffer.concat([this.buf, c]); this.wake(); };
  private readonly onEnd = (): void => { this.closed ??= new Error('connection closed'); this.wake(); };
  private readonly onError = (e: Error): void => { this.closed = e; this.wake(); };

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
  }

  private wake(): void { const w = this.waiter; this.waiter = null; w?.(); }

  private async more(): Promise<void> {
    if (this.closed) throw this.closed;
    await new Promise<void>((res) => { this.waiter = res; });
  }

  buffered(): number { return this.buf.length; }

  async startup(): Promise<StartupPacket> {
    for (;;) {
      const f = readStartup(this.buf);
      if (f.kind === 'error') throw f.error;
      if (f.kind === 'packet') { this.buf = this.buf.subarray(f.length); return f.packet; }
      await this.more();
    }
  }

  /**
   * One tagged message, bounded by `max` bytes. An oversized one is a protocol violation here (as
   * PostgreSQL treats an oversized authentication message), not a program limit.
   */
  async message(max: number): Promise<RawMessage> {
    const limits: FramerLimits = { maxMessageBytes: max, oversizeCode: SQLSTATE.protocolViolation };
    for (;;) {
      const f = frameAt(this.buf, limits);
      if (f.kind === 'error') throw f.error;
      if (f.kind === 'message') {
        const m = { tag: f.tag, body: this.buf.subarray(f.start, f.end), raw: this.buf.subarray(0, f.end) };
        this.buf = this.buf.subarray(f.end);
        return m;
      }
      await this.more();
    }
  }

  /** One byte (the answer to SSLRequest). */
  async byte(): Promise<number> {
    while (this.buf.length < 1) await this.more();
    const b = this.buf[0] as number;
    this.buf = this.buf.subarray(1);
    return b;
  }

  /** Stops listening; returns bytes received beyond what was read. */
  detach(): Buffer {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onError);
    const rest = this.buf;
    this.buf = Buffer.alloc(0);
    return rest;
  }
}
