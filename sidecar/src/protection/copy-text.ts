// COPY text format, streamed row by row: fields separated by tabs, rows by newlines, `\N` for
// NULL, backslash escapes. Chunks from clients are not row-aligned, so partial rows are buffered
// (bounded by the longest row) and emitted once complete.
import type { CopyTransformer } from '../session/pipeline.ts';

const ESC: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };

export function unescapeField(f: string): string | null {
  if (f === '\\N') return null;
  if (!f.includes('\\')) return f;
  return f.replace(/\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)/g, (_, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return ESC[e] ?? e;
  });
}

const UNESC: Record<string, string> = Object.fromEntries(Object.entries(ESC).map(([k, x]) => [x, k]));
const SPECIAL = /[\\\t\n\r\b\f\v]/g;

export function escapeField(v: string | null, delimiter = '\t'): string {
  if (v === null) return '\\N';
  const escaped = v.replace(SPECIAL, (c) => `\\${UNESC[c] ?? c}`);
  // The tab delimiter was escaped above; any other delimiter is escaped here.
  return escaped.includes(delimiter) ? escaped.split(delimiter).join(`\\${delimiter}`) : escaped;
}

export type RowFn = (fields: Array<string | null>) => Array<string | null>;
export interface TextOptions { delimiter: string; header: boolean }

/** Splits a text-format line on unescaped delimiters. */
function splitLine(l: string, d: string): string[] {
  if (d === '\t' || !l.includes('\\')) return l.split(d);
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < l.length; i++) {
    const c = l[i] as string;
    if (c === '\\' && i + 1 < l.length) {
      cur += c + (l[i + 1] as string);
      i++;
    } else if (c === d) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/** Builds a CopyTransformer from a function over one row's decoded fields. */
export function copyRowTransformer(transform: RowFn, o: TextOptions = { delimiter: '\t', header: false }): CopyTransformer {
  let pending = Buffer.alloc(0);
  let first = o.header;
  const line = (l: string): string => {
    if (l === '\\.') return l;
    if (first) {
      first = false;
      return l;
    }
    return transform(splitLine(l, o.delimiter).map(unescapeField)).map((f) => escapeField(f, o.delimiter)).join(o.delimiter);
  };
  return {
    data(chunk) {
      const buf = pending.length ? Buffer.concat([pending, chunk]) : Buffer.from(chunk);
      const end = buf.lastIndexOf(0x0a);
      if (end < 0) {
        pending = buf;
        return [];
      }
      pending = Buffer.from(buf.subarray(end + 1));
      const rows = buf.subarray(0, end).toString('utf8').split('\n').map(line);
      return [Buffer.from(`${rows.join('\n')}\n`, 'utf8')];
    },
    finish() {
      if (pending.length === 0) return [];
      const last = line(pending.toString('utf8'));
      pending = Buffer.alloc(0);
      return [Buffer.from(last, 'utf8')];
    },
  };
}

/** bytea in COPY text: its text output (`\x…`), whose backslash COPY escapes. */
export function byteaText(b: Uint8Array): string {
  return `\\x${Buffer.from(b).toString('hex')}`;
}

export function byteaFromText(s: string): Buffer {
  if (!s.startsWith('\\x')) throw new Error('expected bytea hex text in COPY data');
  return Buffer.from(s.slice(2), 'hex');
}
