// The native pass-through data path (sidecar/native/relay.c) between real TCP sockets: the test
// plays the application on one pair and the backend on the other, and checks the bytes each side
// receives, the state a stopped session hands back, and the statistics.
import { execFileSync } from 'node:child_process';
import { createServer, connect } from 'node:net';
import type { Server, Socket } from 'node:net';
import { createSecureContext, TLSSocket } from 'node:tls';
import { testPki } from '@clarus/testing/certs.ts';
import { settled } from '@clarus/testing/wait.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NativeStats } from '../metrics/metrics.ts';
import { backendBytes } from '../protocol/backend.ts';
import { encodeFrontend } from '../protocol/frontend.ts';
import type { FrontendMessage } from '../protocol/frontend.ts';
import { FrontendTag } from '../protocol/tags.ts';
import { IN_BATCH } from '../session/relay.ts';
import { idle, nativeRelay, relayable, startReading, stopReading, tagClasses } from './native-relay.ts';
import type { NativeRelay, NativeRelayState } from './native-relay.ts';

const fe = (m: FrontendMessage): Buffer => encodeFrontend(m).finish();
const query = (sql: string): Buffer => fe({ type: 'Query', sql });
const ready = (status: 'I' | 'T' | 'E' = 'I'): Buffer => backendBytes({ type: 'ReadyForQuery', status });
const complete = (tag: string): Buffer => backendBytes({ type: 'CommandComplete', tag });
const error = (severity: string, code: string): Buffer => backendBytes({ type: 'ErrorResponse', fields: { S: severity, V: severity, C: code, M: 'boom' } });

let server: Server;
const accepted: Socket[] = [];
const waiting: Array<(s: Socket) => void> = [];

/** A connected pair of TCP sockets on the loopback: [the test's end, the proxy's end]. */
async function pair(): Promise<[Socket, Socket]> {
  const theirs = new Promise<Socket>((res) => { const s = accepted.shift(); if (s) res(s); else waiting.push(res); });
  const ours = await new Promise<Socket>((res) => { const s = connect((server.address() as { port: number }).port, '127.0.0.1', () => res(s)); });
  return [ours, await theirs];
}

/** Bytes `sock` receives, gathered. */
function collect(sock: Socket): { bytes: () => Buffer; until: (n: number) => Promise<Buffer>; ended: Promise<void> } {
  const parts: Buffer[] = [];
  const wakers: Array<() => void> = [];
  sock.on('data', (c: Buffer) => { parts.push(c); for (const w of wakers.splice(0)) w(); });
  const ended = new Promise<void>((res) => sock.on('close', () => res()));
  const bytes = (): Buffer => Buffer.concat(parts);
  const until = async (n: number): Promise<Buffer> => {
    while (bytes().length < n) await new Promise<void>((res) => { wakers.push(res); setTimeout(res, 2000); });
    return bytes();
  };
  return { bytes, until, ended };
}

interface Session {
  app: Socket; db: Socket; client: Socket; backend: Socket;
  fromApp: ReturnType<typeof collect>; fromDb: ReturnType<typeof collect>;
  stats: NativeStats; id: number; stopped: Promise<NativeRelayState>;
}

const relay = (): NativeRelay => {
  const r = nativeRelay().relay;
  if (!r) throw new Error(`native relay not loaded: ${nativeRelay().reason}`);
  return r;
};

async function attach(opts: { maxMessageBytes?: number; idleMs?: number; bufferBytes?: number } = {}): Promise<Session> {
  const [app, client] = await pair();
  const [db, backend] = await pair();
  // The proxy's ends: their data must not reach JavaScript while the native thread owns them.
  client.on('data', () => { throw new Error('client socket read by JavaScript'); });
  backend.on('data', () => { throw new Error('backend socket read by JavaScript'); });
  expect(stopReading(client)).toBe(true);
  expect(stopReading(backend)).toBe(true);
  const stats = new NativeStats();
  let onStop!: (s: NativeRelayState) => void;
  const stopped = new Promise<NativeRelayState>((res) => { onStop = res; });
  const id = relay().attach(client, backend, { maxMessageBytes: opts.maxMessageBytes ?? 1 << 20, bufferBytes: opts.bufferBytes ?? 32 << 10,
    idleMs: opts.idleMs ?? 0, txStatus: 'I'.charCodeAt(0), stats: stats.values }, onStop);
  if (id === null) throw new Error('no file descriptor');
  return { app, db, client, backend, fromApp: collect(db), fromDb: collect(app), stats, id, stopped };
}

/** Writes `buf` in pieces of random sizes (1 to 7 bytes, then the rest), a few ms apart. */
async function dribble(sock: Socket, buf: Buffer): Promise<void> {
  let at = 0;
  while (at < buf.length) {
    const n = Math.min(buf.length - at, 1 + Math.floor(Math.random() * 7));
    sock.write(buf.subarray(at, at + n));
    at += n;
    await new Promise((r) => setTimeout(r, 1));
  }
}

function closeAll(s: Session): void {
  relay().detach(s.id);
  for (const x of [s.app, s.db, s.client, s.backend]) x.destroy();
}

beforeAll(async () => {
  server = createServer((s) => { const w = waiting.shift(); if (w) w(s); else accepted.push(s); });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
});

afterAll(() => { server.close(); });

describe('the native relay module', () => {
  it('is loaded on Linux (a missing build fails here rather than leaving pass-through sessions in JavaScript)', () => {
    if (process.platform !== 'linux') return;
    expect(nativeRelay().reason).toBeUndefined();
  });

  it('gives the C heap\'s free pages back (malloc_trim) after many small blocks were freed', () => {
    // A child with --expose-gc: many 1 KiB Buffers (each its own malloc), dropped and collected.
    const script = `import { trimHeap } from ${JSON.stringify(new URL('./native-relay.ts', import.meta.url).pathname)};
      let keep = []; for (let i = 0; i < 200000; i++) keep.push(Buffer.allocUnsafeSlow(1024));
      keep = null; globalThis.gc(); globalThis.gc();
      process.stdout.write(String(trimHeap()));`;
    const out = execFileSync(process.execPath, ['--expose-gc', '--disable-warning=ExperimentalWarning', '--input-type=module', '-e', script], { env: { ...process.env, MALLOC_MMAP_THRESHOLD_: '32768' } }).toString();
    expect(out).toBe('true');
  });

  it('classifies client tags as session/relay.ts does: Terminate and the auth response are handed back', () => {
    const c = tagClasses();
    expect(c[FrontendTag.Terminate]).toBe(0);
    expect(c[FrontendTag.AuthResponse]).toBe(0);
    expect(c['z'.charCodeAt(0)]).toBe(0);
    expect([c[FrontendTag.Query], c[FrontendTag.FunctionCall], c[FrontendTag.Sync]]).toEqual([1, 2, 3]);
    for (const t of IN_BATCH) expect(c[t]).toBe(4);
    for (const t of [FrontendTag.Parse, FrontendTag.Bind, FrontendTag.Describe, FrontendTag.Execute, FrontendTag.Close]) expect(c[t]).toBe(5);
  });
});

describe('relaying', () => {
  it('forwards client messages and backend chunks split anywhere, byte for byte, and counts the statements', async () => {
    const s = await attach();
    const sent = Buffer.concat([query('select 1'), fe({ type: 'Parse', name: '', sql: 'select $1', paramTypes: [] }),
      fe({ type: 'Bind', portal: '', statement: '', paramFormats: [], values: [Buffer.from('x')], resultFormats: [] }), fe({ type: 'Execute', portal: '', maxRows: 0 }), fe({ type: 'Sync' })]);
    await dribble(s.app, sent);
    expect((await s.fromApp.until(sent.length)).equals(sent)).toBe(true);
    const answer = Buffer.concat([complete('SELECT 1'), ready(), error('ERROR', '42P01'), ready()]);
    await dribble(s.db, answer);
    expect((await s.fromDb.until(answer.length)).equals(answer)).toBe(true);
    const v = s.stats.values;
    expect(v[NativeStats.COUNTS + 0]).toBe(1); // simple ok
    expect(v[NativeStats.COUNTS + 1 * 3 + 1]).toBe(1); // extended error
    expect(v[NativeStats.BYTES]).toBe(sent.length);
    expect(v[NativeStats.BYTES + 1]).toBe(answer.length);
    expect(v[NativeStats.TOTALS] as number + (v[NativeStats.TOTALS + 1] as number)).toBe(2);
    const st = relay().detach(s.id);
    expect(st).toMatchObject({ reason: 'detached', outstanding: 0, batchOpen: 0, txStatus: 'I'.charCodeAt(0), inflightKinds: [] });
    closeAll(s);
  });

  it('holds a large backend result until the application reads it, and loses nothing', async () => {
    const s = await attach({ bufferBytes: 4096 });
    s.app.pause();
    await dribble(s.app, query('select big'));
    const row = backendBytes({ type: 'DataRow', values: [Buffer.alloc(1000, 7)] });
    const answer = Buffer.concat([...Array.from({ length: 4000 }, () => row), complete('SELECT 4000'), ready()]);
    s.db.write(answer);
    await new Promise((r) => setTimeout(r, 200));
    s.app.resume();
    expect((await s.fromDb.until(answer.length)).equals(answer)).toBe(true);
    closeAll(s);
  });
});

describe('handing the session back', () => {
  it('stops at a client message it does not forward, with that message and what follows as the rest', async () => {
    const s = await attach();
    const q = query('select 1');
    const bad = Buffer.from([0x7a, 0, 0, 0, 4]);
    s.app.write(Buffer.concat([q, bad, q]));
    const st = await s.stopped;
    expect(st.reason).toBe('client-message');
    expect(st.clientRest.equals(Buffer.concat([bad, q]))).toBe(true);
    expect(st.outstanding).toBe(1);
    expect(st.inflightKinds).toEqual([0]);
    expect((await s.fromApp.until(q.length)).equals(q)).toBe(true);
    closeAll(s);
  });

  it('hands back Terminate, a length under 4 and one over maxMessageBytes', async () => {
    const cases: Array<[Buffer, { maxMessageBytes?: number; bufferBytes?: number }]> = [
      [fe({ type: 'Terminate' }), {}],
      [Buffer.from([0x51, 0, 0, 0, 3]), {}],
      [Buffer.from([0x51, 0, 0, 0x10, 0]), { maxMessageBytes: 4096 }],
      [Buffer.from([0x51, 0, 0, 0x10, 0]), { maxMessageBytes: 4096, bufferBytes: 1024 }],
    ];
    for (const [msg, opts] of cases) {
      const s = await attach(opts);
      s.app.write(msg);
      const st = await s.stopped;
      expect(st.reason).toBe('client-message');
      expect(msg.subarray(0, st.clientRest.length).equals(st.clientRest)).toBe(true);
      expect(st.clientRest.length).toBeGreaterThanOrEqual(5);
      expect(s.fromApp.bytes().length).toBe(0);
      closeAll(s);
    }
  });

  it('forwards a client message longer than its buffer in pieces, and says how much of it is still to come when stopped inside it', async () => {
    const s = await attach({ bufferBytes: 1024 });
    const long = query(`select '${'x'.repeat(5000)}'`);
    const after = query('select 2');
    await dribble(s.app, Buffer.concat([long, after]).subarray(0, 3000));
    await s.fromApp.until(3000);
    s.app.write(Buffer.concat([long, after]).subarray(3000));
    expect((await s.fromApp.until(long.length + after.length)).equals(Buffer.concat([long, after]))).toBe(true);
    expect(relay().detach(s.id)).toMatchObject({ outstanding: 2, clientLeft: 0, inflightKinds: [0, 0] });
    closeAll(s);

    const mid = await attach({ bufferBytes: 1024 });
    mid.app.write(long.subarray(0, 2000));
    await mid.fromApp.until(2000);
    mid.db.end();
    const st = await mid.stopped;
    expect(st).toMatchObject({ reason: 'backend-closed', clientLeft: long.length - 2000, outstanding: 1 });
    expect(st.clientRest.length + st.toBackend.length).toBe(0);
    closeAll(mid);
  });

  it('hands back a backend chunk with invalid framing unscanned and unsent', async () => {
    const s = await attach();
    await dribble(s.app, query('select 1'));
    const chunk = Buffer.concat([complete('SELECT 1'), Buffer.from([0x5a, 0, 0, 0, 2])]);
    s.db.write(chunk);
    const st = await s.stopped;
    expect(st.reason).toBe('backend-message');
    expect(st.backendRest.equals(chunk)).toBe(true);
    expect(st.toClient.length).toBe(0);
    expect(st.outstanding).toBe(1);
    expect(s.stats.values[NativeStats.TOTALS]).toBe(0);
    await new Promise((r) => setTimeout(r, 50));
    expect(s.fromDb.bytes().length).toBe(0);
    closeAll(s);
  });

  it('reports the ends of either side, and a FATAL error before the backend closes', async () => {
    const a = await attach();
    a.app.end();
    expect((await a.stopped).reason).toBe('client-closed');
    closeAll(a);
    const b = await attach();
    await dribble(b.app, query('select 1'));
    b.db.end(error('FATAL', '57P01'));
    const st = await b.stopped;
    expect(st.reason).toBe('backend-closed');
    expect(st.backendFatal).toBe(1);
    expect(st.sawError).toBe(1);
    closeAll(b);
  });

  it('stops at a statement boundary on request: at once when idle, else after the ReadyForQuery, or before the next statement', async () => {
    const idle = await attach();
    expect(relay().boundary(idle.id)).toBe(true);
    expect((await idle.stopped).reason).toBe('boundary');
    closeAll(idle);

    const busy = await attach();
    await dribble(busy.app, query('select 1'));
    expect(relay().boundary(busy.id)).toBe(false);
    busy.db.write(Buffer.concat([complete('SELECT 1'), ready('T')]));
    const st = await busy.stopped;
    expect(st).toMatchObject({ reason: 'boundary', outstanding: 0, txStatus: 'T'.charCodeAt(0) });
    expect(st.toClient.length + busy.fromDb.bytes().length).toBe(complete('SELECT 1').length + ready().length);
    closeAll(busy);

    // Between statements but inside an asynchronous backend message (the first bytes of a
    // NoticeResponse): no boundary yet, and the next statement stops the session before it is sent.
    const split = await attach();
    const notice = backendBytes({ type: 'NoticeResponse', fields: { S: 'NOTICE', C: '00000', M: 'hello' } });
    split.db.write(notice.subarray(0, 7));
    await split.fromDb.until(7);
    expect(relay().boundary(split.id)).toBe(false);
    const q = query('select 2');
    split.app.write(q);
    const st2 = await split.stopped;
    expect(st2.reason).toBe('boundary');
    expect(st2.clientRest.equals(q)).toBe(true);
    expect([st2.scannerRemaining, st2.scannerHead.length]).toEqual([notice.length - 7, 0]);
    expect(split.fromApp.bytes().length).toBe(0);
    closeAll(split);
  });

  it('stops after the idle timeout with nothing in flight, not while a statement runs', async () => {
    const s = await attach({ idleMs: 1000 });
    await dribble(s.app, query('select pg_sleep(2)'));
    const early = await Promise.race([s.stopped, new Promise((r) => setTimeout(() => r('running'), 2200))]);
    expect(early).toBe('running');
    s.db.write(Buffer.concat([complete('SELECT 1'), ready()]));
    const t0 = Date.now();
    expect((await s.stopped).reason).toBe('idle');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(800);
    closeAll(s);
  }, 10_000);

  it('gives the sockets back readable by JavaScript, with no byte lost', async () => {
    const s = await attach();
    s.client.removeAllListeners('data');
    expect(relay().boundary(s.id)).toBe(true);
    await s.stopped;
    const got: Buffer[] = [];
    s.client.on('data', (c: Buffer) => got.push(c));
    startReading(s.client);
    s.app.write('after');
    expect(await settled(() => Buffer.concat(got).toString(), (t) => t === 'after', 20_000, 10)).toBe('after');
    closeAll(s);
  });

  it('counts plain TCP sockets as relayable and a TLS socket over the same kind of socket not, so a TLS session is never offered', async () => {
    const [ours, theirs] = await pair();
    expect(relayable(theirs)).toBe(true);
    expect(idle(theirs)).toBe(true);
    const pki = testPki();
    const server = new TLSSocket(theirs, { isServer: true, cert: pki.server.certPem, key: pki.server.keyPem });
    const client = new TLSSocket(ours, { secureContext: createSecureContext({ ca: pki.ca.certPem }) });
    expect(relayable(server)).toBe(false);
    expect(idle(server)).toBe(false);
    expect(stopReading(server)).toBe(false);
    expect(relayable(client)).toBe(false);
    client.destroy(); server.destroy(); ours.destroy(); theirs.destroy();
  });

  it('refuses malformed arguments with a RangeError', async () => {
    const r = nativeRelay().relay as unknown as { mod: { attach: (...a: unknown[]) => unknown; detach: (id: unknown) => unknown } };
    const opts = { maxMessageBytes: 1024, bufferBytes: 4096, idleMs: 0, txStatus: 73 };
    const stats = new NativeStats().values;
    expect(() => r.mod.attach(-1, 5, opts, stats)).toThrow(RangeError);
    expect(() => r.mod.attach(5, 5, opts, stats)).toThrow(RangeError);
    expect(() => r.mod.attach(1000000, 1000001, opts, stats)).toThrow(RangeError);
    expect(() => r.mod.attach(0, 1, { ...opts, bufferBytes: 10 }, stats)).toThrow(RangeError);
    expect(() => r.mod.attach(0, 1, opts, new Float64Array(3))).toThrow(RangeError);
    expect(r.mod.detach(123456789)).toBeNull();
    expect(() => (r.mod.detach as () => unknown)()).toThrow(RangeError);
  });

  it('takes the statistics layout from init, and refuses one whose regions overlap', () => {
    const r = nativeRelay().relay as unknown as { mod: { init: (o: unknown, f: unknown) => unknown } };
    const good = { classes: tagClasses(), fatal: Uint8Array.of(83), bounds: Float64Array.of(1), layout: NativeStats.LAYOUT };
    expect(() => r.mod.init({ ...good, layout: Uint32Array.of(0, 5, 12, 15, 17) }, () => undefined)).toThrow(/overlap/);
    expect(() => r.mod.init({ ...good, layout: Uint32Array.of(0, 9, 12) }, () => undefined)).toThrow(RangeError);
  });
});
