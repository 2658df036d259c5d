// The package layering check of `make lint` (.dependency-cruiser.cjs) run, as make runs it, on small
// synthetic repositories: a correctly layered one passes, and each kind of wrong import fails.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DEPCRUISE = join(ROOT, 'node_modules/.bin/depcruise');
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');
const PACKAGES = ['crds', 'policy', 'log', 'sidecar', 'operator', 'cli', 'testing'];

/** A layered repository in miniature: each package imports only what the rule allows. */
const LAYERED: Record<string, string> = {
  'crds/src/types.ts': 'export type Kind = "SecurityPolicy";\n',
  'policy/src/rules.ts': "import type { Kind } from '@clarus/crds/types.ts';\nexport const kind: Kind = 'SecurityPolicy';\n",
  'log/src/logger.ts': 'export const log = (m: string): string => m;\n',
  'sidecar/src/proxy.ts': "import { kind } from '@clarus/policy/rules.ts';\nimport { log } from '@clarus/log/logger.ts';\nexport const proxy = log(kind);\n",
  'operator/src/reconcile.ts': "import { kind } from '@clarus/policy/rules.ts';\nexport const reconcile = kind;\n",
  'cli/src/main.ts': "import { proxy } from '@clarus/sidecar/proxy.ts';\nimport { reconcile } from '@clarus/operator/reconcile.ts';\nexport const main = [proxy, reconcile];\n",
  'testing/src/pg.ts': "import { proxy } from '@clarus/sidecar/proxy.ts';\nexport const pg = proxy;\n",
  'sidecar/src/proxy.test.ts': "import { pg } from '@clarus/testing/pg.ts';\nexport const t = pg;\n",
  'sidecar/test/integration/proxy.test.ts': "import { pg } from '@clarus/testing/pg.ts';\nimport { main } from '@clarus/cli/main.ts';\nexport const t = [pg, main];\n",
  'bench/run.ts': "import { pg } from '@clarus/testing/pg.ts';\nexport const b = pg;\n",
  // Type-only cycles vanish at run time and are allowed.
  'policy/src/a-type.ts': "import type { B } from './b-type.ts';\nexport interface A { b?: B }\n",
  'policy/src/b-type.ts': "import type { A } from './a-type.ts';\nexport interface B { a?: A }\n",
};

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** Writes the files as an npm-workspaces repository (node_modules/@clarus/* linked to the packages). */
function repo(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'clarus-layers-'));
  roots.push(root);
  const write = (path: string, text: string): void => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  write('package.json', JSON.stringify({ name: 'fixture', private: true, type: 'module', workspaces: PACKAGES }));
  mkdirSync(join(root, 'node_modules/@clarus'), { recursive: true });
  for (const p of PACKAGES) {
    write(`${p}/package.json`, JSON.stringify({ name: `@clarus/${p}`, version: '0.1.0', type: 'module', exports: { './*': './src/*' } }));
    symlinkSync(`../../${p}`, join(root, `node_modules/@clarus/${p}`));
  }
  for (const [path, text] of Object.entries(files)) write(path, text);
  return root;
}

interface Violation { rule: { name: string; severity: string }; from: string; to: string }

const depcruise = (root: string, output: 'json' | 'err') =>
  run(DEPCRUISE, ['--config', CONFIG, '--output-type', output, ...PACKAGES, 'bench'], { cwd: root, maxBuffer: 64 << 20 });

async function violations(root: string): Promise<Violation[]> {
  const { stdout } = await depcruise(root, 'json');
  return (JSON.parse(stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

/** Exit status of the command as `make lint` runs it (human-readable output, non-zero on errors). */
async function lintExit(root: string): Promise<number> {
  try {
    await depcruise(root, 'err');
    return 0;
  } catch (e) {
    return (e as { code?: number }).code ?? -1;
  }
}

const brief = (v: Violation): string => `${v.rule.name}: ${v.from} → ${v.to}`;

describe('package layering (make lint)', () => {
  it('passes a correctly layered repository', async () => {
    const root = repo(LAYERED);
    expect((await violations(root)).map(brief)).toEqual([]);
    expect(await lintExit(root)).toBe(0);
  });

  it('fails the lint command on a wrong import', async () => {
    expect(await lintExit(repo({ ...LAYERED, 'crds/src/up.ts': "import { kind } from '@clarus/policy/rules.ts';\nexport const up = kind;\n" }))).not.toBe(0);
  });

  it.each<{ what: string; path: string; text: string; expected: string[]; extra?: Record<string, string> }>([
    {
      what: 'the API importing policy', path: 'crds/src/up.ts',
      text: "import { kind } from '@clarus/policy/rules.ts';\nexport const up = kind;\n",
      expected: ['layer-crds: crds/src/up.ts → policy/src/rules.ts'],
    },
    {
      what: 'the operator importing the proxy', path: 'operator/src/log.ts',
      text: "import { proxy } from '@clarus/sidecar/proxy.ts';\nexport const l = proxy;\n",
      expected: ['layer-operator: operator/src/log.ts → sidecar/src/proxy.ts'],
    },
    {
      what: 'policy importing the CLI', path: 'policy/src/explain.ts',
      text: "import { main } from '@clarus/cli/main.ts';\nexport const e = main;\n",
      expected: ['layer-policy: policy/src/explain.ts → cli/src/main.ts'],
    },
    {
      what: 'a deep relative path into another package', path: 'sidecar/src/deep.ts',
      text: "import { kind } from '../../policy/src/rules.ts';\nexport const d = kind;\n",
      expected: ['import-by-package-name: sidecar/src/deep.ts → policy/src/rules.ts'],
    },
    {
      what: 'production code importing the test harness', path: 'sidecar/src/harness.ts',
      text: "import { pg } from '@clarus/testing/pg.ts';\nexport const h = pg;\n",
      expected: ['layer-sidecar: sidecar/src/harness.ts → testing/src/pg.ts', 'testing-only-from-tests: sidecar/src/harness.ts → testing/src/pg.ts'],
    },
    {
      what: 'a cycle', path: 'policy/src/a.ts',
      text: "import { b } from './b.ts';\nexport const a = (): number => b();\n",
      expected: ['no-circular: policy/src/a.ts → policy/src/b.ts'],
      extra: { 'policy/src/b.ts': "import { a } from './a.ts';\nexport const b = (): number => a.length;\n" },
    },
    {
      what: 'an import that does not resolve', path: 'cli/src/typo.ts',
      text: "import { nothing } from '@clarus/policy/rulez.ts';\nexport const t = nothing;\n",
      expected: ['not-to-unresolvable: cli/src/typo.ts → @clarus/policy/rulez.ts'],
    },
    {
      what: 'the rewriter reaching key material through another module', path: 'sidecar/src/rewrite/rule.ts',
      text: "import { bind } from '../protection/params.ts';\nexport const r = bind;\n",
      expected: ['rewriter-holds-no-keys: sidecar/src/rewrite/rule.ts → sidecar/src/protection/encryption/derive.ts'],
      extra: {
        'sidecar/src/protection/params.ts': "import { derive } from './encryption/derive.ts';\nexport const bind = derive;\n",
        'sidecar/src/protection/encryption/derive.ts': 'export const derive = (k: string): string => k;\n',
        // The executor may hold keys; the rewriter's own tests may too.
        'sidecar/src/access/run.ts': "import { derive } from '../protection/encryption/derive.ts';\nexport const run = derive;\n",
        'sidecar/src/rewrite/rule.test.ts': "import { derive } from '../protection/encryption/derive.ts';\nexport const t = derive;\n",
      },
    },
  ])('fails on $what', async ({ path, text, expected, extra = {} }) => {
    const found = await violations(repo({ ...LAYERED, ...extra, [path]: text }));
    expect(found.filter((v) => v.rule.severity === 'error').map(brief).sort()).toEqual([...expected].sort());
  });
});
