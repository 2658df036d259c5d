// The session's own batch before a COMMIT (commit-flush.ts): the messages it sends, what the client
// sees of its answers, and what its transformers hear.
import { describe, expect, it } from 'vitest';
import type { FrontendMessage } from '../protocol/frontend.ts';
import { COMMIT_FLUSH_NAME, CommitFlush } from './commit-flush.ts';
import type { ResultTransformer } from './pipeline.ts';

const brief = (ms: FrontendMessage[]): string[] => ms.map((m) => (m.type === 'Parse' ? `Parse ${m.name} ${m.sql}` : m.type === 'Close' ? `Close ${m.target} ${m.name}` : m.type));
const refused: FrontendMessage = { type: 'Parse', name: 'refused', sql: 'BAD', paramTypes: [] };

function tr(log: string[], name: string): ResultTransformer {
  return {
    fields: (f) => [...f], row: (v) => v,
    complete: (tag) => { log.push(`${name} complete ${tag}`); return [{ type: 'NoticeResponse', fields: { M: name } }, { type: 'CommandComplete', tag }]; },
    failed: () => { log.push(`${name} failed`); },
  };
}

describe('CommitFlush', () => {
  it('sends each statement under its own name, closed after it, then a Sync; never the unnamed statement or portal', () => {
    const x = new CommitFlush({ statements: [{ sql: 'INSERT a' }, { sql: 'INSERT b' }] });
    const N = COMMIT_FLUSH_NAME;
    expect(brief(x.messages(refused))).toEqual([`Close S ${N}`,
      `Parse ${N} INSERT a`, 'Bind', 'Execute', `Close P ${N}`, `Close S ${N}`,
      `Parse ${N} INSERT b`, 'Bind', 'Execute', `Close P ${N}`, `Close S ${N}`, 'Sync']);
    expect(x.messages(refused).every((m) => !('name' in m) || m.name === N)).toBe(true);
    // After a failure: what the failed batch may have left is closed before the ROLLBACK.
    expect(brief(CommitFlush.rollback())).toEqual([`Close P ${N}`, `Close S ${N}`, `Parse ${N} ROLLBACK`, 'Bind', 'Execute', `Close P ${N}`, `Close S ${N}`, 'Sync']);
  });

  it('sends only the failing Parse and a Sync for a refusal', () => {
    const x = new CommitFlush({ statements: [], refusal: { kind: 'refuse', code: '21000', message: 'few' } });
    expect(brief(x.messages(refused))).toEqual(['Parse refused BAD', 'Sync']);
  });

  it('shows the NOTICE of each completed statement without its tag; a failure reaches the statements not completed', async () => {
    const log: string[] = [];
    const x = new CommitFlush({ statements: [{ sql: 'a', result: tr(log, 'a') }, { sql: 'b', result: tr(log, 'b') }, { sql: 'c', result: tr(log, 'c') }] });
    expect(x.completed('INSERT 0 5').map((m) => m.type)).toEqual(['NoticeResponse']);
    x.fail();
    expect(x.failed).toBe(true);
    expect(log).toEqual(['a complete INSERT 0 5', 'b failed', 'c failed']);
    let released = false;
    void x.held.then(() => { released = true; });
    x.end();
    await x.held;
    expect(released).toBe(true);
  });
});
