// Helpers over libpg-query's JSON AST. Nodes are `{ Tag: body }` objects; bodies are plain JSON.
// The rewriter edits bodies in place on a fresh parse (the parse result is never shared).

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

export function arr(x: unknown): unknown[] {
  return Array.isArray(x) ? x : [];
}

export function sval(node: unknown): string | null {
  const b = body(node, 'String');
  return b && typeof b.sval === 'string' ? b.sval : null;
}

/** Names of a ColumnRef: strings, or '*' for A_Star. */
export function colRefNames(ref: Json): string[] {
  return arr(ref.fields).map((f) => (body(f, 'A_Star') ? '*' : (sval(f) ?? '?')));
}

export function columnRef(names: string[]): Json {
  return { ColumnRef: { fields: names.map((n) => (n === '*' ? { A_Star: {} } : { String: { sval: n } })), location: -1 } };
}

export function stringNode(s: string): Json {
  return { String: { sval: s } };
}

export function byteaLiteral(b: Uint8Array): Json {
  return {
    TypeCast: {
      arg: { A_Const: { sval: { sval: `\\x${Buffer.from(b).toString('hex')}` }, location: -1 } },
      typeName: { names: [stringNode('bytea')], typemod: -1, location: -1 },
      location: -1,
    },
  };
}

export function nullConst(): Json {
  return { A_Const: { isnull: true, location: -1 } };
}

export function textConst(s: string): Json {
  return { A_Const: { sval: { sval: s }, location: -1 } };
}

export function paramRef(n: number): Json {
  return { ParamRef: { number: n, location: -1 } };
}

export function opExpr(kind: string, op: string, lexpr: unknown, rexpr: unknown): Json {
  return { A_Expr: { kind, name: [stringNode(op)], lexpr, rexpr, location: -1 } };
}

export function boolExpr(op: 'AND_EXPR' | 'OR_EXPR', args: unknown[]): Json {
  return args.length === 1 ? (args[0] as Json) : { BoolExpr: { boolop: op, args, location: -1 } };
}

/** Text of a constant as PostgreSQL would read it, or null when the node is not a plain constant. */
export function constText(node: unknown): { isNull: boolean; text: string } | null {
  const c = body(node, 'A_Const');
  if (!c) return null;
  if (c.isnull) return { isNull: true, text: '' };
  const ival = c.ival as Json | undefined;
  if (ival) return { isNull: false, text: String(ival.ival ?? 0) };
  const fval = c.fval as Json | undefined;
  if (fval) return { isNull: false, text: String(fval.fval) };
  const s = c.sval as Json | undefined;
  if (s) return { isNull: false, text: String(s.sval ?? '') };
  const bv = c.boolval as Json | undefined;
  if (bv) return { isNull: false, text: bv.boolval ? 't' : 'f' };
  const bs = c.bsval as Json | undefined;
  if (bs) return { isNull: false, text: String(bs.bsval) };
  return null;
}

/** Strips a TypeCast around a constant or parameter (`'x'::text`, `$1::int`). */
export function unwrapCast(node: unknown): unknown {
  const tc = body(node, 'TypeCast');
  return tc && (body(tc.arg, 'A_Const') || body(tc.arg, 'ParamRef')) ? tc.arg : node;
}

/** Name of a TypeName node (last component), lower case. */
export function typeNameOf(tn: Json): string {
  const names = arr(tn.names).map((n) => sval(n) ?? '');
  return (names[names.length - 1] ?? '').toLowerCase();
}
