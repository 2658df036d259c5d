// Scanning what a backend stored or was sent for a canary (compat/lib/backend-scan.ts): the server
// log's lines by database (log_line_prefix '%m [%p] db=%d '), and the canary's forms in a text.
import { readFileSync } from 'node:fs';
/** What every ORM suite writes into its encrypted columns (compat/python/orm_common.py CANARY). */
export const ORM_CANARY = 'OrmCanary';

const NEEDLES = [ORM_CANARY.toLowerCase(), Buffer.from(ORM_CANARY).toString('hex'), Buffer.from(ORM_CANARY.toLowerCase()).toString('hex')];

/** Lines of the server log of sessions not on the oracle or its test databases (continuation lines included). */
export function proxiedLogLines(log: string, oracle: string): string[] {
  const out: string[] = [];
  let db = '';
  for (const line of log.split('\n')) {
    const m = /^\d{4}-\d\d-\d\d [\d:.]+ \w+ \[\d+\] db=(\S*) /.exec(line);
    if (m) db = m[1] ?? '';
    if (db !== oracle && !db.startsWith(`test_${oracle}`)) out.push(line);
  }
  return out;
}

/** The canary forms (text, hex of its bytes) found in `text`. */
export function found(text: string): string[] {
  const lower = text.toLowerCase();
  return NEEDLES.filter((n) => lower.includes(n));
}

/**
 * A PostgreSQL server log read from a mark on: `mark()` sets it at the log's current end, `since()`
 * is the text written after it, `canaries(list)` those of `list` found there.
 */
export class LogWindow {
  private from = 0;
  private readonly file: string;
  constructor(file: string) {
    this.file = file;
  }
  mark(): void {
    this.from = readFileSync(this.file).length;
  }
  since(): string {
    return readFileSync(this.file).subarray(this.from).toString('latin1');
  }
  canaries(list: string[]): string[] {
    const log = this.since();
    return list.filter((c) => log.includes(c));
  }
}
