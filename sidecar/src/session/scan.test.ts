import { describe, expect, it } from 'vitest';
import { backendBytes } from '../protocol/backend.ts';
import { errorBytes } from '../protocol/errors.ts';
import { passthroughPipeline } from './pipeline.ts';
import { Relay } from './relay.ts';
import type { Outcome } from './relay.ts';
import { BackendScanner } from './scan.ts';

const stream = Buffer.concat([
  backendBytes({ type: 'RowDescription', fields: [{ name: 'a', tableOid: 0, columnAttr: 0, typeOid: 25, typeSize: -1, typeModifier: -1, format: 0 }] }),
  backendBytes({ type: 'DataRow', values: [Buffer.alloc(3000, 0x61)] }),
  backendBytes({ type: 'CommandComplete', tag: 'SELECT 1' }),
  backendBytes({ type: 'ReadyForQuery', status: 'T' }),
  errorBytes({ code: '42P01', message: 'x' }),
  backendBytes({ type: 'ReadyForQuery', status: 'E' }),
  errorBytes({ code: '57P01', message: 'bye', severity: 'FATAL' }),
]);

function visits(chunks: Buffer[]): string[] {
  const s = new BackendScanner();
  const out: string[] = [];
  for (const c of chunks) {
    expect(s.scan(c, (tag, buf, start, end) => out.push(`${String.fromCharCode(tag)}:${buf.subarray(start, end).toString('latin1')}`))).toBeNull();
  }
  return out;
}

describe('BackendScanner', () => {
  it('sees the same ReadyForQuery and ErrorResponse prefixes however the stream is split', () => {
    const whole = visits([stream]);
    expect(whole).toEqual(['Z:T', 'E:SERROR\0', 'Z:E', 'E:SFATAL\0']);
    for (let i = 0; i <= stream.length; i += 7) expect(visits([stream.subarray(0, i), stream.subarray(i)])).toEqual(whole);
    expect(visits(Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1)))).toEqual(whole);
  });

  it('reports an invalid length', () => {
    expect(new BackendScanner().scan(Buffer.from([0x44, 0, 0, 0, 1]), () => undefined)).toMatch(/invalid message length/);
  });

  it('lets the pass-through relay forward every chunk unchanged and track status and outcomes', () => {
    const sent: Buffer[] = [];
    const outcomes: Outcome[] = [];
    const r = new Relay({ maxMessageBytes: 1 << 20, pipeline: passthroughPipeline, ports: {
      toClient: (p) => { sent.push(...p); }, toBackend: () => undefined, holdClient: () => undefined, end: () => undefined,
      statementStart: () => undefined, statementEnd: (o) => { outcomes.push(o); }, idle: () => undefined } });
    const chunks = [stream.subarray(0, 1500), stream.subarray(1500, 3010), stream.subarray(3010)];
    for (const c of chunks) r.fromBackend(c);
    expect(sent).toEqual(chunks);
    expect(sent[0]).toBe(chunks[0]);
    expect(outcomes).toEqual(['ok', 'error']);
    expect(r.txStatus).toBe('E');
    expect(r.backendFatal).toBe(true);
  });
});
