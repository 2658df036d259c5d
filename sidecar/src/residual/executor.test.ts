// Engine instances after the first one load its fresh data directory instead of running initdb: the
// same answers (the locale included), a directory of another locale is not used, and the kept
// directory never holds a value a call loaded. Real PGlite instances in worker threads.
import { gunzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { until } from '@clarus/testing/wait.ts';
import { ResidualEngine } from './engine.ts';
import { freshDataDir, startPglite } from './executor.ts';
import type { EngineLocale } from './collation.ts';
import type { ResidualCall } from './types.ts';

const CANARY = 'canary-Zq81x';
// Case mapping and order of non-ASCII text differ between the two locales.
const CALL: ResidualCall = {
  relations: [{ name: 'r', columns: [{ name: 'n', typeOid: 25 }], rows: [['é'], ['Z'], ['a'], ['É'], [CANARY]] }],
  sql: "SELECT n, upper(n) AS u, n < 'b' AS lt FROM r ORDER BY n",
  limits: { maxRows: 100, maxBytes: 10_000 },
};

describe('fresh data directory of the engine', () => {
  const answers = new Map<EngineLocale, unknown>();
  for (const locale of ['c', 'builtin-c-utf8'] as const) {
    test(`${locale}: a later engine loads it and answers the same; it holds no loaded value`, async () => {
      // Without the build's directories (datadir.test): this first engine runs initdb.
      const first = await ResidualEngine.start({ locale, shippedDataDirs: null });
      try {
        expect(first.startedFrom).toBe('initdb');
        const answer = await first.run(CALL);
        answers.set(locale, answer.rows);
        await until('the fresh data directory', () => freshDataDir(locale) !== undefined, 60_000);
        const gz = freshDataDir(locale) as Uint8Array;
        expect(Buffer.from(gunzipSync(gz)).includes(CANARY)).toBe(false);
        const second = await ResidualEngine.start({ locale, shippedDataDirs: null });
        try {
          expect(second.startedFrom).toBe('dataDir');
          expect(await second.run(CALL)).toEqual(answer);
        } finally { await second.close(); }
      } finally { await first.close(); }
    }, 180_000);
  }

  test('the locales answer differently (so the comparison above can fail)', () => {
    expect(answers.get('c')).not.toEqual(answers.get('builtin-c-utf8'));
  });

  test('a directory of another locale is not used (and one of the same locale is)', async () => {
    const c = freshDataDir('c');
    expect(c).toBeDefined();
    const same = await startPglite('c', gunzipSync(c as Uint8Array));
    try {
      expect(same.loaded).toBe(true);
      expect((await same.db.query<{ u: string }>("SELECT upper('é') AS u")).rows).toEqual([{ u: 'é' }]);
    } finally { await same.db.close(); }
    const other = await startPglite('builtin-c-utf8', gunzipSync(c as Uint8Array));
    try {
      expect(other.loaded).toBe(false);
      expect((await other.db.query<{ u: string }>("SELECT upper('é') AS u")).rows).toEqual([{ u: 'É' }]);
    } finally { await other.db.close(); }
  }, 180_000);
});
