// Statement shapes: a text with its literal values taken out. Most applications send the same
// statement again and again with other constants (ORMs inline them, `-M simple` clients format
// them into the text); the shape cache (shape-cache.ts) lets such a text reuse the plan of an
// earlier one instead of being parsed (twice, with the backend's grammar) and analysed again.
//
// The key is the text itself with each *canonical* literal replaced by a marker of its lexical
// class; everything else (keywords, names, operators, white space, the other constants) stays as
// it is. Canonical literals are the forms every supported lexer (PostgreSQL 15 to 18) reads the
// same way and whose extent cannot depend on their content: plain decimal numbers not touching an
// identifier character or a dot, and standard strings '…' without backslash, prefix (E, U&, N, B,
// X) or continuation. Anything this finder is not sure of (comments, dollar quotes, other string
// forms, parameters glued to digits…) gives no shape: the text is analysed in full, as before.
// The shape cache checks, when it first keeps a shape, that the backend's own lexer
// (libpg-query's scanner) finds exactly these literals in that text (`agreesWithLexer`); another
// text of the same key differs only inside literals of the same class, which the lexer then reads
// at the same places as the same kind of token.

/** i: integer that fits int4 (ICONST); F: larger integer (FCONST); f: decimal/exponent (FCONST); s: string (SCONST). */
export type LiteralClass = 'i' | 'F' | 'f' | 's';

export interface Literal {
  /** UTF-16 offsets in the text. */
  start: number;
  end: number;
  cls: LiteralClass;
}

export interface Shape {
  key: string;
  literals: Literal[];
}

const MARK = '\u0001';
const INT4_MAX = 2147483647;

function isDigit(c: number): boolean { return c >= 48 && c <= 57; }
function isIdentStart(c: number): boolean { return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c >= 128; }
function isIdentChar(c: number): boolean { return isIdentStart(c) || isDigit(c) || c === 36; }
function isSpace(c: number): boolean { return c === 32 || (c >= 9 && c <= 13); }

/** End of a standard string starting at `i` (a quote), or -1 when it is not a canonical one. */
function stringEnd(sql: string, i: number): number {
  let j = i + 1;
  for (;;) {
    if (j >= sql.length) return -1;
    const c = sql.charCodeAt(j);
    if (c === 92) return -1;
    if (c !== 39) { j++; continue; }
    if (sql.charCodeAt(j + 1) === 39) { j += 2; continue; }
    break;
  }
  let k = j + 1;
  // A string followed (after white space) by another quote may be continued across lines.
  while (k < sql.length && isSpace(sql.charCodeAt(k))) k++;
  return sql.charCodeAt(k) === 39 ? -1 : j + 1;
}

/** A decimal number at `i`: [end, class], or null when it is not canonical. */
function numberAt(sql: string, i: number): [number, LiteralClass] | null {
  let j = i;
  while (isDigit(sql.charCodeAt(j))) j++;
  let frac = false;
  if (sql.charCodeAt(j) === 46) {
    if (sql.charCodeAt(j + 1) === 46) return null;
    frac = true;
    j++;
    while (isDigit(sql.charCodeAt(j))) j++;
  }
  const e = sql.charCodeAt(j);
  if (e === 69 || e === 101) {
    const s = sql.charCodeAt(j + 1);
    const d = s === 43 || s === 45 ? j + 2 : j + 1;
    if (!isDigit(sql.charCodeAt(d))) return null;
    j = d;
    while (isDigit(sql.charCodeAt(j))) j++;
    frac = true;
  }
  const after = sql.charCodeAt(j);
  if (isIdentChar(after) || after === 46) return null;
  if (j === i || (j === i + 1 && frac)) return null;
  if (frac) return [j, 'f'];
  return [j, Number(sql.slice(i, j)) <= INT4_MAX ? 'i' : 'F'];
}

const prevChar = (sql: string, i: number): number => (i > 0 ? sql.charCodeAt(i - 1) : 32);

/** A string at `i`: its literal and end, or -1. E'…', N'…', B'…', X'…', U&'…' and `ident'…'` are other forms. */
function stringStep(sql: string, i: number, out: Literal[]): number {
  const prev = prevChar(sql, i);
  if (isIdentChar(prev) || prev === 38) return -1;
  const end = stringEnd(sql, i);
  if (end >= 0) out.push({ start: i, end, cls: 's' });
  return end;
}

function numberStep(sql: string, i: number, out: Literal[]): number {
  const prev = prevChar(sql, i);
  if (isIdentChar(prev) || prev === 46) return -1;
  const num = numberAt(sql, i);
  if (!num) return -1;
  out.push({ start: i, end: num[0], cls: num[1] });
  return num[0];
}

/** An identifier (`U&"…"` / `U&'…'` give no shape). */
function identStep(sql: string, i: number): number {
  let j = i;
  while (j < sql.length && isIdentChar(sql.charCodeAt(j))) j++;
  return sql.charCodeAt(j) === 38 ? -1 : j;
}

/** A `$n` parameter (`$tag$` opens a dollar-quoted string: no shape). */
function paramStep(sql: string, i: number): number {
  if (!isDigit(sql.charCodeAt(i + 1))) return -1;
  let j = i + 1;
  while (isDigit(sql.charCodeAt(j))) j++;
  return isIdentChar(sql.charCodeAt(j)) || sql.charCodeAt(j) === 46 ? -1 : j;
}

/** Where the token at `i` ends (literals are added to `out`), or -1 for what gives no shape. */
function step(sql: string, i: number, out: Literal[]): number {
  const c = sql.charCodeAt(i);
  const next = sql.charCodeAt(i + 1);
  if (c === 39) return stringStep(sql, i, out);
  if (c === 34) {
    const end = sql.indexOf('"', i + 1);
    return end < 0 ? -1 : end + 1;
  }
  if (isDigit(c) || (c === 46 && isDigit(next))) return numberStep(sql, i, out);
  if (isIdentStart(c)) return identStep(sql, i);
  if (c === 36) return paramStep(sql, i);
  // The marker character, comments.
  if (c === 1 || (c === 45 && next === 45) || (c === 47 && next === 42)) return -1;
  return i + 1;
}

/** The text's shape, or null when a part of it is not read with certainty. */
export function shapeOf(sql: string): Shape | null {
  const literals: Literal[] = [];
  for (let i = 0; i < sql.length;) {
    i = step(sql, i, literals);
    if (i < 0) return null;
  }
  return { key: keyOf(sql, literals), literals };
}

function keyOf(sql: string, literals: readonly Literal[]): string {
  let key = '';
  let at = 0;
  for (const l of literals) {
    key += sql.slice(at, l.start) + MARK + l.cls;
    at = l.end;
  }
  return key + sql.slice(at);
}

/** The literal texts of `sql` at the shape's literals. */
export function literalTexts(sql: string, shape: Shape): string[] {
  return shape.literals.map((l) => sql.slice(l.start, l.end));
}

/** `sql` with the literals at `indexes` replaced by `values`. */
export function withLiterals(sql: string, shape: Shape, values: ReadonlyMap<number, string>): string {
  let out = '';
  let at = 0;
  for (const [k, l] of shape.literals.entries()) {
    const v = values.get(k);
    if (v === undefined) continue;
    out += sql.slice(at, l.start) + v;
    at = l.end;
  }
  return out + sql.slice(at);
}

interface ScanToken { start: number; end: number; tokenName: string }

const TOKEN_CLASS: Record<string, readonly LiteralClass[]> = { ICONST: ['i'], FCONST: ['F', 'f'], SCONST: ['s'] };

/**
 * Whether the backend's lexer (the tokens of libpg-query's scanner, byte offsets) reads exactly
 * the shape's literals as constant tokens of their class, and no other constant token.
 */
export function agreesWithLexer(sql: string, shape: Shape, tokens: readonly ScanToken[]): boolean {
  const consts = tokens.filter((t) => t.tokenName in TOKEN_CLASS || t.tokenName === 'BCONST' || t.tokenName === 'XCONST' || t.tokenName === 'USCONST');
  if (consts.length !== shape.literals.length) return false;
  return shape.literals.every((l, k) => {
    const t = consts[k] as ScanToken;
    const start = Buffer.byteLength(sql.slice(0, l.start));
    const end = start + Buffer.byteLength(sql.slice(l.start, l.end));
    return t.start === start && t.end === end && (TOKEN_CLASS[t.tokenName] ?? []).includes(l.cls);
  });
}

/** Byte offset of each literal's start (parse-tree locations are byte offsets). */
export function byteStarts(sql: string, shape: Shape): number[] {
  return shape.literals.map((l) => Buffer.byteLength(sql.slice(0, l.start)));
}

/** The value a literal of class `cls` takes in deparsed text (the deparser writes int4 constants from their value). */
export function deparsedForm(text: string, cls: LiteralClass): string {
  return cls === 'i' ? String(Number(text)) : text;
}
