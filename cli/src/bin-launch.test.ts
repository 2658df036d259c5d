// cli/bin/clarus's choice of what to run (issue 15, goal 5): the JavaScript build (build/js) while
// it is fresh, the TypeScript sources when it is missing, has no stamp, a source is newer than its
// stamp (never stale code) or CLARUS_FROM_SOURCE=1; a newer test file does not count. Also the
// memory settings and flags it gives the process. The launcher runs in a scratch tree of its own layout
// whose two entry points only report which one ran (the real build: cli/test/integration/built-js.test.ts).
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@clarus/crds/generate.ts';

const run = promisify(execFile);
let root: string;
const report = (from: string) => `console.log(JSON.stringify({ from: ${JSON.stringify(from)}, argv: process.argv.slice(2), execArgv: process.execArgv,
  mmap: process.env.MALLOC_MMAP_THRESHOLD_, arenas: process.env.MALLOC_ARENA_MAX }));\n`;
const at = (f: string, s: number) => utimesSync(join(root, f), s, s);
const now = Math.floor(Date.now() / 1000);

async function launch(env: Record<string, string> = {}): Promise<{ from: string; argv: string[]; execArgv: string[]; mmap?: string; arenas?: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MALLOC_') && k !== 'CLARUS_FROM_SOURCE'));
  const { stdout } = await run(join(root, 'cli/bin/clarus'), ['proxy', '--x'], { env: { ...clean, ...env } });
  return JSON.parse(stdout) as { from: string; argv: string[]; execArgv: string[]; mmap?: string; arenas?: string };
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'clarus-bin-'));
  for (const p of ['crds', 'policy', 'log', 'sidecar', 'operator', 'cli']) mkdirSync(join(root, p, 'src'), { recursive: true });
  mkdirSync(join(root, 'cli/bin'));
  copyFileSync(join(REPO_ROOT, 'cli/bin/clarus'), join(root, 'cli/bin/clarus'));
  symlinkSync(join(REPO_ROOT, '.tools'), join(root, '.tools'));
  writeFileSync(join(root, 'cli/src/main.ts'), report('source'));
  writeFileSync(join(root, 'sidecar/src/a.ts'), '');
  writeFileSync(join(root, 'sidecar/src/a.test.ts'), '');
  writeFileSync(join(root, 'package.json'), '{}');
  mkdirSync(join(root, 'build/js/cli/src'), { recursive: true });
  writeFileSync(join(root, 'build/js/cli/src/main.js'), report('built'));
  for (const f of ['cli/src/main.ts', 'sidecar/src/a.ts', 'sidecar/src/a.test.ts', 'package.json']) at(f, now - 100);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('cli/bin/clarus', () => {
  it('runs the sources while there is no build stamp', async () => {
    expect((await launch()).from).toBe('source');
  });
  it('runs the build while no source is newer than its stamp, with the arguments and memory settings', async () => {
    writeFileSync(join(root, 'build/js/.built'), '');
    at('build/js/.built', now);
    const r = await launch();
    expect(r).toMatchObject({ from: 'built', argv: ['proxy', '--x'], mmap: '32768', arenas: '2' });
    expect(r.execArgv).toContain('--max-semi-space-size=8');
    expect((await launch({ MALLOC_MMAP_THRESHOLD_: '65536', MALLOC_ARENA_MAX: '4' }))).toMatchObject({ from: 'built', mmap: '65536', arenas: '4' });
    // CLARUS_NODE_FLAGS: flags NODE_OPTIONS refuses, word by word.
    expect((await launch({ CLARUS_NODE_FLAGS: '--liftoff-only --no-warnings' })).execArgv).toEqual(expect.arrayContaining(['--liftoff-only', '--no-warnings']));
  });
  it('a newer test file keeps the build; CLARUS_FROM_SOURCE=1 runs the sources', async () => {
    at('sidecar/src/a.test.ts', now + 100);
    expect((await launch()).from).toBe('built');
    expect((await launch({ CLARUS_FROM_SOURCE: '1' })).from).toBe('source');
  });
  it('runs the sources once a source or package.json is newer than the build', async () => {
    at('sidecar/src/a.ts', now + 100);
    expect((await launch()).from).toBe('source');
    at('sidecar/src/a.ts', now - 100);
    expect((await launch()).from).toBe('built');
    at('package.json', now + 100);
    expect((await launch()).from).toBe('source');
    at('package.json', now - 100);
    unlinkSync(join(root, 'build/js/cli/src/main.js'));
    expect((await launch()).from).toBe('source');
  });
});
