import { describe, expect, it } from 'vitest';
import { backendBytes, decodeBackend } from '../protocol/backend.ts';
import type { BackendMessage } from '../protocol/backend.ts';
import { decodeFrontend, encodeFrontend } from '../protocol/frontend.ts';
import type { FrontendMessage } from '../protocol/frontend.ts';
import { pass, passthroughPipeline, StatementError } from './pipeline.ts';
import type { Pipeline, QueryDecision } from './pipeline.ts';
import { Relay } from './relay.ts';
import { REFUSAL_SQL } from './inspect.ts';
import type { EndReason, Outcome, RelayPorts } from './relay.ts';

class FakePorts implements RelayPorts {
  client: Buffer[] = [];
  backend: Buffer[] = [];
  writesToBackend = 0;
  held: boolean[] = [];
  ended: EndReason | null = null;
  outcomes: Outcome[] = [];
  starts = 0;
  idles: string[] = [];
  toClient(parts: Buffer[]) { this.client.push(...parts); }
  toBackend(parts: Buffer[]) { this.writesToBackend++; this.backend.push(...parts); }
  holdClient(h: boolean) { this.held.push(h); }
  end(r: EndReason) { this.ended = r; }
  statementStart() { this.starts++; }
  statementEnd(o: Outcome) { this.outcomes.push(o); }
  idle(s: string) { this.idles.push(s); }
}

const fe = (...ms: FrontendMessage[]) => Buffer.concat(ms.map((m) => encodeFrontend(m).finish()));
const be = (...ms: BackendMessage[]) => Buffer.concat(ms.map(backendBytes));

function messages(bufs: Buffer[], decode: 'front' | 'back'): string[] {
  const all = Buffer.concat(bufs);
  const out: string[] = [];
  for (let i = 0; i < all.length;) {
    const len = all.readInt32BE(i + 1);
    const body = all.subarray(i + 5, i + 1 + len);
    const d = decode === 'front' ? decodeFrontend(all[i] as number, body) : decodeBackend(all[i] as number, body);
    if (!d.ok) throw d.error;
    const m = d.msg;
    out.push(m.type === 'ErrorResponse' ? `Error:${m.fields.C}` : m.type === 'Query' ? `Query:${m.sql}` : m.type === 'Parse' ? `Parse:${m.sql}` : m.type);
    i += len + 1;
  }
  return out;
}

describe('Relay, pass-through', () => {
  it('goes on from the native data path\'s state: the rest of a long message passes unframed, then framing resumes', () => {
    const ports = new FakePorts();
    const r = new Relay({ maxMessageBytes: 1 << 20, pipeline: passthroughPipeline, ports });
    const long = fe({ type: 'Query', sql: `select '${'x'.repeat(100)}'` });
    r.resumeFrom({ txStatus: 'T', outstanding: 1, batchOpen: false, sawError: false, backendFatal: false, scannerRemaining: 0, scannerHead: Buffer.alloc(0), clientLeft: long.length - 40 });
    expect(r.canHandOff()).toBe(false);
    r.fromClient(Buffer.concat([long.subarray(40), fe({ type: 'Query', sql: 'select 2' })]));
    expect(Buffer.concat(ports.backend).equals(Buffer.concat([long.subarray(40), fe({ type: 'Query', sql: 'select 2' })]))).toBe(true);
    expect(r.outstanding).toBe(2);
    r.fromBackend(be({ type: 'ReadyForQuery', status: 'T' }, { type: 'ReadyForQuery', status: 'I' }));
    expect(r.canHandOff()).toBe(true);
    expect(r.txStatus).toBe('I');
  });

  it('forwards a chunk of whole messages as the same buffer and counts statements', () => {
    const ports = new FakePorts();
    const r = new Relay({ maxMessageBytes: 1 << 20, pipeline: passthroughPipeline, ports });
    const chunk = fe({ type: 'Parse', name: '', sql: 'select 1', paramTypes: [] }, { type: 'Sync' }, { type: 'Query', sql: 'select 2' });
    r.fromClient(chunk);
    expect(ports.backend).toHaveLength(1);
    expect(ports.backend[0]).toBe(chunk);
    expect(ports.starts).toBe(2);
    r.fromBackend(be({ type: 'ParseComplete' }, { type: 'ReadyForQuery', status: 'I' }, { type: 'ErrorResponse', fields: { C: '42P01' } }, { type: 'ReadyForQuery', status: 'T' }));
    expect(ports.outcomes).toEqual(['ok', 'error']);
    // The first statement starts at a boundary too (a reload applies from the next statement on).
    expect(ports.idles).toEqual(['I', 'T']);
    expect(r.txStatus).toBe('T');
  });

  it('reassembles messages split across chunks and forwards them unchanged', () => {
    const ports = new FakePorts();
    const r = new Relay({ maxMessageBytes: 1 << 20, pipeline: passthroughPipeline, ports });
    const stream = fe({ type: 'Query', sql: 'select 1' }, { type: 'Query', sql: 'select 22' });
    for (let i = 0; i < stream.length; i += 3) r.fromClient(stream.subarray(i, i + 3));
    expect(Buffer.concat(ports.backend)).toEqual(stream);
  });

  it('answers an unknown message type with FATAL 08P01 and ends', () => {
    const ports = new FakePorts();
    const r = new Relay({ maxMessageBytes: 1 << 20, pipeline: passthroughPipeline, ports });
    r.fromClient(Buffer.from([0x7a, 0, 0, 0, 4]));
    expect(messages(ports.client, 'back')).toEqual(['Error:08P01']);
    expect(ports.ended).toBe('protocol-error');
    expect(ports.backend).toEqual([]);
  });

  it('ends on Terminate without forwarding it', () => {
    const ports = new FakePorts();
    const r = new Relay({ maxMessageBytes: 1 << 20, pipeline: passthroughPipeline, ports });
    r.fromClient(fe({ type: 'Query', sql: 'select 1' }, { type: 'Terminate' }));
    expect(messages(ports.backend, 'front')).toEqual(['Query:select 1']);
    expect(ports.ended).toBe('client-terminate');
  });
});

describe('Relay, inspecting pipeline', () => {
  const refusing = (decide: (sql: string) => QueryDecision | Promise<QueryDecision>): Pipeline => ({
    passthrough: false,
    query: decide,
    parse: (sql) => (sql.includes('no') ? { kind: 'refuse', code: '42501', message: 'refused' } : pass),
  });

  it('sends a statement that fails in place of a refused simple query and shows the refusal instead of its error', () => {
    const ports = new FakePorts();
    const r = new Relay({ maxMessageBytes: 1 << 20, pipeline: refusing(() => ({ kind: 'refuse', code: '0A000', message: 'x' })), ports });
    r.fromClient(fe({ type: 'Query', sql: 'select secret' }));
    expect(messages(ports.backend, 'front')).toEqual([`Query:${REFUSAL_SQL}`]);
    expect(Buffer.concat(ports.backend).includes('secret')).toBe(false);
    r.fromBackend(be({ type: 'ErrorResponse', fields: { S: 'ERROR', C: '42601', M: 'syntax error' } }, { type: 'ReadyForQuery', status: 'E' }));
    expect(messages(ports.client, 'back')).toEqual(['Error:0A000', 'ReadyForQuery']);
    expect(r.txStatus).toBe('E');
    expect(ports.outcomes).toEqual(['refused']);
  });

  it('refuses a Parse in its place in the batch and drops the client messages until Sync', () => {
    const ports = new FakePorts();
    const r = new Relay({ maxMessageBytes: 1 << 20, pipeline: refusing(() => pass), ports });
    r.fromClient(fe(
      { type: 'Parse', name: '', sql: 'select 1', paramTypes: [] },
      { type: 'Parse', name: 's2', sql: 'no', paramTypes: [] },
      { type: 'Bind', portal: '', statement: 's2', paramFormats: [], values: [Buffer.from('plaintext')], resultFormats: [] },
      { type: 'Sync' },
    ));
    expect(messages(ports.backend, 'front')).toEqual(['Parse:select 1', `Parse:${REFUSAL_SQL}`, 'Sync']);
    expect(Buffer.concat(ports.backend).includes('plaintext')).toBe(false);
    expect(ports.client).toEqual([]);
    r.fromBackend(be({ type: 'ParseComplete' }, { type: 'ErrorResponse', fields: { C: '42601' } }, { type: 'ReadyForQuery', status: 'I' }));
    expect(messages(ports.client, 'back')).toEqual(['ParseComplete', 'Error:42501', 'ReadyForQuery']);
  });

  it('holds the client while an asynchronous decision is pending and keeps the order', async () => {
    const ports = new FakePorts();
    let release: (d: QueryDecision) => void = () => undefined;
    const r = new Relay({ maxMessageBytes: 1 << 20, ports, pipeline: refusing((sql) => (sql === 'slow' ? new Promise((res) => { release = res; }) : pass)) });
    r.fromClient(fe({ type: 'Query', sql: 'slow' }, { type: 'Query', sql: 'fast' }));
    r.fromClient(fe({ type: 'Query', sql: 'later' }));
    expect(ports.held).toEqual([true]);
    expect(ports.backend).toEqual([]);
    release({ kind: 'rewrite', sql: 'slow2' });
    await new Promise((res) => setTimeout(res, 0));
    expect(ports.held).toEqual([true, false]);
    expect(messages(ports.backend, 'front')).toEqual(['Query:slow2', 'Query:fast', 'Query:later']);
  });

  it('holds the ReadyForQuery that ends a batch while the pipeline commits it (batchEnd), its error first, the boundary after', async () => {
    const ports = new FakePorts();
    const ends: Array<(e: StatementError | null) => void> = [];
    const p: Pipeline = { ...refusing(() => pass), batchEnd: () => new Promise((res) => { ends.push(res); }) };
    const r = new Relay({ maxMessageBytes: 1 << 20, pipeline: p, ports });
    const batch = fe({ type: 'Parse', name: '', sql: 'select 1', paramTypes: [] }, { type: 'Sync' });
    r.fromClient(batch);
    const before = ports.idles.length;
    r.fromBackend(be({ type: 'ParseComplete' }, { type: 'ReadyForQuery', status: 'I' }));
    expect(messages(ports.client, 'back')).toEqual(['ParseComplete']);
    expect(ports.idles.length).toBe(before);
    (ends[0] as (e: StatementError | null) => void)(null);
    await new Promise((res) => setTimeout(res, 0));
    expect(messages(ports.client, 'back')).toEqual(['ParseComplete', 'ReadyForQuery']);
    expect(ports.idles.length).toBe(before + 1);
    // A commit that fails: its error, then the ReadyForQuery.
    r.fromClient(batch);
    r.fromBackend(be({ type: 'ParseComplete' }, { type: 'ReadyForQuery', status: 'I' }));
    (ends[1] as (e: StatementError | null) => void)(new StatementError('40000', 'rolled back'));
    await new Promise((res) => setTimeout(res, 0));
    expect(messages(ports.client, 'back').slice(2)).toEqual(['ParseComplete', 'Error:40000', 'ReadyForQuery']);
    // A batch that failed, or one still in a block, is not held (nothing to commit then).
    r.fromClient(batch);
    r.fromBackend(be({ type: 'ErrorResponse', fields: { C: '42601' } }, { type: 'ReadyForQuery', status: 'I' }));
    r.fromClient(batch);
    r.fromBackend(be({ type: 'ParseComplete' }, { type: 'ReadyForQuery', status: 'T' }));
    expect(ends).toHaveLength(2);
    expect(messages(ports.client, 'back').slice(5)).toEqual(['Error:42601', 'ReadyForQuery', 'ParseComplete', 'ReadyForQuery']);
  });

  it('ends with XX000 when a transformer throws (fail closed)', () => {
    const ports = new FakePorts();
    const pipeline: Pipeline = { passthrough: false, parse: () => pass,
      query: () => ({ kind: 'rewrite', sql: 'select 1', results: [{ fields: (f) => [...f], row: () => { throw new Error('boom'); } }] }) };
    const r = new Relay({ maxMessageBytes: 1 << 20, pipeline, ports });
    r.fromClient(fe({ type: 'Query', sql: 'select 1' }));
    r.fromBackend(be({ type: 'RowDescription', fields: [{ name: 'a', tableOid: 0, columnAttr: 0, typeOid: 25, typeSize: -1, typeModifier: -1, format: 0 }] },
      { type: 'DataRow', values: [Buffer.from('secret')] }));
    expect(messages(ports.client, 'back')).toEqual(['RowDescription', 'Error:XX000']);
    expect(Buffer.concat(ports.client).includes('secret')).toBe(false);
    expect(ports.ended).toBe('internal-error');
  });
});

describe('Relay, rewritten statements', () => {
  const field = { name: 'a', tableOid: 0, columnAttr: 0, typeOid: 17, typeSize: -1, typeModifier: -1, format: 0 as const };

  it('reports client-facing parameter types and fields for Describe of a rewritten statement', () => {
    const ports = new FakePorts();
    const pipeline: Pipeline = { passthrough: false, query: () => pass,
      parse: () => ({ kind: 'rewrite', sql: 'select $1::bytea', paramTypes: [17], clientParamTypes: [25],
        result: { fields: (fs) => fs.map((f) => ({ ...f, typeOid: 25 })), row: (v) => v } }) };
    const r = new Relay({ maxMessageBytes: 1 << 20, pipeline, ports });
    r.fromClient(fe({ type: 'Parse', name: 's', sql: 'select $1::text', paramTypes: [25] }, { type: 'Describe', target: 'S', name: 's' }, { type: 'Sync' }));
    const sent = Buffer.concat(ports.backend);
    const parse = decodeFrontend(sent[0] as number, sent.subarray(5, sent.readInt32BE(1) + 1));
    expect(parse.ok && parse.msg).toMatchObject({ type: 'Parse', sql: 'select $1::bytea', paramTypes: [17] });
    r.fromBackend(be({ type: 'ParseComplete' }, { type: 'ParameterDescription', types: [17] }, { type: 'RowDescription', fields: [field] },
      { type: 'ReadyForQuery', status: 'I' }));
    const all = Buffer.concat(ports.client);
    const got: BackendMessage[] = [];
    for (let i = 0; i < all.length;) {
      const len = all.readInt32BE(i + 1);
      const d = decodeBackend(all[i] as number, all.subarray(i + 5, i + 1 + len));
      if (d.ok) got.push(d.msg);
      i += len + 1;
    }
    expect(got[1]).toEqual({ type: 'ParameterDescription', types: [25] });
    expect(got[2]).toMatchObject({ type: 'RowDescription', fields: [{ typeOid: 25 }] });
  });

  it('runs COPY hooks: data of both directions and what finish() flushes', () => {
    const ports = new FakePorts();
    const up = (c: Uint8Array) => [Buffer.from(Buffer.from(c).toString().toUpperCase())];
    const pipeline: Pipeline = { passthrough: false, parse: () => pass,
      query: () => ({ kind: 'rewrite', sql: 'copy t from stdin', copy: [{ in: { data: up, finish: () => [Buffer.from('TAIL\n')] } }] }) };
    const r = new Relay({ maxMessageBytes: 1 << 20, pipeline, ports });
    r.fromClient(fe({ type: 'Query', sql: 'copy t from stdin' }));
    r.fromBackend(be({ type: 'CopyInResponse', format: 0, columnFormats: [0] }));
    ports.backend = [];
    r.fromClient(fe({ type: 'CopyData', data: Buffer.from('abc\n') }, { type: 'CopyDone' }));
    const sent = Buffer.concat(ports.backend);
    expect(sent.toString()).toContain('ABC\n');
    expect(sent.toString()).toContain('TAIL\n');
    expect(messages(ports.backend, 'front')).toEqual(['CopyData', 'CopyData', 'CopyDone']);
  });
});

describe('Relay, statement names stay in step with the backend', () => {
  it('keeps the transformers of a named statement when a later Parse of the same name fails', () => {
    const ports = new FakePorts();
    const pipeline: Pipeline = { passthrough: false, query: () => pass,
      parse: (sql) => (sql === 'enc' ? { kind: 'rewrite', sql: 'enc2', params: (vs) => vs.map(() => Buffer.from('CIPHER')) } : pass) };
    const r = new Relay({ maxMessageBytes: 1 << 20, pipeline, ports });
    r.fromClient(fe({ type: 'Parse', name: 's', sql: 'enc', paramTypes: [] }, { type: 'Sync' }));
    r.fromBackend(be({ type: 'ParseComplete' }, { type: 'ReadyForQuery', status: 'I' }));
    // Re-preparing the name fails on the backend (42P05): the old, rewritten statement stays.
    r.fromClient(fe({ type: 'Parse', name: 's', sql: 'plain', paramTypes: [] }, { type: 'Sync' }));
    r.fromBackend(be({ type: 'ErrorResponse', fields: { C: '42P05' } }, { type: 'ReadyForQuery', status: 'I' }));
    ports.backend = [];
    r.fromClient(fe({ type: 'Bind', portal: '', statement: 's', paramFormats: [], values: [Buffer.from('secret')], resultFormats: [] }, { type: 'Sync' }));
    const sent = Buffer.concat(ports.backend);
    expect(sent.includes('secret')).toBe(false);
    expect(sent.includes('CIPHER')).toBe(true);
  });

  it('keeps a statement whose Close the backend skipped after an error in the batch', () => {
    const ports = new FakePorts();
    const pipeline: Pipeline = { passthrough: false, query: () => pass,
      parse: (sql) => (sql === 'enc' ? { kind: 'rewrite', sql: 'enc2', params: (vs) => vs.map(() => Buffer.from('CIPHER')) } : pass) };
    const r = new Relay({ maxMessageBytes: 1 << 20, pipeline, ports });
    r.fromClient(fe({ type: 'Parse', name: 's', sql: 'enc', paramTypes: [] }, { type: 'Sync' }));
    r.fromBackend(be({ type: 'ParseComplete' }, { type: 'ReadyForQuery', status: 'I' }));
    r.fromClient(fe({ type: 'Bind', portal: '', statement: 'missing', paramFormats: [], values: [], resultFormats: [] },
      { type: 'Close', target: 'S', name: 's' }, { type: 'Sync' }));
    r.fromBackend(be({ type: 'ErrorResponse', fields: { C: '26000' } }, { type: 'ReadyForQuery', status: 'I' }));
    ports.backend = [];
    r.fromClient(fe({ type: 'Bind', portal: '', statement: 's', paramFormats: [], values: [Buffer.from('secret')], resultFormats: [] }, { type: 'Sync' }));
    expect(Buffer.concat(ports.backend).includes('secret')).toBe(false);
  });
});
