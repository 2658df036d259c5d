// Micro-benchmark of the protection pipeline's per-statement work (no sockets): the select by key
// of bench/scripts/select-by-key.sql with a different id each time, as `-M simple` sends it, through
// a pipeline with the 2-column policy; with and without the shape cache; then the same select by
// the deterministically encrypted `ssn` (a protected literal the shape cache re-binds); then UPDATEs by
// id that write a randomized and a deterministic column (constants the executor encrypts at each execution).
// CPU time per statement (process.cpuUsage). `node bench/analysis-micro.ts`.
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { protectionPipelineFactory } from '@clarus/sidecar/access/pipeline.ts';
import { loadParser } from '@clarus/sidecar/rewrite/parser.ts';
import { testRewriter, TEST_KEY_FILES } from '@clarus/testing/rewriter.ts';
import { datasets, VARIANTS } from './lib/encrypted.ts';

await loadParser();
const policy: RuntimePolicy = { name: 'bench', onUnsupported: 'reject', defaultBackend: 'b', keyring: { dir: 'secrets/keyring', keys: [{ name: 'default', versions: [1], current: 1 }] },
  datasets: datasets(VARIANTS[0] as (typeof VARIANTS)[number], 'b') };
const N = Number(process.env.N ?? 20000);
const ONLY = process.env.ONLY;
const statements: Array<[string, (i: number) => string]> = [
  ['by id', (i) => `SELECT id, name, email, ssn, city, diagnosis, notes FROM bench_patient WHERE id = ${i + 1};`],
  ['by encrypted ssn', (i) => `SELECT id, name, email, ssn, city, diagnosis, notes FROM bench_patient WHERE ssn = '${String(100_000_000 + i)}';`],
  // A randomized constant: a placeholder the pipeline fills (fresh nonce) at each execution of the cached plan.
  ['set randomized name by id, same text', () => "UPDATE bench_patient SET name = 'Ann Example' WHERE id = 1;"],
  ['set randomized name by id', (i) => `UPDATE bench_patient SET name = 'name ${i}' WHERE id = ${i + 1};`],
  ['set deterministic ssn by id', (i) => `UPDATE bench_patient SET ssn = '${String(100_000_000 + i)}' WHERE id = ${i + 1};`],
];
function measure([what, text]: (typeof statements)[number], label: string, shapeCache: boolean, major: 18 | 15): void {
  const rw = testRewriter(policy, TEST_KEY_FILES, { shapeCache, major });
  const grants = [{ grant: 'g', datasets: ['*'], access: 'readWrite' as const, view: 'plaintext' as const }];
  const p = protectionPipelineFactory({ rewriter: rw, now: () => new Date() })({ user: 'u', grants } as never, {} as never);
  const t0 = process.cpuUsage();
  for (let i = 0; i < N; i++) p.query(text(i));
  const d = process.cpuUsage(t0);
  const us = (d.user + d.system) / N;
  process.stdout.write(`${what}, ${label}, backend ${major}: ${us.toFixed(1)} µs CPU per statement (shape hits ${rw.stats.shapeHits}, analyses ${rw.stats.analyses})\n`);
}

for (const statement of statements.filter(([what]) => !ONLY || what.startsWith(ONLY))) {
  for (const [label, shapeCache] of ([['full analysis', false], ['shape cache', true]] as const).filter(([, s]) => s || !process.env.SHAPE_ONLY)) {
    for (const major of [18, 15] as const) measure(statement, label, shapeCache, major);
  }
}
