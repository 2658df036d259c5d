// A stage that computes its result in parts (ResidualStage.pour, a split table's direct read): each
// part reaches the client as soon as it is computed, the next part only once the client can take
// more; the tag counts every part; a failure after some parts is PostgreSQL's error after partial
// rows (an open block is made failed); a portal fetched in parts gets the held result.
import { describe, expect, it } from 'vitest';
import { backendBytes, decodeBackend } from '../protocol/backend.ts';
import type { BackendMessage } from '../protocol/backend.ts';
import { decodeFrontend, encodeFrontend } from '../protocol/frontend.ts';
import type { FrontendMessage } from '../protocol/frontend.ts';
import { REFUSAL_SQL } from './inspect.ts';
import { StatementError } from './pipeline.ts';
import type { FieldDescription, Pipeline, ResidualStage, ResultTransformer, StageResult } from './pipeline.ts';
import { Relay } from './relay.ts';
import type { EndReason, Outcome, RelayPorts } from './relay.ts';

class Ports implements RelayPorts {
  client: Buffer[] = [];
  backend: Buffer[] = [];
  ended: EndReason | null = null;
  outcomes: Outcome[] = [];
  /** Resolves the client's room: the test lets the stage go on. */
  room: Array<() => void> = [];
  idle: RelayPorts['idle'] = () => undefined;
  toClient(parts: Buffer[]) { this.client.push(...parts); }
  toBackend(parts: Buffer[]) { this.backend.push(...parts); }
  holdClient() { /* not observed */ }
  end(r: EndReason) { this.ended = r; }
  statementStart() { /* counted by outcomes */ }
  statementEnd(o: Outcome) { this.outcomes.push(o); }
  clientRoom(): Promise<void> { return new Promise((r) => this.room.push(r)); }
  release(): void { for (const r of this.room.splice(0)) r(); }
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
    if (m.type === 'ErrorResponse') out.push(`Error:${m.fields.C}`);
    else if (m.type === 'Query') out.push(`Query:${m.sql}`);
    else if (m.type === 'ReadyForQuery') out.push(`Z:${m.status}`);
    else if (m.type === 'DataRow') out.push(`D:${m.values.map((v) => (v ? Buffer.from(v).toString() : 'NULL')).join('|')}`);
    else if (m.type === 'CommandComplete') out.push(`C:${m.tag}`);
    else out.push(m.type);
    i += len + 1;
  }
  return out;
}

const FIELD: FieldDescription = { name: 'c', tableOid: 0, columnAttr: 0, typeOid: 25, typeSize: -1, typeModifier: -1, format: 0 };
const part = (...vs: string[]): StageResult => ({ fields: [FIELD], rows: vs.map((v) => [Buffer.from(v)]) });

/** A stage pouring `parts` (an Error: fails there); `run` gives them whole. */
function pouring(parts: Array<StageResult | Error>): ResidualStage {
  const pour: NonNullable<ResidualStage['pour']> = async (_c, _r, _f, _s, _p, send) => {
    for (const p of parts) {
      if (p instanceof Error) throw p;
      await send(p);
    }
  };
  return {
    maxRows: 1, maxBytes: 1, blank: [], pour,
    describe: () => Promise.resolve([FIELD]),
    async run() {
      const out: StageResult = { fields: [FIELD], rows: [] };
      await pour([], [], [], new Map(), [], (p) => { out.rows.push(...p.rows); return Promise.resolve(); });
      return out;
    },
  };
}

function relayWith(stage: ResidualStage): { r: Relay; ports: Ports } {
  const tr: ResultTransformer = { fields: (f) => [...f], row: (v) => v, residual: stage };
  const pipeline: Pipeline = { passthrough: false, query: () => ({ kind: 'rewrite', sql: 'placeholder', results: [tr] }), parse: () => ({ kind: 'rewrite', sql: 'placeholder', result: tr }) };
  const ports = new Ports();
  return { r: new Relay({ maxMessageBytes: 1 << 20, pipeline, ports }), ports };
}

const PLACEHOLDER: BackendMessage[] = [{ type: 'RowDescription', fields: [FIELD] }, { type: 'CommandComplete', tag: 'SELECT 0' }];

describe('a stage that pours its result in parts', () => {
  it('simple Query: each part as soon as computed, the next once the client has room; the tag counts all', async () => {
    const { r, ports } = relayWith(pouring([part('a', 'b'), part('c'), part()]));
    r.fromClient(fe({ type: 'Query', sql: 'select c from split' }));
    r.fromBackend(be(...PLACEHOLDER, { type: 'ReadyForQuery', status: 'I' }));
    await tick();
    expect(sent(ports.client, 'back')).toEqual(['RowDescription', 'D:a', 'D:b']);
    ports.release();
    await tick();
    expect(sent(ports.client, 'back')).toEqual(['RowDescription', 'D:a', 'D:b', 'D:c']);
    ports.release();
    await tick();
    ports.release();
    await tick();
    expect(sent(ports.client, 'back')).toEqual(['RowDescription', 'D:a', 'D:b', 'D:c', 'C:SELECT 3', 'Z:I']);
    expect(ports.outcomes).toEqual(['ok']);
  });

  it('a failure after a part: the rows sent, then the error; an open block is made failed', async () => {
    const { r, ports } = relayWith(pouring([part('a'), new StatementError('57P01', 'terminating connection due to administrator command')]));
    r.fromClient(fe({ type: 'Query', sql: 'select c from split' }));
    r.fromBackend(be(...PLACEHOLDER, { type: 'ReadyForQuery', status: 'T' }));
    await tick();
    ports.release();
    await tick();
    expect(sent(ports.client, 'back')).toEqual(['RowDescription', 'D:a', 'Error:57P01', 'Z:E']);
    expect(sent(ports.backend, 'front')).toEqual(['Query:placeholder', `Query:${REFUSAL_SQL}`]);
  });

  it('a CancelRequest while the stage waits for the client: the rows sent, then 57014; the pour stops at once', async () => {
    let stopped = false;
    const stage = pouring([part('a'), part('b'), part('c')]);
    const pour = stage.pour as NonNullable<ResidualStage['pour']>;
    const { r, ports } = relayWith({ ...stage, pour: (c, rows, f, s, p, send) => pour(c, rows, f, s, p, send).finally(() => { stopped = true; }) });
    expect(r.cancelRequested()).toEqual({ self: true, others: [] });
    r.fromClient(fe({ type: 'Query', sql: 'select c from split' }));
    r.fromBackend(be(...PLACEHOLDER, { type: 'ReadyForQuery', status: 'I' }));
    await tick();
    expect(sent(ports.client, 'back')).toEqual(['RowDescription', 'D:a']);
    // The client reads nothing more: the cancel alone ends the pour (no further part computed); the
    // client's backend, which has answered, is not sent the cancel.
    expect(r.cancelRequested()).toEqual({ self: false, others: [] });
    await tick();
    await tick();
    expect(stopped).toBe(true);
    expect(sent(ports.client, 'back')).toEqual(['RowDescription', 'D:a', 'Error:57014', 'Z:I']);
    expect(ports.outcomes).toEqual(['error']);
    // The refusal statement that keeps the backend in step is answered (the client sees nothing of it).
    expect(sent(ports.backend, 'front')).toEqual(['Query:placeholder', `Query:${REFUSAL_SQL}`]);
    r.fromBackend(be({ type: 'ErrorResponse', fields: { S: 'ERROR', C: '42601' } }, { type: 'ReadyForQuery', status: 'I' }));
    await tick();
    // The session goes on; a cancel with nothing pouring changes nothing.
    r.cancelRequested();
    ports.client = [];
    r.fromClient(fe({ type: 'Query', sql: 'select 1' }));
    r.fromBackend(be(...PLACEHOLDER, { type: 'ReadyForQuery', status: 'I' }));
    for (let i = 0; i < 4; i++) { await tick(); ports.release(); }
    await tick();
    expect(sent(ports.client, 'back')).toEqual(['RowDescription', 'D:a', 'D:b', 'D:c', 'C:SELECT 3', 'Z:I']);
  });

  it('a CancelRequest while the pipeline runs a split statement of its own: the fragments get it, the session\'s backend (which has answered its part) does not', () => {
    let running = false;
    const target = { backend: {} as never, processId: 7, secretKey: 9 };
    const tr: ResultTransformer = { fields: (f) => [...f], row: (v) => v };
    const pipeline: Pipeline = { passthrough: false, query: () => ({ kind: 'rewrite', sql: 'placeholder', results: [tr] }), parse: () => ({ kind: 'rewrite', sql: 'placeholder', result: tr }),
      cancelRequested: () => (running ? { statement: true, others: [target] } : { statement: false, others: [] }) };
    const r = new Relay({ maxMessageBytes: 1 << 20, pipeline, ports: new Ports() });
    expect(r.cancelRequested()).toEqual({ self: true, others: [] });
    running = true;
    expect(r.cancelRequested()).toEqual({ self: false, others: [target] });
  });

  it('Execute without a row limit pours; with one, the held result is served in chunks', async () => {
    const bind: FrontendMessage = { type: 'Bind', portal: '', statement: '', paramFormats: [], values: [], resultFormats: [] };
    const answers: BackendMessage[] = [{ type: 'ParseComplete' }, { type: 'BindComplete' }, ...PLACEHOLDER, { type: 'ReadyForQuery', status: 'I' }];
    for (const [max, want] of [[0, ['D:a', 'D:b', 'C:SELECT 2']], [1, ['D:a', 'PortalSuspended']]] as const) {
      const { r, ports } = relayWith(pouring([part('a'), part('b')]));
      r.fromClient(fe({ type: 'Parse', name: '', sql: 'select c from split', paramTypes: [] }, bind, { type: 'Execute', portal: '', maxRows: max }, { type: 'Sync' }));
      r.fromBackend(be(...answers));
      for (let i = 0; i < 4; i++) { await tick(); ports.release(); }
      await tick();
      expect(sent(ports.client, 'back'), `maxRows ${max}`).toEqual(['ParseComplete', 'BindComplete', ...want, 'Z:I']);
    }
  });
});
