// Reading the handshake phase of a connection (startup packets, authentication messages) with
// awaits. Once the handshake is over, detach() returns the bytes that arrived after it and the
// socket is handed to the relay.
import type { Socket } from 'node:net';
import { ProtocolError } from '../protocol/codec.ts';
import { readStartup } from '../protocol/startup.ts';
import type { StartupPacket } from '../protocol/startup.ts';

export interface RawMessage { tag: number; body: Buffer }

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

  /** One tagged message, bounded by `max` bytes. */
  async message(max: number): Promise<RawMessage> {
    for (;;) {
      if (this.buf.length >= 5) {
        const len = this.buf.readInt32BE(1);
        if (len < 4 || len + 1 > max) throw new ProtocolError(`invalid message length ${len}`);
        if (this.buf.length >= len + 1) {
          const m = { tag: this.buf[0] as number, body: this.buf.subarray(5, len + 1) };
          this.buf = this.buf.subarray(len + 1);
          return m;
        }
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
