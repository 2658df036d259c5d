// Fixtures shared by the split planner's unit tests (sidecar/src/split/*.test.ts): a policy whose
// table public.patient (dataset `patients`, row key `id`) is split by the columns a test gives, on
// backends named by the columns (default backend `a`), the layout of one of its tables, and a
// text's first parsed statement.
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { parseStatements } from '@clarus/sidecar/rewrite/parser.ts';
import { splitLayouts } from '@clarus/sidecar/split/layout.ts';
import type { SplitLayout } from '@clarus/sidecar/split/layout.ts';

type Dataset = RuntimePolicy['datasets'][number];

/** The policy: `patients` on public.patient with these columns, then the other datasets. */
export function splitPolicy(patientColumns: Dataset['columns'], ...others: Dataset[]): RuntimePolicy {
  return {
    name: 'p', onUnsupported: 'reject', defaultBackend: 'a',
    keyring: { dir: 'k', keys: [{ name: 'default', versions: [1], current: 1 }] },
    datasets: [{ name: 'patients', schema: 'public', table: 'patient', rowKey: 'id', columns: patientColumns }, ...others],
  };
}

/** The split layout of `table` (schema.table) under `policy`; throws when it is not split. */
export function layoutOf(policy: RuntimePolicy, table = 'public.patient'): SplitLayout {
  const l = splitLayouts(policy).get(table);
  if (!l) throw new Error(`${table} is not split by the policy`);
  return l;
}

/** The first statement of `sql` as the parser gives it (the parser must be loaded). */
export function firstStatement(sql: string): Record<string, unknown> {
  return (parseStatements(sql)[0] as { stmt: Record<string, unknown> }).stmt;
}
