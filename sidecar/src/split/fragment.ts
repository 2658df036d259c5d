// One fragment statement through its backend's rewriter (issue 12): the logical SQL the split plan
// wrote for a fragment is protected like any statement (the fragment rewriter's policy holds that
// backend's columns only), sent on the session's connection to that backend, and its results
// decrypted and shown per the user's view. Backend errors become the statement's error.
import type { View } from '@clarus/crds/types.ts';
import { protectedOutputs } from '../access/outputs.ts';
import type { CatalogRefresher } from '../access/refresh.ts';
import { paramTransformer, paramTypeFor } from '../protection/params.ts';
import { resultTransformer, rowsTransformer } from '../protection/results.ts';
import type { KeyedRewriter } from '../protection/keyed-rewriter.ts';
import { StatementError } from '../session/pipeline.ts';
import type { FieldDescription, WireValue } from '../protocol/types.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';
import { FragmentError, FragmentLost } from './conn.ts';
import type { FragmentConnection, FragmentResult } from './conn.ts';

/** A backend's fragment rewriter (its policy: fragmentPolicy) and what keeps its catalog current. */
export interface Fragment {
  backend: string;
  rewriter: KeyedRewriter;
  refresher?: CatalogRefresher;
}

export interface FragmentRows {
  fields: FieldDescription[];
  rows: Array<Array<Buffer | null>>;
  tag: string;
}

/** A backend's error or a lost connection → the statement's error (naming the backend). */
export function fragmentFailure(e: unknown): StatementError {
  if (e instanceof StatementError) return e;
  if (e instanceof FragmentError) return new StatementError(e.fields.C ?? SQLSTATE.internalError, e.fields.M ?? e.message, e.fields.D ? `${e.fields.D} (backend "${e.backend}")` : `backend "${e.backend}"`);
  if (e instanceof FragmentLost) return new StatementError(SQLSTATE.connectionFailure, `clarus: ${e.message}`);
  throw e;
}

/** A fragment statement as its backend gets it, with the transforms of its parameters and rows. */
export interface Prepared {
  sql: string; types: number[]; transform: (values: Array<Buffer | null>) => Array<Buffer | null>; fields: (f: readonly FieldDescription[]) => FieldDescription[];
  row: (r: Array<Buffer | null>) => Array<Buffer | null>;
  /** `row` of a whole result, in place (decrypting each column's values together). */
  rows: (r: Array<Array<Buffer | null>>) => Array<Array<Buffer | null>>;
}

async function prepare(f: Fragment, sql: string, views: Map<string, View>, supplied: number): Promise<Prepared> {
  const wait = f.refresher?.before(sql);
  if (wait) await wait;
  return prepareNow(f.rewriter, sql, views, supplied);
}

/** The transformed values as Buffers, in place (most already are: no new array or view per value). */
function asBuffers(values: Array<Uint8Array | null>): Array<Buffer | null> {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v && !Buffer.isBuffer(v)) values[i] = Buffer.from(v.buffer, v.byteOffset, v.length);
  }
  return values as Array<Buffer | null>;
}

/** `prepare` with a rewriter whose catalog already knows the statement's tables. */
export function prepareNow(rewriter: KeyedRewriter, sql: string, views: Map<string, View>, supplied: number): Prepared {
  const f = { rewriter };
  const a = f.rewriter.analyze(sql);
  if (a.kind === 'refuse') throw new StatementError(a.code, a.message);
  const none: Prepared = { sql, types: [], transform: (v) => v, fields: (x) => [...x], row: (r) => r, rows: (r) => r };
  if (a.kind === 'pass') return none;
  const s = a.statements[0];
  if (!s || a.statements.length !== 1) throw new StatementError(SQLSTATE.internalError, 'clarus: a fragment statement must be one statement');
  const outs = protectedOutputs(f.rewriter, s.results, views);
  if ('kind' in outs) throw new StatementError(outs.code, outs.message);
  const tr = resultTransformer(outs);
  const p: Prepared = { ...none, sql: s.sql };
  if (a.params.size > 0) {
    const t = paramTransformer(a.params, a.paramCount, (r) => f.rewriter.cipher(r), supplied);
    p.types = Array.from({ length: a.paramCount }, (_, i) => paramTypeFor(a.params.get(i + 1), 0));
    p.transform = (values) => t(values, []).map((v) => (v === null ? null : Buffer.from(v.buffer, v.byteOffset, v.length)));
  }
  if (tr) {
    p.fields = (x) => tr.fields(x);
    p.row = (r) => asBuffers(tr.row(r, []));
    const many = rowsTransformer(outs) as (rows: WireValue[][]) => void;
    p.rows = (rows) => { many(rows); for (const r of rows) asBuffers(r); return rows; };
  }
  return p;
}

/** Runs `sql` (one statement over the fragment) with text parameter values. */
/** The fragment of `backend`; 08001 when the proxy has none. */
export function fragmentOf(fragments: ReadonlyMap<string, Fragment>, backend: string): Fragment {
  const f = fragments.get(backend);
  if (!f) throw new StatementError(SQLSTATE.unableToConnect, `clarus: this proxy has no backend "${backend}", which stores split columns`);
  return f;
}

export async function runFragment(conn: FragmentConnection, f: Fragment, sql: string, values: Array<Buffer | null>, views: Map<string, View>): Promise<FragmentRows> {
  try {
    const p = await prepare(f, sql, views, values.length);
    const r = await conn.execute(p.sql, p.types, p.transform(values));
    return { fields: p.fields(r.fields), rows: p.rows(r.rows), tag: r.tag };
  } catch (e) {
    throw fragmentFailure(e);
  }
}

/** The result fields of `sql` over the fragment, as the client would see them (nothing executed). */
export async function describeFragment(conn: FragmentConnection, f: Fragment, sql: string, supplied: number, views: Map<string, View>): Promise<FieldDescription[]> {
  try {
    const p = await prepare(f, sql, views, supplied);
    return p.fields(await conn.describe(p.sql, p.types));
  } catch (e) {
    throw fragmentFailure(e);
  }
}

/** A text array literal of `values` (every element quoted). */
export function arrayLiteral(values: ReadonlyArray<string>): Buffer {
  return Buffer.from(`{${values.map((v) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',')}}`, 'utf8');
}

/** The proxy's cursor over a fragment scan (never a client's name: those of split tables are held in the proxy). */
const SCAN_CURSOR = 'clarus_split_scan';

/** A fragment scan: its logical SQL, parameter values, the user's views and the rows per FETCH. */
export interface ScanSpec {
  sql: string; values: Array<Buffer | null>; views: Map<string, View>; batch: number;
  /** A statement of the proxy's own (not rewritten) sent in the scan's first round trip, before its DECLARE; its result goes to `got` before the first batch. */
  first?: { sql: string; got(r: FragmentResult): void };
}

/** Ends a scan that failed: its own transaction rolled back, or its cursor closed in the caller's. */
async function endFailedScan(conn: FragmentConnection, own: boolean, declared: boolean): Promise<void> {
  if (!conn.alive) return;
  if (own && conn.status !== 'I') await conn.query('ROLLBACK').catch(() => undefined);
  // The caller's transaction goes on (a failure of `each`): the cursor must not outlive the scan.
  else if (declared && conn.status === 'T') await conn.query(`CLOSE ${SCAN_CURSOR}`).catch(() => undefined);
}

/**
 * Runs `s.sql` over the fragment as a cursor read `s.batch` rows at a time, calling `each` with
 * every batch (at least once, with the fields even when there is no row; a later batch only when
 * it has rows): the proxy holds one batch of this fragment at a time. Outside a transaction the
 * cursor gets a read-only one of its own. The first batch costs one round trip: the BEGIN, the
 * DECLARE and the first FETCH go in one message batch (one Sync).
 */
export async function scanFragment(conn: FragmentConnection, f: Fragment, s: ScanSpec,
  each: (fields: FieldDescription[], rows: Array<Array<Buffer | null>>) => Promise<void>): Promise<void> {
  const own = conn.status === 'I';
  let declared = false;
  try {
    const p = await prepare(f, s.sql, s.views, s.values.length);
    const fetch = `FETCH ${s.batch} FROM ${SCAN_CURSOR}`;
    const first = await conn.executeAll([
      ...(own ? [{ sql: 'BEGIN READ ONLY', paramTypes: [], values: [] }] : []),
      ...(s.first ? [{ sql: s.first.sql, paramTypes: [], values: [] }] : []),
      { sql: `DECLARE ${SCAN_CURSOR} NO SCROLL CURSOR FOR ${p.sql}`, paramTypes: p.types, values: p.transform(s.values) },
      { sql: fetch, paramTypes: [], values: [] },
    ]);
    declared = true;
    s.first?.got(first.at(-3) ?? { fields: [], rows: [], tag: '' });
    let r = first.at(-1) ?? { fields: [], rows: [], tag: '' };
    // A batch shorter than a FETCH is the last: the scan ends (COMMIT / CLOSE) while its rows are
    // joined and sent, not a round trip after them.
    let ending: Promise<unknown> | null = null;
    const last = (): void => { ending = conn.query(own ? 'COMMIT' : `CLOSE ${SCAN_CURSOR}`); ending.catch(() => undefined); declared = false; };
    if (r.rows.length < s.batch) last();
    await settled(each(p.fields(r.fields), p.rows(r.rows)), ending);
    while (!ending) {
      r = await conn.execute(fetch, [], []);
      if (r.rows.length < s.batch) last();
      if (r.rows.length > 0) await settled(each(p.fields(r.fields), p.rows(r.rows)), ending);
    }
    await ending;
  } catch (e) {
    await endFailedScan(conn, own, declared);
    throw fragmentFailure(e);
  }
}

/** `work`'s outcome once `ending` (the scan's end, sent meanwhile) is over too: a failure handler never races it. */
async function settled(work: Promise<void>, ending: Promise<unknown> | null): Promise<void> {
  try { await work; } finally { if (ending) await ending.catch(() => undefined); }
}
