// `node scripts/build-engine.ts [--if-stale]` (run by `make setup` and the image build): the in-proxy
// engine's fresh data directories in build/engine, one per engine locale, gzipped (≈ 4.5 MiB each;
// sidecar/src/residual/datadir-write.ts writes them as the proxy's worker makes an instance). The
// proxy's first engine loads one instead of running initdb. Each file's name carries the PGlite
// version: after an upgrade the old files are removed and new ones written. `--if-stale`: nothing
// to do when every file of the installed version exists.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { wantedDataDirs, writeDataDirs } from '@clarus/sidecar/residual/datadir-write.ts';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'build/engine');
const have = (() => { try { return readdirSync(out); } catch { return []; } })();
if (!(process.argv.includes('--if-stale') && wantedDataDirs().every((f) => have.includes(f)))) {
  const started = Date.now();
  const files = await writeDataDirs(out);
  console.log(`build-engine: ${files.join(', ')} in build/engine (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}
