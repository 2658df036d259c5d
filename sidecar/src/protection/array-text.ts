// One-dimensional PostgreSQL arrays as text (array_in's reading) and in the binary format, for
// arrays whose elements the proxy protects one by one (Django's bulk_create UNNEST: constants in
// rewrite/rules/insert-unnest.ts, parameters in protection/params.ts).

const SPACE = /[ \t\n\r\v\f]/;

/** A quoted element at `i` (on its opening quote): its value and where it ends, or null. */
function quoted(s: string, i: number, end: number): { v: string; at: number } | null {
  let v = '';
  for (i++; i < end && s[i] !== '"'; i++) v += s[i] === '\\' ? (s[++i] ?? '') : s[i];
  return s[i] === '"' ? { v, at: i + 1 } : null;
}

/** An unquoted element at `i`: its text without trailing space, whether it had escapes, and where it ends. */
function unquoted(s: string, i: number, end: number): { v: string; escaped: boolean; at: number } {
  let v = '';
  let escaped = false;
  let kept = 0;
  for (; i < end && !',{}"'.includes(s[i] as string); i++) {
    const esc = s[i] === '\\';
    v += esc ? (s[++i] ?? '') : s[i];
    escaped ||= esc;
    if (esc || !SPACE.test(s[i] as string)) kept = v.length;
  }
  return { v: v.slice(0, kept), escaped, at: i };
}

/** One element at `i` (after leading space): its value (null for NULL) and where it ends, or null. */
function element(s: string, i: number, end: number): { v: string | null; at: number } | null {
  if (s[i] === '"') return quoted(s, i, end);
  const { v, escaped, at } = unquoted(s, i, end);
  if (v === '') return null;
  return { v: !escaped && v.toUpperCase() === 'NULL' ? null : v, at };
}

/** Elements of a one-dimensional array literal as array_in reads it (null for NULL), or null when it is not one. */
export function arrayElements(text: string): Array<string | null> | null {
  const s = text.trim();
  if (!s.startsWith('{') || !s.endsWith('}')) return null;
  const end = s.length - 1;
  const skip = (i: number): number => { while (i < end && SPACE.test(s[i] as string)) i++; return i; };
  const out: Array<string | null> = [];
  let i = skip(1);
  if (i === end) return out;
  for (;;) {
    const e = element(s, skip(i), end);
    if (!e) return null;
    out.push(e.v);
    i = skip(e.at);
    if (i === end) return out;
    if (s[i] !== ',') return null;
    i++;
  }
}

/** The elements of a one-dimensional binary array (array_send), or null when it is not one. */
export function binaryArrayElements(b: Buffer): Array<Buffer | null> | null {
  if (b.length < 12) return null;
  const ndim = b.readInt32BE(0);
  if (ndim === 0) return [];
  if (ndim !== 1 || b.length < 20) return null;
  const n = b.readInt32BE(12);
  const out: Array<Buffer | null> = [];
  let at = 20;
  for (let i = 0; i < n; i++) {
    if (at + 4 > b.length) return null;
    const len = b.readInt32BE(at);
    at += 4;
    if (len < 0) { out.push(null); continue; }
    if (at + len > b.length) return null;
    out.push(b.subarray(at, at + len));
    at += len;
  }
  return at === b.length ? out : null;
}

/** A one-dimensional bytea[] with NULL elements, in the text or binary format. */
export function byteaArrayWithNulls(items: Array<Uint8Array | null>, format: 0 | 1): Buffer {
  if (format === 0) return Buffer.from(`{${items.map((i) => (i === null ? 'NULL' : `"\\\\x${Buffer.from(i).toString('hex')}"`)).join(',')}}`, 'latin1');
  const head = Buffer.alloc(20);
  head.writeInt32BE(1, 0);
  head.writeInt32BE(items.some((i) => i === null) ? 1 : 0, 4);
  head.writeInt32BE(17, 8);
  head.writeInt32BE(items.length, 12);
  head.writeInt32BE(1, 16);
  const parts: Buffer[] = [head];
  for (const i of items) {
    const len = Buffer.alloc(4);
    len.writeInt32BE(i === null ? -1 : i.length, 0);
    parts.push(len);
    if (i !== null) parts.push(Buffer.from(i));
  }
  return Buffer.concat(parts);
}

/** A one-dimensional text[] with NULL elements, in the text or binary format. */
export function textArrayWithNulls(items: Array<string | null>, format: 0 | 1): Buffer {
  if (format === 0) return Buffer.from(`{${items.map((i) => (i === null ? 'NULL' : `"${i.replace(/[\\"]/g, (c) => `\\${c}`)}"`)).join(',')}}`, 'utf8');
  const head = Buffer.alloc(20);
  head.writeInt32BE(1, 0);
  head.writeInt32BE(items.some((i) => i === null) ? 1 : 0, 4);
  head.writeInt32BE(25, 8);
  head.writeInt32BE(items.length, 12);
  head.writeInt32BE(1, 16);
  const parts: Buffer[] = [head];
  for (const i of items) {
    const b = i === null ? null : Buffer.from(i, 'utf8');
    const len = Buffer.alloc(4);
    len.writeInt32BE(b === null ? -1 : b.length, 0);
    parts.push(len);
    if (b !== null) parts.push(b);
  }
  return Buffer.concat(parts);
}

/** The array type of a declared (element) type a protected column may have. */
export const ARRAY_OF: Readonly<Record<number, number>> = {
  16: 1000, 17: 1001, 20: 1016, 21: 1005, 23: 1007, 25: 1009, 700: 1021, 701: 1022, 1042: 1014, 1043: 1015,
  1082: 1182, 1114: 1115, 1184: 1185, 1700: 1231, 2950: 2951,
};
