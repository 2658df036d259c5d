// scripts/build-js.ts's rewriting of module specifiers (the pure part; the build itself runs in
// cli/test/integration/built-js.test.ts): workspace imports and worker URLs become relative `.js`
// paths inside the build, and any `.ts` specifier left is reported (the build would load a source).
import { describe, expect, it } from 'vitest';
import { leftoverTs, rewriteSpecifiers } from './build-js.ts';

describe('build-js specifiers', () => {
  const file = '/b/cli/src/proxy/run.js';
  it('rewrites @clarus imports (static, dynamic, side-effect) to relative .js paths in the build', () => {
    const code = [
      "import { x } from '@clarus/sidecar/rewrite/parser.ts';",
      "const m = await import('@clarus/policy/runtime/render.ts');",
      "import '@clarus/log/logger.ts';",
      "export { y } from \"@clarus/cli/main.ts\";",
    ].join('\n');
    expect(rewriteSpecifiers(code, file, '/b')).toBe([
      "import { x } from '../../../sidecar/src/rewrite/parser.js';",
      "const m = await import('../../../policy/src/runtime/render.js');",
      "import '../../../log/src/logger.js';",
      "export { y } from \"../main.js\";",
    ].join('\n'));
  });
  it('rewrites worker URLs and leaves other packages, strings and .js imports alone', () => {
    const code = "new Worker(new URL('./worker.ts', import.meta.url)); import pg from 'pg'; import t from '@clarus/testing/pg.ts'; const s = 'file.ts';";
    const out = rewriteSpecifiers(code, '/b/sidecar/src/residual/executor.js', '/b');
    expect(out).toContain("new URL('./worker.js', import.meta.url)");
    expect(out).toContain("from 'pg'");
    // testing/ is not part of the build: left as is, and reported.
    expect(leftoverTs(out)).toEqual(['@clarus/testing/pg.ts']);
    expect(leftoverTs("import a from './a.js'; const s = 'file.ts';")).toEqual([]);
  });
});
