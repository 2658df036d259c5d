// `node bench/session-micro.ts` (issue 15, goal 2): the encrypting session's CPU per statement
// without sockets. A Relay with the protection pipeline of `clarus-enc2` (2 encrypted columns) is
// given, N times, the Query of bench/scripts/select-by-key.sql with a new key (as `pgbench -M
// simple` sends it) and the backend's answer to the rewritten text (RowDescription, a DataRow with
// the two ciphertexts as hex bytea, CommandComplete, ReadyForQuery); the same messages through a
// pass-through Relay are the baseline. Prints µs of CPU (process.cpuUsage) per statement of each,
// ROUNDS (5) times alternating, and the young-generation collections per 1,000 statements (what
// each path allocates). MODE=prepared: Bind/Describe/Execute/Sync of a prepared statement instead;
// ONLY=encrypting: that path alone (for a CPU profile); HEAP_PROF=FILE: a sampled allocation profile.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { protectionPipelineFactory } from '@clarus/sidecar/access/pipeline.ts';
import { backendBytes } from '@clarus/sidecar/protocol/backend.ts';
import type { BackendMessage } from '@clarus/sidecar/protocol/backend.ts';
import { encodeFrontend } from '@clarus/sidecar/protocol/frontend.ts';
import type { FrontendMessage } from '@clarus/sidecar/protocol/frontend.ts';
import { columnCipher } from '@clarus/sidecar/protection/encryption/column.ts';
import { KeyDeriver } from '@clarus/sidecar/protection/encryption/derive.ts';
import { parseKeyring } from '@clarus/sidecar/protection/encryption/keyring.ts';
import { loadParser } from '@clarus/sidecar/rewrite/parser.ts';
import { passthroughPipeline } from '@clarus/sidecar/session/pipeline.ts';
import type { Pipeline } from '@clarus/sidecar/session/pipeline.ts';
import { Relay } from '@clarus/sidecar/session/relay.ts';
import type { RelayPorts } from '@clarus/sidecar/session/relay.ts';
import { testRewriter, TEST_KEY_FILES } from '@clarus/testing/rewriter.ts';
import { datasets, DATA_COLUMNS, rowValues, SELECT_TABLE, VARIANTS } from './lib/encrypted.ts';

await loadParser();
const N = Number(process.env.N ?? 20000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const MODE = process.env.MODE === 'prepared' ? 'prepared' : 'simple';
const enc2 = VARIANTS[0] as (typeof VARIANTS)[number];
const policy: RuntimePolicy = { name: 'bench', onUnsupported: 'reject', defaultBackend: 'b', keyring: { dir: 'secrets/keyring', keys: [{ name: 'default', versions: [1], current: 1 }] },
  datasets: datasets(enc2, 'b') };

const fe = (...ms: FrontendMessage[]): Buffer => Buffer.concat(ms.map((m) => encodeFrontend(m).finish()));
const be = (...ms: BackendMessage[]): Buffer => Buffer.concat(ms.map(backendBytes));

/** The backend's answer for row `id`: encrypted columns as bytea (hex text), the others as text. */
function answer(id: number, encrypted: boolean, withRowDescription: boolean): Buffer {
  const deriver = new KeyDeriver(parseKeyring(policy.keyring.keys, TEST_KEY_FILES));
  const v = rowValues(id);
  const values = [Buffer.from(String(id)), ...DATA_COLUMNS.map((c) => {
    const p = enc2.columns[c];
    if (!p || !encrypted) return Buffer.from(v[c]);
    const cipher = columnCipher(deriver, { schema: 'public', table: SELECT_TABLE, column: c, mode: p.mode, searchable: p.searchable, keyName: 'default' });
    return Buffer.from(`\\x${cipher.encrypt(v[c]).toString('hex')}`);
  })];
  const bytea = (c: string): boolean => encrypted && enc2.columns[c as keyof typeof enc2.columns] !== undefined;
  const fields = ['id', ...DATA_COLUMNS].map((name, i) => ({ name, tableOid: 16384, columnAttr: i + 1, typeOid: i === 0 ? 20 : bytea(name) ? 17 : 25, typeSize: i === 0 ? 8 : -1, typeModifier: -1, format: 0 as const }));
  const rd: BackendMessage[] = withRowDescription ? [{ type: 'RowDescription', fields }] : [];
  return be(...rd, { type: 'DataRow', values }, { type: 'CommandComplete', tag: 'SELECT 1' }, { type: 'ReadyForQuery', status: 'I' });
}

const ports: RelayPorts = { toClient: () => undefined, toBackend: () => undefined, holdClient: () => undefined, end: (r) => { throw new Error(`session ended: ${r}`); },
  statementStart: () => undefined, statementEnd: () => undefined, idle: () => undefined };

const SELECT = `SELECT id, ${DATA_COLUMNS.join(', ')} FROM ${SELECT_TABLE} WHERE id = `;

function session(pipeline: Pipeline, encrypted: boolean): (i: number) => void {
  const relay = new Relay({ maxMessageBytes: 1 << 20, pipeline, ports });
  const replies = Array.from({ length: 64 }, (_, i) => answer(i + 1, encrypted, MODE === 'simple'));
  if (MODE === 'simple') return (i) => { relay.fromClient(fe({ type: 'Query', sql: `${SELECT}${(i * 7919) % 100000 + 1};` })); relay.fromBackend(replies[i % 64] as Buffer); };
  relay.fromClient(fe({ type: 'Parse', name: 'P0_1', sql: `${SELECT}$1;`, paramTypes: [] }, { type: 'Sync' }));
  relay.fromBackend(be({ type: 'ParseComplete' }, { type: 'ReadyForQuery', status: 'I' }));
  const rd = answer(1, encrypted, true);
  const rowDescription = rd.subarray(0, rd.readInt32BE(1) + 1);
  return (i) => {
    relay.fromClient(fe({ type: 'Bind', portal: '', statement: 'P0_1', paramFormats: [0], values: [Buffer.from(String((i * 7919) % 100000 + 1))], resultFormats: [] },
      { type: 'Describe', target: 'P', name: '' }, { type: 'Execute', portal: '', maxRows: 0 }, { type: 'Sync' }));
    relay.fromBackend(Buffer.concat([be({ type: 'BindComplete' }), rowDescription, replies[i % 64] as Buffer]));
  };
}

function encrypting(): Pipeline {
  const rw = testRewriter(policy, TEST_KEY_FILES, { shapeCache: true, major: 15 });
  const grants = [{ grant: 'g', datasets: ['*'], access: 'readWrite' as const, view: 'plaintext' as const }];
  return protectionPipelineFactory({ rewriter: rw, now: () => new Date() })({ user: 'u', grants } as never, {} as never);
}

/** HEAP_PROF=FILE: the encrypting path's allocations (sampled, collected objects included) as a heap profile, nothing else. */
async function heapProfile(file: string): Promise<void> {
  const enc = session(encrypting(), true);
  for (let i = 0; i < 2000; i++) enc(i);
  const s = new Session();
  s.connect();
  await s.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  for (let i = 0; i < N; i++) enc(i);
  writeFileSync(file, JSON.stringify((await s.post('HeapProfiler.stopSampling')).profile));
  s.disconnect();
}

if (process.env.HEAP_PROF) {
  await heapProfile(process.env.HEAP_PROF);
  process.exit(0);
}
const runs = process.env.ONLY === 'encrypting' ? { encrypting: session(encrypting(), true) } : { passthrough: session(passthroughPipeline, false), encrypting: session(encrypting(), true) };
for (const run of Object.values(runs)) for (let i = 0; i < 2000; i++) run(i);
const out: Record<string, number[]> = { passthrough: [], encrypting: [] };
// Young-generation collections per 1,000 statements: how much each path allocates.
const scavenges: Record<string, number> = { passthrough: 0, encrypting: 0 };
const windows: Array<{ name: string; from: number; to: number }> = [];
const gc = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const w = windows.find((x) => e.startTime >= x.from && e.startTime <= x.to);
    if (w && (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === 1) scavenges[w.name] = (scavenges[w.name] ?? 0) + 1;
  }
});
gc.observe({ entryTypes: ['gc'] });
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, run] of Object.entries(runs)) {
    const from = performance.now();
    const t0 = process.cpuUsage();
    for (let i = 0; i < N; i++) run(i);
    const d = process.cpuUsage(t0);
    out[name]?.push(Math.round(((d.user + d.system) / N) * 10) / 10);
    windows.push({ name, from, to: performance.now() });
  }
}
// The observer is called asynchronously: its last entries come once the loop turns.
await new Promise((res) => setTimeout(res, 100));
gc.disconnect();
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
for (const [name, us] of Object.entries(out)) process.stdout.write(`${MODE} ${name}: ${us.join(' ')} µs CPU per statement (median ${median(us)}), ${((scavenges[name] ?? 0) * 1000 / (N * ROUNDS)).toFixed(2)} scavenges per 1,000\n`);
