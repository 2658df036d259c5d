// The audit log's I/O shell: appends chained lines to a file. Synchronous appends keep the order
// of decisions exact, and a line is in the file (the kernel's page cache) before the decision it
// records takes effect. The file is opened once in append mode (O_APPEND): one write(2) per
// decision instead of open+write+close.
//
// Rotation: the chain runs on across files. The proxy keeps the last line's hash in memory, so
// the first line of a new file links to the last line of the file before it.
//  - logrotate `create` (rename, then a new file): the proxy sees that the path names another
//    file (checked at most every CHECK_MS, and at once on `reopen()`, which SIGHUP calls) and
//    opens it; lines written in between are in the renamed file, still in chain order.
//  - logrotate `copytruncate`: O_APPEND writes go on at the new end.
//  - its own size limit (`maxBytes`): renames the full file to `<path>.<UTC time>` and opens a new one,
//    and with `maxFiles` deletes the oldest rotated files past that many (a bounded volume in a pod,
//    whose files a shipper copies out; the chain that remains verifies as starting mid-chain).
// A proxy that starts on an empty or missing file resumes from the newest rotated sibling, so a
// restart after rotation does not restart the chain.
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { chainLine, GENESIS, lineHash, verifyChain } from './audit.ts';
import type { AuditEntry } from './audit.ts';

const CHECK_MS = 1000;

export interface AuditFileOptions {
  /** Rotate when the file would grow past this many bytes (default: never; logrotate does it). */
  maxBytes?: number;
  /** After its own rotation, keep at most this many rotated files (default: all). */
  maxFiles?: number;
  now?: () => Date;
}

export function readAuditLines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.length > 0);
}

/**
 * The files of one audit chain, oldest first: the rotated siblings (`<name>.<anything>`, not
 * compressed ones), by modification time, then the active file itself.
 */
export function auditChainFiles(path: string): string[] {
  const dir = dirname(path);
  const name = basename(path);
  const rotated = existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith(`${name}.`) && !/\.(gz|bz2|xz|zst)$/.test(f)).map((f) => join(dir, f)) : [];
  rotated.sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs || a.localeCompare(b));
  return existsSync(path) ? [...rotated, path] : rotated;
}

function lastHash(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  const lines = readAuditLines(path);
  const last = lines[lines.length - 1];
  return last === undefined ? undefined : lineHash(last);
}

function firstPrev(line: string): string {
  try {
    const p = (JSON.parse(line) as { prev?: unknown }).prev;
    return typeof p === 'string' ? p : GENESIS;
  } catch {
    return GENESIS;
  }
}

export type ChainVerdict =
  | { ok: true; files: number; count: number; startsMidChain: boolean }
  | { ok: false; file: string; line: number; reason: string };

/**
 * Verifies a chain across files in order: each file's lines, and each file's first line against
 * the last line of the file before it. The first file may start mid-chain (older files deleted by
 * rotation): that is reported, not refused.
 */
export function verifyAuditFiles(paths: string[]): ChainVerdict {
  let prev: string | undefined;
  let count = 0;
  let startsMidChain = false;
  for (const file of paths) {
    const lines = readAuditLines(file);
    if (lines.length === 0) continue;
    let start = prev;
    if (start === undefined) {
      start = firstPrev(lines[0] as string);
      startsMidChain = start !== GENESIS;
    }
    const r = verifyChain(lines, start);
    if (!r.ok) return { ok: false, file, line: r.line, reason: prev !== undefined && r.line === 1 ? `does not continue ${paths[paths.indexOf(file) - 1] ?? 'the previous file'}` : r.reason };
    prev = r.last;
    count += r.count;
  }
  return { ok: true, files: paths.length, count, startsMidChain };
}

/** Audit files open in this process (SIGHUP reopens them all: reopenAuditFiles). */
const open = new Set<AuditFile>();

export function reopenAuditFiles(): void {
  for (const f of open) f.reopen();
}

export class AuditFile {
  private prev: string;
  private fd = -1;
  private ino = 0;
  private size = 0;
  private checked = 0;
  private readonly path: string;
  private readonly maxBytes: number;
  private readonly maxFiles: number;
  private readonly now: () => Date;

  constructor(path: string, opts: AuditFileOptions = {}) {
    this.path = path;
    this.maxBytes = opts.maxBytes ?? Infinity;
    this.maxFiles = opts.maxFiles ?? Infinity;
    this.now = opts.now ?? (() => new Date());
    const files = auditChainFiles(path);
    this.prev = [...files].reverse().map(lastHash).find((h) => h !== undefined) ?? GENESIS;
    this.openPath();
    open.add(this);
  }

  append(entry: AuditEntry): void {
    const { line, hash } = chainLine(this.prev, entry);
    const bytes = Buffer.from(`${line}\n`, 'utf8');
    this.beforeWrite(bytes.length);
    // writeSync may write less than asked (e.g. a full disk): loop, and let a failure throw.
    for (let off = 0; off < bytes.length;) off += writeSync(this.fd, bytes, off, bytes.length - off);
    this.size += bytes.length;
    this.prev = hash;
  }

  /** Opens the path again (after an external rotation; SIGHUP calls it). The chain goes on. */
  reopen(): void {
    closeSync(this.fd);
    this.openPath();
  }

  close(): void {
    open.delete(this);
    closeSync(this.fd);
  }

  private openPath(): void {
    this.fd = openSync(this.path, 'a');
    const st = fstatSync(this.fd);
    this.ino = st.ino;
    this.size = st.size;
    this.checked = this.now().getTime();
  }

  private beforeWrite(n: number): void {
    if (this.size > 0 && this.size + n > this.maxBytes) {
      // Two rotations within one millisecond would get the same name; renaming onto it would
      // delete the older file's decisions.
      const base = `${this.path}.${this.now().toISOString().replace(/[:.]/g, '-')}`;
      let target = base;
      for (let i = 1; existsSync(target); i++) target = `${base}-${i}`;
      renameSync(this.path, target);
      this.reopen();
      this.prune();
      return;
    }
    const t = this.now().getTime();
    if (t - this.checked < CHECK_MS) return;
    this.checked = t;
    let ino = -1;
    try {
      ino = statSync(this.path).ino;
    } catch {
      // Renamed away and not re-created yet: open a new file at the path.
    }
    if (ino !== this.ino) this.reopen();
  }

  private prune(): void {
    const rotated = auditChainFiles(this.path).slice(0, -1);
    for (const f of rotated.slice(0, Math.max(0, rotated.length - this.maxFiles))) unlinkSync(f);
  }
}
