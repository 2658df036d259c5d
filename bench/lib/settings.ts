// What one `make bench` run measures, from the environment. Defaults fit ~10-15 minutes on two
// cores; BENCH_QUICK=1 is a ~3-minute run of the same matrix with shorter, fewer rounds (runs
// shorter than 2 s are mostly spent connecting 32 SCRAM clients on a busy 2-core machine).

export interface BenchSettings {
  quick: boolean;
  rounds: number;
  /** pgbench -T per run. */
  seconds: number;
  clients: number[];
  /** pgbench -i scale factor (100k pgbench_accounts rows per unit). */
  scale: number;
  /** Target names to include (direct, pgbouncer, clarus, clarus-enc2, clarus-enc5, clarus-enc3). */
  targets: string[];
  /** Scenario names to include; empty means all registered ones. */
  scenarios: string[];
  /** Idle connections held open through each pooler/proxy when measuring RSS. */
  idleConnections: number;
  /** Start the proxy with `node --cpu-prof` and keep the profile. */
  cpuProfile: boolean;
  /** Rows of the encrypted-column COPY scenarios. */
  copyRows: number;
}

/** `NAME=value` assignments separated by `separator` (the A/B harnesses' extra environment); the value may hold '='. */
export function assignments(text: string | undefined, separator: RegExp | string): Record<string, string> {
  return Object.fromEntries((text ?? '').split(separator).filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

function list(v: string | undefined): string[] | undefined {
  const items = v?.split(',').map((s) => s.trim()).filter(Boolean);
  return items && items.length ? items : undefined;
}

function int(v: string | undefined, name: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

export function readSettings(env: Record<string, string | undefined>): BenchSettings {
  const quick = env.BENCH_QUICK === '1' || env.BENCH_QUICK === 'true';
  const clients = list(env.BENCH_CLIENTS)?.map((c) => int(c, 'BENCH_CLIENTS') as number) ?? [1, 8, 32];
  return {
    quick,
    rounds: int(env.BENCH_ROUNDS, 'BENCH_ROUNDS') ?? (quick ? 2 : 3),
    seconds: int(env.BENCH_SECONDS, 'BENCH_SECONDS') ?? (quick ? 2 : 5),
    clients,
    scale: int(env.BENCH_SCALE, 'BENCH_SCALE') ?? (quick ? 1 : 4),
    targets: list(env.BENCH_TARGETS) ?? ['direct', 'pgbouncer', 'clarus', 'clarus-w2', 'clarus-enc2', 'clarus-enc5', 'clarus-enc3'],
    scenarios: list(env.BENCH_SCENARIOS) ?? [],
    idleConnections: int(env.BENCH_IDLE_CONNECTIONS, 'BENCH_IDLE_CONNECTIONS') ?? 200,
    cpuProfile: env.BENCH_CPU_PROF === '1',
    copyRows: int(env.BENCH_COPY_ROWS, 'BENCH_COPY_ROWS') ?? (quick ? 100_000 : 1_000_000),
  };
}
