// Where built files are: build/<folder>/<file> under the first folder above this file that has it
// (the checkout, or the image's /app). The native modules (build/native) are built by
// scripts/build-native.sh, the engine's fresh data directories (build/engine) by
// scripts/build-engine.ts.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The path of `build/<folder>/<file>`, or undefined when it is not built. */
export function builtFilePath(folder: string, file: string, from = dirname(fileURLToPath(import.meta.url))): string | undefined {
  const rel = join('build', folder, file);
  for (let dir = from; ; dir = dirname(dir)) {
    const p = join(dir, rel);
    if (existsSync(p)) return p;
    if (dirname(dir) === dir) return undefined;
  }
}

/** The path of `build/native/<file>`, or undefined when it is not built. */
export function nativeModulePath(file: string, from?: string): string | undefined {
  return builtFilePath('native', file, from);
}
