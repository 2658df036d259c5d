// The package layering (docs/architecture.md, "Packages"), checked by `make lint` with
// dependency-cruiser. Production code may only import downwards:
//
//   crds (the API)  ←  policy  ←  sidecar (the proxy), operator  ←  cli        log ← sidecar, operator, cli
//
// Test code (*.test.ts, any test/ folder, and the testing, e2e, bench, compat and scripts folders)
// may import every package, and only test code may import `testing`. Between packages, imports name
// the package (`@clarus/policy/runtime/config.ts`), never a relative path out of the package, and no
// module imports itself through a cycle. scripts/layers.test.ts proves that each rule fires.

const TEST_CODE = [
  '\\.test\\.ts$',
  '(^|/)test/',
  '^(testing|e2e|bench|compat|scripts)/',
];

/** Which packages production code of each package may import (itself included). */
const LAYERS = {
  crds: ['crds'],
  policy: ['crds', 'policy'],
  log: ['log'],
  sidecar: ['crds', 'policy', 'log', 'sidecar'],
  operator: ['crds', 'policy', 'log', 'operator'],
  cli: ['crds', 'policy', 'log', 'sidecar', 'operator', 'cli'],
};

/**
 * Cycles not yet removed, each as { path, reason }; they are reported as warnings, any other cycle
 * fails. None today (the rewriter's expr.ts ↔ select.ts went with issue 9).
 */
const KNOWN_CYCLES = [];

/** The proxy's key material: the keyring, key derivation, the ciphers and what hands them out. */
const KEY_MATERIAL = '^sidecar/src/protection/(encryption/(keyring|derive|column|siv|cmac|gcm|native-aes)|anonymization/keys|fill|keyed-rewriter)\\.ts$';

const FOLDERS = [...Object.keys(LAYERS), 'testing', 'e2e', 'bench', 'compat', 'scripts'];
const anyOf = (names) => `^(${names.join('|')})/`;

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...Object.entries(LAYERS).map(([pkg, allowed]) => ({
      name: `layer-${pkg}`,
      comment: `${pkg} may import only ${allowed.join(', ')} (docs/architecture.md, "Packages")`,
      severity: 'error',
      from: { path: `^${pkg}/`, pathNot: TEST_CODE },
      to: { path: anyOf(FOLDERS.filter((f) => !allowed.includes(f))) },
    })),
    {
      name: 'testing-only-from-tests',
      comment: 'the testing package is for test code only',
      severity: 'error',
      from: { pathNot: TEST_CODE },
      to: { path: '^testing/' },
    },
    {
      name: 'import-by-package-name',
      comment: 'import another package by its name (@clarus/<package>/<path under src>), not by a relative path out of this one',
      severity: 'error',
      from: { path: `^(${FOLDERS.join('|')})/` },
      to: { dependencyTypes: ['local'], dependencyTypesNot: ['aliased'], pathNot: '^$1/' },
    },
    {
      name: 'no-circular',
      comment: 'modules must not import themselves through a cycle (type-only imports do not count: they vanish at run time)',
      severity: 'error',
      from: KNOWN_CYCLES.length ? { pathNot: KNOWN_CYCLES.map((c) => c.path) } : {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    ...KNOWN_CYCLES.map((c) => ({
      name: 'known-circular',
      comment: c.reason,
      severity: 'warn',
      from: { path: c.path },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    })),
    {
      name: 'rewriter-holds-no-keys',
      comment: 'the rewriter holds no keys (docs/architecture.md): protected constants are placeholders the executor fills (sidecar/src/protection/fill.ts); nothing under rewrite/ may reach the keyring, key derivation or the ciphers',
      severity: 'error',
      from: { path: '^sidecar/src/rewrite/', pathNot: TEST_CODE },
      to: { path: KEY_MATERIAL, reachable: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'every import must resolve to a file or an installed package',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|\\.tools|generated)/' },
    tsPreCompilationDeps: true,
    combinedDependencies: false,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.d.ts', '.js', '.mjs', '.cjs', '.json'],
    },
  },
};
