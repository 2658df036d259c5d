// Benchmark scenarios: a pgbench workload run against every target. New scenarios (e.g. the
// encrypted-column ones of issue 4) register here: give them a name, the pgbench arguments and,
// if they need their own tables or a proxy policy, a setup step and proxy options.
import type { RuntimeConfig } from '../../crds/src/runtime/config.ts';
import type { PgCluster } from '../../sidecar/test/harness/pg.ts';

export interface Scenario {
  name: string;
  description: string;
  /** pgbench arguments that pick the workload (script, query mode); -c/-j/-T are added per run. */
  pgbenchArgs: string[];
  /** One-time preparation on the backend (directly, as superuser) before any run. */
  setup?(pg: PgCluster): Promise<void>;
  /**
   * Adds what the scenario needs to the Clarus proxy's runtime configuration (e.g. datasets with
   * encrypted columns). One proxy serves every scenario, so hooks add to the policy, never replace it.
   */
  configureProxy?(config: RuntimeConfig): void;
  /** Targets this scenario runs against (default: all). */
  targets?: string[];
}

export const SCENARIOS: Scenario[] = [
  { name: 'select-simple', description: 'pgbench select-only, simple query protocol', pgbenchArgs: ['-S', '-M', 'simple'] },
  { name: 'select-extended', description: 'pgbench select-only, extended protocol (unnamed statements)', pgbenchArgs: ['-S', '-M', 'extended'] },
  { name: 'select-prepared', description: 'pgbench select-only, named prepared statements', pgbenchArgs: ['-S', '-M', 'prepared'] },
  { name: 'tpcb-like', description: 'pgbench TPC-B-like read/write transactions, simple protocol', pgbenchArgs: ['-b', 'tpcb-like', '-M', 'simple'] },
];

export function pickScenarios(names: string[]): Scenario[] {
  if (names.length === 0) return SCENARIOS;
  const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length) throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  return SCENARIOS.filter((s) => names.includes(s.name));
}
