// The audit log's I/O shell: appends chained lines to a file, resuming the chain from the file's
// last line after a restart. Synchronous appends keep the order of decisions exact, and a line is
// in the file (the kernel's page cache) before the decision it records takes effect. The file is
// opened once in append mode (O_APPEND): one write(2) per decision instead of open+write+close.
import { existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { chainLine, GENESIS, lineHash } from './audit.ts';
import type { AuditEntry } from './audit.ts';

export class AuditFile {
  private prev: string;
  private readonly fd: number;

  constructor(path: string) {
    const lines = existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter((l) => l.length > 0) : [];
    const last = lines[lines.length - 1];
    this.prev = last === undefined ? GENESIS : lineHash(last);
    this.fd = openSync(path, 'a');
  }

  append(entry: AuditEntry): void {
    const { line, hash } = chainLine(this.prev, entry);
    const bytes = Buffer.from(`${line}\n`, 'utf8');
    // writeSync may write less than asked (e.g. a full disk): loop, and let a failure throw.
    for (let off = 0; off < bytes.length;) off += writeSync(this.fd, bytes, off, bytes.length - off);
    this.prev = hash;
  }
}

export function readAuditLines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.length > 0);
}
