// Helpers over libpg-query's JSON AST. Nodes are `{ Tag: body }` objects; bodies are plain JSON.
// The rewriter edits bodies in place on a fresh parse (the parse result is never shared).
// Typed access (`nodeBody`, `nodeTag`, `arr`, `colRefNames`, the node builders) gives the bodies
// as @pgsql/types declares them (libpg-query 18's JSON); `Json`, `body` and `tagOf` are the
// untyped forms kept for the code not converted yet (see docs/architecture.md).
import type { A_Expr, A_Expr_Kind, BoolExpr, ColumnRef, Node, ParamRef, TypeCast, TypeName } from '@pgsql/types';
import { typeOid } from '../protection/encryption/canonical.ts';

export type Json = Record<string, unknown>;

export function isObj(x: unknown): x is Json {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** `{ Tag: body }` → [Tag, body]; anything else → null. */
export function tagOf(node: unknown): [string, Json] | null {
  if (!isObj(node)) return null;
  const keys = Object.keys(node);
  if (keys.length !== 1) return null;
  const k = keys[0] as string;
  const body = node[k];
  // Tags start with an upper-case ASCII letter (a char code test: this runs for every AST node).
  const c = k.charCodeAt(0);
  return c >= 65 && c <= 90 && isObj(body) ? [k, body] : null;
}

export function body(node: unknown, tag: string): Json | null {
  const t = tagOf(node);
  return t && t[0] === tag ? t[1] : null;
}

/** A list field (`targetList`, `args`…) as an array: its elements' type when typed, [] when absent. */
export function arr<T>(x: readonly T[] | undefined): T[];
export function arr(x: unknown): unknown[];
export function arr(x: unknown): unknown[] {
  return Array.isArray(x) ? x : [];
}

export function sval(node: unknown): string | null {
  const b = body(node, 'String');
  return b && typeof b.sval === 'string' ? b.sval : null;
}

/** Names of a ColumnRef: strings, or '*' for A_Star. */
export function colRefNames(ref: ColumnRef): string[] {
  return arr(ref.fields).map((f) => (body(f, 'A_Star') ? '*' : (sval(f) ?? '?')));
}

export function columnRef(names: string[]): { ColumnRef: ColumnRef } {
  return { ColumnRef: { fields: names.map((n) => (n === '*' ? { A_Star: {} } : { String: { sval: n } })), location: -1 } };
}

export function stringNode(s: string): { String: { sval: string } } {
  return { String: { sval: s } };
}

export function byteaLiteral(b: Uint8Array): { TypeCast: TypeCast } {
  return {
    TypeCast: {
      arg: { A_Const: { sval: { sval: `\\x${Buffer.from(b).toString('hex')}` }, location: -1 } },
      typeName: { names: [stringNode('bytea')], typemod: -1, location: -1 },
      location: -1,
    },
  };
}

export function nullConst(): { A_Const: { isnull: true; location: number } } {
  return { A_Const: { isnull: true, location: -1 } };
}

export function textConst(s: string): { A_Const: { sval: { sval: string }; location: number } } {
  return { A_Const: { sval: { sval: s }, location: -1 } };
}

export function paramRef(n: number): { ParamRef: ParamRef } {
  return { ParamRef: { number: n, location: -1 } };
}

export function opExpr(kind: A_Expr_Kind | string, op: string, lexpr: unknown, rexpr: unknown): { A_Expr: A_Expr } {
  return { A_Expr: { kind: kind as A_Expr_Kind, name: [stringNode(op)], lexpr: lexpr as Node, rexpr: rexpr as Node, location: -1 } };
}

/** The conjunction/disjunction of the arguments (the argument itself when there is one). */
export function boolExpr<T>(op: 'AND_EXPR' | 'OR_EXPR', args: T[]): T | { BoolExpr: BoolExpr } {
  return args.length === 1 ? (args[0] as T) : { BoolExpr: { boolop: op, args: args as Node[], location: -1 } };
}

/**
 * A constant as PostgreSQL reads it. `text` is the constant's value in its type's text output form
 * (what an assignment or comparison to a string column sees: numbers as numeric_out prints them,
 * booleans as `true`/`false`, bit strings as their binary digits), `bits` marks a bit string
 * (`B'…'`, `X'…'`: type bit, which only string types accept without an explicit cast).
 * null when the node is not a plain constant, or is one PostgreSQL would reject.
 */
export interface ConstValue { isNull: boolean; text: string; bits?: true }

export function constText(node: unknown): ConstValue | null {
  const c = nodeBody(node, 'A_Const');
  if (!c) return null;
  if (c.isnull) return { isNull: true, text: '' };
  if (c.ival) return { isNull: false, text: String(c.ival.ival ?? 0) };
  if (c.fval) {
    const text = numericText(String(c.fval.fval));
    return text === null ? null : { isNull: false, text };
  }
  if (c.sval) return { isNull: false, text: String(c.sval.sval ?? '') };
  if (c.boolval) return { isNull: false, text: c.boolval.boolval ? 'true' : 'false' };
  if (c.bsval) {
    const text = bitText(String(c.bsval.bsval));
    return text === null ? null : { isNull: false, text, bits: true };
  }
  return null;
}

/**
 * The binary digits of a bit-string token as the parser hands it over: `b0101` (B'0101') or
 * `x1F` (X'1F', four bits per hex digit), like bit_in reads them; null for a digit it rejects.
 */
export function bitText(token: string): string | null {
  const digits = token.slice(1);
  if (token[0] === 'b' || token[0] === 'B') return /^[01]*$/.test(digits) ? digits : null;
  if (token[0] !== 'x' && token[0] !== 'X') return null;
  if (!/^[0-9a-fA-F]*$/.test(digits)) return null;
  return [...digits].map((d) => parseInt(d, 16).toString(2).padStart(4, '0')).join('');
}

/**
 * A decimal literal (`1.50`, `-1.5e3`, `.5`, `12345678901`) as numeric_out prints it: no
 * exponent, no leading zeros, the scale the literal wrote (`1.50` keeps two digits, `1e3` none),
 * no sign on zero. null for other spellings (hex/octal/binary integers, underscores).
 */
export function numericText(lit: string): string | null {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d{1,4}))?$/.exec(lit);
  if (!m) return null;
  const [, sign, whole = '', frac = '', e = '0'] = m;
  if (whole === '' && frac === '') return null;
  const exp = Number(e);
  const scale = Math.max(0, frac.length - exp);
  let digits = whole + frac;
  let point = whole.length + exp;
  if (point < 0) {
    digits = '0'.repeat(-point) + digits;
    point = 0;
  }
  if (point > digits.length) digits += '0'.repeat(point - digits.length);
  const intPart = digits.slice(0, point).replace(/^0+/, '') || '0';
  const fracPart = digits.slice(point).padEnd(scale, '0').slice(0, scale);
  const zero = /^0*$/.test(intPart + fracPart);
  return `${sign === '-' && !zero ? '-' : ''}${intPart}${scale ? `.${fracPart}` : ''}`;
}

/** Strips a TypeCast around a constant or parameter (`'x'::text`, `$1::int`). */
export function unwrapCast(node: unknown): unknown {
  const tc = body(node, 'TypeCast');
  return tc && (body(tc.arg, 'A_Const') || body(tc.arg, 'ParamRef')) ? tc.arg : node;
}

/** Casts that keep a constant's or parameter's text as it is: to a string type without length. */
const TEXT_CASTS = new Set(['text', 'varchar']);
/** Declared types that take a bit string's digits by assignment (I/O conversion to a string type). */
const STRING_OIDS = new Set([25, 1042, 1043]);

/**
 * Why PostgreSQL would not read a value (a constant or parameter, bare or under one cast) as the
 * text the proxy encrypts, anonymizes or compares for a column of declared type `declared`
 * (`unwrapCast` + `constText`), or null when it would. The proxy drops the cast and works on the
 * text, so the cast must not change the value: a cast to `text`/`varchar` without a length (any
 * value reads the same, and a type that has no assignment cast from text fails in both), or to
 * the declared type itself. A cast with a length (`varchar(3)`, `char`), to another type
 * (`$1::bytea`, `'0042'::int` into a text column) or a bit string into a non-string type would
 * make PostgreSQL store or compare something else.
 */
export function castChanges(node: unknown, declared: number): string | null {
  const tc = nodeBody(node, 'TypeCast');
  const inner = tc ? unwrapCast(node) : node;
  const c = constText(inner);
  if (c?.isNull) return null;
  if (!tc || inner === node) return c?.bits && !STRING_OIDS.has(declared) ? 'a bit-string constant (type bit) as a value of another type' : null;
  const tn: TypeName = tc.typeName ?? {};
  const names = arr(tn.names).map((n) => sval(n) ?? '');
  const name = typeNameOf(tn);
  const shown = names.join('.');
  if (arr(tn.typmods).length || arr(tn.arrayBounds).length || tn.setof || tn.pct_type) return `a cast to ${shown} with a length, precision or array bounds`;
  if (names.length > 2 || (names.length === 2 && names[0] !== 'pg_catalog')) return `a cast to ${shown}`;
  if (TEXT_CASTS.has(name)) return null;
  if (c?.bits) return `a bit-string constant cast to ${shown}`;
  return typeOid(name) === declared ? null : `a cast to ${shown} (the column is of another type)`;
}

/** The numbers of every `$n` (ParamRef) in a tree. */
export function paramNumbers(node: unknown, out = new Set<number>()): Set<number> {
  if (Array.isArray(node)) for (const n of node) paramNumbers(n, out);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'ParamRef' && isObj(v)) out.add(Number(v.number ?? 0));
      else paramNumbers(v, out);
    }
  }
  return out;
}

/** Name of a TypeName node (last component), lower case. */
export function typeNameOf(tn: TypeName): string {
  const names = arr(tn.names).map((n) => sval(n) ?? '');
  return (names[names.length - 1] ?? '').toLowerCase();
}

/** The tags of libpg-query's nodes (`SelectStmt`, `ColumnRef`…), from its published AST types. */
export type NodeTag = Node extends infer N ? (N extends Record<infer K, unknown> ? K & string : never) : never;

/** The body a node of tag `K` carries, as @pgsql/types (libpg-query 18's AST) declares it. */
export type NodeOf<K extends NodeTag> = Extract<Node, Record<K, unknown>>[K & keyof Extract<Node, Record<K, unknown>>];

/** `body` typed: the node's body as @pgsql/types declares it, or null for another node. */
export function nodeBody<K extends NodeTag>(node: unknown, tag: K): NodeOf<K> | null {
  return body(node, tag) as NodeOf<K> | null;
}

/** A node's tag and body, the body typed by the tag: `const [tag, b] = t; if (tag === 'RangeVar') b.relname`. */
export type Tagged = { [K in NodeTag]: [K, NodeOf<K>] }[NodeTag];

/** `tagOf` typed: [tag, body] as @pgsql/types declares them, narrowed together; null for anything else. */
export function nodeTag(node: unknown): Tagged | null {
  return tagOf(node) as Tagged | null;
}

/**
 * A typed body handed to code that still takes the untyped `Json` (rules and two-stage files not
 * converted yet): the one place where the typed analysis meets it, so the remaining boundary is
 * found by this name.
 */
export function untyped(b: object): Json {
  return b as Json;
}
