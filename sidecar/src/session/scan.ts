// Pass-through view of the backend's stream: finds message boundaries without assembling
// messages, so rows of any size flow through in the chunks they arrived in (no copy, no buffer
// bounded only by the backend). Only ReadyForQuery (its status byte) and ErrorResponse (its first
// field, to see FATAL) are looked into; their few bytes are gathered in a small fixed buffer when
// a chunk boundary splits them.
const TAG_READY = 0x5a;
const TAG_ERROR = 0x45;
/** Body bytes wanted per tag: ReadyForQuery's status; ErrorResponse's 'S' 'FATAL' NUL. */
const WANT_READY = 1;
const WANT_ERROR = 7;

export type Visit = (tag: number, buf: Buffer, start: number, end: number) => void;

export class BackendScanner {
  /** Body bytes of the current message still to pass over. */
  private remaining = 0;
  private readonly head = Buffer.alloc(5 + WANT_ERROR);
  private headLen = 0;

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
      pos = this.gather(chunk, pos, 5);
      if (this.headLen < 5) break;
      const tag = this.head[0] as number;
      const len = this.head.readInt32BE(1);
      if (len < 4) return `invalid message length ${len}`;
      const want = Math.min(tag === TAG_READY ? WANT_READY : tag === TAG_ERROR ? WANT_ERROR : 0, len - 4);
      pos = this.gather(chunk, pos, 5 + want);
      if (this.headLen < 5 + want) break;
      if (want > 0) visit(tag, this.head, 5, 5 + want);
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
