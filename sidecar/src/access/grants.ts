// Access decisions from a user's AccessGrants: no grant for a dataset → 42501; a read grant
// refuses writes; expired grants do not count (the clock is passed in). When several grants
// cover a dataset, the user gets the most permissive access and the most revealing view.
import type { RuntimeUser } from '@clarus/policy/runtime/config.ts';
import type { Access, View } from '@clarus/crds/types.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';

export type Grants = RuntimeUser['grants'];

export type AccessDecision =
  | { ok: true; views: Map<string, View> }
  | { ok: false; code: typeof SQLSTATE.insufficientPrivilege; message: string };

/** How much a view reveals (higher reveals more). */
export const VIEW_RANK: Record<View, number> = { protected: 0, masked: 1, plaintext: 2 };

/** A grant counts until its `expires` instant (exclusive); one without `expires` always counts. */
export function validAt(g: Grants[number], now: Date): boolean {
  return !(g.expires && !(Date.parse(g.expires) > now.getTime()));
}

/** Does the user hold at least one valid readWrite grant (on any dataset)? */
export function mayWrite(grants: Grants, now: Date): boolean {
  return grants.some((g) => g.access === 'readWrite' && validAt(g, now));
}

export function effectiveGrant(grants: Grants, dataset: string, now: Date): { access: Access; view: View } | null {
  // One pass, no intermediate arrays: it runs for every dataset of every statement.
  let best: { access: Access; view: View } | null = null;
  for (const g of grants) {
    if (!(g.datasets.includes(dataset) || g.datasets.includes('*')) || !validAt(g, now)) continue;
    if (!best) { best = { access: g.access, view: g.view }; continue; }
    if (g.access === 'readWrite') best.access = 'readWrite';
    if (VIEW_RANK[g.view] > VIEW_RANK[best.view]) best.view = g.view;
  }
  return best;
}

/** Who a decision is for: the user's name (for messages) and grants. */
export interface Subject { user: string; grants: Grants }

export function decideAccess({ user, grants }: Subject, datasets: Iterable<string>, write: boolean, now: Date): AccessDecision {
  const views = new Map<string, View>();
  for (const d of datasets) {
    const g = effectiveGrant(grants, d, now);
    if (!g) return { ok: false, code: SQLSTATE.insufficientPrivilege, message: `permission denied for dataset ${d}: user ${user} has no valid AccessGrant for it` };
    if (write && g.access !== 'readWrite') return { ok: false, code: SQLSTATE.insufficientPrivilege, message: `permission denied for dataset ${d}: user ${user} has read-only access` };
    views.set(d, g.view);
  }
  return { ok: true, views };
}

/**
 * The decision for one statement: `write` statements need a user with at least one valid
 * readWrite grant (a user with only read grants, or none, runs read statements only, whatever
 * table they name: the same line the backend's read-only role draws), then the per-dataset rules.
 */
export function decideStatement(who: Subject, datasets: Iterable<string>, write: boolean, now: Date): AccessDecision {
  const { user, grants } = who;
  if (write && !mayWrite(grants, now)) {
    return { ok: false, code: SQLSTATE.insufficientPrivilege, message: `permission denied: user ${user} has no valid read-write AccessGrant, so it may only read` };
  }
  return decideAccess(who, datasets, write, now);
}
