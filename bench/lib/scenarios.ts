// Benchmark scenarios: a workload run against targets. Most are pgbench runs (arguments that pick
// the workload); a scenario may instead measure something else itself (`run`, e.g. a COPY). The
// encrypted-column ones of issue 4 live in enc-scenarios.ts and register here.
import type { RuntimeConfig } from '@clarus/policy/runtime/config.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { ENC_SCENARIOS } from './enc-scenarios.ts';
import type { BenchSettings } from './settings.ts';
import type { RunningTarget } from './targets.ts';

/** What one run measured (pgbench's numbers, or a scenario's own run mapped onto them). */
export interface MeasuredRun {
  tps: number;
  transactions: number;
  failed: number;
  latencyAvgMs: number;
  p50Ms: number;
  p99Ms: number;
  /** Wall-clock seconds of a one-shot run (COPY); absent for pgbench's timed runs. */
  seconds?: number;
  /** Largest RSS of the target process sampled during the run (MiB), when the scenario samples it. */
  rssMaxMiB?: number;
}

/** What a scenario's prepare/run step works with: one running target in front of the cluster. */
export interface ScenarioContext {
  pg: PgCluster;
  targetName: string;
  target: RunningTarget;
  settings: BenchSettings;
  /** A scratch directory for the whole benchmark (data files), removed at the end. */
  workDir: string;
  /** Runs `fn` once per key for the whole benchmark (e.g. creating the tables of one database). */
  once<T>(key: string, fn: () => Promise<T>): Promise<T>;
}

export interface Scenario {
  name: string;
  description: string;
  /** pgbench arguments that pick the workload (script, query mode); -c/-j/-T are added per run. */
  pgbenchArgs?: string[];
  /** Measures one run itself instead of pgbench (e.g. a timed COPY). */
  run?(ctx: ScenarioContext): Promise<MeasuredRun>;
  /** At most this many rounds (keeps long scenarios such as a million-row COPY inside the time budget). */
  rounds?: number;
  /** Client counts to run (default: BENCH_CLIENTS). */
  clients?: number[];
  /** One-time preparation on the backend (directly, as superuser) before any target starts. */
  setup?(pg: PgCluster): Promise<void>;
  /**
   * One-time preparation through each target after it started (tables created through the proxy,
   * checks of what the backend stores). Throwing aborts the scenario for that target.
   */
  prepare?(ctx: ScenarioContext): Promise<void>;
  /**
   * Adds what the scenario needs to the Clarus proxy's runtime configuration. One proxy serves
   * every scenario, so hooks add to the policy, never replace it.
   */
  configureProxy?(config: RuntimeConfig): void;
  /** A scenario that must run before this one in each round (it reads what that one wrote). */
  requires?: string;
  /** Targets this scenario runs against (default: BASE_TARGETS). */
  targets?: string[];
  /** Runs on pgbench -i's tables (implied without `targets`). */
  pgbenchTables?: boolean;
}

/** The targets a scenario without its own list runs against. */
export const BASE_TARGETS = ['direct', 'pgbouncer', 'clarus', 'clarus-w2'];

export function scenarioTargets(s: Scenario): string[] {
  return s.targets ?? BASE_TARGETS;
}

/** Total rate of the latency scenarios: well below what every target sustains on the bench's 2 shared cores. */
export const LATENCY_RATE = 800;

export const SCENARIOS: Scenario[] = [
  { name: 'select-simple', description: 'pgbench select-only, simple query protocol', pgbenchArgs: ['-S', '-M', 'simple'] },
  { name: 'select-extended', description: 'pgbench select-only, extended protocol (unnamed statements)', pgbenchArgs: ['-S', '-M', 'extended'] },
  { name: 'select-prepared', description: 'pgbench select-only, named prepared statements', pgbenchArgs: ['-S', '-M', 'prepared'] },
  // Issue 15, goal 6: latency added over direct, measured below saturation (at full speed on the
  // bench's shared cores a latency is mostly queueing): a fixed rate over 8 clients, p50/p99 of
  // each transaction's own time (the schedule lag taken off; pgbench.ts parseLogLatencies).
  ...(['simple', 'prepared'] as const).map((mode): Scenario => ({
    name: `latency-${mode}`, description: `pgbench select-only at ${LATENCY_RATE} tps over 8 clients (-R), -M ${mode}: p50/p99 added over direct`,
    pgbenchArgs: ['-S', '-M', mode, '-R', String(LATENCY_RATE)], clients: [8], targets: ['direct', 'pgbouncer', 'clarus'], pgbenchTables: true,
  })),
  { name: 'tpcb-like', description: 'pgbench TPC-B-like read/write transactions, simple protocol', pgbenchArgs: ['-b', 'tpcb-like', '-M', 'simple'] },
  ...ENC_SCENARIOS,
];

/** Scenarios by name; a name ending in `*` is a prefix (`enc-*` picks every encrypted-column one). */
export function pickScenarios(names: string[]): Scenario[] {
  if (names.length === 0) return SCENARIOS;
  const matches = (pattern: string, s: Scenario) => (pattern.endsWith('*') ? s.name.startsWith(pattern.slice(0, -1)) : s.name === pattern);
  const unknown = names.filter((n) => !SCENARIOS.some((s) => matches(n, s)));
  if (unknown.length) throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  const picked = SCENARIOS.filter((s) => names.some((n) => matches(n, s)));
  const missing = picked.filter((s) => s.requires && !picked.some((p) => p.name === s.requires));
  if (missing.length) throw new Error(missing.map((s) => `${s.name} needs ${s.requires} in the same run`).join('; '));
  return picked;
}
