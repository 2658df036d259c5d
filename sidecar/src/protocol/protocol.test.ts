import { describe, expect, it } from 'vitest';
import { backendBytes, dataRowViews, dataRowsBytes, decodeBackend } from './backend.ts';
import type { BackendMessage } from './backend.ts';
import { Writer } from './codec.ts';
import { decodeFrontend, encodeFrontend } from './frontend.ts';
import type { FrontendMessage } from './frontend.ts';
import { Framer, NEXT_ERROR, NEXT_MESSAGE } from './framer.ts';
import { checkVersion, encodeStartup, readStartup } from './startup.ts';

/** A plain Uint8Array view, so decoded values compare equal to the samples' Uint8Arrays. */
const plain = (b: Buffer) => new Uint8Array(b.buffer, b.byteOffset, b.length);

const bytes = (s: string) => new TextEncoder().encode(s);

export const frontendSamples: FrontendMessage[] = [
  { type: 'Query', sql: 'select 1; select 2' },
  { type: 'Parse', name: 's1', sql: 'select $1::int', paramTypes: [23, 0] },
  { type: 'Bind', portal: 'p', statement: 's1', paramFormats: [1], values: [bytes('ab'), null, new Uint8Array(0)], resultFormats: [0, 1] },
  { type: 'Describe', target: 'S', name: 's1' },
  { type: 'Describe', target: 'P', name: '' },
  { type: 'Execute', portal: 'p', maxRows: 10 },
  { type: 'Close', target: 'P', name: 'p' },
  { type: 'Sync' }, { type: 'Flush' }, { type: 'Terminate' },
  { type: 'CopyData', data: bytes('1\tx\n') }, { type: 'CopyDone' }, { type: 'CopyFail', message: 'stop' },
  { type: 'FunctionCall', oid: 1598, argFormats: [0], args: [bytes('5'), null], resultFormat: 1 },
  { type: 'AuthData', data: bytes('n,,n=,r=abc') },
];

export const backendSamples: BackendMessage[] = [
  { type: 'AuthenticationOk' }, { type: 'AuthenticationCleartextPassword' },
  { type: 'AuthenticationMD5Password', salt: new Uint8Array([1, 2, 3, 4]) },
  { type: 'AuthenticationSASL', mechanisms: ['SCRAM-SHA-256'] },
  { type: 'AuthenticationSASLContinue', data: bytes('r=x,s=y,i=4096') },
  { type: 'AuthenticationSASLFinal', data: bytes('v=abc') },
  { type: 'BackendKeyData', processId: 1234, secretKey: -5 },
  { type: 'ParameterStatus', name: 'TimeZone', value: 'UTC' },
  { type: 'ReadyForQuery', status: 'T' },
  { type: 'RowDescription', fields: [{ name: 'a', tableOid: 16384, columnAttr: 1, typeOid: 23, typeSize: 4, typeModifier: -1, format: 0 }] },
  { type: 'DataRow', values: [bytes('1'), null, new Uint8Array(0)] },
  { type: 'CommandComplete', tag: 'SELECT 1' },
  { type: 'ErrorResponse', fields: { S: 'ERROR', C: '42P01', M: 'no such table' } },
  { type: 'NoticeResponse', fields: { S: 'NOTICE', M: 'hi' } },
  { type: 'ParameterDescription', types: [23, 25] },
  { type: 'NotificationResponse', processId: 7, channel: 'ch', payload: 'p' },
  { type: 'CopyInResponse', format: 0, columnFormats: [0, 0] },
  { type: 'CopyOutResponse', format: 1, columnFormats: [1] },
  { type: 'CopyData', data: bytes('row\n') },
  { type: 'FunctionCallResponse', value: null },
  { type: 'NegotiateProtocolVersion', minor: 0, unsupported: ['_pq_.x'] },
  { type: 'ParseComplete' }, { type: 'BindComplete' }, { type: 'CloseComplete' }, { type: 'NoData' },
  { type: 'EmptyQueryResponse' }, { type: 'PortalSuspended' }, { type: 'CopyDone' },
];

describe('frontend messages', () => {
  it.each(frontendSamples.map((m) => [m.type, m] as const))('%s round-trips', (_t, m) => {
    const b = encodeFrontend(m).finish();
    expect(b.readInt32BE(1)).toBe(b.length - 1);
    const d = decodeFrontend(b[0] as number, plain(b), 5, b.length);
    expect(d).toEqual({ ok: true, msg: m });
  });

  it('rejects unknown tags and truncated bodies with 08P01', () => {
    const unknown = decodeFrontend(0x7a, Buffer.alloc(0));
    expect(unknown.ok).toBe(false);
    const b = encodeFrontend({ type: 'Execute', portal: 'p', maxRows: 1 }).finish();
    const cut = decodeFrontend(b[0] as number, b, 5, b.length - 1);
    expect(cut.ok ? '' : cut.error.code).toBe('08P01');
    const trailing = Buffer.concat([b, Buffer.from([0])]);
    expect(decodeFrontend(b[0] as number, trailing, 5, trailing.length).ok).toBe(false);
  });

  it('rejects a zero byte inside a string on encode', () => {
    expect(() => encodeFrontend({ type: 'Query', sql: 'a\0b' })).toThrow(/zero byte/);
  });

  it('encodes strings as UTF-8 (a lone surrogate as U+FFFD), past the writer\'s first buffer too', () => {
    for (const sql of ['', 'select 1', 'é', '日本語', '😀', 'a\ud800b', '\udc00', 'x'.repeat(300) + 'ü'.repeat(300)]) {
      const b = encodeFrontend({ type: 'Query', sql }).finish();
      expect(b.subarray(5)).toEqual(Buffer.concat([Buffer.from(new TextEncoder().encode(sql)), Buffer.from([0])]));
      expect(b.readInt32BE(1)).toBe(b.length - 1);
    }
  });
});

describe('backend messages', () => {
  it.each(backendSamples.map((m) => [m.type, m] as const))('%s round-trips', (_t, m) => {
    const b = backendBytes(m);
    const d = decodeBackend(b[0] as number, plain(b), 5, b.length);
    expect(d).toEqual({ ok: true, msg: m });
  });

  it('keeps NULL distinct from an empty value', () => {
    const b = backendBytes({ type: 'DataRow', values: [null, new Uint8Array(0)] });
    const d = decodeBackend(b[0] as number, plain(b), 5, b.length);
    expect(d.ok && d.msg.type === 'DataRow' ? d.msg.values : []).toEqual([null, new Uint8Array(0)]);
  });
});

describe('DataRow fast paths (split fragment scans)', () => {
  const rows: Array<Array<Uint8Array | null>> = [[bytes('1'), bytes('Ann'), null], [], [new Uint8Array(0), bytes('é'.repeat(300))], [null]];

  it('dataRowsBytes writes the bytes of backendBytes of each row in turn', () => {
    expect(dataRowsBytes(rows)).toEqual(Buffer.concat(rows.map((values) => backendBytes({ type: 'DataRow', values }))));
    expect(dataRowsBytes([])).toEqual(Buffer.alloc(0));
  });

  it('dataRowViews decodes what decodeBackend does, as views of the message (no copy)', () => {
    for (const values of rows) {
      const b = backendBytes({ type: 'DataRow', values });
      const v = dataRowViews(b, 5, b.length);
      expect(v?.map((x) => (x === null ? null : plain(x)))).toEqual(values.map((x) => (x === null ? null : plain(Buffer.from(x)))));
      for (const x of v ?? []) if (x) expect(x.buffer).toBe(b.buffer);
    }
  });

  it('dataRowViews refuses malformed bodies (null) where decodeBackend fails', () => {
    const b = backendBytes({ type: 'DataRow', values: [bytes('abc'), null] });
    const body = (edit: (x: Buffer) => Buffer) => { const x = edit(Buffer.from(b.subarray(5))); return [x, dataRowViews(x, 0, x.length)] as const; };
    const cases = [
      body((x) => x.subarray(0, x.length - 1)), // truncated
      body((x) => Buffer.concat([x, Buffer.from([0])])), // trailing byte
      body((x) => { x.writeInt16BE(-1, 0); return x; }), // negative count
      body((x) => { x.writeInt32BE(-2, 2); return x; }), // length below -1
      body((x) => { x.writeInt32BE(1000, 2); return x; }), // past the end
      body((x) => x.subarray(0, 1)), // no count
    ];
    for (const [x, v] of cases) {
      expect(v).toBeNull();
      expect(decodeBackend(0x44, plain(x), 0, x.length).ok).toBe(false);
    }
  });
});

describe('Framer', () => {
  const stream = Buffer.concat(frontendSamples.map((m) => encodeFrontend(m).finish()));

  function frameAll(chunks: Buffer[], max = 1 << 20): Array<{ tag: number; body: Buffer }> {
    const f = new Framer(max);
    const out: Array<{ tag: number; body: Buffer }> = [];
    for (const c of chunks) {
      f.push(c);
      for (let r = f.next(); r !== 0; r = f.next()) {
        if (r === NEXT_ERROR) throw f.error;
        out.push({ tag: f.tag, body: Buffer.from(f.buf.subarray(f.start, f.end)) });
      }
    }
    return out;
  }

  it('frames a stream delivered whole', () => {
    expect(frameAll([stream]).map((m) => m.tag)).toEqual(frontendSamples.map((m) => encodeFrontend(m).finish()[0]));
  });

  it('frames the same messages when the stream is split at every offset, and byte by byte', () => {
    const whole = frameAll([stream]);
    for (let i = 0; i <= stream.length; i++) {
      expect(frameAll([stream.subarray(0, i), stream.subarray(i)])).toEqual(whole);
    }
    const single = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1));
    expect(frameAll(single)).toEqual(whole);
  });

  it('reports lengths below 4 and above the limit instead of allocating', () => {
    const f = new Framer(100);
    f.push(Buffer.from([0x51, 0, 0, 0, 3]));
    expect(f.next()).toBe(NEXT_ERROR);
    expect(f.error?.code).toBe('08P01');
    const g = new Framer(100);
    g.push(Buffer.from([0x51, 0x7f, 0xff, 0xff, 0xff]));
    expect(g.next()).toBe(NEXT_ERROR);
    expect(g.error?.code).toBe('54000');
  });

  it('exposes messages inside one chunk without copying', () => {
    const f = new Framer(1000);
    f.push(stream);
    expect(f.next()).toBe(NEXT_MESSAGE);
    expect(f.buf).toBe(stream);
  });
});

describe('startup packets', () => {
  it('reads StartupMessage, SSLRequest, GSSENCRequest and CancelRequest', () => {
    const sm = encodeStartup({ type: 'StartupMessage', major: 3, minor: 0, params: { user: 'u', database: 'd' } });
    expect(readStartup(sm)).toEqual({ kind: 'packet', length: sm.length, packet: { type: 'StartupMessage', major: 3, minor: 0, params: { user: 'u', database: 'd' } } });
    expect(readStartup(sm.subarray(0, sm.length - 1))).toEqual({ kind: 'incomplete' });
    for (const p of [{ type: 'SSLRequest' }, { type: 'GSSENCRequest' }, { type: 'CancelRequest', processId: 5, secretKey: -9 }] as const) {
      const r = readStartup(encodeStartup(p));
      expect(r.kind === 'packet' ? r.packet : null).toEqual(p);
    }
  });

  it('refuses absurd lengths', () => {
    const w = new Writer().int32(1_000_000).finish();
    expect(readStartup(w).kind).toBe('error');
  });

  it('negotiates 3.x minor versions and refuses other majors', () => {
    expect(checkVersion({ type: 'StartupMessage', major: 3, minor: 0, params: {} })).toEqual({ kind: 'ok' });
    expect(checkVersion({ type: 'StartupMessage', major: 3, minor: 2, params: { '_pq_.x': '1' } }))
      .toEqual({ kind: 'negotiate', minor: 0, unsupported: ['_pq_.x'] });
    const r = checkVersion({ type: 'StartupMessage', major: 2, minor: 0, params: {} });
    expect(r.kind === 'refuse' ? r.error.code : '').toBe('0A000');
  });
});
