// Rule set-operation: UNION / INTERSECT / EXCEPT over protected columns.
// Postcondition: each output column carries ciphertext of one column, or of columns sharing a
// deterministic key (its sources list them all); plain/encrypted mixes, randomized values under
// duplicate elimination and columns without a shared key are refused.
import type { SelectStmt } from '@pgsql/types';
import type { ProtectedRef } from '../context.ts';
import { mergeSources, refuseConstruct } from '../context.ts';
import { sameDeterministicKey } from '../expr.ts';
import type { OutAnon } from '../expr.ts';
import type { OutCol } from '../scope.ts';

/** The output columns of a set operation whose arms gave `left` and `right`. */
export function setOperation(s: SelectStmt, left: OutCol[], right: OutCol[]): OutCol[] {
  const distinct = !s.all;
  const outs = left.map((l, i) => {
    const r = right[i];
    if (l.star || r?.star) return l;
    const out = { ...l, anon: mergeAnon(l.anon, r?.anon) };
    const lp = l.prov;
    const rp = r?.prov ?? null;
    if (!lp && !rp) return out;
    const p = (lp ?? rp) as ProtectedRef;
    // A NULL literal carries no value: the output is the other arm's column (the two-stage
    // executor's backend stage pads each arm's candidate columns with NULLs).
    if ((!lp && l.nullConst) || (!rp && r?.nullConst)) return { ...out, prov: p };
    if (!lp || !rp) refuseConstruct(p, 'set operation mixing encrypted and plain values');
    const same = lp.table === rp.table && lp.column === rp.column;
    if (!same && !sameDeterministicKey(lp, rp)) refuseConstruct(p, 'set operation across columns that do not share a deterministic key');
    if (distinct && lp.column.protection.mode === 'randomized') refuseConstruct(p, `${String(s.op).replace('SETOP_', '')} (duplicate elimination)`);
    // Rows of either arm come out under the left arm's name: the output carries both columns.
    return { ...out, prov: mergeSources(lp, rp) };
  });
  return outs;
}

/** Rows of either arm come out under one name: exact only when both arms are the same column as is. */
export function mergeAnon(a: OutAnon | null | undefined, b: OutAnon | null | undefined): OutAnon | null | undefined {
  if (a === undefined || b === undefined) return undefined;
  if (!a || !b) return a || b ? { ref: (a ?? b as OutAnon).ref, exact: false } : null;
  const same = a.exact && b.exact && a.ref.table === b.ref.table && a.ref.column === b.ref.column;
  return same ? a : { ref: a.ref, exact: false };
}
