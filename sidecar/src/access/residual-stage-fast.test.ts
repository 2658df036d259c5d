// The fast path inside the stage (residual-stage.ts): taken only once the backend's text semantics
// are known to be reproduced (the check the engine's start makes), refused exactly as the engine's
// answer would be otherwise, and the engine still answers what the fast path cannot.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser, parseStatements } from '../rewrite/parser.ts';
import { fastPlan } from '../rewrite/two-stage/fast-path.ts';
import type { ResidualSpec } from '../rewrite/two-stage/plan.ts';
import { StatementError } from '../session/pipeline.ts';
import type { FieldDescription } from '../session/pipeline.ts';
import { ResidualUnsupportedError } from '../residual/errors.ts';
import type { ResidualCall, ResidualResult } from '../residual/types.ts';
import { residualStage } from './residual-stage.ts';
import type { ResidualService } from './residual-stage.ts';

beforeAll(async () => { await loadParser(); });

const SQL = 'SELECT clarus_candidates.c2 AS id, upper(clarus_candidates.c1) AS upper FROM clarus_candidates';
const CANDIDATES: FieldDescription[] = [
  { name: 'c1', tableOid: 0, columnAttr: 0, typeOid: 25, typeSize: -1, typeModifier: -1, format: 0 },
  { name: 'c2', tableOid: 0, columnAttr: 0, typeOid: 20, typeSize: 8, typeModifier: -1, format: 0 },
];

function spec(): ResidualSpec {
  const fast = fastPlan(parseStatements(SQL)[0]?.stmt, 'clarus_candidates', ['c1', 'c2']);
  if (!fast) throw new Error('no fast plan');
  return { sql: SQL, relation: 'clarus_candidates', columns: ['c1', 'c2'], params: [], blank: [], pushed: 1, kept: 0, stream: true, fast };
}

function service(semantics: 'unknown' | 'known' | 'refused'): { svc: ResidualService; calls: ResidualCall[] } {
  const calls: ResidualCall[] = [];
  let known = semantics === 'known';
  const svc: ResidualService = {
    maxRows: 100, maxBytes: 1 << 20,
    stats: { statements: 0, failed: 0, candidateRows: 0, resultRows: 0, fastRows: 0, engineMs: 0, engineStarts: 0, engineStops: 0, enginesRunning: 0, engineInitdbs: 0 },
    run: (c): Promise<ResidualResult> => {
      calls.push(c);
      return Promise.resolve({ fields: [{ name: 'id', typeOid: 20, typmod: -1 }, { name: 'upper', typeOid: 25, typmod: -1 }], rows: [...c.relations[0]?.rows ?? []].map((r) => [r[1] ?? null, 'ENGINE']), loadedRows: 0, loadedBytes: 0 });
    },
    textSemantics: () => (semantics === 'refused' ? Promise.reject(new ResidualUnsupportedError("the backend's text semantics are not reproduced (tr_TR.UTF-8)")) : (known = true, Promise.resolve())),
    textSemanticsKnown: () => known,
  };
  return { svc, calls };
}

const text = (rows: unknown[][]): unknown[][] => rows.map((r) => r.map((v) => (v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : v)));

describe('the fast path in the stage', () => {
  it('waits for the backend text semantics once, then answers at once without the engine', async () => {
    const { svc, calls } = service('unknown');
    const stage = residualStage(svc, spec());
    expect(stage.now?.run(CANDIDATES, [['ann', '1']], [], true)).toBeNull();
    const r = await stage.run(CANDIDATES, [['ann', '1']], [], new Map(), []);
    expect(text(r.rows)).toEqual([['1', 'ANN']]);
    expect(r.fields?.map((f) => [f.name, f.typeOid])).toEqual([['id', 20], ['upper', 25]]);
    const now = stage.now?.run(CANDIDATES, [['bob', '2']], [], true);
    expect(text(now?.rows ?? [])).toEqual([['2', 'BOB']]);
    expect(stage.now?.describe(CANDIDATES, [])?.map((f) => f.name)).toEqual(['id', 'upper']);
    expect(calls).toEqual([]);
    expect(svc.stats).toMatchObject({ statements: 2, candidateRows: 2, fastRows: 2, resultRows: 2 });
  });

  it('is refused where the engine would be (a locale whose case mapping is not reproduced)', async () => {
    const { svc, calls } = service('refused');
    const stage = residualStage(svc, spec());
    expect(stage.now?.run(CANDIDATES, [['ann', '1']], [], true)).toBeNull();
    const e = await stage.run(CANDIDATES, [['ann', '1']], [], new Map(), []).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(StatementError);
    expect((e as StatementError).code).toBe('0A000');
    await expect(stage.describe(CANDIDATES, [], new Map())).rejects.toBeInstanceOf(StatementError);
    expect(calls).toEqual([]);
  });

  it('leaves a batch with a non-ASCII case mapping to the engine', async () => {
    const { svc, calls } = service('known');
    const stage = residualStage(svc, spec());
    expect(stage.now?.run(CANDIDATES, [['ann', '1'], ['ıi', '2']], [], true)).toBeNull();
    const r = await stage.run(CANDIDATES, [['ann', '1'], ['ıi', '2']], [], new Map(), []);
    expect(text(r.rows)).toEqual([['1', 'ENGINE'], ['2', 'ENGINE']]);
    expect(calls.length).toBe(1);
  });

  it('is not taken by a service that cannot tell the text semantics', async () => {
    const { svc, calls } = service('known');
    delete svc.textSemantics;
    delete svc.textSemanticsKnown;
    const stage = residualStage(svc, spec());
    expect(stage.now?.run(CANDIDATES, [['ann', '1']], [], true)).toBeNull();
    await stage.run(CANDIDATES, [['ann', '1']], [], new Map(), []);
    expect(calls.length).toBe(1);
  });
});
