// Incremental message framing for tagged messages (1 byte tag, int32 length including itself,
// body). Chunks are pushed as they arrive, split anywhere; next() exposes one complete message at a
// time WITHOUT allocating when it lies inside one chunk: the message is `buf[start-5 .. end)` and its
// body `buf[start .. end)`. Only a message split across chunks is copied, once, into a buffer of
// its exact size. Sizes are bounded by `maxMessageBytes`, so a bad length cannot make us allocate.
//
// This is the one place that knows how tagged messages are delimited: the Framer for streams
// (the session relay, the catalog loader), frameAt for readers that keep a contiguous buffer (the
// handshake reader, the residual engine's answers, the test harness), and messageLength for the
// pass-through scanner.
import { ProtocolError } from './codec.ts';
import { SQLSTATE } from './sqlstate.ts';
import { HEADER_BYTES } from './tags.ts';

export const NEXT_NONE = 0;
export const NEXT_MESSAGE = 1;
export const NEXT_ERROR = -1;

export interface FramerLimits {
  /** Largest message accepted, tag included. */
  maxMessageBytes: number;
  /** SQLSTATE of a message over the limit: 54000 program_limit_exceeded unless said otherwise. */
  oversizeCode?: string;
}

/**
 * The length field of the header at `buf[at ..]`, checked: at least 4 (it counts itself) and, with
 * the tag, within `limits`. A ProtocolError says what is wrong.
 */
export function messageLength(buf: Buffer, at: number, limits: FramerLimits): number | ProtocolError {
  const len = buf.readInt32BE(at + 1);
  if (len < 4) return new ProtocolError(`invalid message length ${len}`);
  if (len + 1 > limits.maxMessageBytes) {
    return new ProtocolError(`message of ${len + 1} bytes exceeds the limit of ${limits.maxMessageBytes} bytes`,
      limits.oversizeCode ?? SQLSTATE.programLimitExceeded);
  }
  return len;
}

export type Frame =
  | { kind: 'incomplete' }
  /** The message is `buf[start - 5 .. end)`, its body `buf[start .. end)`. */
  | { kind: 'message'; tag: number; start: number; end: number }
  | { kind: 'error'; error: ProtocolError };

/** The message at the start of a contiguous buffer that may hold less or more than one message. */
export function frameAt(buf: Buffer, limits: FramerLimits): Frame {
  if (buf.length < HEADER_BYTES) return { kind: 'incomplete' };
  const len = messageLength(buf, 0, limits);
  if (len instanceof ProtocolError) return { kind: 'error', error: len };
  if (buf.length < len + 1) return { kind: 'incomplete' };
  return { kind: 'message', tag: buf[0] as number, start: HEADER_BYTES, end: len + 1 };
}

export class Framer {
  /** After next() === NEXT_MESSAGE: the message tag, its buffer and body range. */
  tag = 0;
  buf: Buffer = Buffer.alloc(0);
  start = 0;
  end = 0;
  /** After next() === NEXT_ERROR: what was wrong. The framer stays failed. */
  error: ProtocolError | null = null;

  private readonly limits: FramerLimits;
  private chunk: Buffer = Buffer.alloc(0);
  private pos = 0;
  private readonly header = Buffer.alloc(HEADER_BYTES);
  private headerLen = 0;
  private partial: Buffer | null = null;
  private partialFill = 0;

  constructor(limits: number | FramerLimits) {
    this.limits = typeof limits === 'number' ? { maxMessageBytes: limits } : limits;
  }

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
    if (avail < HEADER_BYTES) return this.stashHeader(avail);
    const len = this.checked(this.chunk, this.pos);
    if (len < 0) return NEXT_ERROR;
    if (avail >= len + 1) return this.inChunk(len);
    this.partial = Buffer.allocUnsafe(len + 1);
    this.partialFill = this.chunk.copy(this.partial, 0, this.pos);
    this.pos = this.chunk.length;
    return NEXT_NONE;
  }

  /** The chunk ends inside a header: keep its `avail` bytes for the next chunk. */
  private stashHeader(avail: number): number {
    this.chunk.copy(this.header, 0, this.pos);
    this.headerLen = avail;
    this.pos = this.chunk.length;
    return NEXT_NONE;
  }

  /** The whole message of length `len` lies in the current chunk: return it in place, no copy. */
  private inChunk(len: number): number {
    this.tag = this.chunk[this.pos] as number;
    this.buf = this.chunk;
    this.start = this.pos + HEADER_BYTES;
    this.end = this.pos + 1 + len;
    this.pos = this.end;
    return NEXT_MESSAGE;
  }

  /** The checked length of the header at `buf[at ..]`, or -1 with `error` set. */
  private checked(buf: Buffer, at: number): number {
    const len = messageLength(buf, at, this.limits);
    if (typeof len === 'number') return len;
    this.error = len;
    return -1;
  }

  private fillHeader(): number {
    const take = Math.min(HEADER_BYTES - this.headerLen, this.chunk.length - this.pos);
    this.chunk.copy(this.header, this.headerLen, this.pos, this.pos + take);
    this.headerLen += take;
    this.pos += take;
    if (this.headerLen < HEADER_BYTES) return NEXT_NONE;
    this.headerLen = 0;
    const len = this.checked(this.header, 0);
    if (len < 0) return NEXT_ERROR;
    this.partial = Buffer.allocUnsafe(len + 1);
    this.header.copy(this.partial, 0, 0, HEADER_BYTES);
    this.partialFill = HEADER_BYTES;
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
    this.start = HEADER_BYTES;
    this.end = p.length;
    return NEXT_MESSAGE;
  }
}
