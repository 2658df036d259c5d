// COPY through a target with the real psql client: FROM STDIN streams a data file (text format),
// TO STDOUT is read back and its lines counted (not stored). Wall-clock time includes psql's own
// connection (tens of ms, small next to the seconds a large COPY takes).
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { libpqConninfo, type Endpoint } from '@clarus/testing/endpoint.ts';
import { DATA_COLUMNS } from './encrypted.ts';

export interface CopyTiming { rows: number; seconds: number }

/** The row count of psql's command tag (`COPY 123`) as the last line it printed, or null. */
export function copyTagRows(stdoutTail: string): number | null {
  const m = /(?:^|\n)COPY (\d+)\n?$/.exec(stdoutTail);
  return m ? Number(m[1]) : null;
}

function psqlCopy(e: Endpoint, sql: string, stdinFile: string | null): Promise<{ seconds: number; lines: number; tail: string }> {
  return new Promise((resolve, reject) => {
    const fd = stdinFile === null ? 'ignore' : openSync(stdinFile, 'r');
    const t0 = process.hrtime.bigint();
    const child = spawn('psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-c', sql, libpqConninfo(e)],
      { stdio: [fd, 'pipe', 'pipe'], env: { ...process.env, PGPASSWORD: e.password } });
    if (typeof fd === 'number') closeSync(fd);
    let lines = 0;
    let tail = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => {
      for (let i = c.indexOf(10); i >= 0; i = c.indexOf(10, i + 1)) lines++;
      tail = (tail + c.toString('latin1')).slice(-200);
    });
    child.stderr?.on('data', (c: Buffer) => { stderr = (stderr + c.toString()).slice(-2000); });
    child.once('error', reject);
    child.once('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (code !== 0) reject(new Error(`psql ${sql} exited with ${code}: ${stderr.trim() || tail.trim()}`));
      else resolve({ seconds, lines, tail });
    });
  });
}

/** COPY <table> FROM STDIN of a text-format file; checks the server's row count. */
export async function copyIn(e: Endpoint, table: string, file: string, expectedRows: number): Promise<CopyTiming> {
  // The column list is named: a protecting proxy never relies on the column order.
  const r = await psqlCopy(e, `COPY ${table} (id, ${DATA_COLUMNS.join(', ')}) FROM STDIN`, file);
  const rows = copyTagRows(r.tail);
  if (rows !== expectedRows) throw new Error(`COPY FROM STDIN loaded ${rows ?? 'an unknown number of'} rows, expected ${expectedRows}`);
  return { rows, seconds: r.seconds };
}

/** COPY <table> TO STDOUT; checks that as many data lines as expected came back. */
export async function copyOut(e: Endpoint, table: string, expectedRows: number): Promise<CopyTiming> {
  const r = await psqlCopy(e, `COPY ${table} (id, ${DATA_COLUMNS.join(', ')}) TO STDOUT`, null);
  const tag = copyTagRows(r.tail);
  // psql prints the data lines, then the command tag on a line of its own.
  const rows = tag === null ? r.lines : r.lines - 1;
  if (rows !== expectedRows || (tag !== null && tag !== expectedRows)) throw new Error(`COPY TO STDOUT returned ${rows} rows (tag ${tag ?? 'none'}), expected ${expectedRows}`);
  return { rows, seconds: r.seconds };
}
