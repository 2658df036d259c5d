import { defineConfig } from 'vitest/config';

// Test tiers (ARCHITECTURE.md): unit tests sit next to the code as *.test.ts; integration tests
// start real PostgreSQL servers and live in */test/integration/*.test.ts; the control-plane tier
// lives in e2e/ and is run by `make e2e`.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{crds,policy,log,sidecar,operator,cli,testing}/src/**/*.test.ts', 'bench/**/*.test.ts', 'scripts/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          // The adversarial suite (issue 8: every class of attack, the property test of 5,000
          // generated statements) runs here; `npx vitest run --project integration sidecar/test/adversarial` runs it alone.
          include: ['{crds,policy,sidecar,operator,cli}/test/integration/**/*.test.ts', 'sidecar/test/adversarial/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['e2e/test/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 900_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
