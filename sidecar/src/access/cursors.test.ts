// The cursor bookkeeping of one session (cursors.ts): which statements of a text declare, fetch,
// close or forget cursors, and which transformer each FETCH gets.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../rewrite/parser.ts';
import type { ResultTransformer } from '../session/pipeline.ts';
import { cursorStatements, Cursors } from './cursors.ts';

beforeAll(async () => {
  await loadParser();
});

const tr = (name: string): ResultTransformer => ({ name } as unknown as ResultTransformer);

describe('cursor statements', () => {
  it('finds DECLARE, FETCH, CLOSE, CLOSE ALL and DISCARD ALL by position; MOVE and other texts have none', () => {
    expect(cursorStatements('DECLARE "C" NO SCROLL CURSOR WITH HOLD FOR SELECT 1; FETCH FORWARD 10 FROM "C"; MOVE 1 IN c; CLOSE c; CLOSE ALL; DISCARD ALL')).toEqual([
      { index: 0, kind: 'declare', name: 'C' }, { index: 1, kind: 'fetch', name: 'C' }, { index: 3, kind: 'close', name: 'c' },
      { index: 4, kind: 'forget-all' }, { index: 5, kind: 'forget-all' },
    ]);
    expect(cursorStatements('SELECT 1')).toEqual([]);
    expect(cursorStatements("SELECT 'fetch' FROM")).toEqual([]);
    expect(cursorStatements('DISCARD PLANS')).toEqual([]);
  });

  it('a FETCH gets the transformer of the last DECLARE of its name; a name no DECLARE gave stops the text', () => {
    const c = new Cursors();
    const run = (sql: string, results: Array<ResultTransformer | undefined> = []) => {
      const f = c.apply(cursorStatements(sql), results, results.map(() => 'shape'));
      return { known: [...f.known].map(([i, k]) => [i, (k.result as unknown as { name: string }).name]), undeclared: f.undeclared };
    };
    expect(run('DECLARE a CURSOR FOR SELECT 1; FETCH 1 FROM a', [tr('A')])).toEqual({ known: [[1, 'A']], undeclared: undefined });
    expect(run('FETCH 1 FROM b')).toEqual({ known: [], undeclared: 'b' });
    expect(run('FETCH 1 FROM a')).toEqual({ known: [[0, 'A']], undeclared: undefined });
    // Declared again over unprotected data: fetched unchanged.
    expect(run('DECLARE a CURSOR FOR SELECT 2; FETCH 1 FROM a', [undefined])).toEqual({ known: [], undeclared: undefined });
    run('DECLARE a CURSOR FOR SELECT 1', [tr('A2')]);
    run('CLOSE a');
    expect(run('FETCH 1 FROM a').undeclared).toBe('a');
    run('DECLARE x CURSOR FOR SELECT 1; DECLARE y CURSOR FOR SELECT 1', [tr('X'), tr('Y')]);
    run('CLOSE ALL');
    expect(run('FETCH 1 FROM x; FETCH 1 FROM y').undeclared).toBe('x');
    expect(run('MOVE 1 IN x').undeclared).toBeUndefined();
  });
});
