// Outgoing bytes of one direction while one input chunk is processed. Forwarded message ranges
// that are contiguous in the same input buffer are merged, so a chunk whose messages all pass
// unchanged leaves as ONE slice of the original bytes: no copy, no per-message allocation.
export class Out {
  private parts: Buffer[] = [];
  private segBuf: Buffer | null = null;
  private segStart = 0;
  private segEnd = 0;
  /** Bytes queued since the last take(). */
  size = 0;

  /** Forwards buf[start, end) unchanged. */
  forward(buf: Buffer, start: number, end: number): void {
    this.size += end - start;
    if (this.segBuf === buf && this.segEnd === start) { this.segEnd = end; return; }
    this.closeSegment();
    this.segBuf = buf;
    this.segStart = start;
    this.segEnd = end;
  }

  /** Queues new bytes (a rewritten or locally generated message). */
  push(bytes: Buffer): void {
    this.closeSegment();
    this.parts.push(bytes);
    this.size += bytes.length;
  }

  private closeSegment(): void {
    if (!this.segBuf) return;
    const b = this.segBuf;
    this.parts.push(this.segStart === 0 && this.segEnd === b.length ? b : b.subarray(this.segStart, this.segEnd));
    this.segBuf = null;
  }

  /** Everything queued, in order, or null when nothing is. */
  take(): Buffer[] | null {
    this.closeSegment();
    if (this.parts.length === 0) return null;
    const p = this.parts;
    this.parts = [];
    this.size = 0;
    return p;
  }
}
