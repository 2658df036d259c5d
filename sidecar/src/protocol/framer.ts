// Incremental message framing for tagged messages (1 byte tag, int32 length including itself,
// body). Chunks are pushed as they arrive, split anywhere; next() exposes one complete message at a
// time WITHOUT allocating when it lies inside one chunk: the message is `buf[start-5 .. end)` and its
// body `buf[start .. end)`. Only a message split across chunks is copied, once, into a buffer of
// its exact size. Sizes are bounded by `maxMessageBytes`, so a bad length cannot make us allocate.
import { ProtocolError } from './codec.ts';

export const NEXT_NONE = 0;
export const NEXT_MESSAGE = 1;
export const NEXT_ERROR = -1;

export class Framer {
  /** After next() === NEXT_MESSAGE: the message tag, its buffer and body range. */
  tag = 0;
  buf: Buffer = Buffer.alloc(0);
  start = 0;
  end = 0;
  /** After next() === NEXT_ERROR: what was wrong. The framer stays failed. */
  error: ProtocolError | null = null;

  private readonly max: number;
  private chunk: Buffer = Buffer.alloc(0);
  private pos = 0;
  private readonly header = Buffer.alloc(5);
  private headerLen = 0;
  private partial: Buffer | null = null;
  private partialFill = 0;

  constructor(maxMessageBytes: number) { this.max = maxMessageBytes; }

  /** Adds a chunk. Only call when next() has returned NEXT_NONE (the previous chunk is used up). */
  push(chunk: Buffer): void {
    this.chunk = chunk;
    this.pos = 0;
  }

  /** Bytes received but not yet returned as messages. */
  buffered(): number {
    return this.chunk.length - this.pos + this.headerLen + (this.partial ? this.partialFill : 0);
  }

  /** The unread rest of the current chunk (used when a connection changes hands, e.g. to TLS). */
  takeRest(): Buffer {
    const rest = this.chunk.subarray(this.pos);
    this.pos = this.chunk.length;
    return rest;
  }

  next(): number {
    if (this.error) return NEXT_ERROR;
    if (this.partial) return this.fillPartial();
    if (this.headerLen > 0) return this.fillHeader();
    const avail = this.chunk.length - this.pos;
    if (avail < 5) {
      this.chunk.copy(this.header, 0, this.pos);
      this.headerLen = avail;
      this.pos = this.chunk.length;
      return NEXT_NONE;
    }
    const len = this.chunk.readInt32BE(this.pos + 1);
    if (!this.validLength(len)) return NEXT_ERROR;
    if (avail >= len + 1) {
      this.tag = this.chunk[this.pos] as number;
      this.buf = this.chunk;
      this.start = this.pos + 5;
      this.end = this.pos + 1 + len;
      this.pos = this.end;
      return NEXT_MESSAGE;
    }
    this.partial = Buffer.allocUnsafe(len + 1);
    this.partialFill = this.chunk.copy(this.partial, 0, this.pos);
    this.pos = this.chunk.length;
    return NEXT_NONE;
  }

  private validLength(len: number): boolean {
    if (len >= 4 && len + 1 <= this.max) return true;
    this.error = len < 4
      ? new ProtocolError(`invalid message length ${len}`)
      : new ProtocolError(`message of ${len + 1} bytes exceeds the limit of ${this.max} bytes`, '54000');
    return false;
  }

  private fillHeader(): number {
    const take = Math.min(5 - this.headerLen, this.chunk.length - this.pos);
    this.chunk.copy(this.header, this.headerLen, this.pos, this.pos + take);
    this.headerLen += take;
    this.pos += take;
    if (this.headerLen < 5) return NEXT_NONE;
    this.headerLen = 0;
    const len = this.header.readInt32BE(1);
    if (!this.validLength(len)) return NEXT_ERROR;
    this.partial = Buffer.allocUnsafe(len + 1);
    this.header.copy(this.partial, 0, 0, 5);
    this.partialFill = 5;
    return this.fillPartial();
  }

  private fillPartial(): number {
    const p = this.partial as Buffer;
    const take = Math.min(p.length - this.partialFill, this.chunk.length - this.pos);
    this.chunk.copy(p, this.partialFill, this.pos, this.pos + take);
    this.partialFill += take;
    this.pos += take;
    if (this.partialFill < p.length) return NEXT_NONE;
    this.partial = null;
    this.tag = p[0] as number;
    this.buf = p;
    this.start = 5;
    this.end = p.length;
    return NEXT_MESSAGE;
  }
}
