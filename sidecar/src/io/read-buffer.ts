// Reads of a plain TCP socket into one reused buffer (the socket's `onread` option) instead of a
// new buffer per read and the readable stream's machinery ('data' events, a nextTick per read):
// the pass-through relay forwards what it reads and keeps nothing, so one buffer serves every read.
//
// A read's bytes are only valid until the next read, so whoever keeps them must say so: the
// session lends the buffer when a write of them did not complete at once (the socket still holds
// them) or when the relay keeps chunks (a session that inspects statements), and the next read
// then goes into a new buffer. Before a sink is attached (the handshake), each read is copied and
// emitted as a 'data' event, so the handshake reader works unchanged.
import type { Socket } from 'node:net';

/** Size of the read buffer: what one read takes at most, as Node's own reads. */
export const READ_BUFFER_BYTES = 64 << 10;

export class ReadBuffer {
  private buf = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  private lent = false;
  private socket: Socket | null = null;
  /** Where reads go once attached; the chunk is valid during the call only, unless lent. */
  sink: ((chunk: Buffer) => void) | null = null;

  /** The `onread` option for net.connect. */
  readonly option = {
    buffer: (): Buffer => this.next(),
    // Reading stops through socket.pause() (backpressure), never from here.
    callback: (n: number, buf: Uint8Array): boolean => { this.read(n, buf); return true; },
  };

  /** The socket created with `option` (for the 'data' events of the handshake). */
  bind(socket: Socket): void { this.socket = socket; }

  /**
   * The bytes of the current read stay in use after the call: the next read takes a new buffer.
   * Only during the sink's call (the next buffer is chosen as soon as it returns).
   */
  lend(): void { this.lent = true; }

  private next(): Buffer {
    if (this.lent) {
      this.lent = false;
      this.buf = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    }
    return this.buf;
  }

  private read(n: number, buf: Uint8Array): void {
    const chunk = Buffer.from(buf.buffer, buf.byteOffset, n);
    if (this.sink) this.sink(chunk);
    else this.socket?.emit('data', Buffer.from(chunk));
  }
}
