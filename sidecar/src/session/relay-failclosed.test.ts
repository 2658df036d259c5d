// The session's fail-closed rules at the message level (issue 8), with test pipelines: COPY data
// routed by the client's order of messages, stray copy messages dropped, prepared statements
// checked at Bind/Execute and taken over (or refused) by a reloaded pipeline, data errors in
// results failing the statement with PostgreSQL's transaction semantics, malformed messages 08P01.
import { describe, expect, it } from 'vitest';
import { backendBytes, decodeBackend } from '../protocol/backend.ts';
import type { BackendMessage } from '../protocol/backend.ts';
import { Writer } from '../protocol/codec.ts';
import { decodeFrontend, encodeFrontend } from '../protocol/frontend.ts';
import type { FrontendMessage } from '../protocol/frontend.ts';
import { REFUSAL_SQL, REFUSED_NAME } from './inspect.ts';
import { pass, passthroughPipeline, StatementError } from './pipeline.ts';
import type { CopyTransformer, Pipeline, RewriteStatement } from './pipeline.ts';
import { Relay } from './relay.ts';
import type { EndReason, Outcome, RelayPorts } from './relay.ts';

class Ports implements RelayPorts {
  client: Buffer[] = [];
  backend: Buffer[] = [];
  holds: boolean[] = [];
  ended: EndReason | null = null;
  outcomes: Outcome[] = [];
  idle: RelayPorts['idle'] = () => undefined;
  toClient(parts: Buffer[]) { this.client.push(...parts); }
  toBackend(parts: Buffer[]) { this.backend.push(...parts); }
  holdClient(h: boolean) { this.holds.push(h); }
  end(r: EndReason) { this.ended = r; }
  statementStart() { /* counted by outcomes */ }
  statementEnd(o: Outcome) { this.outcomes.push(o); }
}

const fe = (...ms: FrontendMessage[]) => Buffer.concat(ms.map((m) => encodeFrontend(m).finish()));
const be = (...ms: BackendMessage[]) => Buffer.concat(ms.map(backendBytes));
const tick = () => new Promise((r) => setTimeout(r, 0));

function sent(bufs: Buffer[], side: 'front' | 'back'): string[] {
  const all = Buffer.concat(bufs);
  const out: string[] = [];
  for (let i = 0; i < all.length;) {
    const len = all.readInt32BE(i + 1);
    const body = all.subarray(i + 5, i + 1 + len);
    const d = side === 'front' ? decodeFrontend(all[i] as number, body) : decodeBackend(all[i] as number, body);
    if (!d.ok) throw d.error;
    const m = d.msg;
    if (m.type === 'CopyData') out.push(`CopyData:${Buffer.from(m.data).toString()}`);
    else if (m.type === 'ErrorResponse') out.push(`Error:${m.fields.C}`);
    else if (m.type === 'Query') out.push(`Query:${m.sql}`);
    else if (m.type === 'Parse') out.push(`Parse:${m.name}:${m.sql}`);
    else if (m.type === 'ReadyForQuery') out.push(`Z:${m.status}`);
    else if (m.type === 'DataRow') out.push(`D:${m.values.map((v) => (v ? Buffer.from(v).toString() : 'NULL')).join('|')}`);
    else if (m.type === 'Bind') out.push(`Bind:${m.values.map((v) => (v ? Buffer.from(v).toString() : 'NULL')).join('|')}`);
    else out.push(m.type);
    i += len + 1;
  }
  return out;
}

const upper = (): CopyTransformer => ({ data: (c) => [Buffer.from(Buffer.from(c).toString().toUpperCase())] });
const ZI: BackendMessage = { type: 'ReadyForQuery', status: 'I' };

describe('COPY data is routed by the order of client messages', () => {
  it('data written with a protected COPY goes through its hooks before the backend answers', () => {
    const ports = new Ports();
    const pipeline: Pipeline = { passthrough: false, parse: () => pass, query: () => ({ kind: 'rewrite', sql: 'copy p from stdin', copy: [{ in: upper() }] }) };
    const r = new Relay({ maxMessageBytes: 1 << 20, pipeline, ports });
    r.fromClient(fe({ type: 'Query', sql: 'copy p from stdin' }, { type: 'CopyData', data: Buffer.from('secret\n') }, { type: 'CopyDone' }));
    expect(sent(ports.backend, 'front')).toEqual(['Query:copy p from stdin', 'CopyData:SECRET\n', 'CopyDone']);
  });

  it('data after a statement whose COPY is not known waits for the backend, then goes where it says', async () => {
    const ports = new Ports();
    const pipeline: Pipeline = { passthrough: false, parse: () => pass, query: () => ({ kind: 'rewrite', sql: 'copy a; copy p', copy: [undefined, { in: upper() }] }) };
    const r = new Relay({ maxMessageBytes: 1 << 20, pipeline, ports });
    r.fromClient(fe({ type: 'Query', sql: 'copy a; copy p' }, { type: 'CopyData', data: Buffer.from('plain\n') }, { type: 'CopyDone' },
      { type: 'CopyData', data: Buffer.from('secret\n') }, { type: 'CopyDone' }));
    expect(sent(ports.backend, 'front')).toEqual(['Query:copy a; copy p']);
    expect(ports.holds).toEqual([true]);
    r.fromBackend(be({ type: 'CopyInResponse', format: 0, columnFormats: [0] }));
    await tick();
    expect(sent(ports.backend, 'front').slice(1)).toEqual(['CopyData:plain\n', 'CopyDone']);
    r.fromBackend(be({ type: 'CommandComplete', tag: 'COPY 1' }, { type: 'CopyInResponse', format: 0, columnFormats: [0] }));
    await tick();
    expect(sent(ports.backend, 'front').slice(3)).toEqual(['CopyData:SECRET\n', 'CopyDone']);
  });

  it('drops copy messages after a statement that starts no COPY, and after a refused one', async () => {
    const ports = new Ports();
    const pipeline: Pipeline = { passthrough: false, parse: () => pass,
      query: (sql) => (sql.includes('no') ? { kind: 'refuse', code: '42501', message: 'no' } : pass) };
    const r = new Relay({ maxMessageBytes: 1 << 20, pipeline, ports });
    r.fromClient(fe({ type: 'Query', sql: 'select 1' }, { type: 'CopyData', data: Buffer.from('secret1\n') }, { type: 'CopyDone' }));
    r.fromBackend(be({ type: 'RowDescription', fields: [] }, { type: 'CommandComplete', tag: 'SELECT 1' }, ZI));
    await tick();
    r.fromClient(fe({ type: 'Query', sql: 'copy no' }, { type: 'CopyData', data: Buffer.from('secret2\n') }, { type: 'CopyFail', message: 'secret3' }));
    expect(Buffer.concat(ports.backend).toString()).not.toMatch(/secret/);
    expect(sent(ports.backend, 'front')).toEqual(['Query:select 1', `Query:${REFUSAL_SQL}`]);
  });

  it('a Sync inside an extended COPY is consumed by it: one ReadyForQuery ends both', () => {
    const ports = new Ports();
    const st: RewriteStatement = { kind: 'rewrite', sql: 'copy p from stdin', copy: { in: upper() } };
    const pipeline: Pipeline = { passthrough: false, query: () => pass, parse: () => st };
    const r = new Relay({ maxMessageBytes: 1 << 20, pipeline, ports });
    r.fromClient(fe({ type: 'Parse', name: '', sql: 'copy p from stdin', paramTypes: [] }, { type: 'Bind', portal: '', statement: '', paramFormats: [], values: [], resultFormats: [] },
      { type: 'Execute', portal: '', maxRows: 0 }, { type: 'Sync' }, { type: 'CopyData', data: Buffer.from('secret\n') }, { type: 'CopyDone' }, { type: 'Sync' }));
    expect(sent(ports.backend, 'front')).toContain('CopyData:SECRET\n');
    r.fromBackend(be({ type: 'ParseComplete' }, { type: 'BindComplete' }, { type: 'CopyInResponse', format: 0, columnFormats: [0] },
      { type: 'CommandComplete', tag: 'COPY 1' }, ZI));
    expect(r.outstanding).toBe(0);
    expect(ports.outcomes).toEqual(['ok', 'ok']);
  });

  it('COPY data the hooks refuse becomes CopyFail, and the client sees the hooks\' error', () => {
    const ports = new Ports();
    const refusing: CopyTransformer = { data: () => { throw new StatementError('22P04', 'literal carriage return found in data'); } };
    const pipeline: Pipeline = { passthrough: false, parse: () => pass, query: () => ({ kind: 'rewrite', sql: 'copy p from stdin', copy: [{ in: refusing }] }) };
    const r = new Relay({ maxMessageBytes: 1 << 20, pipeline, ports });
    r.fromClient(fe({ type: 'Query', sql: 'copy p from stdin' }, { type: 'CopyData', data: Buffer.from('secret\r\n') }, { type: 'CopyData', data: Buffer.from('more secret\n') }, { type: 'CopyDone' }));
    expect(sent(ports.backend, 'front')).toEqual(['Query:copy p from stdin', 'CopyFail']);
    expect(Buffer.concat(ports.backend).toString()).not.toMatch(/secret/);
    r.fromBackend(be({ type: 'CopyInResponse', format: 0, columnFormats: [0] }, { type: 'ErrorResponse', fields: { S: 'ERROR', C: '57014', M: 'COPY from stdin failed' } }, ZI));
    expect(sent(ports.client, 'back')).toEqual(['CopyInResponse', 'Error:22P04', 'Z:I']);
  });
});

describe('prepared statements: checks at Bind/Execute and reloads', () => {
  const enc = (tag: string, check?: RewriteStatement['check']): RewriteStatement => ({
    kind: 'rewrite', sql: 'insert enc', paramTypes: [17], shape: 's', params: (vs) => vs.map(() => Buffer.from(tag)), ...(check ? { check } : {}) });
  const bindExec = (statement: string, value: string): FrontendMessage[] => [
    { type: 'Bind', portal: '', statement, paramFormats: [], values: [Buffer.from(value)], resultFormats: [] }, { type: 'Execute', portal: '', maxRows: 0 }, { type: 'Sync' }];

  it('a Bind whose check refuses is never sent: a failing Parse takes its place and the refusal its error', () => {
    const ports = new Ports();
    let expired = false;
    const st = enc('CIPHER', () => (expired ? { kind: 'refuse', code: '42501', message: 'grant expired' } : undefined));
    const r = new Relay({ maxMessageBytes: 1 << 20, pipeline: { passthrough: false, query: () => pass, parse: () => st }, ports });
    r.fromClient(fe({ type: 'Parse', name: 's', sql: 'insert', paramTypes: [] }, ...bindExec('s', 'secret')));
    r.fromBackend(be({ type: 'ParseComplete' }, { type: 'BindComplete' }, { type: 'CommandComplete', tag: 'INSERT 0 1' }, ZI));
    expired = true;
    ports.backend = [];
    ports.client = [];
    r.fromClient(fe(...bindExec('s', 'secret')));
    expect(sent(ports.backend, 'front')).toEqual([`Parse:${REFUSED_NAME}:${REFUSAL_SQL}`, 'Sync']);
    r.fromBackend(be({ type: 'ErrorResponse', fields: { S: 'ERROR', C: '42601' } }, ZI));
    expect(sent(ports.client, 'back')).toEqual(['Error:42501', 'Z:I']);
  });

  it('after a reload, a statement planned the same way runs with the new transformers; another must be prepared again (26000)', () => {
    const ports = new Ports();
    const r = new Relay({ maxMessageBytes: 1 << 20, pipeline: { passthrough: false, query: () => pass, parse: () => enc('OLDKEY') }, ports });
    r.fromClient(fe({ type: 'Parse', name: 'same', sql: 'insert', paramTypes: [] }, { type: 'Parse', name: 'other', sql: 'insert other', paramTypes: [] }, { type: 'Sync' }));
    r.fromBackend(be({ type: 'ParseComplete' }, { type: 'ParseComplete' }, ZI));
    const changed: Pipeline = { passthrough: false, query: () => pass, parse: (sql) => (sql === 'insert' ? enc('NEWKEY') : { ...enc('NEWKEY'), sql: 'insert differently' }) };
    expect(r.setPipeline(changed)).toBe(true);
    ports.backend = [];
    r.fromClient(fe(...bindExec('same', 'secret')));
    expect(sent(ports.backend, 'front')).toEqual(['Bind:NEWKEY', 'Execute', 'Sync']);
    r.fromBackend(be({ type: 'BindComplete' }, { type: 'CommandComplete', tag: 'INSERT 0 1' }, ZI));
    ports.backend = [];
    ports.client = [];
    r.fromClient(fe(...bindExec('other', 'secret')));
    expect(sent(ports.backend, 'front')).toEqual([`Parse:${REFUSED_NAME}:${REFUSAL_SQL}`, 'Sync']);
    r.fromBackend(be({ type: 'ErrorResponse', fields: { S: 'ERROR', C: '42601' } }, ZI));
    expect(sent(ports.client, 'back')).toEqual(['Error:26000', 'Z:I']);
  });

  it('statements prepared while the pipeline was pass-through are refused after a switch to protection', () => {
    const ports = new Ports();
    const r = new Relay({ maxMessageBytes: 1 << 20, pipeline: passthroughPipeline, ports });
    r.fromClient(fe({ type: 'Parse', name: 'old', sql: 'insert into patient values ($1)', paramTypes: [] }, { type: 'Sync' }));
    r.fromBackend(be({ type: 'ParseComplete' }, ZI));
    expect(r.setPipeline({ passthrough: false, query: () => pass, parse: () => enc('CIPHER') })).toBe(true);
    ports.backend = [];
    r.fromClient(fe(...bindExec('old', 'secret')));
    expect(Buffer.concat(ports.backend).toString()).not.toContain('secret');
    expect(sent(ports.backend, 'front')).toEqual([`Parse:${REFUSED_NAME}:${REFUSAL_SQL}`, 'Sync']);
  });

  it('a switch to pass-through keeps decoding while rewritten statements exist (and refuses them)', () => {
    const ports = new Ports();
    const r = new Relay({ maxMessageBytes: 1 << 20, pipeline: { passthrough: false, query: () => pass, parse: () => enc('CIPHER') }, ports });
    r.fromClient(fe({ type: 'Parse', name: 's', sql: 'insert', paramTypes: [] }, { type: 'Sync' }));
    r.fromBackend(be({ type: 'ParseComplete' }, ZI));
    expect(r.setPipeline(passthroughPipeline)).toBe(true);
    ports.backend = [];
    r.fromClient(fe(...bindExec('s', 'secret')));
    expect(Buffer.concat(ports.backend).toString()).not.toContain('secret');
  });

  it('no switch while the client is held or a failed statement is being wound up', async () => {
    const ports = new Ports();
    let release: () => void = () => undefined;
    const slow: Pipeline = { passthrough: false, parse: () => pass, query: () => new Promise((res) => { release = () => res(pass); }) };
    const r = new Relay({ maxMessageBytes: 1 << 20, pipeline: slow, ports });
    r.fromClient(fe({ type: 'Query', sql: 'select 1' }));
    expect(r.setPipeline(passthroughPipeline)).toBe(false);
    release();
    await tick();
    expect(r.setPipeline(passthroughPipeline)).toBe(true);
  });
});

describe('a data error in a result fails the statement, the session goes on', () => {
  const corrupt = { fields: (f: never[]) => f, row: (v: Array<Uint8Array | null>) => {
    if (Buffer.from(v[0] as Uint8Array).toString() === 'bad') throw new StatementError('XX001', 'not a ciphertext of t.c');
    return v;
  } };
  const pipeline: Pipeline = { passthrough: false, parse: () => pass, query: () => ({ kind: 'rewrite', sql: 'select c from t', results: [corrupt] }) };

  it('rows already sent, then the error; the rest dropped; an open block shown and made failed', () => {
    const ports = new Ports();
    const r = new Relay({ maxMessageBytes: 1 << 20, pipeline, ports });
    r.fromClient(fe({ type: 'Query', sql: 'select c from t' }));
    r.fromBackend(be({ type: 'RowDescription', fields: [{ name: 'c', tableOid: 0, columnAttr: 0, typeOid: 25, typeSize: -1, typeModifier: -1, format: 0 }] },
      { type: 'DataRow', values: [Buffer.from('good')] }, { type: 'DataRow', values: [Buffer.from('bad')] }, { type: 'DataRow', values: [Buffer.from('later')] },
      { type: 'CommandComplete', tag: 'SELECT 3' }, { type: 'ReadyForQuery', status: 'T' }));
    expect(sent(ports.client, 'back')).toEqual(['RowDescription', 'D:good', 'Error:XX001', 'Z:E']);
    // The proxy's own failing statement puts the backend's block into the failed state too.
    expect(sent(ports.backend, 'front')).toEqual(['Query:select c from t', `Query:${REFUSAL_SQL}`]);
    r.fromBackend(be({ type: 'ErrorResponse', fields: { S: 'ERROR', C: '42601' } }, { type: 'ReadyForQuery', status: 'E' }));
    expect(sent(ports.client, 'back')).toHaveLength(4);
    expect(ports.outcomes).toEqual(['error']);
    expect(r.outstanding).toBe(0);
  });

  it('in an open extended batch: a failing Parse rolls the batch back, client messages up to Sync are dropped', () => {
    const ports = new Ports();
    const st: RewriteStatement = { kind: 'rewrite', sql: 'select c from t', result: corrupt };
    const r = new Relay({ maxMessageBytes: 1 << 20, pipeline: { passthrough: false, query: () => pass, parse: () => st }, ports });
    r.fromClient(fe({ type: 'Parse', name: '', sql: 'select', paramTypes: [] }, { type: 'Bind', portal: '', statement: '', paramFormats: [], values: [], resultFormats: [] },
      { type: 'Execute', portal: '', maxRows: 0 }));
    r.fromBackend(be({ type: 'ParseComplete' }, { type: 'BindComplete' }, { type: 'DataRow', values: [Buffer.from('bad')] }));
    expect(sent(ports.backend, 'front').at(-1)).toBe(`Parse:${REFUSED_NAME}:${REFUSAL_SQL}`);
    r.fromClient(fe({ type: 'Query', sql: 'delete everything' }, { type: 'Sync' }));
    expect(sent(ports.backend, 'front').at(-1)).toBe('Sync');
    expect(Buffer.concat(ports.backend).toString()).not.toContain('delete everything');
    r.fromBackend(be({ type: 'DataRow', values: [Buffer.from('x')] }, { type: 'CommandComplete', tag: 'SELECT 1' }, { type: 'ErrorResponse', fields: { S: 'ERROR', C: '42601' } }, ZI));
    expect(sent(ports.client, 'back')).toEqual(['ParseComplete', 'BindComplete', 'Error:XX001', 'Z:I']);
  });
});

describe('malformed client messages', () => {
  it('a Bind shorter than its contents is FATAL 08P01 (the client\'s fault), not XX000', () => {
    const ports = new Ports();
    const r = new Relay({ maxMessageBytes: 1 << 20, pipeline: { passthrough: false, query: () => pass, parse: () => pass }, ports });
    r.fromClient(new Writer().begin(0x42).cstring('').cstring('').int16(0).int16(1).int32(100).bytes(Buffer.from('abc')).end().finish());
    expect(sent(ports.client, 'back')).toEqual(['Error:08P01']);
    expect(ports.ended).toBe('protocol-error');
    expect(ports.backend).toEqual([]);
  });
});
