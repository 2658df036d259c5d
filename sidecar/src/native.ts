// Where the native modules are: build/native under the first folder above this file that has the
// module (the checkout, or the image's /app). Built by scripts/build-native.sh.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The path of `build/native/<file>`, or undefined when it is not built. */
export function nativeModulePath(file: string, from = dirname(fileURLToPath(import.meta.url))): string | undefined {
  const rel = join('build', 'native', file);
  for (let dir = from; ; dir = dirname(dir)) {
    const p = join(dir, rel);
    if (existsSync(p)) return p;
    if (dirname(dir) === dir) return undefined;
  }
}
