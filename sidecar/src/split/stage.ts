// How a statement on a split table is answered (issue 12): the client's backend connection gets a
// placeholder SELECT (it returns no row and reads nothing; it only keeps the protocol's order),
// and when its answer comes the proxy runs the plan on its fragment connections and shows the
// client the statement's own result and command tag (the session's in-proxy stage contract).
import type { View } from '@clarus/crds/types.ts';
import { encode, residualSettings, runEngine } from '../access/residual-stage.ts';
import type { ResidualCall } from '../residual/types.ts';
import type { ResidualService } from '../access/residual-stage.ts';
import { StatementError } from '../session/pipeline.ts';
import type { FieldDescription, ResidualStage, SessionSettings, StageResult, WireValue } from '../session/pipeline.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';
import { arrayLiteral, describeFragment, runFragment, scanFragment } from './fragment.ts';
import type { Fragment, FragmentRows } from './fragment.ts';
import { KEYS_PARAM } from './plan.ts';
import type { ChangePlan, ComputedWrite, FragmentSql, InsertPlan, ReadRelation, SelectPlan, SplitPlan } from './plan.ts';
import type { SplitSession } from './session.ts';
import type { FragmentConnection, FragmentResult } from './conn.ts';
import type { SplitLayout } from './layout.ts';
import { recomposeFields, recomposeRows } from './points.ts';
import { quoteIdent } from '../residual/plan.ts';
import { scannedRows } from './client-reads.ts';
import type { ClientScans } from './client-reads.ts';
import type { Prepared } from './fragment.ts';
import { keyTexts } from './pinned.ts';
import { fragmentFailure } from './fragment.ts';
import { ddlStage } from './ddl-stage.ts';
import { fragment, joinBatch, keyIndex, pinnedRead } from './join.ts';
import { inOrder, orderQuery } from './column-order.ts';
import { checkedOrder as checkedOrderOn, orderOf, readOrder } from './order-io.ts';

/**
 * The statement sent to the client's backend in place of a split statement: one empty result
 * whose parameters are the client's (all sent as NULL: their values only reach the fragments,
 * protected there).
 */
export function placeholderSql(paramCount: number): string {
  const params = Array.from({ length: paramCount }, (_, i) => `$${i + 1}::text AS p${i + 1}`);
  return `SELECT ${['NULL::text AS clarus_split', ...params].join(', ')} WHERE false`;
}

export interface StageDeps {
  session: SplitSession;
  fragments: Map<string, Fragment>;
  views: Map<string, View>;
  residual?: ResidualService;
  /** A statement changed the schema of split tables: reload the catalogs. */
  schemaChanged(): void;
}

const toBuf = (v: string | Buffer | null): Buffer | null => (v === null || typeof v !== 'string' ? v : Buffer.from(v, 'utf8'));
/** A row's values as Buffers, in place (a batch's rows are the stage's own). */
function inPlace(row: Array<string | Buffer | null>): Array<Buffer | null> {
  for (let i = 0; i < row.length; i++) { const v = row[i]; if (typeof v === 'string') row[i] = Buffer.from(v, 'utf8'); }
  return row as Array<Buffer | null>;
}
const text = (v: Buffer | null): string | null => (v === null ? null : v.toString('utf8'));

function valuesOf(f: FragmentSql, params: ReadonlyArray<string | null>, keys?: Buffer): Array<Buffer | null> {
  return f.params.map((n) => (n === KEYS_PARAM ? keys ?? null : toBuf(params[n - 1] ?? null)));
}

/** Whether the fragment's rules accept a statement (its catalog loaded first). */
async function accepted(d: StageDeps, f: FragmentSql): Promise<boolean> {
  const frag = fragment(d, f.backend);
  const wait = frag.refresher?.before(f.sql);
  if (wait) await wait;
  return frag.rewriter.analyze(f.sql).kind !== 'refuse';
}

/** Rows to the client: values in the requested formats (binary through the type's binary form). */
function shown(fields: FieldDescription[], rows: Array<Array<Buffer | null>>, formats: readonly number[]): { fields: FieldDescription[]; rows: WireValue[][] } {
  const out = fields.map((f, i) => ({ ...f, format: (formats.length === 1 ? formats[0] : formats[i] ?? 0) as 0 | 1 }));
  if (!formats.some((f) => f === 1)) return { fields: out, rows: rows as WireValue[][] };
  return { fields: out, rows: rows.map((r) => encode(fields, r.map(text), formats)) };
}

const NO_STAGE_LIMIT = { maxRows: Number.MAX_SAFE_INTEGER, maxBytes: Number.MAX_SAFE_INTEGER };

// ---- SELECT: recompose, then the engine ----

/**
 * A relation's home scan with the conjuncts its rules accept (the others, e.g. LIKE over an
 * encrypted column, are left to the engine, which evaluates the whole statement anyway).
 */
async function homeScan(d: StageDeps, r: ReadRelation): Promise<Scan> {
  const filters: FragmentSql[] = [];
  for (const f of r.filters) if (await accepted(d, f)) filters.push(f);
  const keyed = filters.length > 0;
  const all = r.homeWith(Array.from({ length: r.conjuncts }, (_, i) => i), keyed);
  if (await accepted(d, all)) return { home: all, filters, whole: true };
  const keep: number[] = [];
  for (let i = 0; i < r.conjuncts; i++) if (await accepted(d, r.homeWith([i]))) keep.push(i);
  return { home: r.homeWith(keep, keyed), filters, whole: false };
}

/** A relation's scans: the home one (`whole`: with every home condition) and the key filters it takes. */
interface Scan { home: FragmentSql; filters: FragmentSql[]; whole: boolean }

interface Rows { fields: FieldDescription[]; rows: Array<Array<string | null>> }

/**
 * Row keys every filter selects (each `SELECT key … WHERE <conditions on one fragment>`), or null
 * without filters. `conn` gives the connection to a filter's backend (read or write path).
 */
async function filteredKeys(d: StageDeps, filters: readonly FragmentSql[], params: ReadonlyArray<string | null>, conn: (backend: string) => Promise<FragmentConnection>): Promise<Set<string> | null> {
  let keys = null as Set<string> | null;
  for (const f of filters) {
    const got = await runFragment(await conn(f.backend), fragment(d, f.backend), f.sql, valuesOf(f, params), d.views);
    const found = new Set(got.rows.map((row) => text(row[0] ?? null)).filter((x): x is string => x !== null));
    const before: Set<string> | null = keys;
    keys = before === null ? found : new Set([...before].filter((x) => found.has(x)));
  }
  return keys;
}

/** Rows of a split table the home cursor reads at a time (each batch joined with the other fragments, then let go). */
export const SCAN_BATCH = 5000;

/** Receives a relation's rows batch by batch (text values), its fields with every batch; the next batch is read once it resolves. */
type Sink = (fields: FieldDescription[], rows: Array<Array<string | null>>) => void | Promise<void>;

/** A Sink of values as the fragments gave them (Buffers) where nothing is recomposed, text where it is (scanRelation's `wire`). */
type WireSink = (fields: FieldDescription[], rows: Array<Array<string | Buffer | null>>) => void | Promise<void>;

/**
 * A relation's rows: the home scan, and for a split table its other fragments joined on the row
 * key, a batch of SCAN_BATCH home rows at a time (a cursor in row-key order), so the proxy holds
 * one batch of fragment rows, not the whole table. With `sink`, the rows go there batch by batch
 * and none are returned.
 */
async function relationRows(d: StageDeps, r: ReadRelation, plan: Scan, params: ReadonlyArray<string | null>, sink?: Sink): Promise<Rows> {
  const out: Rows = { fields: [], rows: [] };
  const emit: Sink = sink ?? ((fields, rows) => { out.fields = fields; for (const row of rows) out.rows.push(row); });
  // Without `wire`, every value is text.
  await scanRelation(d, r, plan, params, emit as WireSink, false);
  return out;
}

/**
 * relationRows' scan, its rows to `emit` batch by batch; `wire`: the values of a batch nothing is
 * recomposed in are left as the fragments gave them (Buffers: a plain projection sends them on as
 * they are, without a text copy).
 */
async function scanRelation(d: StageDeps, r: ReadRelation, plan: Scan, params: ReadonlyArray<string | null>, emit: WireSink, wire: boolean): Promise<void> {
  // Conditions on other fragments first: their row keys restrict the home scan.
  const only = await filteredKeys(d, plan.filters, params, (b) => d.session.read(b));
  const scan = plan.home;
  const values = valuesOf(scan, params, only ? arrayLiteral([...only]) : undefined);
  const l = r.layout;
  if (!l) {
    const home = await runFragment(await d.session.read(scan.backend), fragment(d, scan.backend), scan.sql, values, d.views);
    await emit(...recomposed(r, home.fields, home.rows, wire));
    return;
  }
  // The recorded column order (when the statement shows it) is read in the scan's first round trip.
  let order: string[] | null = null;
  if (r.ordered) await d.session.tablesReady();
  const first = r.ordered && !l.points ? { first: { sql: orderQuery(l), got: (x: FragmentResult) => { order = orderOf(x); } } } : {};
  const spec = { sql: `${scan.sql} ORDER BY ${quoteIdent(l.key)}${r.lock ? ' FOR UPDATE' : ''}`, values, views: d.views, batch: SCAN_BATCH, ...first };
  // A read whose conditions pin the row keys: its fragments at once (no cursor; not when the statement shows the recorded column order).
  if (r.keys && !r.lock && !r.ordered && plan.filters.length === 0) {
    await pinnedRead(d, r, { ...spec, backend: scan.backend }, keyTexts(r.keys, params), (fields, rows) => emit(...recomposed(r, fields, rows, wire)));
    return;
  }
  await scanFragment(await d.session.read(scan.backend), fragment(d, scan.backend), spec, async (homeFields, rows) => {
    const j = await joinBatch(d, r, homeFields, rows);
    await emit(...recomposed(r, j.fields, j.rows, wire, order));
  });
}

/**
 * A relation's joined fragment fields and rows as the stage reads them: text values (`wire`: left
 * as Buffers when nothing is recomposed), its point columns split by coordinates recomposed
 * (points.ts) when the plan marks it. The one way fragment fields and rows reach the stage
 * (scanRelation, relationFields), batched or not.
 */
function recomposed(r: ReadRelation, fields: FieldDescription[], rows: Array<Array<Buffer | null>>, wire = false, order: readonly string[] | null = null): [FieldDescription[], Array<Array<string | Buffer | null>>] {
  const points = r.layout?.points;
  if (!r.points || !points) return inOrder<FieldDescription, string | Buffer | null>(r.layout, order, fields, wire ? rows : rows.map((row) => row.map(text)));
  const texts = rows.map((row) => row.map(text));
  return [recomposeFields(points, fields, r.points.keepParts), recomposeRows(points, fields, texts, r.points.keepParts)];
}

/** The recorded column order of a split relation whose order the statement shows (ReadRelation.ordered), read on the session's home connection; else null. */
async function describedOrder(d: StageDeps, r: ReadRelation): Promise<string[] | null> {
  if (!r.ordered || !r.layout) return null;
  await d.session.tablesReady();
  return readOrder(await d.session.read(r.layout.home), r.layout);
}

/** The fields of an unsplit relation read on the client's connection (described on the home fragment's). */
async function clientFields(d: StageDeps, scan: Prepared, backend: string): Promise<FieldDescription[]> {
  try { return scan.fields(await (await d.session.read(backend)).describe(scan.sql, [])); } catch (e) { throw fragmentFailure(e); }
}

/** A relation's result fields, nothing executed. */
async function relationFields(d: StageDeps, r: ReadRelation, plan: Scan, client?: Prepared): Promise<FieldDescription[]> {
  const scan = plan.home;
  if (client) return clientFields(d, client, scan.backend);
  // Each fragment on its own backend's connection: described at once (one round trip, not one per fragment).
  const [home, ...sides] = await Promise.all([
    (async () => describeFragment(await d.session.read(scan.backend), fragment(d, scan.backend), scan.sql, scan.params.length, d.views))(),
    ...r.sides.map(async (s) => describeFragment(await d.session.read(s.backend), fragment(d, s.backend), s.sql, 1, d.views)),
  ]) as [FieldDescription[], ...FieldDescription[][]];
  const fields = [...home];
  for (const side of sides) {
    const sk = keyIndex(side, (r.layout as SplitLayout).key);
    fields.push(...side.filter((_, i) => i !== sk));
  }
  return recomposed(r, fields, [], false, await describedOrder(d, r))[0];
}

/**
 * The rows of one relation projected on the statement's columns (SelectPlan.direct), a batch at a
 * time: each batch's part of the result (its text values let go once encoded).
 */
function projector(direct: NonNullable<SelectPlan['direct']>, formats: readonly number[]): (from: FieldDescription[], batch: Array<Array<string | Buffer | null>>) => StageResult {
  let picks: Array<{ at: number; name: string }> | null = null;
  let fields: FieldDescription[] = [];
  let shownFields: FieldDescription[] = [];
  const pick = (from: FieldDescription[]) => {
    const out: Array<{ at: number; name: string }> = [];
    for (const d of direct) {
      if (d === null) { from.forEach((f, at) => out.push({ at, name: f.name })); continue; }
      const at = from.findIndex((f) => f.name === d.column);
      if (at < 0) throw new StatementError(SQLSTATE.undefinedColumn, `column "${d.column}" does not exist`);
      out.push({ at, name: d.name });
    }
    fields = out.map(({ at, name }) => ({ ...(from[at] as FieldDescription), name, tableOid: 0, columnAttr: 0 }));
    shownFields = shown(fields, [], formats).fields;
    return out;
  };
  // No tag: a SELECT result is held for its portal and served in chunks (Execute with a row limit).
  let same = false;
  return (from, batch) => {
    if (!picks) {
      picks = pick(from);
      same = picks.length === from.length && picks.every((x, i) => x.at === i);
    }
    const p = picks;
    // Every column in order (SELECT * or the table's columns): the batch's rows are sent as they are.
    const rows = same ? batch.map(inPlace) : batch.map((row) => p.map(({ at }) => toBuf(row[at] ?? null)));
    return { fields: shownFields, rows: shown(fields, rows, formats).rows };
  };
}

/** The parts of a result as one (a portal's held result, a cursor's, a write's key selection). */
async function whole(pour: (send: (part: StageResult) => Promise<void>) => Promise<void>): Promise<StageResult> {
  const out: StageResult = { fields: null, rows: [] };
  await pour(async (part) => {
    out.fields ??= part.fields;
    if (part.tag !== undefined) out.tag = part.tag;
    for (const row of part.rows) out.rows.push(row);
  });
  return out;
}

/** One run of a SELECT stage; `batched`: its parts go to the client as they come (ResidualStage.pour). */
interface PourArgs { candidates: Array<Array<string | null>>; formats: readonly number[]; settings: SessionSettings; values: ReadonlyArray<string | null>; batched: boolean }

/** `client`: the unsplit relations the client's backend connection scans (client-reads.ts). */
export function selectStage(d: StageDeps, p: SelectPlan, client: ClientScans | null = null): ResidualStage {
  const residual = d.residual;
  if (!residual) throw new StatementError(SQLSTATE.featureNotSupported, 'clarus: reading a split table needs the in-proxy stage (CLARUS_RESIDUAL / ClarusProxy spec.limits.computeInProxy), which is not enabled');
  const params = Array.from({ length: p.paramCount }, (_, i) => i + 1);
  let scans: Promise<Scan[]> | null = null;
  const homes = () => (scans ??= Promise.all(p.relations.map((r) => homeScan(d, r))).catch((e: unknown) => { scans = null; throw e; }));
  // Direct only when every condition is evaluated by the scans (home, and key filters of the others).
  const direct = (s: Scan[]) => p.direct !== null && s[0]?.whole === true && s[0].filters.length === (p.relations[0] as ReadRelation).filters.length;
  const call = (rels: Rows[], sql: string, settings: SessionSettings, values: ReadonlyArray<string | null>): ResidualCall => ({
    relations: rels.map((r, i) => ({ name: (p.relations[i] as ReadRelation).name, columns: r.fields.map((f) => ({ name: f.name, typeOid: f.typeOid })), rows: r.rows })),
    sql, limits: { maxRows: residual.maxRows, maxBytes: residual.maxBytes }, settings: residualSettings(settings), params: params.map((n) => values[n - 1] ?? null),
  });
  // Rows scanned on the client's connection are candidates: bounded like the engine's input.
  const limit = client ? { maxRows: residual.maxRows, maxBytes: residual.maxBytes } : NO_STAGE_LIMIT;
  const rowsOf = async (i: number, r: ReadRelation, s: Scan, values: ReadonlyArray<string | null>, candidates: Array<Array<string | null>>): Promise<Rows> => {
    const c = client?.get(i);
    return c ? { fields: await clientFields(d, c, s.home.backend), rows: scannedRows(c, i, candidates) } : relationRows(d, r, s, values);
  };
  // A plain projection whose conditions the home scan evaluated needs no engine: its rows are
  // encoded and sent batch by batch as the fragments are read; a row-local statement, when sent as
  // it comes (`batched`), the engine's rows of each batch. Otherwise the engine's result, whole
  // (a held result: the engine's row and byte limits bound what it loads).
  const pour = async (x: PourArgs, send: (part: StageResult) => Promise<void>): Promise<void> => {
    const { candidates, formats, settings, values } = x;
    d.session.useSettings(settings);
    d.session.warm(p.relations.flatMap((r) => (r.layout ? [r.layout.home, ...r.layout.sides] : [])));
    const s = await homes();
    if (direct(s)) {
      const part = projector(p.direct as NonNullable<SelectPlan['direct']>, formats);
      await scanRelation(d, p.relations[0] as ReadRelation, s[0] as Scan, values, (fields, rows) => send(part(fields, rows)), true);
      return;
    }
    // The later batches' engine calls are not counted as statements.
    if (p.local && x.batched) {
      let first = true;
      await relationRows(d, p.relations[0] as ReadRelation, s[0] as Scan, values, async (fields, rows) => {
        const out = await runEngine(residual, call([{ fields, rows }], p.engine.sql, settings, values), formats, first);
        first = false;
        await send(out);
      });
      return;
    }
    const rels: Rows[] = [];
    for (const [i, r] of p.relations.entries()) rels.push(await rowsOf(i, r, s[i] as Scan, values, candidates));
    await send(await runEngine(residual, call(rels, p.engine.sql, settings, values), formats));
  };
  return {
    maxRows: limit.maxRows, maxBytes: limit.maxBytes, blank: params,
    async describe(_c, formats, settings) {
      d.session.useSettings(settings);
      const s = await homes();
      const rels: Rows[] = [];
      for (const [i, r] of p.relations.entries()) rels.push({ fields: await relationFields(d, r, s[i] as Scan, client?.get(i)), rows: [] });
      if (direct(s)) return projector(p.direct as NonNullable<SelectPlan['direct']>, formats)((rels[0] as Rows).fields, []).fields;
      return (await runEngine(residual, call(rels, p.engine.sql, settings, []), formats)).fields;
    },
    run: (_c, candidates, formats, settings, values) => whole((send) => pour({ candidates, formats, settings, values, batched: false }, send)),
    pour: (_c, candidates, formats, settings, values, send) => pour({ candidates, formats, settings, values, batched: true }, send),
  };
}

// ---- writes ----

/** Without RETURNING: no result set; with it: the home rows without their leading key column. */
export function writeResult(r: FragmentRows, returning: boolean, tag: string, formats: readonly number[]): StageResult {
  if (!returning) return { fields: null, rows: [], tag };
  const s = shown(r.fields.slice(1), r.rows.map((row) => row.slice(1)), formats);
  return { fields: s.fields, rows: s.rows, tag };
}

/** The fields a write's RETURNING shows (its home statement's, without the leading key), or null. */
export async function returningFields(d: StageDeps, l: SplitLayout, returning: boolean, home: FragmentSql, formats: readonly number[]): Promise<FieldDescription[] | null> {
  if (!returning) return null;
  const f = await describeFragment(await d.session.conn(l.home), fragment(d, l.home), home.sql, home.params.length, d.views);
  return shown(f.slice(1), [], formats).fields;
}

/**
 * The rows of an INSERT plan on every fragment (in the write's transaction, `enter`): the home
 * fragment first (it returns the row keys), then the others with those keys. Returns the home rows.
 */
export async function insertInto(d: StageDeps, p: InsertPlan, params: ReadonlyArray<string | null>, enter: (backend: string) => Promise<FragmentConnection>): Promise<FragmentRows> {
  const l = p.layout;
  // The other fragments' transactions begin while the home row is written (other backends, other connections).
  const [home, ...conns] = await allSettled([(async () => runFragment(await enter(l.home), fragment(d, l.home), p.home.sql, valuesOf(p.home, params), d.views))(), ...p.sides.map((s) => enter(s.backend))]) as [FragmentRows, ...FragmentConnection[]];
  const keys = home.rows.map((r) => r[0] ?? null);
  // ON CONFLICT DO NOTHING skipped its one row: nothing to write elsewhere.
  if (p.conflict === 'nothing' && keys.length === 0) return home;
  if (keys.length !== p.rowCount || keys.some((x) => x === null)) throw new StatementError(SQLSTATE.internalError, 'clarus: the home fragment did not return one row key per inserted row');
  await allSettled(p.sides.map((s, i) => runFragment(conns[i] as FragmentConnection, fragment(d, s.backend), s.sql, [...keys, ...valuesOf(s, params)], d.views)));
  return home;
}

/** Promise.all once every one has settled (no fragment request outlives the statement's failure); the first failure in order. */
async function allSettled(ps: ReadonlyArray<Promise<unknown>>): Promise<unknown[]> {
  const out = await Promise.allSettled(ps);
  const failed = out.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failed) throw failed.reason;
  return out.map((o) => (o as PromiseFulfilledResult<unknown>).value);
}

function insertStage(d: StageDeps, p: InsertPlan): ResidualStage {
  const l = p.layout;
  // An INSERT without a column list is planned by the recorded order, read in the write's transaction.
  const resolved = async (conn: FragmentConnection): Promise<InsertPlan> => (p.positional ? p.positional(await checkedOrder(d, l, conn)) : p);
  return {
    ...NO_STAGE_LIMIT, blank: [],
    describe: async (_c, formats) => {
      if (!p.returning) return null;
      return returningFields(d, l, true, (await resolved(await d.session.read(l.home))).home, formats);
    },
    async run(_c, _rows, formats, settings, params) {
      d.session.mayWrite = true;
      d.session.useSettings(settings);
      d.session.warm([l.home, ...l.sides]);
      return d.session.write(async (enter) => {
        const home = await insertInto(d, await resolved(await enter(l.home)), params, enter);
        return writeResult(home, p.returning, `INSERT 0 ${home.rows.length}`, formats);
      });
    },
  };
}

/**
 * A write whose rows or values the proxy computes from what it reads (an UPDATE/DELETE whose keys
 * or values the engine selects, an INSERT … SELECT) reads as this user sees: without the plaintext
 * view of a dataset it reads, masked or encrypted values would be computed into the rows written
 * (overwriting real values) and choose the rows. Refused (42501) unless every dataset the
 * statement reads is shown to this user in plaintext.
 */
export function requirePlaintext(d: StageDeps, what: string): void {
  for (const [dataset, view] of d.views) {
    if (view !== 'plaintext') throw new StatementError(SQLSTATE.insufficientPrivilege, `permission denied: ${what} the proxy computes from dataset ${dataset} needs its plaintext view (this user has the ${view} view)`);
  }
}

function changeStage(d: StageDeps, p: ChangePlan): ResidualStage {
  const l = p.layout;
  const verb = p.kind === 'update' ? 'UPDATE' : 'DELETE';
  const keySelect = d.residual ? selectStage(d, p.keys) : null;
  // Direct when every fragment accepts its conditions; otherwise the engine selects the keys.
  let directOk: Promise<boolean> | null = null;
  const direct = () => (directOk ??= (async () => {
    for (const f of [...p.filters, p.home]) if (!(await accepted(d, f))) return false;
    return true;
  })().catch((e: unknown) => { directOk = null; throw e; }));
  return {
    ...NO_STAGE_LIMIT, blank: [],
    describe: (_c, formats) => returningFields(d, l, p.returning, p.homeByKeys, formats),
    async run(_c, _rows, formats, settings, params) {
      d.session.mayWrite = true;
      d.session.useSettings(settings);
      d.session.warm([l.home, ...l.sides]);
      const viaEngine = p.computed !== undefined || !(await direct());
      if (viaEngine && !keySelect) throw new StatementError(SQLSTATE.featureNotSupported, `clarus: this ${verb} on a split table needs the in-proxy stage to evaluate its WHERE clause, which is not enabled`);
      if (viaEngine) requirePlaintext(d, `an ${verb} of a split table`);
      return d.session.write(async (enter) => {
        let home: FragmentRows;
        if (viaEngine) {
          for (const b of [l.home, ...l.sides]) await enter(b);
          const selected = await (keySelect as ResidualStage).run([], [], [], settings, params);
          if (p.computed && p.kind === 'update') return computedUpdate(d, p, p.computed.writes, selected.rows, enter, formats);
          const keys = selected.rows.map((r) => (r[0] ? Buffer.from(r[0]).toString('utf8') : null)).filter((x): x is string => x !== null);
          home = await runFragment(await enter(l.home), fragment(d, l.home), p.homeByKeys.sql, valuesOf(p.homeByKeys, params, arrayLiteral(keys)), d.views);
        } else {
          // Conditions on other fragments select (and lock) their row keys first.
          const keys = await filteredKeys(d, p.filters, params, enter);
          const homeValues = valuesOf(p.home, params);
          if (keys !== null) homeValues.push(arrayLiteral([...keys]));
          home = await runFragment(await enter(l.home), fragment(d, l.home), p.home.sql, homeValues, d.views);
        }
        const changed = home.rows.map((r) => text(r[0] ?? null)).filter((x): x is string => x !== null);
        if (changed.length > 0) {
          for (const s of p.sides) await runFragment(await enter(s.backend), fragment(d, s.backend), s.sql, [arrayLiteral(changed), ...valuesOf(s, params)], d.views);
        }
        return writeResult(home, p.returning, `${verb} ${home.rows.length}`, formats);
      });
    },
  };
}

/**
 * The write-back of a computed UPDATE (ChangePlan.computed): each row the engine computed (its
 * key, then the SET values), once per key as PostgreSQL changes a row once, is written to every
 * fragment holding a SET column — the home fragment first (it locks, counts and returns the row;
 * a row gone meanwhile is skipped everywhere).
 */
async function computedUpdate(d: StageDeps, p: ChangePlan, writes: readonly ComputedWrite[], rows: readonly WireValue[][], enter: (backend: string) => Promise<FragmentConnection>, formats: readonly number[]): Promise<StageResult> {
  const value = (v: WireValue | undefined): Buffer | null => (v ? Buffer.from(v) : null);
  const seen = new Set<string>();
  const out: FragmentRows = { fields: [], rows: [], tag: '' };
  const [home, ...others] = writes as [ComputedWrite, ...ComputedWrite[]];
  for (const r of rows) {
    const key = value(r[0])?.toString('utf8');
    if (key === undefined || seen.has(key)) continue;
    seen.add(key);
    const args = (w: ComputedWrite) => [arrayLiteral([key]), ...w.values.map((i) => value(r[i]))];
    const got = await runFragment(await enter(home.backend), fragment(d, home.backend), home.sql, args(home), d.views);
    out.fields = got.fields;
    if (got.rows.length === 0) continue;
    out.rows.push(...got.rows);
    for (const w of others) await runFragment(await enter(w.backend), fragment(d, w.backend), w.sql, args(w), d.views);
  }
  if (p.returning && out.rows.length === 0) out.fields = await describeFragment(await enter(home.backend), fragment(d, home.backend), home.sql, 1 + home.values.length, d.views);
  return writeResult(out, p.returning, `UPDATE ${out.rows.length}`, formats);
}

/** The recorded order of `l`'s table for a write without a column list, checked against its columns (order-io.ts). */
export async function checkedOrder(d: StageDeps, l: SplitLayout, conn: FragmentConnection): Promise<string[] | null> {
  await d.session.tablesReady();
  return checkedOrderOn(conn, l, (sql) => describeFragment(conn, fragment(d, l.home), sql, 0, d.views));
}

/** The in-proxy stage that answers a split statement. */
export function splitStage(d: StageDeps, p: SplitPlan): ResidualStage {
  switch (p.kind) {
    case 'select': return selectStage(d, p);
    case 'insert': return insertStage(d, p);
    case 'update':
    case 'delete': return changeStage(d, p);
    case 'ddl': return { ...NO_STAGE_LIMIT, ...ddlStage(d, p) };
  }
}
