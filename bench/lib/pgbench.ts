// Runs pgbench against an endpoint and reads its results: throughput from its summary, latency
// percentiles from its per-transaction log (-l), which records each transaction's elapsed µs.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { libpqConninfo, type Endpoint } from '@clarus/testing/endpoint.ts';
import { percentile } from './stats.ts';

const run = promisify(execFile);

/** The run ended before any transaction: connecting the clients took the whole -T window. */
export class NoTransactions extends Error {}

export interface PgbenchResult {
  tps: number;
  transactions: number;
  failed: number;
  latencyAvgMs: number;
  p50Ms: number;
  p99Ms: number;
}

/** Parses pgbench's summary (the "tps = ... (without initial connection time)" line etc.). */
export function parseSummary(stdout: string): { tps: number; transactions: number; failed: number } {
  const tps = /^tps = ([\d.]+) \(without initial connection time\)/m.exec(stdout);
  const done = /^number of transactions actually processed: (\d+)/m.exec(stdout);
  if (done?.[1] === '0') throw new NoTransactions('pgbench processed no transaction (connecting took the whole run)');
  const failed = /^number of failed transactions: (\d+)/m.exec(stdout);
  if (!tps || !done) throw new Error(`cannot read pgbench output: ${stdout.trim().split('\n').slice(-2).join(' / ') || '(empty)'}`);
  return { tps: Number(tps[1]), transactions: Number(done[1]), failed: failed ? Number(failed[1]) : 0 };
}

/**
 * Latencies in µs from pgbench -l log text: `client_id transaction_no time script_no time_epoch time_us`;
 * a failed or skipped transaction has a non-numeric time field and is left out. With a rate (-R)
 * a 7th field is the schedule lag, which `time` includes (pgbench counts from the scheduled start):
 * it is taken off, so the latency is the transaction's own, whatever pgbench's own delays.
 */
export function parseLogLatencies(text: string, into: number[] = []): number[] {
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const f = text.slice(start, end).split(' ');
    start = end + 1;
    const us = Number(f[2]) - (f.length >= 7 ? Number(f[6]) : 0);
    if (f.length >= 6 && Number.isFinite(us)) into.push(us);
  }
  return into;
}

export async function initPgbench(e: Endpoint, password: string, scale: number): Promise<void> {
  await run('pgbench', ['-i', '-q', '-s', String(scale), libpqConninfo(e)],
    { env: { ...process.env, PGPASSWORD: password }, maxBuffer: 16 << 20 });
}

export async function runPgbench(e: Endpoint, args: string[], clients: number, seconds: number): Promise<PgbenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'clarus-pgbench-'));
  try {
    const threads = Math.min(clients, 2);
    const argv = [...args, '-n', '-c', String(clients), '-j', String(threads), '-T', String(seconds),
      '-l', `--log-prefix=${join(dir, 'tx')}`, libpqConninfo(e)];
    const { stdout, stderr } = await run('pgbench', argv, { env: { ...process.env, PGPASSWORD: e.password }, maxBuffer: 16 << 20, timeout: (seconds + 60) * 1000 });
    let summary;
    try {
      summary = parseSummary(stdout);
    } catch (err) {
      if (err instanceof NoTransactions) throw err;
      throw new Error(`${(err as Error).message}\n${stderr.slice(-800)}`, { cause: err });
    }
    const lat: number[] = [];
    for (const f of readdirSync(dir)) parseLogLatencies(readFileSync(join(dir, f), 'utf8'), lat);
    if (lat.length === 0) throw new Error('pgbench logged no transactions');
    const sum = lat.reduce((a, b) => a + b, 0);
    return { ...summary, latencyAvgMs: sum / lat.length / 1000, p50Ms: percentile(lat, 50) / 1000, p99Ms: percentile(lat, 99) / 1000 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
