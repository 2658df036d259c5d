// Writing the engine's fresh data directories for the build (scripts/build-engine.ts; read by
// datadir.ts), with the function the proxy's worker makes an instance with.
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENGINE_LOCALES } from './collation.ts';
import { pgliteVersion, shippedDataDirName } from './datadir.ts';
import { startPglite } from './executor.ts';

/** The file names a build's folder should hold for the installed PGlite (scripts/build-engine.ts). */
export function wantedDataDirs(version = pgliteVersion()): string[] {
  return ENGINE_LOCALES.map((l) => shippedDataDirName(l, version));
}

/**
 * Writes every locale's fresh data directory into `out` (scripts/build-engine.ts): a PGlite instance
 * initdb'd and warmed up exactly as the proxy's worker does it (startPglite), dumped before any
 * call, gzipped. Removes any other file there (another version's). Returns the names written.
 */
export async function writeDataDirs(out: string): Promise<string[]> {
  mkdirSync(out, { recursive: true });
  const version = pgliteVersion();
  const written: string[] = [];
  for (const locale of ENGINE_LOCALES) {
    const { db } = await startPglite(locale);
    try {
      const gz = new Uint8Array(await (await db.dumpDataDir('gzip')).arrayBuffer());
      const name = shippedDataDirName(locale, version);
      const tmp = join(out, `.${name}.${process.pid}`);
      writeFileSync(tmp, gz);
      renameSync(tmp, join(out, name));
      written.push(name);
    } finally {
      await db.close();
    }
  }
  for (const f of readdirSync(out)) if (!written.includes(f)) rmSync(join(out, f), { force: true });
  return written;
}
