// The executor's reading of a plan's result directives (rewrite/result-directives.ts): which result
// columns carry protected values and how each is shown to this user (the grant decides: the most
// restrictive view among the columns an output may come from). A directive it does not know is
// refused, never passed. Shared by the statement pipeline, the split-table stage and the RETURNING
// of writes that compute.
import type { View } from '@clarus/crds/types.ts';
import type { Refuse } from '../session/pipeline.ts';
import type { ProtectedOutput } from '../protection/results.ts';
import type { KeyedRewriter } from '../protection/keyed-rewriter.ts';
import type { ProtectedRef } from '../rewrite/context.ts';
import type { ResultDirective, Reversal } from '../rewrite/result-directives.ts';
import { sourcesOf } from '../rewrite/context.ts';
import { VIEW_RANK } from './grants.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';
import { pseudonymRef } from '../protection/anonymization/keys.ts';

function refuse(code: string, message: string): Refuse {
  return { kind: 'refuse', code, message };
}

/**
 * How an output is shown: an output whose values may come from several columns (set operation
 * arms, JOIN … USING sides) gets the most restrictive view among them, decrypted and masked as
 * that column.
 */
export function shownAs(prov: ProtectedRef, views: Map<string, View>): { ref: ProtectedRef; view: View } {
  const options = sourcesOf(prov).map((ref) => ({ ref, view: views.get(ref.table.dataset) ?? 'protected' }));
  return options.reduce((a, b) => (VIEW_RANK[b.view] < VIEW_RANK[a.view] ? b : a));
}

/**
 * A reversible pseudonym read by a user with the plaintext view of its dataset: decrypted on the way
 * out (the rewriter gives the directive only where the output is exactly that column; anything
 * computed from it shows the pseudonym). Other users see the pseudonym.
 */
function pseudonymOutput(rw: KeyedRewriter, index: number, d: Reversal & { kind: 'reversePseudonym' }, views: Map<string, View>): ProtectedOutput | undefined {
  const a = d.ref;
  if (views.get(a.table.dataset) !== 'plaintext') return undefined;
  return { index, cipher: rw.cipher(pseudonymRef(d.keyName)), typeOid: a.column.typeOid, view: 'plaintext', column: `${a.table.table}.${a.column.name}`, encoding: 'hexText' };
}

function decryptOutput(rw: KeyedRewriter, index: number, prov: ProtectedRef, views: Map<string, View>): ProtectedOutput {
  const { ref, view } = shownAs(prov, views);
  const p = ref.column.protection;
  const mask = p.kind === 'encrypt' ? p.maskedView : undefined;
  return { index, cipher: rw.cipher(ref), typeOid: ref.column.typeOid, view, column: `${ref.table.table}.${ref.column.name}`, ...(mask ? { mask } : {}) };
}

function unplaced(r: Reversal, views: Map<string, View>): Refuse | undefined {
  // A pseudonym this user would not see reversed passes as stored, wherever it is.
  if (r.kind === 'reversePseudonym' && views.get(r.ref.table.dataset) !== 'plaintext') return undefined;
  const c = r.kind === 'decrypt' ? `encrypted column ${r.ref.table.table}.${r.ref.column.name}` : `pseudonymized column ${r.ref.table.table}.${r.ref.column.name}`;
  return refuse(SQLSTATE.featureNotSupported, `clarus: SELECT * over a relation unknown to the policy before ${c}; list the columns`);
}

/** The executor's part of one directive for this user: a ProtectedOutput, nothing (passed), or the refusal. */
function outputOf(rw: KeyedRewriter, index: number, d: ResultDirective, views: Map<string, View>): ProtectedOutput | undefined | Refuse {
  switch (d.kind) {
    case 'pass': case 'unknownWidth': return undefined;
    case 'decrypt': return decryptOutput(rw, index, d.ref, views);
    case 'reversePseudonym': return pseudonymOutput(rw, index, d, views);
    case 'unplaced': return unplaced(d.of, views);
    default: return unknownDirective(d, index);
  }
}

/** Fail closed: a directive this executor does not know is refused, never passed. */
function unknownDirective(d: never, index: number): Refuse {
  return refuse(SQLSTATE.internalError, `clarus: result column ${index + 1} has a directive the proxy does not know (${String((d as { kind?: unknown }).kind)})`);
}

/** What the executor does to each result column for this user, from the plan's directives (rewrite/result-directives.ts). */
export function protectedOutputs(rw: KeyedRewriter, directives: readonly ResultDirective[], views: Map<string, View>): ProtectedOutput[] | Refuse {
  // A plan made without directives says nothing of its results: refused, not passed.
  if (!Array.isArray(directives)) return refuse(SQLSTATE.internalError, 'clarus: a statement plan without result directives');
  const result: ProtectedOutput[] = [];
  for (const [index, d] of directives.entries()) {
    const o = outputOf(rw, index, d, views);
    if (o && 'kind' in o) return o;
    if (o) result.push(o);
  }
  return result;
}
