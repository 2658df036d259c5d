import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../rewrite/parser.ts';
import { localStatementTimeoutOf, statementTimeoutOf, withValues } from './decide.ts';
import type { ResidualStage, StageResult } from '../session/pipeline.ts';

describe('split: the client statement_timeout fragment connections follow', () => {
  beforeAll(async () => { await loadParser(); });

  it('SET / RESET set the session value, SET LOCAL only the transaction value', () => {
    expect(statementTimeoutOf("SET statement_timeout = '500ms'")).toBe('500ms');
    expect(statementTimeoutOf('SET statement_timeout TO 250')).toBe('250');
    expect(statementTimeoutOf('RESET statement_timeout')).toBe('0');
    expect(statementTimeoutOf('RESET ALL')).toBe('0');
    expect(statementTimeoutOf("SET LOCAL statement_timeout = '500ms'")).toBeUndefined();
    expect(localStatementTimeoutOf("SET LOCAL statement_timeout = '500ms'")).toBe('500ms');
    expect(localStatementTimeoutOf('SET LOCAL statement_timeout TO DEFAULT')).toBe('0');
    expect(localStatementTimeoutOf("SET statement_timeout = '500ms'")).toBeUndefined();
    expect(localStatementTimeoutOf("SET LOCAL lock_timeout = '1s'")).toBeUndefined();
    expect(localStatementTimeoutOf('SELECT 1')).toBeUndefined();
  });
});

describe('split: every entry point of a stage gets the completed values (derived point parameters)', () => {
  /** A stage recording the values each entry point gets. */
  function recording(): { stage: ResidualStage; got: Record<string, ReadonlyArray<string | null>> } {
    const got: Record<string, ReadonlyArray<string | null>> = {};
    const result: StageResult = { fields: null, rows: [] };
    const stage: ResidualStage = {
      maxRows: 1, maxBytes: 1, blank: [1],
      describe: () => Promise.resolve(null),
      run(_c, _r, _f, _s, values) { got.run = values; return Promise.resolve(result); },
      pour(_c, _r, _f, _s, values) { got.pour = values; return Promise.resolve(); },
      stream: { rows: 1, bytes: 1, next(_c, _r, _f, _s, values) { got.next = values; return Promise.resolve(result); } },
      now: { describe: () => null, run: () => result },
    };
    return { stage, got };
  }
  const complete = (v: ReadonlyArray<string | null>) => { if (v[0] === 'bad') throw new Error('not a point'); return [...v, 'derived']; };

  it('run, pour and stream.next all get them; `now` (no values) is dropped', async () => {
    const { stage, got } = recording();
    const s = withValues(stage, complete);
    await s.run([], [], [], new Map(), ['a']);
    await s.pour?.([], [], [], new Map(), ['b'], () => Promise.resolve());
    await s.stream?.next([], [], [], new Map(), ['c']);
    expect(got).toEqual({ run: ['a', 'derived'], pour: ['b', 'derived'], next: ['c', 'derived'] });
    expect(s.now).toBeUndefined();
    // Every member of the stage that is a function of values is one withValues knows.
    expect(Object.keys(s).sort()).toEqual(['blank', 'describe', 'maxBytes', 'maxRows', 'pour', 'run', 'stream']);
  });

  it('a value that is not a point rejects the statement (never a throw out of the session)', async () => {
    const s = withValues(recording().stage, complete);
    await expect(s.run([], [], [], new Map(), ['bad'])).rejects.toThrow('not a point');
    const poured = s.pour?.([], [], [], new Map(), ['bad'], () => Promise.resolve());
    await expect(poured).rejects.toThrow('not a point');
  });

  it('without derived parameters the stage is unchanged (its values as given)', async () => {
    const { stage, got } = recording();
    const s = withValues(stage, null);
    await s.pour?.([], [], [], new Map(), ['b'], () => Promise.resolve());
    expect(got.pour).toEqual(['b']);
    expect(s.now).toBe(stage.now);
  });
});
