// COPY TO STDOUT in text format for outputs shown as plaintext: rows are read as bytes and only
// the protected fields are touched. The backend writes a bytea field as `\\x<hex>` (its text
// output, backslash escaped by COPY), which is decoded straight from the row's bytes; the other
// fields are already in COPY text form and are copied as they are (decoding and re-escaping them
// gives the same bytes). Rows are held up to BATCH_ROWS / BATCH_BYTES so that each column's values
// are decrypted together (ColumnCipher.decryptMany: one native AES call per batch instead of one
// or two per value), and the batch leaves as one CopyData payload.
//
// Anything unusual about a protected field (not `\\x` and lowercase hex, a value that does not
// decrypt) goes through `slow`, the general path of copy-hooks.ts, which gives the value or
// throws that path's error, so answers and errors are the general path's.
import type { CopyTransformer } from '../session/pipeline.ts';
import { CopyLineReader, textFields } from './copy-lines.ts';
import type { ProtectedOutput } from './results.ts';

const BS = 0x5c;
const LF = 0x0a;
const X = 0x78;
const N = 0x4e;
/** Rows and input bytes held before a batch is decrypted and sent. */
const BATCH_ROWS = 64;
const BATCH_BYTES = 16 << 10;

/** Hex digit values for lowercase hex (bytea_output = hex), -1 for anything else. */
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[0x30 + i] = i;
for (let i = 0; i < 6; i++) HEX[0x61 + i] = 10 + i;

/** COPY text escapes of the bytes that need one (PostgreSQL's CopyAttributeOutText). */
const ESC = new Int16Array(256).fill(-1);
for (const [c, e] of [[0x08, 0x62], [0x0c, 0x66], [0x0a, 0x6e], [0x0d, 0x72], [0x09, 0x74], [0x0b, 0x76], [BS, BS]] as const) ESC[c] = e;

/** The general path: the field's text as COPY decodes it → the value to show (or its error). */
export type SlowField = (o: ProtectedOutput, field: string) => string | null;

/** A protected field of a held row: its stored bytes (to decrypt), null (`\N`), or the text for the slow path. */
type Held = { kind: 'stored'; bytes: Buffer } | { kind: 'null' } | { kind: 'slow'; text: string };

interface HeldRow {
  /** The row's bytes in `input` (without line ending). */
  start: number;
  end: number;
  /** Per output (in `outs` order): the field's place in `input` and what it holds. */
  fields: Array<{ from: number; to: number; held: Held }>;
}

function decodeHex(line: Buffer, from: number, to: number): Buffer | null {
  if ((to - from) % 2 !== 0) return null;
  const out = Buffer.allocUnsafe((to - from) / 2);
  let bad = 0;
  for (let i = from, o = 0; i < to; i += 2, o++) {
    const hi = HEX[line[i] as number] as number;
    const lo = HEX[line[i + 1] as number] as number;
    bad |= hi | lo;
    out[o] = (hi << 4) | lo;
  }
  return bad < 0 ? null : out;
}

/** Where the field starting at `s` ends (the delimiter's index or `end`), escapes skipped. */
function fieldEnd(line: Buffer, s: number, end: number, delimiter: number): number {
  const d = line.indexOf(delimiter, s);
  const stop = d < 0 || d > end ? end : d;
  const b = line.indexOf(BS, s);
  if (b < 0 || b >= stop) return stop;
  let j = b;
  while (j < end && line[j] !== delimiter) j += line[j] === BS ? 2 : 1;
  return Math.min(j, end);
}

/**
 * The protected field starting at `s`: what it holds and where it ends. `\\x` and hex digits hold
 * no delimiter (PostgreSQL refuses digits, lowercase letters and the backslash as delimiters).
 */
function heldField(line: Buffer, s: number, delimiter: number): { held: Held; e: number } {
  if (line[s] === BS && line[s + 1] === BS && line[s + 2] === X) {
    const d = line.indexOf(delimiter, s);
    const e = d < 0 ? line.length : d;
    const bytes = decodeHex(line, s + 3, e);
    if (bytes) return { held: { kind: 'stored', bytes }, e };
  }
  const e = fieldEnd(line, s, line.length, delimiter);
  if (e - s === 2 && line[s] === BS && line[s + 1] === N) return { held: { kind: 'null' }, e };
  // The field as COPY decodes it, for the general path.
  return { held: { kind: 'slow', text: textFields(line.subarray(s, e), delimiter)[0] ?? '' }, e };
}

/** Writes `pt` escaped for COPY text into out at o; returns the new end. */
function writeEscaped(out: Buffer, o: number, pt: Uint8Array, delimiter: number): number {
  for (let i = 0; i < pt.length; i++) {
    const c = pt[i] as number;
    const e = ESC[c] as number;
    if (e >= 0 || c === delimiter) {
      out[o++] = BS;
      out[o++] = e >= 0 ? e : c;
    } else {
      out[o++] = c;
    }
  }
  return o;
}

/**
 * The COPY TO transformer for `outs` (all shown as plaintext, text format, a one-byte
 * delimiter). `outs` are the protected outputs; other columns pass as they are.
 */
export function textCopyOut(outs: ProtectedOutput[], delimiter: string, slow: SlowField): CopyTransformer {
  const delim = delimiter.charCodeAt(0);
  const order = [...outs].sort((a, b) => a.index - b.index);
  const last = order.length ? (order[order.length - 1] as ProtectedOutput).index : -1;
  let reader = new CopyLineReader({ csv: false });
  let input = Buffer.allocUnsafe(BATCH_BYTES * 2);
  let used = 0;
  let rows: HeldRow[] = [];

  const hold = (line: Buffer): void => {
    if (used + line.length > input.length) {
      const bigger = Buffer.allocUnsafe(Math.max(input.length * 2, used + line.length));
      input.copy(bigger, 0, 0, used);
      input = bigger;
    }
    line.copy(input, used);
    const row: HeldRow = { start: used, end: used + line.length, fields: [] };
    used += line.length;
    let s = 0;
    let k = 0;
    for (let idx = 0; idx <= last && s <= line.length; idx++) {
      if (idx !== (order[k] as ProtectedOutput).index) {
        s = fieldEnd(line, s, line.length, delim) + 1;
        continue;
      }
      const { held, e } = heldField(line, s, delim);
      row.fields.push({ from: row.start + s, to: row.start + e, held });
      k++;
      s = e + 1;
    }
    rows.push(row);
  };

  /** Each output's stored values of the held rows, decrypted together; null where it failed. */
  const decryptAll = (): Array<Array<Buffer | null>> => order.map((o, k) => {
    const stored = rows.map((r) => r.fields[k]?.held).flatMap((h) => (h?.kind === 'stored' ? [h.bytes] : []));
    if (!o.cipher.decryptMany || stored.length === 0) return stored.map(() => null);
    try {
      return o.cipher.decryptMany(stored);
    } catch {
      return stored.map(() => null);
    }
  });

  const flush = (): Uint8Array[] => {
    if (rows.length === 0) return [];
    const plain = decryptAll();
    const next = order.map(() => 0);
    const values: Array<Array<Uint8Array | null>> = rows.map((r) => r.fields.map((f, k) => {
      if (f.held.kind === 'null') return null;
      if (f.held.kind === 'stored') {
        const pt = (plain[k] as Array<Buffer | null>)[(next[k] as number)++] ?? null;
        if (pt) return pt;
        // The general path's answer, or its error.
        return Buffer.from(slow(order[k] as ProtectedOutput, `\\x${f.held.bytes.toString('hex')}`) ?? '', 'utf8');
      }
      const v = slow(order[k] as ProtectedOutput, f.held.text);
      return v === null ? null : Buffer.from(v, 'utf8');
    }));
    let size = used + rows.length;
    for (const vs of values) for (const v of vs) size += v ? 2 * v.length : 2;
    const out = Buffer.allocUnsafe(size);
    let o = 0;
    rows.forEach((r, i) => {
      let at = r.start;
      r.fields.forEach((f, k) => {
        o += input.copy(out, o, at, f.from);
        const v = (values[i] as Array<Uint8Array | null>)[k];
        if (v === null || v === undefined) {
          out[o++] = BS;
          out[o++] = N;
        } else {
          o = writeEscaped(out, o, v, delim);
        }
        at = f.to;
      });
      o += input.copy(out, o, at, r.end);
      out[o++] = LF;
    });
    rows = [];
    used = 0;
    return [out.subarray(0, o)];
  };

  return {
    begin() {
      reader = new CopyLineReader({ csv: false });
      rows = [];
      used = 0;
    },
    data(chunk) {
      reader.push(chunk, hold);
      return rows.length >= BATCH_ROWS || used >= BATCH_BYTES ? flush() : [];
    },
    finish() {
      reader.end(hold);
      return flush();
    },
  };
}
