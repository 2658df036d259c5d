import tseslint from 'typescript-eslint';

// Small-unit limits at pepr's numbers (complexity 10, 20 statements, 4 parameters, depth 3), errors
// everywhere except in the folders listed below, which are not within them yet: there the same
// limits warn, so a change may shrink them and none may grow them past the limits unnoticed in
// review. A folder leaves the list once `npx eslint <folder>` shows no limit warning.
const LIMITS = { complexity: 10, 'max-statements': 20, 'max-params': 4, 'max-depth': 3 };
const limits = (level) => Object.fromEntries(Object.entries(LIMITS).map(([rule, n]) => [rule, [level, n]]));

/** Production folders (or single files) over the limits, and why (functions counted by `npx eslint` at the time of writing). */
const NOT_YET_CLEAN = [
  // The proxy's state machines and walks written before the limits: the session relay and inspector,
  // the rewriter's recursive analysis and rules.
  ['sidecar/src/access/residual-stage.ts', 'ResidualStage.run(candidates, rows, formats, settings, params) implements the 5-parameter interface of session/pipeline.ts, which split/ calls too (1)'],
  ['sidecar/src/rewrite/**', 'the rewriter\'s analysis and rules (57)'],
  ['sidecar/src/session/**', 'the session relay and inspector (15)'],
  ['sidecar/src/split/**', 'the splitting stage (issue 12, landing): planner, fragments, two-phase commit and recovery (35)'],
];

/** Test code has no complexity or statement limits; these test folders are still over the others. */
const TESTS_NOT_YET_CLEAN = [
  ['sidecar/test/adversarial/**', 'attack tables nested 5 deep, a 5-parameter helper'],
  ['operator/src/**/*.test.ts', 'two 5-parameter fixture builders'],
  ['e2e/src/kube.ts', 'rawRequest(method, path, body, credentials, headers)'],
  ['testing/src/vault.ts', 'call(address, token, method, path, body)'],
  ['bench/lib/**', 'one loop nested 4 deep'],
  ['bench/split.ts', 'a 6-parameter scenario builder, one loop nested 4 deep'],
];

/**
 * Files of the rewriter typed with libpg-query's published AST types (@pgsql/types, issue 9): a
 * cast to the untyped `Json` record is an error there (use `nodeBody`/`nodeTag` of rewrite/ast.ts).
 * A file joins the list once converted; scripts/typed-ast.test.ts holds the other folders' casts
 * to ceilings that may only go down.
 */
const TYPED_AST = [
  'sidecar/src/rewrite/{expr,hidden,refs,scope,search-path,select,statement,statements,views}.ts',
  'sidecar/src/rewrite/rules/{copy,create-table-as,delete,foreign-key,group-by-distinct,index,insert-unnest,on-conflict,prepare,set-operation,shape-guard,star-expansion,target,where-equality,write-value}.ts',
];
const NO_JSON_CAST = {
  selector: "TSAsExpression TSTypeReference[typeName.name='Json']",
  message: 'typed AST: use the @pgsql/types node types (nodeBody, nodeTag in rewrite/ast.ts), not a cast to Json',
};

const TESTS = ['**/*.test.ts', '**/test/**/*.ts', 'testing/**/*.ts', 'bench/**/*.ts', 'compat/**/*.ts', 'e2e/**/*.ts', 'scripts/**/*.ts'];

export default tseslint.config(
  { ignores: ['node_modules/**', '.tools/**', 'build/**', 'bench/results/**', 'charts/**', '**/generated/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      ...limits('error'),
      'max-lines': ['warn', { max: 500, skipBlankLines: true, skipComments: true }],
      'no-console': ['error', { allow: ['error'] }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  ...NOT_YET_CLEAN.map(([folder]) => ({ files: [folder], rules: limits('warn') })),
  {
    files: TESTS,
    rules: { 'max-statements': 'off', 'max-lines': 'off', complexity: 'off', 'no-console': 'off' },
  },
  ...TESTS_NOT_YET_CLEAN.map(([folder]) => ({ files: [folder], rules: { 'max-params': ['warn', LIMITS['max-params']], 'max-depth': ['warn', LIMITS['max-depth']] } })),
  { files: TYPED_AST, rules: { 'no-restricted-syntax': ['error', NO_JSON_CAST] } },
);

export { NOT_YET_CLEAN, TESTS_NOT_YET_CLEAN, TYPED_AST };
