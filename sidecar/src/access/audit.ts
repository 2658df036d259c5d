// Audit log of access decisions: one JSON line per decision, hash-chained. Every line carries
// `prev`, the SHA-256 (hex) of the previous line's exact text (the first line carries 64 zeros),
// so editing, deleting or reordering any line breaks the chain at that point. The statement is
// recorded by its fingerprint (libpg-query's, constants removed), never its text, so no plaintext
// value of a protected column reaches the log.
import { createHash } from 'node:crypto';

export interface AuditEntry {
  time: string;
  user: string;
  datasets: string[];
  columns: string[];
  fingerprint: string;
  /** allow / refuse: an access decision on datasets; pass: a statement that touches nothing protected. */
  outcome: 'allow' | 'refuse' | 'pass';
  code?: string;
}

export const GENESIS = '0'.repeat(64);

export function lineHash(line: string): string {
  return createHash('sha256').update(line, 'utf8').digest('hex');
}

/** The next line of the chain after a line whose hash is `prev`. */
export function chainLine(prev: string, entry: AuditEntry): { line: string; hash: string } {
  const line = JSON.stringify({ ...entry, prev });
  return { line, hash: lineHash(line) };
}

export type VerifyResult = { ok: true; count: number; last: string } | { ok: false; line: number; reason: string };

export function verifyChain(lines: string[], start: string = GENESIS): VerifyResult {
  let prev = start;
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i] as string;
    let rec: { prev?: unknown };
    try {
      rec = JSON.parse(text) as { prev?: unknown };
    } catch {
      return { ok: false, line: i + 1, reason: 'not JSON' };
    }
    if (rec.prev !== prev) return { ok: false, line: i + 1, reason: 'hash chain broken (line edited, removed or reordered before here)' };
    prev = lineHash(text);
  }
  return { ok: true, count: lines.length, last: prev };
}
