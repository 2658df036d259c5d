// The engine's fresh data directories shipped with the build (scripts/build-engine.ts): the first
// engine of a process loads the one of its locale (its worker reads the file) instead of running initdb and answers as an
// initdb'd one; another PGlite version's file is not looked up; a file that does not load is
// refused (initdb then). Real PGlite instances; the build written into a temporary folder.
import { mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { pgliteVersion, shippedDataDir, shippedDataDirName } from './datadir.ts';
import { wantedDataDirs, writeDataDirs } from './datadir-write.ts';
import { ResidualEngine } from './engine.ts';
import { freshDataDir, startPglite } from './executor.ts';
import { residualStats } from './stats.ts';
import type { ResidualCall } from './types.ts';

const CALL: ResidualCall = {
  relations: [{ name: 'r', columns: [{ name: 'n', typeOid: 25 }], rows: [['é'], ['Z'], ['a'], ['É']] }],
  sql: "SELECT n, upper(n) AS u, n < 'b' AS lt FROM r ORDER BY n",
  limits: { maxRows: 100, maxBytes: 10_000 },
};

let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'clarus-engine-'));
  writeFileSync(join(dir, 'pglite-0.0.1-c.tar.gz'), 'an older build');
  await writeDataDirs(dir);
}, 180_000);
afterAll(() => { rmSync(dir, { recursive: true, force: true }); });

describe('shipped fresh data directories', () => {
  test('the build writes one per engine locale, named with the installed PGlite version, and removes older ones', () => {
    expect(wantedDataDirs()).toEqual([`pglite-${pgliteVersion()}-c.tar.gz`, `pglite-${pgliteVersion()}-builtin-c-utf8.tar.gz`]);
    expect(readdirSync(dir).sort()).toEqual([...wantedDataDirs()].sort());
  });

  test("the first engine loads its locale's directory and answers as an initdb'd one", async () => {
    const initdbs = residualStats.engineInitdbs;
    const shipped = await ResidualEngine.start({ locale: 'builtin-c-utf8', shippedDataDirs: { folder: dir } });
    const initdbd = await ResidualEngine.start({ locale: 'builtin-c-utf8', thread: 'inline' });
    try {
      expect(shipped.startedFrom).toBe('dataDir');
      // The worker read the file: the proxy's thread keeps no copy (only of a directory it dumped).
      expect(freshDataDir('builtin-c-utf8')).toBeUndefined();
      expect(residualStats.engineInitdbs).toBe(initdbs + 1);
      expect(initdbd.startedFrom).toBe('initdb');
      const answer = await shipped.run(CALL);
      expect(answer.rows.map((r) => r[1])).toEqual(['Z', 'A', 'É', 'É']);
      expect(answer).toEqual(await initdbd.run(CALL));
    } finally {
      await shipped.close();
      await initdbd.close();
    }
  }, 180_000);

  test("another PGlite version's file is not looked up; none is with null", () => {
    expect(shippedDataDir('c', { folder: dir })).toBeDefined();
    const mine = join(dir, shippedDataDirName('c', pgliteVersion()));
    renameSync(mine, join(dir, shippedDataDirName('c', '0.0.1')));
    try {
      expect(shippedDataDir('c', { folder: dir })).toBeUndefined();
    } finally { renameSync(join(dir, shippedDataDirName('c', '0.0.1')), mine); }
    expect(shippedDataDir('c', null)).toBeUndefined();
  });

  test('a file that does not load is refused: initdb', async () => {
    const { db, loaded } = await startPglite('c', new Uint8Array(Buffer.from('not a data directory')));
    try {
      expect(loaded).toBe(false);
      expect((await db.query<{ n: number }>('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
    } finally { await db.close(); }
  }, 180_000);
});
