// Random input to the session state machine: whatever a client or a backend sends, the relay
// neither throws nor stalls; it forwards, answers with an error and ends, or waits for more bytes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pass, passthroughPipeline } from './pipeline.ts';
import type { Pipeline } from './pipeline.ts';
import { Relay } from './relay.ts';
import type { RelayPorts } from './relay.ts';

const inspecting: Pipeline = {
  passthrough: false,
  query: (sql) => (sql.length % 3 === 0 ? { kind: 'refuse', code: '42501', message: 'no' } : pass),
  parse: (sql) => (sql.length % 2 === 0 ? { kind: 'rewrite', sql, result: { fields: (f) => [...f], row: (v) => v } } : pass),
};

function ports(log: string[]): RelayPorts {
  return {
    toClient: () => log.push('c'), toBackend: () => log.push('b'), holdClient: () => undefined,
    end: (r) => log.push(`end:${r}`), statementStart: () => undefined, statementEnd: () => undefined,
    idle: () => undefined,
  };
}

// Tags of real messages make random streams reach deeper states than uniformly random bytes.
const tagged = fc.tuple(fc.constantFrom(...'QPBDECSHXdcfF1234TZnstIGAKN'.split('').map((c) => c.charCodeAt(0))), fc.uint8Array({ maxLength: 24 }))
  .map(([tag, body]) => {
    const b = Buffer.alloc(5 + body.length);
    b[0] = tag;
    b.writeInt32BE(4 + body.length, 1);
    b.set(body, 5);
    return b;
  });
const stream = fc.array(fc.oneof(tagged, fc.uint8Array({ maxLength: 16 }).map((u) => Buffer.from(u))), { maxLength: 12 });

describe('relay under random input', () => {
  for (const [name, pipeline] of [['pass-through', passthroughPipeline], ['inspecting', inspecting]] as const) {
    it(`${name}: random client and backend streams never throw`, () => {
      fc.assert(fc.property(stream, stream, (client, backend) => {
        const log: string[] = [];
        const r = new Relay({ maxMessageBytes: 4096, pipeline, ports: ports(log) });
        expect(() => {
          for (let i = 0; i < Math.max(client.length, backend.length); i++) {
            const c = client[i];
            const b = backend[i];
            if (c) r.fromClient(c);
            if (b) r.fromBackend(b);
          }
        }).not.toThrow();
        expect(log.filter((l) => l.startsWith('end:')).length).toBeLessThanOrEqual(1);
      }), { numRuns: 1500 });
    });
  }
});

describe('decoding path is transparent when everything passes', () => {
  const str = fc.string({ maxLength: 12 }).map((s) => s.replace(/\0/g, ''));
  const msg = fc.oneof(
    fc.record({ type: fc.constant('Query' as const), sql: str }),
    fc.record({ type: fc.constant('Parse' as const), name: str, sql: str, paramTypes: fc.array(fc.nat({ max: 5000 }), { maxLength: 3 }) }),
    fc.record({ type: fc.constant('Bind' as const), portal: str, statement: str, paramFormats: fc.array(fc.constantFrom(0, 1), { maxLength: 2 }),
      values: fc.array(fc.option(fc.uint8Array({ maxLength: 8 }), { nil: null }), { maxLength: 3 }), resultFormats: fc.array(fc.constantFrom(0, 1), { maxLength: 2 }) }),
    fc.record({ type: fc.constant('Describe' as const), target: fc.constantFrom('S' as const, 'P' as const), name: str }),
    fc.record({ type: fc.constant('Execute' as const), portal: str, maxRows: fc.nat() }),
    fc.record({ type: fc.constant('Close' as const), target: fc.constantFrom('S' as const, 'P' as const), name: str }),
    fc.constant({ type: 'Sync' as const }), fc.constant({ type: 'Flush' as const }),
  );

  it('forwards exactly the bytes of the pass-through path', async () => {
    const { encodeFrontend } = await import('../protocol/frontend.ts');
    const allPass: Pipeline = { passthrough: false, query: () => pass, parse: () => pass };
    fc.assert(fc.property(fc.array(msg, { maxLength: 10 }), fc.nat(), (msgs, cut) => {
      const bytes = Buffer.concat(msgs.map((m) => encodeFrontend(m).finish()));
      const at = bytes.length === 0 ? 0 : cut % bytes.length;
      const run = (pipeline: Pipeline) => {
        const out: Buffer[] = [];
        const p = { ...ports([]), toBackend: (parts: Buffer[]) => { out.push(...parts); } };
        const r = new Relay({ maxMessageBytes: 1 << 16, pipeline, ports: p });
        r.fromClient(bytes.subarray(0, at));
        r.fromClient(bytes.subarray(at));
        return Buffer.concat(out);
      };
      expect(run(allPass)).toEqual(run(passthroughPipeline));
    }), { numRuns: 500 });
  });
});
