// Which result columns carry protected values and how each is shown to a user (the most
// restrictive view among the columns an output may come from). Shared by the statement pipeline
// and the split-table stage.
import type { View } from '@clarus/crds/types.ts';
import type { Refuse } from '../session/pipeline.ts';
import type { ProtectedOutput } from '../protection/results.ts';
import type { KeyedRewriter } from '../protection/keyed-rewriter.ts';
import type { OutCol } from '../rewrite/scope.ts';
import type { ProtectedRef } from '../rewrite/context.ts';
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
 * out (only where the output is exactly that column; anything computed from it shows the pseudonym).
 */
function pseudonymOutput(rw: KeyedRewriter, index: number, o: OutCol, views: Map<string, View>): ProtectedOutput | undefined {
  const a = o.anon?.exact ? o.anon.ref : undefined;
  const p = a?.column.protection.spec.pseudonymize;
  if (!a || !p?.reversible || views.get(a.table.dataset) !== 'plaintext') return undefined;
  return { index, cipher: rw.cipher(pseudonymRef(p.keyName ?? 'default')), typeOid: a.column.typeOid, view: 'plaintext', column: `${a.table.table}.${a.column.name}`, encoding: 'hexText' };
}

/** Positions of ciphertext outputs; refused when an unknown-width `*` precedes one. */
export function protectedOutputs(rw: KeyedRewriter, outs: OutCol[], views: Map<string, View>): ProtectedOutput[] | Refuse {
  const result: ProtectedOutput[] = [];
  let unknownBefore = false;
  for (const [index, o] of outs.entries()) {
    if (o.star) unknownBefore = true;
    const pseudonym = pseudonymOutput(rw, index, o, views);
    if (pseudonym) result.push(pseudonym);
    if (!o.prov) continue;
    if (unknownBefore) return refuse(SQLSTATE.featureNotSupported, `clarus: SELECT * over a relation unknown to the policy before encrypted column ${o.prov.table.table}.${o.prov.column.name}; list the columns`);
    const { ref, view } = shownAs(o.prov, views);
    const p = ref.column.protection;
    const mask = p.kind === 'encrypt' ? p.maskedView : undefined;
    result.push({ index, cipher: rw.cipher(ref), typeOid: ref.column.typeOid, view, column: `${ref.table.table}.${ref.column.name}`, ...(mask ? { mask } : {}) });
  }
  return result;
}

