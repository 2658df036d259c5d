// The row keys a SELECT's WHERE clause pins (issue 12): `key = v`, `v = key` or `key IN (v, …)`
// as a top-level conjunct, each v a parameter or an integer or string constant. Every row of the
// result has one of those keys, so the other fragments can be read by them at the same time as
// the home fragment (stage.ts), instead of after it returned its keys. Pure.
import { arr, body, colRefNames, nodeBody } from '../rewrite/ast.ts';

/** A key value: the client's parameter `$param`, or a constant's text. NULL pins nothing (it equals no key). */
export type PinnedKey = { param: number } | { text: string } | { none: true };

/** Most values a pinned read takes this way (a longer IN list is read as any other scan). */
export const MAX_PINNED = 100;

/**
 * The key values of the first conjunct that pins the key column (`isKey` tells a reference to
 * it), or undefined. Casts and other constants (a numeric `2.5` compared with an integer key) are
 * not taken: their text read as a key could fail where the comparison is merely false.
 */
export function pinnedKeys(conjuncts: readonly unknown[], isKey: (names: string[]) => boolean): PinnedKey[] | undefined {
  for (const c of conjuncts) {
    const items = keyOperands(c, isKey);
    if (!items || items.length === 0 || items.length > MAX_PINNED) continue;
    const values = items.map(valueOf);
    if (values.every((v): v is PinnedKey => v !== null)) return values;
  }
  return undefined;
}

/** The operands a conjunct compares the key with (`key = x`, `x = key`, `key IN (x, …)`), or null. */
function keyOperands(c: unknown, isKey: (names: string[]) => boolean): unknown[] | null {
  const e = body(c, 'A_Expr');
  const op = arr(e?.name);
  if (!e || op.length !== 1 || body(op[0], 'String')?.sval !== '=') return null;
  const key = (n: unknown) => { const r = body(n, 'ColumnRef'); return r !== null && isKey(colRefNames(r)); };
  if (e.kind === 'AEXPR_OP') return key(e.lexpr) ? [e.rexpr] : key(e.rexpr) ? [e.lexpr] : null;
  return e.kind === 'AEXPR_IN' && key(e.lexpr) ? arr(body(e.rexpr, 'List')?.items) : null;
}

function valueOf(n: unknown): PinnedKey | null {
  const p = body(n, 'ParamRef');
  if (p) return { param: Number(p.number) };
  const k = nodeBody(n, 'A_Const');
  if (!k) return null;
  if (k.isnull === true) return { none: true };
  if (k.ival) return { text: String(k.ival.ival ?? 0) };
  if (k.sval) return { text: String(k.sval.sval ?? '') };
  return null;
}

/** The key texts of `keys` with the client's parameter values (NULLs left out), at most MAX_PINNED. */
export function keyTexts(keys: readonly PinnedKey[], params: ReadonlyArray<string | null>): string[] {
  const out: string[] = [];
  for (const k of keys) {
    const v = 'param' in k ? params[k.param - 1] ?? null : 'text' in k ? k.text : null;
    if (v !== null && !out.includes(v)) out.push(v);
  }
  return out;
}
