// The engine's fresh data directories shipped with the build (build/engine, scripts/build-engine.ts):
// per engine locale, a PGlite data directory right after initdb and the warm-up, before any call
// (so it never held a value), gzipped. The first engine of a process loads it instead of running
// initdb (seconds less). The file's name carries the PGlite version that wrote it: another
// version's file is never looked up, and one that does not load, or is of another locale, is
// refused by startPglite (initdb then).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { builtFilePath } from '../native.ts';
import type { EngineLocale } from './collation.ts';

const PGLITE = '@electric-sql/pglite';

let installedVersion: string | undefined;

/** The installed PGlite's version (its package.json, found above its entry point; read once per process). */
export function pgliteVersion(): string {
  installedVersion ??= readPgliteVersion();
  return installedVersion;
}

function readPgliteVersion(): string {
  for (let dir = dirname(fileURLToPath(import.meta.resolve(PGLITE))); dirname(dir) !== dir; dir = dirname(dir)) {
    const p = join(dir, 'package.json');
    if (!existsSync(p)) continue;
    const pkg = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === PGLITE && pkg.version) return pkg.version;
  }
  throw new Error(`${PGLITE}: package.json not found`);
}

/** The shipped file's name for `locale`, written by PGlite `version`. */
export function shippedDataDirName(locale: EngineLocale, version: string): string {
  return `pglite-${version}-${locale}.tar.gz`;
}

/**
 * Where the shipped data directories are looked up: 'build' for build/engine above this file (the
 * checkout, the image's /app), a folder of one's own (tests), or null for none (every first engine
 * runs initdb).
 */
export type ShippedDataDirs = 'build' | { folder: string } | null;

/** The path of the shipped fresh data directory for `locale` (gzipped), or undefined. */
export function shippedDataDir(locale: EngineLocale, from: ShippedDataDirs = 'build'): string | undefined {
  if (from === null) return undefined;
  const name = shippedDataDirName(locale, pgliteVersion());
  const path = from === 'build' ? builtFilePath('engine', name) : join(from.folder, name);
  return path && existsSync(path) ? path : undefined;
}
