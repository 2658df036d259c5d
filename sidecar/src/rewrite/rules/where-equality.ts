// Rule where-equality: equality of an encrypted column with constants or parameters (WHERE,
// HAVING, JOIN ON, IN lists).
// Postcondition: no constant compared with an encrypted column reaches the backend; the comparison
// is on the stored form (ciphertext of a deterministic column, the blind index of a searchable
// one) and a randomized, non-searchable column is refused.
import type { Node } from '@pgsql/types';
import { boolExpr, byteaLiteral, castChanges, colRefNames, columnRef, constText, nodeBody, opExpr, paramRef, unwrapCast } from '../ast.ts';
import { blindIndexPath } from '../hidden.ts';
import type { Ctx, ProtectedRef } from '../context.ts';
import { refuseConstruct } from '../context.ts';

/** The stored-form target of an equality: the column itself, or its hidden blind index. */
function equalityTarget(ref: ProtectedRef, colNode: unknown): unknown {
  if (ref.column.protection.mode === 'deterministic') return colNode;
  if (!ref.column.protection.searchable) refuseConstruct(ref, 'equality comparison (declare it searchable or deterministic)');
  return columnRef(blindIndexPath(colRefNames(nodeBody(colNode, 'ColumnRef') ?? {})));
}

/**
 * `col = value`, `col <> value`, `col IN (values)` on an encrypted column, rewritten to compare
 * stored forms: the column (deterministic) or its hidden blind index (searchable) with the
 * encrypted forms of each constant, or `= ANY ($n)` for a parameter the proxy fills at Bind with
 * every live key version's form.
 */
export function equalityRewrite(ctx: Ctx, ref: ProtectedRef, colNode: unknown, others: unknown[], negate: boolean): Node {
  const target = equalityTarget(ref, colNode);
  const det = ref.column.protection.mode === 'deterministic';
  const cipher = ctx.cipher(ref);
  const literals: Node[] = [];
  const terms: Node[] = [];
  for (const o of others) {
    const v = unwrapCast(o);
    const c = constText(v);
    const p = nodeBody(v, 'ParamRef');
    if (c && c.isNull) continue;
    if (c || p) {
      const cast = castChanges(o, ref.column.typeOid);
      if (cast) refuseConstruct(ref, `comparison with ${cast}`);
    }
    if (c) {
      const canon = ctx.canonical(ref, c.text);
      for (const f of det ? cipher.equalityForms(canon) : cipher.blindIndexes(canon)) literals.push(byteaLiteral(f));
    } else if (p) {
      const n = Number(p.number);
      ctx.setParam(n, det ? { kind: 'equalityAny', ref } : { kind: 'blindIndexAny', ref });
      terms.push(opExpr(negate ? 'AEXPR_OP_ALL' : 'AEXPR_OP_ANY', negate ? '<>' : '=', target, paramRef(n)));
    } else {
      refuseConstruct(ref, 'comparison with an expression (only constants and parameters)');
    }
  }
  const op = negate ? '<>' : '=';
  if (literals.length === 1) terms.unshift(opExpr('AEXPR_OP', op, target, literals[0]));
  if (literals.length > 1) terms.unshift(opExpr('AEXPR_IN', op, target, { List: { items: literals } }));
  if (terms.length === 0) return opExpr('AEXPR_OP', op, target, { A_Const: { isnull: true, location: -1 } });
  return boolExpr(negate ? 'AND_EXPR' : 'OR_EXPR', terms);
}
