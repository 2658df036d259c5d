// Pass-through view of the backend's stream: finds message boundaries without assembling
// messages, so rows of any size flow through in the chunks they arrived in (no copy, no buffer
// bounded only by the backend). Only ReadyForQuery (its status byte) and ErrorResponse (its first
// field, to see FATAL) are looked into; their few bytes are gathered in a small fixed buffer when
// a chunk boundary splits them.
import { FATAL_PREFIX_BYTES } from '../protocol/backend.ts';
import { messageLength } from '../protocol/framer.ts';
import { BackendTag, HEADER_BYTES } from '../protocol/tags.ts';

/** Body bytes wanted per tag: ReadyForQuery's status; ErrorResponse's 'S' 'FATAL' NUL. */
const WANT_READY = 1;
const WANT_ERROR = FATAL_PREFIX_BYTES;
/** The scanner never holds a message, so its size is not bounded here. */
const UNBOUNDED = { maxMessageBytes: Number.POSITIVE_INFINITY };

export type Visit = (tag: number, buf: Buffer, start: number, end: number) => void;

export class BackendScanner {
  /** Body bytes of the current message still to pass over. */
  private remaining = 0;
  private readonly head = Buffer.alloc(HEADER_BYTES + WANT_ERROR);
  private headLen = 0;

  /** Goes on from another scanner's state (the native relay's): body bytes to skip, the header gathered so far. */
  restore(remaining: number, head: Uint8Array): void {
    if (head.length > this.head.length) throw new RangeError('scanner header too long');
    this.remaining = remaining;
    this.head.set(head);
    this.headLen = head.length;
  }

  /** True between messages. */
  atBoundary(): boolean { return this.remaining === 0 && this.headLen === 0; }

  /** Walks one chunk; calls `visit` for ReadyForQuery and ErrorResponse. Returns an error or null. */
  scan(chunk: Buffer, visit: Visit): string | null {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.remaining > 0) {
        const skip = Math.min(this.remaining, chunk.length - pos);
        pos += skip;
        this.remaining -= skip;
        continue;
      }
      pos = this.gather(chunk, pos, HEADER_BYTES);
      if (this.headLen < HEADER_BYTES) break;
      const tag = this.head[0] as number;
      const len = messageLength(this.head, 0, UNBOUNDED);
      if (typeof len !== 'number') return len.message;
      const want = Math.min(tag === BackendTag.ReadyForQuery ? WANT_READY : tag === BackendTag.ErrorResponse ? WANT_ERROR : 0, len - 4);
      pos = this.gather(chunk, pos, HEADER_BYTES + want);
      if (this.headLen < HEADER_BYTES + want) break;
      if (want > 0) visit(tag, this.head, HEADER_BYTES, HEADER_BYTES + want);
      this.remaining = len - 4 - want;
      this.headLen = 0;
    }
    return null;
  }

  /** Copies bytes of the current message's start into `head` until it holds `upTo`. */
  private gather(chunk: Buffer, pos: number, upTo: number): number {
    const take = Math.min(upTo - this.headLen, chunk.length - pos);
    if (take <= 0) return pos;
    chunk.copy(this.head, this.headLen, pos, pos + take);
    this.headLen += take;
    return pos + take;
  }
}
