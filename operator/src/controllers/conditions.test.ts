import { describe, expect, it } from 'vitest';
import { sameConditions, setCondition, setConditions } from './conditions.ts';

const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-01-02T00:00:00.000Z';

describe('setCondition', () => {
  it('adds a condition with observedGeneration and transition time', () => {
    expect(setCondition(undefined, { type: 'Ready', status: 'True', reason: 'Ready', message: 'ok' }, 4, T0)).toEqual([
      { type: 'Ready', status: 'True', reason: 'Ready', message: 'ok', lastTransitionTime: T0, observedGeneration: 4 },
    ]);
  });

  it.each([
    ['same status keeps the transition time', 'True', T0],
    ['a status flip moves the transition time', 'False', T1],
  ] as const)('%s', (_n, status, want) => {
    const first = setCondition([], { type: 'Ready', status: 'True', reason: 'A', message: 'a' }, 1, T0);
    const second = setCondition(first, { type: 'Ready', status, reason: 'B', message: 'b' }, 2, T1);
    expect(second).toHaveLength(1);
    expect(second[0]).toMatchObject({ status, reason: 'B', message: 'b', observedGeneration: 2, lastTransitionTime: want });
  });

  it('leaves other conditions untouched and keeps order', () => {
    const list = setConditions([], [
      { type: 'A', status: 'True', reason: 'r', message: '' },
      { type: 'B', status: 'False', reason: 'r', message: '' },
    ], 1, T0);
    const next = setCondition(list, { type: 'B', status: 'True', reason: 'r', message: '' }, 1, T1);
    expect(next.map((c) => [c.type, c.status, c.lastTransitionTime])).toEqual([['A', 'True', T0], ['B', 'True', T1]]);
    expect(list[1]?.status).toBe('False'); // input not mutated
  });

  it('sameConditions ignores order but not content', () => {
    const a = setConditions([], [{ type: 'A', status: 'True', reason: 'r', message: '' }, { type: 'B', status: 'True', reason: 'r', message: '' }], 1, T0);
    expect(sameConditions(a, [...a].reverse())).toBe(true);
    expect(sameConditions(a, setCondition(a, { type: 'A', status: 'True', reason: 'other', message: '' }, 1, T0))).toBe(false);
  });
});
