// Cursors over split tables (cursor.ts) and the client's statement_timeout (decide.ts): which
// texts the proxy answers itself, which it refuses, what it leaves to the ordinary path. Proved
// on real backends in sidecar/test/integration/split-sql.test.ts.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../rewrite/parser.ts';
import { cursorDecision, SplitCursors } from './cursor.ts';
import { statementTimeoutOf } from './decide.ts';

beforeAll(async () => { await loadParser(); });

describe('split cursors', () => {
  it('a FETCH of a declared split cursor is answered by the proxy; other names go the ordinary way', () => {
    const c = new SplitCursors();
    expect(cursorDecision(c, 'FETCH 1 FROM c')).toBeNull();
    c.declare('c');
    const d = cursorDecision(c, 'FETCH 2 FROM c');
    expect(d && !('kind' in d) && d.result.residual !== undefined).toBe(true);
    const m = cursorDecision(c, 'MOVE 2 IN c');
    expect(m && !('kind' in m) && typeof m.result.done).toBe('function');
    expect(cursorDecision(c, 'FETCH 1 FROM other')).toBeNull();
  });

  it('refuses backward fetches and a FETCH among other statements; CLOSE and CLOSE ALL forget', () => {
    const c = new SplitCursors();
    c.declare('c');
    expect(cursorDecision(c, 'FETCH BACKWARD 1 FROM c')).toMatchObject({ kind: 'refuse', code: '0A000' });
    expect(cursorDecision(c, 'FETCH ABSOLUTE 1 FROM c')).toMatchObject({ kind: 'refuse', code: '0A000' });
    expect(cursorDecision(c, 'SELECT 1; FETCH 1 FROM c')).toMatchObject({ kind: 'refuse', code: '0A000' });
    expect(cursorDecision(c, 'CLOSE c')).toBeNull();
    expect(c.has('c')).toBe(false);
    c.declare('a');
    c.declare('b');
    expect(cursorDecision(c, 'CLOSE ALL')).toBeNull();
    expect(c.size).toBe(0);
  });

  it('a DECLARE the backend refused gives the name back to the cursor it replaced', () => {
    const c = new SplitCursors();
    c.declare('c');
    const first = c.get('c');
    const again = c.declare('c');
    again.undo();
    expect(c.get('c')).toBe(first);
  });
});

describe('statement_timeout followed by fragment connections', () => {
  it.each([
    ["SET statement_timeout = '2s'", '2s'],
    ['SET SESSION statement_timeout TO 1500', '1500'],
    ['RESET statement_timeout', '0'],
    ['SET statement_timeout TO DEFAULT', '0'],
    ['RESET ALL', '0'],
    ["SET LOCAL statement_timeout = '1s'", undefined],
    ["SET search_path = 'x'", undefined],
    ['SELECT 1', undefined],
  ])('%s', (sql, want) => {
    expect(statementTimeoutOf(sql)).toBe(want);
  });
});
