// Micro-benchmark of the COPY path's per-row work (no sockets, no backend): the rows of the
// enc-copy3-* scenarios (3 encrypted columns: name and notes randomized, ssn deterministic)
// through the proxy's COPY hooks, FROM STDIN in 8 KiB chunks as psql sends them, TO STDOUT one
// CopyData per row as PostgreSQL sends them; `general` is the field-by-field path (strings per
// field, presentText per value) that the byte paths (copy-in-text.ts, copy-out-text.ts) replaced. CPU time per row (process.cpuUsage),
// median of ROUNDS rounds, the variants alternating. `node bench/copy-micro.ts`.
import { loadavg } from 'node:os';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { copyHooks } from '@clarus/sidecar/access/copy-hooks.ts';
import { copyRowTransformer } from '@clarus/sidecar/protection/copy-text.ts';
import { byteaFromText } from '@clarus/sidecar/protection/copy-text.ts';
import { presentText } from '@clarus/sidecar/protection/results.ts';
import type { ProtectedOutput } from '@clarus/sidecar/protection/results.ts';
import type { CopyTransformer } from '@clarus/sidecar/session/pipeline.ts';
import type { CatalogColumn, CatalogTable } from '@clarus/sidecar/rewrite/catalog.ts';
import { testRewriter, TEST_KEY_FILES } from '@clarus/testing/rewriter.ts';
import { COPY3_VARIANT, COPY_TABLE, copyText, DATA_COLUMNS, datasets } from './lib/encrypted.ts';

const ROWS = Number(process.env.ROWS ?? 50_000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const policy: RuntimePolicy = { name: 'bench', onUnsupported: 'reject', defaultBackend: 'b', keyring: { dir: 'secrets/keyring', keys: [{ name: 'default', versions: [1], current: 1 }] },
  datasets: datasets(COPY3_VARIANT, 'b') };
const rw = testRewriter(policy, TEST_KEY_FILES);
const columns: CatalogColumn[] = ['id', ...DATA_COLUMNS].map((name) => {
  const p = (COPY3_VARIANT.columns as Record<string, { mode: 'randomized' | 'deterministic'; searchable: boolean } | undefined>)[name];
  return { name, typeOid: name === 'id' ? 20 : 25, protection: p ? { kind: 'encrypt', mode: p.mode, searchable: p.searchable, keyName: 'default' } : { kind: 'plain' } };
});
const table = { dataset: 'copy', schema: 'public', table: COPY_TABLE, columns, byName: new Map(columns.map((c) => [c.name, c])), policyColumns: columns } as unknown as CatalogTable;
const format = { kind: 'text' as const, delimiter: '\t', quote: '"', header: false };
const outs: ProtectedOutput[] = columns.flatMap((c, index) => (c.protection.kind === 'encrypt'
  ? [{ index, cipher: rw.cipher({ table, column: c } as never), typeOid: 25, view: 'plaintext' as const, column: c.name }] : []));

const input = Buffer.from(copyText(1, ROWS), 'utf8');
const chunks: Buffer[] = [];
for (let at = 0; at < input.length; at += 8192) chunks.push(input.subarray(at, at + 8192));

function drive(t: CopyTransformer, parts: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  t.begin?.();
  for (const p of parts) for (const o of t.data(p)) out.push(Buffer.from(o.buffer, o.byteOffset, o.byteLength));
  for (const o of t.finish?.() ?? []) out.push(Buffer.from(o.buffer, o.byteOffset, o.byteLength));
  return out;
}

const copyIn = () => copyHooks(rw, { direction: 'in', table, columns, format }, []) as { in: CopyTransformer };
// What the backend sends back for COPY TO: the stored rows, one CopyData each.
const stored = Buffer.concat(drive(copyIn().in, chunks));
const rowsOut: Buffer[] = [];
for (let s = 0; s < stored.length;) {
  const e = stored.indexOf(10, s) + 1;
  rowsOut.push(stored.subarray(s, e));
  s = e;
}
const general = (): CopyTransformer => copyRowTransformer((fields) => {
  for (const o of outs) {
    const v = fields[o.index];
    if (v !== null && v !== undefined) fields[o.index] = presentText(o, byteaFromText(v));
  }
  return fields;
}, { delimiter: '\t', header: false });
const bytes = (): CopyTransformer => (copyHooks(rw, { direction: 'out', outputs: [], format }, outs) as { out: CopyTransformer }).out;

// The general (field by field) path of COPY FROM, which a HEADER line selects.
const headerChunks = [Buffer.from(`id\t${DATA_COLUMNS.join('\t')}\n`), ...chunks];
const copyInGeneral = () => copyHooks(rw, { direction: 'in', table, columns, format: { ...format, header: true } }, []) as { in: CopyTransformer };

const variants: Array<[string, () => Buffer[]]> = [
  ['FROM STDIN, general path', () => drive(copyInGeneral().in, headerChunks)],
  ['FROM STDIN, byte path', () => drive(copyIn().in, chunks)],
  ['TO STDOUT, general path', () => drive(general(), rowsOut)],
  ['TO STDOUT, byte path', () => drive(bytes(), rowsOut)],
];
if (Buffer.concat(drive(general(), rowsOut)).compare(Buffer.concat(drive(bytes(), rowsOut))) !== 0) throw new Error('the two COPY TO paths disagree');
// ONLY=<prefix>: just the variants whose name starts with it (for a profile of one path).
const only = process.env.ONLY;
const picked = variants.filter(([n]) => !only || n.startsWith(only));
const times = new Map<string, number[]>(picked.map(([n]) => [n, []]));
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, fn] of picked) {
    const t0 = process.cpuUsage();
    fn();
    const d = process.cpuUsage(t0);
    times.get(name)?.push((d.user + d.system) / ROWS);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
process.stdout.write(`${ROWS} rows, 3 encrypted values per row, ${ROUNDS} rounds, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
for (const [name, xs] of times) {
  const m = median(xs);
  process.stdout.write(`${name}: ${m.toFixed(2)} µs CPU per row (rounds ${xs.map((x) => x.toFixed(1)).join(' ')}), ${Math.round(3e6 / m).toLocaleString('en')} encrypted values per CPU-second\n`);
}
