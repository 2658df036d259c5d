// `node scripts/build-js.ts` (`make build-js`, run by `make setup` and the image build): the proxy's
// and operator's sources as JavaScript in build/js (issue 15, goal 5: Node then loads no type
// stripper — its WebAssembly and the stripping of ~300 files at every start). tsc emits what
// cli/src/main.ts imports (tsconfig.build.json: relative `.ts` imports become `.js`), then the
// workspace imports (`@clarus/<package>/<path>.ts`) and worker URLs are rewritten to relative `.js`
// paths inside build/js. The stamp build/js/.built is written before tsc reads a source, so
// cli/bin/clarus, which runs build/js only while no source is newer than the stamp, never runs code
// older than its sources. `--if-stale`: nothing to do when build/js is fresh (make setup).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The workspace packages the build holds (their sources are under <package>/src). */
export const PACKAGES = ['crds', 'policy', 'log', 'sidecar', 'operator', 'cli'] as const;
/** Files whose change makes build/js stale, besides the packages' sources. */
const INPUTS = ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'scripts/build-js.ts'];
const out = join(root, 'build/js');
const stampName = '.built';

function* files(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* files(p);
    else yield p;
  }
}

/** Whether build/js exists and no input (tests aside) is newer than its stamp (the same rule as cli/bin/clarus). */
export function fresh(): boolean {
  const stamp = join(out, stampName);
  if (!existsSync(stamp) || !existsSync(join(out, 'cli/src/main.js'))) return false;
  const t = statSync(stamp).mtimeMs;
  const inputs = [...INPUTS.map((f) => join(root, f)), ...PACKAGES.flatMap((p) => [...files(join(root, p, 'src'))].filter((f) => !f.endsWith('.test.ts')))];
  return inputs.every((f) => !existsSync(f) || statSync(f).mtimeMs <= t);
}

/** `@clarus/<package>/<path>.ts` and relative `.ts` URLs → relative `.js` paths from `file` (inside the build). */
export function rewriteSpecifiers(code: string, file: string, buildRoot: string): string {
  const toRel = (target: string) => {
    const r = relative(dirname(file), target);
    return r.startsWith('.') ? r : `./${r}`;
  };
  return code
    .replace(/(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])@clarus\/([a-z]+)\/([^'"]+?)\.ts\2/g, (...m: string[]) => {
      const [all, pre, q, pkg, path] = m as [string, string, string, string, string];
      return (PACKAGES as readonly string[]).includes(pkg) ? `${pre}${q}${toRel(join(buildRoot, pkg, 'src', `${path}.js`))}${q}` : all;
    })
    .replace(/new URL\((['"])(\.{1,2}\/[^'"]+?)\.ts\1,\s*import\.meta\.url\)/g, (_all, q: string, path: string) => `new URL(${q}${path}.js${q}, import.meta.url)`);
}

/** Any `.ts` module specifier left in emitted code (the build would load a source). */
export function leftoverTs(code: string): string[] {
  return [...code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|new URL\()(['"])([^'"]+\.ts)\1/g)].map((m) => m[2] as string);
}

export function build(): void {
  const tmp = join(root, `build/js.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  // The stamp first: a source edited while tsc runs is newer than it, so the build counts as stale.
  writeFileSync(join(tmp, stampName), `${new Date().toISOString()}\n`);
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', tmp], { stdio: 'inherit' });
    const bad: string[] = [];
    for (const f of files(tmp)) {
      if (!f.endsWith('.js')) continue;
      const code = rewriteSpecifiers(readFileSync(f, 'utf8'), f, tmp);
      bad.push(...leftoverTs(code).map((s) => `${relative(tmp, f)}: ${s}`));
      writeFileSync(f, code);
    }
    if (bad.length) throw new Error(`build-js: TypeScript imports left in the build:\n${bad.join('\n')}`);
    // The emitted files are ES modules by the repository's package.json ("type": "module"), the nearest above build/js.
    rmSync(out, { recursive: true, force: true });
    renameSync(tmp, out);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--if-stale') && fresh()) process.stdout.write('build-js: build/js is up to date\n');
  else {
    build();
    process.stdout.write('build-js: wrote build/js\n');
  }
}
