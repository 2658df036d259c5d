// Joining a split table's fragments on the row key (issue 12): a batch of home rows with the other
// fragments' rows of the same keys, read by key on each backend's connection at once; and a read
// whose conditions pin the row keys, the home fragment and the others read at the same time. Only
// rows every fragment has are shown: never half a row.
import type { View } from '@clarus/crds/types.ts';
import { StatementError } from '../session/pipeline.ts';
import type { FieldDescription } from '../session/pipeline.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';
import { arrayLiteral, describeFragment, fragmentOf, runFragment } from './fragment.ts';
import type { Fragment, FragmentRows, ScanSpec } from './fragment.ts';
import type { ReadRelation } from './plan.ts';
import type { FragmentConnection } from './conn.ts';
import type { SplitLayout } from './layout.ts';

/** What a join reads with: the session's connections (in the client's block when there is one), the fragments' rewriters, the user's views. */
export interface JoinDeps {
  session: { read(backend: string): Promise<FragmentConnection> };
  fragments: Map<string, Fragment>;
  views: Map<string, View>;
}

const text = (v: Buffer | null): string | null => (v === null ? null : v.toString('utf8'));

export const fragment = (d: JoinDeps, backend: string): Fragment => fragmentOf(d.fragments, backend);

export function keyIndex(fields: readonly FieldDescription[], key: string): number {
  const i = fields.findIndex((f) => f.name === key);
  if (i < 0) throw new StatementError(SQLSTATE.internalError, `clarus: the home fragment returned no row key column ${key}`);
  return i;
}

/**
 * One batch of home rows (in row-key order) joined with the other fragments' rows of the same
 * keys, fetched by key: only rows every fragment has are kept (never half a row: a fragment
 * without it has not committed it yet, or lost it). Returns the fields and the joined rows.
 */
export async function joinBatch(d: JoinDeps, r: ReadRelation, homeFields: FieldDescription[], rows: Array<Array<Buffer | null>>, read?: Promise<SideRows[]>): Promise<FragmentRows> {
  const l = r.layout as SplitLayout;
  const k = keyIndex(homeFields, l.key);
  // One key string per home row: the lookup key in every side's map and the key list sent.
  const keyOf = rows.map((row) => text(row[k] ?? null));
  const keys = keyOf.filter((x): x is string => x !== null);
  // The sides are on other backends (one connection each): read at once (`read`: already read by the keys the statement pins).
  const sides = await (read ?? readSides(d, r, keys));
  const fields = [...homeFields];
  for (const side of sides) fields.push(...side.fields.filter((_, i) => i !== side.key));
  const joined: Array<Array<Buffer | null>> = [];
  for (let i = 0; i < rows.length; i++) {
    const key = keyOf[i];
    if (key === null || key === undefined) continue;
    const row = rows[i] as Array<Buffer | null>;
    const out = joinRow(row, key, sides, fields.length);
    if (out) joined.push(out);
  }
  return { fields, rows: joined, tag: '' };
}

const readSides = (d: JoinDeps, r: ReadRelation, keys: readonly string[]): Promise<SideRows[]> => Promise.all(r.sides.map((s) => sideRows(d, r, s, keys)));

/** A side fragment's rows of `keys` by key (its key column at `key`). */
interface SideRows { fields: FieldDescription[]; key: number; byKey: Map<string, Array<Buffer | null>> }

async function sideRows(d: JoinDeps, r: ReadRelation, s: ReadRelation['sides'][number], keys: readonly string[]): Promise<SideRows> {
  const conn = await d.session.read(s.backend);
  const f = fragment(d, s.backend);
  const got: FragmentRows = keys.length > 0
    ? await runFragment(conn, f, r.lock ? `${s.sql} FOR UPDATE` : s.sql, [arrayLiteral(keys)], d.views)
    : { fields: await describeFragment(conn, f, s.sql, 1, d.views), rows: [], tag: 'SELECT 0' };
  const key = keyIndex(got.fields, (r.layout as SplitLayout).key);
  const byKey = new Map<string, Array<Buffer | null>>();
  for (const row of got.rows) { const v = text(row[key] ?? null); if (v !== null) byKey.set(v, row); }
  return { fields: got.fields, key, byKey };
}

/** The home row followed by each side's row of its key (without the side's key column); null when a side has none (never half a row). */
function joinRow(row: Array<Buffer | null>, key: string, sides: readonly SideRows[], width: number): Array<Buffer | null> | null {
  const out = new Array<Buffer | null>(width);
  let at = 0;
  for (; at < row.length; at++) out[at] = row[at] ?? null;
  for (const side of sides) {
    const more = side.byKey.get(key);
    if (!more) return null;
    for (let j = 0; j < more.length; j++) if (j !== side.key) out[at++] = more[j] ?? null;
  }
  return out;
}

/**
 * A read whose WHERE clause pins the row keys (ReadRelation.keys, at most MAX_PINNED rows): the
 * home fragment's statement (one statement, no cursor) and the other fragments by those keys, all
 * at once (one round trip to each backend), joined as a batch. A row missing on a fragment is
 * still never shown; a home row of another key cannot satisfy the statement's conditions.
 */
export async function pinnedRead(d: JoinDeps, r: ReadRelation, home: ScanSpec & { backend: string }, keys: readonly string[], emit: (fields: FieldDescription[], rows: Array<Array<Buffer | null>>) => Promise<void> | void): Promise<void> {
  const sides = readSides(d, r, keys);
  const rows = (async () => runFragment(await d.session.read(home.backend), fragment(d, home.backend), home.sql, home.values, d.views))();
  // Both settle before the statement answers (no fragment request outlives it); the home's error first.
  const [got, side] = await Promise.allSettled([rows, sides]);
  if (got.status === 'rejected') throw got.reason;
  if (side.status === 'rejected') throw side.reason;
  const j = await joinBatch(d, r, got.value.fields, got.value.rows, sides);
  await emit(j.fields, j.rows);
}
