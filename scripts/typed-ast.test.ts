// The rewriter's tree is typed with libpg-query's published AST types (@pgsql/types, issue 9): casts
// to the untyped `Json` record of sidecar/src/rewrite/ast.ts may only go down. A converted file is
// listed in eslint.config.js (TYPED_AST), where a cast is a lint error; every folder of the proxy
// holds its remaining casts to a ceiling here. Lower a ceiling when a change removes casts.
import { globSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// The config is plain JavaScript (no declarations): imported by a path TypeScript does not resolve.
const { TYPED_AST } = (await import(join(ROOT, 'eslint.config.js'))) as { TYPED_AST: string[] };

/** `as Json` casts per folder of sidecar/src (its own files, tests aside). A folder not listed has none. */
const CEILINGS: Record<string, number> = {
  'sidecar/src/access': 5,
  'sidecar/src/rewrite': 23,
  'sidecar/src/rewrite/rules': 11,
  'sidecar/src/rewrite/two-stage': 45,
  'sidecar/src/split': 54,
};

const CAST = /\bas Json\b/g;

function castsPerFolder(dir: string, out: Record<string, number> = {}): Record<string, number> {
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) castsPerFolder(path, out);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) {
      const n = readFileSync(join(ROOT, path), 'utf8').match(CAST)?.length ?? 0;
      if (n) out[dir] = (out[dir] ?? 0) + n;
    }
  }
  return out;
}

describe('typed AST', () => {
  it('keeps the casts to Json of every folder at or under its ceiling', () => {
    const counts = castsPerFolder('sidecar/src');
    for (const [folder, n] of Object.entries(counts)) expect(n, folder).toBeLessThanOrEqual(CEILINGS[folder] ?? 0);
  });

  it('makes a cast to Json a lint error in a converted file, and only there', async () => {
    const eslint = new ESLint({ cwd: ROOT });
    const text = "import type { Json } from './ast.ts';\nexport const f = (x: unknown): unknown => (x as Json | undefined)?.a;\n";
    const ruleOf = async (path: string): Promise<number[]> => {
      const [r] = await eslint.lintText(text, { filePath: join(ROOT, path) });
      return (r?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-syntax').map((m) => m.severity);
    };
    expect(await ruleOf('sidecar/src/rewrite/select.ts')).toEqual([2]);
    expect(await ruleOf('sidecar/src/rewrite/rules/where-equality.ts')).toEqual([2]);
    expect(await ruleOf('sidecar/src/rewrite/ast.ts')).toEqual([]);
  });

  it('lists only files that exist', () => {
    for (const glob of TYPED_AST) expect(globSync(glob, { cwd: ROOT }).length, glob).toBeGreaterThan(0);
  });
});
