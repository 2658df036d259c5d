// Cursor-style reader and growable writer over PostgreSQL wire bytes. Readers work on a region of
// a buffer (no copy); a read past the region throws ProtocolError, which the decoders turn into a
// clean result (see decodeFrontend / decodeBackend).
import { SQLSTATE } from './sqlstate.ts';

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  /** SQLSTATE to answer with: 08P01 protocol_violation unless said otherwise. */
  readonly code: string;
  constructor(message: string, code: string = SQLSTATE.protocolViolation) {
    super(message);
    this.code = code;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

export class Reader {
  buf: Uint8Array;
  pos: number;
  end: number;
  private view: DataView;

  constructor(buf: Uint8Array, start = 0, end = buf.length) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  private need(n: number): void {
    if (n < 0 || this.pos + n > this.end) throw new ProtocolError('message is shorter than its contents');
  }

  remaining(): number { return this.end - this.pos; }

  int8(): number { this.need(1); return this.buf[this.pos++] as number; }

  int16(): number { this.need(2); const v = this.view.getInt16(this.pos); this.pos += 2; return v; }

  int32(): number { this.need(4); const v = this.view.getInt32(this.pos); this.pos += 4; return v; }

  uint32(): number { this.need(4); const v = this.view.getUint32(this.pos); this.pos += 4; return v; }

  cstring(): string {
    const zero = this.buf.indexOf(0, this.pos);
    if (zero < 0 || zero >= this.end) throw new ProtocolError('string is not terminated');
    const s = utf8.decode(this.buf.subarray(this.pos, zero));
    this.pos = zero + 1;
    return s;
  }

  bytes(n: number): Uint8Array { this.need(n); const b = this.buf.subarray(this.pos, this.pos + n); this.pos += n; return b; }

  rest(): Uint8Array { return this.bytes(this.end - this.pos); }

  /** A length-prefixed value: int32 length, -1 = NULL. */
  value(): Uint8Array | null {
    const n = this.int32();
    if (n === -1) return null;
    if (n < -1) throw new ProtocolError(`invalid value length ${n}`);
    return this.bytes(n);
  }

  int16Array(): number[] {
    const n = this.int16();
    if (n < 0) throw new ProtocolError(`invalid count ${n}`);
    const out = new Array<number>(n);
    for (let i = 0; i < n; i++) out[i] = this.int16();
    return out;
  }

  done(): void {
    if (this.pos !== this.end) throw new ProtocolError('message has trailing bytes');
  }
}

export class Writer {
  private buf: Buffer;
  private pos = 0;
  private starts: number[] = [];

  constructor(size = 256) { this.buf = Buffer.allocUnsafe(size); }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** Starts a message: tag byte (or none for startup packets) and a length placeholder. */
  begin(tag: number | null): this {
    this.ensure(5);
    if (tag !== null) this.buf[this.pos++] = tag;
    this.starts.push(this.pos);
    this.pos += 4;
    return this;
  }

  /** Ends the innermost message: fills in its length. */
  end(): this {
    const start = this.starts.pop();
    if (start === undefined) throw new Error('Writer.end without begin');
    this.buf.writeInt32BE(this.pos - start, start);
    return this;
  }

  int8(v: number): this { this.ensure(1); this.buf[this.pos++] = v & 0xff; return this; }
  int16(v: number): this { this.ensure(2); this.buf.writeInt16BE(v, this.pos); this.pos += 2; return this; }
  int32(v: number): this { this.ensure(4); this.buf.writeInt32BE(v | 0, this.pos); this.pos += 4; return this; }

  bytes(b: Uint8Array): this { this.ensure(b.length); this.buf.set(b, this.pos); this.pos += b.length; return this; }

  cstring(s: string): this {
    // UTF-8 has a zero byte exactly where the string has U+0000. Written in place: no encoded copy.
    if (s.includes('\0')) throw new ProtocolError('string contains a zero byte', SQLSTATE.characterNotInRepertoire);
    const n = Buffer.byteLength(s, 'utf8');
    this.ensure(n + 1);
    this.pos += this.buf.write(s, this.pos, n, 'utf8');
    this.buf[this.pos++] = 0;
    return this;
  }

  value(v: Uint8Array | null): this {
    if (v === null) return this.int32(-1);
    return this.int32(v.length).bytes(v);
  }

  int16Array(a: readonly number[]): this {
    this.int16(a.length);
    for (const v of a) this.int16(v);
    return this;
  }

  /** The bytes written so far (a copy-free view; the writer must not be reused afterwards). */
  finish(): Buffer { return this.buf.subarray(0, this.pos); }
}

export type Decoded<M> = { ok: true; msg: M } | { ok: false; error: ProtocolError };

/**
 * Runs one message decoder over the reader's range. The body must be consumed exactly; a malformed
 * body or an unknown tag (no decoder) is a ProtocolError result, never a throw.
 */
export function decodeBody<M>(decode: ((r: Reader) => M) | undefined, side: string, tag: number, r: Reader): Decoded<M> {
  if (!decode) return { ok: false, error: new ProtocolError(`invalid ${side} message type ${tag}`) };
  try {
    const msg = decode(r);
    r.done();
    return { ok: true, msg };
  } catch (e) {
    if (e instanceof ProtocolError) return { ok: false, error: e };
    throw e;
  }
}
