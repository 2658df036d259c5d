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
  /** The report of a k-anonymity batch the statement stored (COPY FROM): its table and figures. */
  anonymization?: { table: string; records: number; classes: number; k: number; t: number | null; sseSst: number | null; sseSstRaw: number | null; categoriesChanged: number | null; merges: number };
}

export const GENESIS = '0'.repeat(64);

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isWord = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9_$\u0080-\uffff]/.test(c);

/** End (exclusive) of a quoted run opened at `i` by `q` (doubled quote = quote; `backslash`: E'…' escapes). */
function quotedEnd(sql: string, i: number, q: string, backslash: boolean): number {
  for (let j = i + 1; j < sql.length; j++) {
    const c = sql[j];
    if (backslash && c === '\\') j++;
    else if (c === q) {
      if (sql[j + 1] !== q) return j + 1;
      j++;
    }
  }
  return sql.length;
}

/** End of a dollar-quoted constant opened at `i` ($$ or $tag$), or `i` when there is none. */
function dollarEnd(sql: string, i: number): number {
  const m = /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 66));
  if (!m) return i;
  const close = sql.indexOf(m[0], i + m[0].length);
  return close < 0 ? sql.length : close + m[0].length;
}

/** End of a -- or (nested) /* comment at `i`, or `i` when there is none. */
function commentEnd(sql: string, i: number): number {
  if (sql.startsWith('--', i)) {
    const nl = sql.indexOf('\n', i);
    return nl < 0 ? sql.length : nl;
  }
  if (!sql.startsWith('/*', i)) return i;
  let depth = 0;
  for (let j = i; j < sql.length; j++) {
    if (sql.startsWith('/*', j)) { depth++; j++; } else if (sql.startsWith('*/', j)) {
      j++;
      if (--depth === 0) return j + 1;
    }
  }
  return sql.length;
}

/** A string constant at `i` ('…', or with an E/B/X/N/U& prefix that goes with it): [end, '?']. */
function stringAt(sql: string, i: number): [number, string] | null {
  const c = sql[i];
  if (c === "'") return [quotedEnd(sql, i, "'", false), '?'];
  if (sql[i + 1] !== "'" && sql[i + 1] !== '&') return null;
  const prefix = /^(?:[eEbBxXnN]|[uU]&)'/.exec(sql.slice(i, i + 3));
  if (!prefix || isWord(sql[i - 1])) return null;
  return [quotedEnd(sql, i + prefix[0].length - 1, "'", c === 'e' || c === 'E'), '?'];
}

/** A number not inside an identifier at `i`: [end, '?']. */
function numberAt(sql: string, i: number): [number, string] | null {
  const c = sql[i];
  if (!(isDigit(c) || (c === '.' && isDigit(sql[i + 1]))) || isWord(sql[i - 1])) return null;
  let j = i + 1;
  while (j < sql.length && /[0-9.eE]/.test(sql[j] as string)) j++;
  return [j, '?'];
}

/** Characters a comment or constant may start with (others are skipped at once). */
const MAY_START: boolean[] = [];
for (const ch of `-/"'$.0123456789`) MAY_START[ch.charCodeAt(0)] = true;
/** Letters that may prefix a string constant (E'…', U&'…'), when a quote or & follows. */
const PREFIX: boolean[] = [];
for (const ch of 'eEbBxXnNuU') PREFIX[ch.charCodeAt(0)] = true;
const QUOTE = 0x27;
const AMP = 0x26;

/** What stands at `i`: [end, replacement] for a comment or constant, null for anything else. */
function lexeme(sql: string, i: number): [number, string] | null {
  const comment = commentEnd(sql, i);
  if (comment > i) return [comment, ' '];
  if (sql[i] === '"') {
    const end = quotedEnd(sql, i, '"', false);
    return [end, sql.slice(i, end)];
  }
  if (sql[i] === '$') {
    const end = dollarEnd(sql, i);
    return end > i ? [end, '?'] : null;
  }
  return stringAt(sql, i) ?? numberAt(sql, i);
}

/**
 * A fingerprint of a statement that touches nothing protected, without parsing it (libpg-query's
 * fingerprint costs a parse, ~0.1 ms, for every new text): SHA-256 (first 16 hex digits) of the
 * text with comments and constants (strings, E'…', $tag$…$tag$, numbers) replaced and white space
 * collapsed, in one linear pass. No value reaches the log; statements that differ only in their
 * constants share it. Quoted identifiers are kept: they name objects, not values.
 */
export function quickFingerprint(sql: string): string {
  const parts: string[] = [];
  let from = 0;
  for (let i = 0; i < sql.length;) {
    const c = sql.charCodeAt(i);
    const next = sql.charCodeAt(i + 1);
    const l = MAY_START[c] || (PREFIX[c] && (next === QUOTE || next === AMP)) ? lexeme(sql, i) : null;
    if (!l) { i++; continue; }
    parts.push(sql.slice(from, i), l[1]);
    i = l[0];
    from = i;
  }
  parts.push(sql.slice(from));
  const shape = parts.join('').replace(/\s+/g, ' ').trim();
  return createHash('sha256').update(shape, 'utf8').digest('hex').slice(0, 16);
}

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
