// The audit log's I/O shell: appends chained lines to a file, resuming the chain from the file's
// last line after a restart. Synchronous appends keep the order of decisions exact.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { chainLine, GENESIS, lineHash } from './audit.ts';
import type { AuditEntry } from './audit.ts';

export class AuditFile {
  private readonly path: string;
  private prev: string;

  constructor(path: string) {
    this.path = path;
    const lines = existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter((l) => l.length > 0) : [];
    const last = lines[lines.length - 1];
    this.prev = last === undefined ? GENESIS : lineHash(last);
  }

  append(entry: AuditEntry): void {
    const { line, hash } = chainLine(this.prev, entry);
    appendFileSync(this.path, `${line}\n`);
    this.prev = hash;
  }
}

export function readAuditLines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.length > 0);
}
