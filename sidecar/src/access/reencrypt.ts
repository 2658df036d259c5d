// `clarus keys reencrypt`: moves every row of the protected datasets to the current key versions,
// through a running proxy, in batches by row key, one transaction per batch (rows locked FOR
// UPDATE, so the application keeps running). Resumable: with --state FILE the last row key of each
// committed batch is recorded and a rerun continues from there. Values are read and written as
// text (no client-side type conversion), so each value is re-encrypted exactly as stored.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import type { RuntimeConfig } from '@clarus/policy/runtime/config.ts';
import { emptyState, reencryptTargets, selectBatchSql, updateRowSql } from '../protection/reencrypt-plan.ts';
import type { ReencryptState, ReencryptTarget } from '../protection/reencrypt-plan.ts';

export interface Io { out(s: string): void; err(s: string): void }
const processIo: Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

const USAGE = `usage: clarus keys reencrypt --config DIR --url postgres://USER:PASSWORD@PROXY:PORT/DB
         [--dataset NAME…] [--batch N] [--state FILE]
  rewrites every row of the datasets with encrypted columns through the proxy so they use the
  current key versions; USER needs a readWrite grant with the plaintext view on those datasets
`;

const RAW_TEXT = { getTypeParser: () => (v: string) => v };

function loadState(file: string | undefined): ReencryptState {
  if (!file || !existsSync(file)) return emptyState();
  return JSON.parse(readFileSync(file, 'utf8')) as ReencryptState;
}

function saveState(file: string | undefined, state: ReencryptState): void {
  if (!file) return;
  writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

async function batch(client: pg.Client, t: ReencryptTarget, after: string | undefined, size: number): Promise<string[][]> {
  await client.query('BEGIN');
  try {
    const sel = await client.query({ text: selectBatchSql(t, after !== undefined, size), values: after !== undefined ? [after] : [], rowMode: 'array', types: RAW_TEXT });
    const update = updateRowSql(t);
    for (const row of sel.rows as string[][]) await client.query({ text: update, values: row, types: RAW_TEXT });
    await client.query('COMMIT');
    return sel.rows as string[][];
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
}

/** How a re-encryption proceeds: rows per batch, the progress so far, and where progress is saved after each batch. */
export interface Progress { size: number; state: ReencryptState; save: (s: ReencryptState) => void }

export async function reencrypt(client: pg.Client, targets: ReencryptTarget[], { size, state, save }: Progress, io: Io): Promise<void> {
  for (const t of targets) {
    const s = (state.datasets[t.dataset] ??= { rows: 0, finished: false });
    while (!s.finished) {
      const rows = await batch(client, t, s.after, size);
      const last = rows[rows.length - 1];
      if (last) s.after = String(last[0]);
      s.rows += rows.length;
      s.finished = rows.length < size;
      save(state);
    }
    io.out(`${t.dataset}: ${s.rows} rows re-encrypted\n`);
  }
}

interface Options { config: string; url: string; dataset: string[]; size: number; state: string | undefined }

/** The command line, or undefined after the usage was written. */
function options(argv: string[], io: Io): Options | undefined {
  let v: { config?: string; url?: string; dataset?: string[]; batch?: string; state?: string };
  try {
    ({ values: v } = parseArgs({ args: argv, options: { config: { type: 'string' }, url: { type: 'string' }, dataset: { type: 'string', multiple: true }, batch: { type: 'string' }, state: { type: 'string' } } }));
  } catch (e) {
    io.err(`${(e as Error).message}\n${USAGE}`);
    return undefined;
  }
  const size = Number(v.batch ?? 500);
  if (!v.config || !v.url || !Number.isInteger(size) || size < 1) {
    io.err(USAGE);
    return undefined;
  }
  return { config: v.config, url: v.url, dataset: v.dataset ?? [], size, state: v.state };
}

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const o = options(argv, io);
  if (!o) return 2;
  const config = JSON.parse(readFileSync(join(o.config, 'config.json'), 'utf8')) as RuntimeConfig;
  const targets = reencryptTargets(config.policy, o.dataset);
  if (typeof targets === 'string') {
    io.err(`clarus keys reencrypt: ${targets}\n`);
    return 1;
  }
  const client = new pg.Client({ connectionString: o.url });
  try {
    await client.connect();
    await reencrypt(client, targets, { size: o.size, state: loadState(o.state), save: (s) => saveState(o.state, s) }, io);
    return 0;
  } catch (e) {
    io.err(`clarus keys reencrypt: ${(e as Error).message} (rerun with the same --state to resume)\n`);
    return 1;
  } finally {
    await client.end().catch(() => undefined);
  }
}
