// A repeated simple query with the same result transformer gets the same rewritten
// RowDescription without decoding it again (issue 15); other bytes or another transformer are
// rewritten anew.
import { describe, expect, it } from 'vitest';
import { backendBytes, decodeBackend } from '../protocol/backend.ts';
import type { BackendMessage } from '../protocol/backend.ts';
import { encodeFrontend } from '../protocol/frontend.ts';
import type { FieldDescription } from '../protocol/types.ts';
import type { Pipeline, ResultTransformer } from './pipeline.ts';
import { Relay } from './relay.ts';
import type { RelayPorts } from './relay.ts';

const field = (name: string): FieldDescription => ({ name, tableOid: 0, columnAttr: 0, typeOid: 17, typeSize: -1, typeModifier: -1, format: 0 });

function transformer(calls: string[], typeOid: number): ResultTransformer {
  return { fields: (fs) => { calls.push(fs.map((f) => f.name).join()); return fs.map((f) => ({ ...f, typeOid })); }, row: (v) => v };
}

function session(pick: () => ResultTransformer): { relay: Relay; client: Buffer[] } {
  const client: Buffer[] = [];
  const ports: RelayPorts = { toClient: (p) => { client.push(...p); }, toBackend: () => undefined, holdClient: () => undefined, end: () => undefined,
    statementStart: () => undefined, statementEnd: () => undefined, idle: () => undefined };
  const pipeline: Pipeline = { passthrough: false, query: (sql) => ({ kind: 'rewrite', sql, results: [pick()] }), parse: () => ({ kind: 'pass' }) };
  return { relay: new Relay({ maxMessageBytes: 1 << 20, pipeline, ports }), client };
}

function cycle(relay: Relay, names: string[]): void {
  relay.fromClient(encodeFrontend({ type: 'Query', sql: 'select' }).finish());
  const msgs: BackendMessage[] = [{ type: 'RowDescription', fields: names.map(field) }, { type: 'CommandComplete', tag: 'SELECT 0' }, { type: 'ReadyForQuery', status: 'I' }];
  relay.fromBackend(Buffer.concat(msgs.map(backendBytes)));
}

function rowDescriptions(bufs: Buffer[]): string[] {
  const all = Buffer.concat(bufs);
  const out: string[] = [];
  for (let i = 0; i < all.length;) {
    const len = all.readInt32BE(i + 1);
    const d = decodeBackend(all[i] as number, all.subarray(i + 5, i + 1 + len));
    if (d.ok && d.msg.type === 'RowDescription') out.push(d.msg.fields.map((f) => `${f.name}:${f.typeOid}`).join());
    i += len + 1;
  }
  return out;
}

describe('rewritten RowDescription of repeated simple queries', () => {
  it('is rewritten once per transformer and bytes', () => {
    const calls: string[] = [];
    const tr = transformer(calls, 25);
    const s = session(() => tr);
    cycle(s.relay, ['a', 'b']);
    cycle(s.relay, ['a', 'b']);
    cycle(s.relay, ['a', 'c']);
    expect(rowDescriptions(s.client)).toEqual(['a:25,b:25', 'a:25,b:25', 'a:25,c:25']);
    expect(calls).toEqual(['a,b', 'a,c']);
  });

  it('rewrites again for another transformer', () => {
    const calls: string[] = [];
    let n = 0;
    const s = session(() => transformer(calls, ++n === 1 ? 25 : 23));
    cycle(s.relay, ['a']);
    cycle(s.relay, ['a']);
    expect(rowDescriptions(s.client)).toEqual(['a:25', 'a:23']);
    expect(calls).toEqual(['a', 'a']);
  });
});
