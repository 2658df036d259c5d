// The small-unit limits of `make lint` (eslint.config.js): a function over pepr's numbers is an
// error in a folder that is within them, a warning only in a folder the config lists as not yet
// clean, and nothing in test code (complexity and statements). Linted as `make lint` lints, with
// the repository's config, on synthetic files placed in those folders.
import { existsSync, globSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const eslint = new ESLint({ cwd: ROOT });
// The config is plain JavaScript (no declarations): imported by a path TypeScript does not resolve.
const CONFIG = join(ROOT, 'eslint.config.js');
const { NOT_YET_CLEAN, TESTS_NOT_YET_CLEAN } = (await import(CONFIG)) as { NOT_YET_CLEAN: Array<[string, string]>; TESTS_NOT_YET_CLEAN: Array<[string, string]> };

// Complexity 11, 5 parameters, depth 4, 21 statements.
const OVER = `export function over(a: number, b: number, c: number, d: number, e: number): number {
  let n = 0;
${Array.from({ length: 17 }, (_, i) => `  n += ${i};`).join('\n')}
  if (a) { if (b) { if (c) { if (d) n++; } } }
  if (a || b || c || d || e || n || a > 1 || b > 1) n--;
  return n;
}
`;

async function levels(path: string): Promise<Record<string, number>> {
  const [r] = await eslint.lintText(OVER, { filePath: join(ROOT, path) });
  const out: Record<string, number> = {};
  for (const m of r?.messages ?? []) if (m.ruleId && ['complexity', 'max-statements', 'max-params', 'max-depth'].includes(m.ruleId)) out[m.ruleId] = m.severity;
  return out;
}

describe('lint limits', () => {
  it('are errors in a clean folder (make lint fails)', async () => {
    expect(await levels('policy/src/keys/over.ts')).toEqual({ complexity: 2, 'max-statements': 2, 'max-params': 2, 'max-depth': 2 });
    expect(await levels('sidecar/src/metrics/over.ts')).toEqual({ complexity: 2, 'max-statements': 2, 'max-params': 2, 'max-depth': 2 });
  });

  it('are errors in the folders made clean by issue 9 (protocol, io, protection, access, cli explain)', async () => {
    for (const path of ['sidecar/src/protocol/over.ts', 'sidecar/src/io/over.ts', 'sidecar/src/protection/encryption/over.ts', 'sidecar/src/protection/anonymization/over.ts',
      'sidecar/src/access/over.ts', 'cli/src/explain/over.ts']) {
      expect(await levels(path), path).toEqual({ complexity: 2, 'max-statements': 2, 'max-params': 2, 'max-depth': 2 });
    }
  });

  it('are warnings in a single file listed as not yet clean, errors beside it', async () => {
    expect(await levels('sidecar/src/access/residual-stage.ts')).toEqual({ complexity: 1, 'max-statements': 1, 'max-params': 1, 'max-depth': 1 });
    expect(await levels('sidecar/src/access/residual-setup.ts')).toEqual({ complexity: 2, 'max-statements': 2, 'max-params': 2, 'max-depth': 2 });
  });

  it('are warnings in a folder listed as not yet clean', async () => {
    expect(await levels('sidecar/src/rewrite/rules/over.ts')).toEqual({ complexity: 1, 'max-statements': 1, 'max-params': 1, 'max-depth': 1 });
  });

  it('leave test code its complexity and length; parameters and depth stay errors outside the listed test folders', async () => {
    expect(await levels('policy/src/keys/over.test.ts')).toEqual({ 'max-params': 2, 'max-depth': 2 });
    expect(await levels('sidecar/test/adversarial/over.test.ts')).toEqual({ 'max-params': 1, 'max-depth': 1 });
  });

  it('lists only folders that exist, each with its reason', () => {
    for (const [glob, why] of [...NOT_YET_CLEAN, ...TESTS_NOT_YET_CLEAN]) {
      expect(why.length, glob).toBeGreaterThan(5);
      expect(existsSync(join(ROOT, glob)) || globSync(glob, { cwd: ROOT }).length > 0, glob).toBe(true);
    }
  });
});
