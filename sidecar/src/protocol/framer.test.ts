// The framer's contract, for every reader that uses it: a message split across chunks anywhere
// comes out whole; a length below 4 (including zero) is a protocol violation; a length over the
// limit is refused before anything is allocated, with the limit's SQLSTATE.
import { describe, expect, it } from 'vitest';
import { backendBytes } from './backend.ts';
import { ProtocolError } from './codec.ts';
import { frameAt, Framer, messageLength, NEXT_ERROR, NEXT_MESSAGE, NEXT_NONE } from './framer.ts';
import { decodeAuthResponse, encodeFrontend } from './frontend.ts';
import { SQLSTATE } from './sqlstate.ts';
import { BackendTag, FrontendTag, HEADER_BYTES } from './tags.ts';

const header = (tag: number, len: number): Buffer => {
  const b = Buffer.alloc(HEADER_BYTES);
  b[0] = tag;
  b.writeInt32BE(len, 1);
  return b;
};

const stream = Buffer.concat([
  backendBytes({ type: 'ParameterStatus', name: 'client_encoding', value: 'UTF8' }),
  backendBytes({ type: 'DataRow', values: [Buffer.alloc(300, 0x61), null, Buffer.alloc(0)] }),
  backendBytes({ type: 'ReadyForQuery', status: 'I' }),
]);

/** Feeds `chunks` to one Framer: the messages (tag + body copy) and the error, if any. */
function run(chunks: Buffer[], max = 1 << 20): { msgs: Array<[number, string]>; error: ProtocolError | null } {
  const f = new Framer(max);
  const msgs: Array<[number, string]> = [];
  for (const c of chunks) {
    f.push(c);
    for (let r = f.next(); r !== NEXT_NONE; r = f.next()) {
      if (r === NEXT_ERROR) return { msgs, error: f.error };
      msgs.push([f.tag, f.buf.subarray(f.start, f.end).toString('hex')]);
    }
  }
  return { msgs, error: null };
}

describe('Framer', () => {
  const whole = run([stream]);

  it('frames three messages delivered in one chunk', () => {
    expect(whole.error).toBeNull();
    expect(whole.msgs.map(([t]) => t)).toEqual([BackendTag.ParameterStatus, BackendTag.DataRow, BackendTag.ReadyForQuery]);
  });

  it('gives the same messages for a split at every offset, in three chunks, and byte by byte', () => {
    for (let i = 0; i <= stream.length; i++) expect(run([stream.subarray(0, i), stream.subarray(i)])).toEqual(whole);
    for (let i = 1; i < stream.length; i += 37) {
      expect(run([stream.subarray(0, i), stream.subarray(i, i + 3), stream.subarray(i + 3)])).toEqual(whole);
    }
    expect(run(Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1)))).toEqual(whole);
  });

  it('counts bytes received but not yet returned, across a split header and a split body', () => {
    const f = new Framer(1000);
    f.push(stream.subarray(0, 3));
    expect(f.next()).toBe(NEXT_NONE);
    expect(f.buffered()).toBe(3);
    f.push(stream.subarray(3, 10));
    expect(f.next()).toBe(NEXT_NONE);
    expect(f.buffered()).toBe(10);
  });

  it('refuses a zero or short length (below the 4 bytes of the length itself) with 08P01', () => {
    for (const len of [0, 1, 3, -1, -2_147_483_648]) {
      const { msgs, error } = run([header(FrontendTag.Query, len)]);
      expect(msgs).toEqual([]);
      expect(error?.code).toBe(SQLSTATE.protocolViolation);
      expect(error?.message).toBe(`invalid message length ${len}`);
    }
  });

  it('refuses a short length whose header arrives split across chunks', () => {
    const h = header(FrontendTag.Sync, 2);
    expect(run([h.subarray(0, 2), h.subarray(2)]).error?.code).toBe(SQLSTATE.protocolViolation);
  });

  it('refuses an oversized length before allocating, whole or split, and stays failed', () => {
    const h = header(FrontendTag.Query, 0x7fffffff);
    for (const chunks of [[h], [h.subarray(0, 1), h.subarray(1)], [h.subarray(0, 4), h.subarray(4)]]) {
      const { error } = run(chunks, 100);
      expect(error?.code).toBe(SQLSTATE.programLimitExceeded);
      expect(error?.message).toMatch(/exceeds the limit of 100 bytes/);
    }
    const f = new Framer(100);
    f.push(h);
    expect(f.next()).toBe(NEXT_ERROR);
    f.push(encodeFrontend({ type: 'Sync' }).finish());
    expect(f.next()).toBe(NEXT_ERROR);
  });

  it('accepts a message of exactly the limit and refuses one byte more', () => {
    const sync = encodeFrontend({ type: 'Sync' }).finish();
    expect(run([sync], sync.length).msgs).toHaveLength(1);
    expect(run([sync], sync.length - 1).error?.code).toBe(SQLSTATE.programLimitExceeded);
  });

  it('answers an oversized message with the SQLSTATE its reader asks for', () => {
    const f = new Framer({ maxMessageBytes: 10, oversizeCode: SQLSTATE.protocolViolation });
    f.push(header(FrontendTag.AuthResponse, 100));
    expect(f.next()).toBe(NEXT_ERROR);
    expect(f.error?.code).toBe(SQLSTATE.protocolViolation);
  });

  it('keeps a message inside one chunk in place, and copies one split across chunks once', () => {
    const f = new Framer(1000);
    f.push(stream);
    expect(f.next()).toBe(NEXT_MESSAGE);
    expect(f.buf).toBe(stream);
    const g = new Framer(1000);
    g.push(stream.subarray(0, 7));
    expect(g.next()).toBe(NEXT_NONE);
    const rest = stream.subarray(7);
    g.push(rest);
    expect(g.next()).toBe(NEXT_MESSAGE);
    expect(g.buf.buffer).not.toBe(stream.buffer);
    expect(g.next()).toBe(NEXT_MESSAGE);
    expect(g.buf).toBe(rest);
  });
});

describe('frameAt (readers with a contiguous buffer)', () => {
  const limits = { maxMessageBytes: 1 << 20 };

  it('finds the first message of a buffer, or says it is incomplete, at every prefix', () => {
    const first = backendBytes({ type: 'ParameterStatus', name: 'client_encoding', value: 'UTF8' }).length;
    for (let i = 0; i < first; i++) expect(frameAt(stream.subarray(0, i), limits)).toEqual({ kind: 'incomplete' });
    for (const n of [first, stream.length]) {
      expect(frameAt(stream.subarray(0, n), limits)).toEqual({ kind: 'message', tag: BackendTag.ParameterStatus, start: HEADER_BYTES, end: first });
    }
  });

  it('reports short and oversized lengths as the Framer does', () => {
    const short = frameAt(header(FrontendTag.Query, 0), limits);
    expect(short.kind === 'error' ? short.error.code : '').toBe(SQLSTATE.protocolViolation);
    const big = frameAt(header(FrontendTag.Query, 5000), { maxMessageBytes: 4096 });
    expect(big.kind === 'error' ? big.error.code : '').toBe(SQLSTATE.programLimitExceeded);
    const auth = frameAt(header(FrontendTag.AuthResponse, 9000), { maxMessageBytes: 8192, oversizeCode: SQLSTATE.protocolViolation });
    expect(auth.kind === 'error' ? auth.error.code : '').toBe(SQLSTATE.protocolViolation);
  });

  it('agrees with messageLength on the header', () => {
    expect(messageLength(header(0, 4), 0, limits)).toBe(4);
    expect(messageLength(header(0, 3), 0, limits)).toBeInstanceOf(ProtocolError);
  });
});

describe('authentication answers (tag p)', () => {
  it('encodes and decodes PasswordMessage, SASLInitialResponse and SASLResponse by the expected type', () => {
    const cases = [
      { type: 'PasswordMessage', password: 'md5abc' },
      { type: 'SASLInitialResponse', mechanism: 'SCRAM-SHA-256', data: Buffer.from('n,,n=,r=abc') },
      { type: 'SASLInitialResponse', mechanism: 'SCRAM-SHA-256', data: null },
      { type: 'SASLResponse', data: Buffer.from('c=biws,r=abc,p=xyz') },
    ] as const;
    for (const m of cases) {
      const b = encodeFrontend(m).finish();
      expect(b[0]).toBe(FrontendTag.AuthResponse);
      const f = frameAt(b, { maxMessageBytes: 1000 });
      if (f.kind !== 'message') throw new Error('not framed');
      const d = decodeAuthResponse(m.type, f.tag, b.subarray(f.start, f.end));
      if (!d.ok) throw d.error;
      expect(d.msg.type).toBe(m.type);
      expect(encodeFrontend(d.msg).finish()).toEqual(b);
      if (m.type === 'SASLInitialResponse') expect(d.msg.type === 'SASLInitialResponse' && d.msg.data).toEqual(m.data);
    }
  });

  it('refuses another tag, trailing bytes and a body cut short', () => {
    const q = encodeFrontend({ type: 'Query', sql: 'x' }).finish();
    expect(decodeAuthResponse('SASLResponse', q[0] as number, q.subarray(HEADER_BYTES)).ok).toBe(false);
    const pw = encodeFrontend({ type: 'PasswordMessage', password: 'x' }).finish();
    expect(decodeAuthResponse('PasswordMessage', FrontendTag.AuthResponse, Buffer.concat([pw.subarray(HEADER_BYTES), Buffer.from('y')])).ok).toBe(false);
    const init = encodeFrontend({ type: 'SASLInitialResponse', mechanism: 'SCRAM-SHA-256', data: Buffer.from('abc') }).finish();
    const cut = decodeAuthResponse('SASLInitialResponse', FrontendTag.AuthResponse, init.subarray(HEADER_BYTES, init.length - 1));
    expect(cut.ok ? '' : cut.error.code).toBe(SQLSTATE.protocolViolation);
  });
});
