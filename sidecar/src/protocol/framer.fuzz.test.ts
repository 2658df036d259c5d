// Property tests of the frontend decoder: any split of a valid stream yields the same messages,
// and random bytes never crash or hang the framer or the decoders: they yield messages or a clean
// ProtocolError with a SQLSTATE.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBackend } from './backend.ts';
import { ProtocolError } from './codec.ts';
import { decodeFrontend, encodeFrontend } from './frontend.ts';
import type { FrontendMessage } from './frontend.ts';
import { Framer, NEXT_ERROR, NEXT_MESSAGE } from './framer.ts';
import { readStartup } from './startup.ts';

const str = fc.string({ maxLength: 20 }).map((s) => s.replace(/\0/g, ''));
const val = fc.option(fc.uint8Array({ maxLength: 16 }), { nil: null });
const i16 = fc.integer({ min: 0, max: 1 });

const message: fc.Arbitrary<FrontendMessage> = fc.oneof(
  fc.record({ type: fc.constant('Query' as const), sql: str }),
  fc.record({ type: fc.constant('Parse' as const), name: str, sql: str, paramTypes: fc.array(fc.nat({ max: 0x7fffffff }), { maxLength: 4 }) }),
  fc.record({ type: fc.constant('Bind' as const), portal: str, statement: str, paramFormats: fc.array(i16, { maxLength: 3 }), values: fc.array(val, { maxLength: 4 }), resultFormats: fc.array(i16, { maxLength: 3 }) }),
  fc.record({ type: fc.constant('Describe' as const), target: fc.constantFrom('S' as const, 'P' as const), name: str }),
  fc.record({ type: fc.constant('Execute' as const), portal: str, maxRows: fc.nat() }),
  fc.record({ type: fc.constant('Sync' as const) }),
  fc.record({ type: fc.constant('CopyData' as const), data: fc.uint8Array({ maxLength: 40 }) }),
  fc.record({ type: fc.constant('CopyFail' as const), message: str }),
);

function frame(chunks: Buffer[], max: number): { msgs: FrontendMessage[]; error: ProtocolError | null } {
  const f = new Framer(max);
  const msgs: FrontendMessage[] = [];
  for (const c of chunks) {
    f.push(c);
    for (let r = f.next(); r !== 0; r = f.next()) {
      if (r === NEXT_ERROR) return { msgs, error: f.error };
      expect(r).toBe(NEXT_MESSAGE);
      const d = decodeFrontend(f.tag, new Uint8Array(f.buf.buffer, f.buf.byteOffset, f.buf.length), f.start, f.end);
      if (!d.ok) return { msgs, error: d.error };
      msgs.push(d.msg);
    }
  }
  return { msgs, error: null };
}

function splitAt(b: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (b.length + 1)))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) { out.push(b.subarray(prev, p)); prev = p; }
  out.push(b.subarray(prev));
  return out;
}

describe('frontend decoder properties', () => {
  it('decodes any sequence of messages identically however the stream is split', () => {
    fc.assert(fc.property(fc.array(message, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 6 }), (msgs, cuts) => {
      const stream = Buffer.concat(msgs.map((m) => encodeFrontend(m).finish()));
      const r = frame(splitAt(stream, cuts), 1 << 16);
      expect(r.error).toBeNull();
      expect(r.msgs).toEqual(msgs);
    }), { numRuns: 300 });
  });

  it('random bytes give messages or a clean ProtocolError, never a crash', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.nat(), { maxLength: 4 }), (bytes, cuts) => {
      const r = frame(splitAt(Buffer.from(bytes), cuts), 256);
      if (r.error) expect(r.error.code).toMatch(/^[0-9A-Z]{5}$/);
    }), { numRuns: 2000 });
  });

  it('random bodies behind every tag decode or fail cleanly (frontend and backend)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 64 }), (tag, body) => {
      const f = decodeFrontend(tag, body);
      if (!f.ok) expect(f.error).toBeInstanceOf(ProtocolError);
      const b = decodeBackend(tag, body);
      if (!b.ok) expect(b.error).toBeInstanceOf(ProtocolError);
    }), { numRuns: 3000 });
  });

  it('random startup packets are read or refused cleanly', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
      const r = readStartup(bytes);
      expect(['incomplete', 'packet', 'error']).toContain(r.kind);
    }), { numRuns: 2000 });
  });
});
