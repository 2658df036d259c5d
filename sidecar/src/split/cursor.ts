// SQL cursors over split tables (issue 12): `DECLARE c [NO SCROLL] CURSOR [WITHOUT HOLD] FOR
// SELECT …` inside a transaction block, then `FETCH [FORWARD] [n | ALL | NEXT] [FROM] c`, `MOVE`,
// `CLOSE c`.
//
// The client's backend gets a cursor of the same name over an empty placeholder SELECT, so that
// PostgreSQL keeps the rules it enforces for cursors: DECLARE only in a block (25P01), one cursor
// per name (42P03), NO SCROLL (a backward FETCH fails there with 55000), the cursor gone at the
// end of the block or at ROLLBACK TO a savepoint before it (34000 at the next FETCH). When the
// backend has declared it, the proxy reads the cursor's SELECT as any split read (recomposed from
// the fragments, inside the client's block, so it sees the block's writes) and holds its rows;
// each FETCH the backend answers (with no rows) is answered with the next rows held, MOVE with how
// many it skipped. The rows of a cursor are held whole (bounded by the in-proxy stage's limits).
//
// A DECLARE is remembered when it is decided (as access/cursors.ts does), so a FETCH pipelined
// behind it finds it; its rows come when the backend runs it. A DECLARE the backend refuses takes
// back the name. Not supported (0A000): SCROLL, WITH HOLD and BINARY cursors, parameters in the
// DECLARE, FETCH other than forward, and a FETCH or MOVE of such a cursor among other statements in
// one Query.
import { encode } from '../access/residual-stage.ts';
import { body } from '../rewrite/ast.ts';
import type { Json } from '../rewrite/ast.ts';
import { parseStatements } from '../rewrite/parser.ts';
import type { ParsedStatement } from '../rewrite/parser.ts';
import { StatementError } from '../session/pipeline.ts';
import type { FieldDescription, Refuse, ResidualStage, ResultTransformer, WireValue } from '../session/pipeline.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';
import type { SplitLayout } from './layout.ts';
import { SplitUnsupported } from './plan.ts';
import { planWithPoints } from './points-plans.ts';
import type { SelectPlan } from './plan.ts';
import { selectStage } from './stage.ts';
import type { StageDeps } from './stage.ts';

export interface DeclarePlan { kind: 'declare'; layout: SplitLayout; name: string; select: SelectPlan }

/** DECLARE options (PostgreSQL's CURSOR_OPT_*) the proxy does not serve. */
const BINARY = 0x1;
const SCROLL = 0x2;
const HOLD = 0x20;
/** FETCH ALL, as the parser gives it. */
const ALL = 2_147_483_647;

interface Held { fields: FieldDescription[]; rows: WireValue[][] }
interface OpenCursor { rows: Promise<Held>; pos: number }

/** The split cursors of one session (cleared when its block ends). */
export class SplitCursors {
  private readonly open = new Map<string, OpenCursor>();

  get size(): number { return this.open.size; }
  has(name: string): boolean { return this.open.has(name); }
  get(name: string): OpenCursor | undefined { return this.open.get(name); }
  forget(name: string): void { this.open.delete(name); }
  clear(): void { this.open.clear(); }

  /** A DECLARE decided: the name is taken now, its rows come with `settle`; `undo` gives it back. */
  declare(name: string): { settle: (rows: Promise<Held>) => void; undo: () => void } {
    const before = this.open.get(name);
    let resolve!: (h: Promise<Held>) => void;
    const rows = new Promise<Held>((r) => { resolve = r; });
    const mine: OpenCursor = { rows, pos: 0 };
    this.open.set(name, mine);
    return {
      settle: (h) => resolve(h),
      undo: () => {
        if (this.open.get(name) !== mine) return;
        if (before) this.open.set(name, before);
        else this.open.delete(name);
        resolve(Promise.reject(new StatementError(SQLSTATE.invalidCursorName, `cursor "${name}" does not exist`)));
        rows.catch(() => undefined);
      },
    };
  }
}

/** The plan of `DECLARE … CURSOR FOR <select>` over a split table. Throws SplitUnsupported. */
export function planDeclare(l: SplitLayout, st: Json, layouts: ReadonlyMap<string, SplitLayout>, paramCount: number): DeclarePlan {
  const options = Number(st.options ?? 0);
  const what = (options & HOLD) !== 0 ? 'a cursor WITH HOLD' : (options & SCROLL) !== 0 ? 'a SCROLL cursor' : (options & BINARY) !== 0 ? 'a BINARY cursor' : null;
  const refuse = (why: string): never => { throw new SplitUnsupported(`${why} over split table ${l.schema}.${l.table} (dataset ${l.dataset}) is not supported`); };
  if (what) refuse(what);
  if (paramCount > 0) refuse('a DECLARE with parameters');
  const { plan: select, derived } = planWithPoints(l, st.query as Json, layouts, paramCount);
  if (select.kind !== 'select') refuse('this DECLARE');
  if (derived.length > 0) refuse('a point value in a DECLARE');
  return { kind: 'declare', layout: l, name: String(st.portalname ?? ''), select: select as SelectPlan };
}

const ident = (s: string): string => `"${s.replace(/"/g, '""')}"`;
const IDENTITY = { fields: (f: readonly FieldDescription[]) => [...f], row: <V>(v: V) => v };

/**
 * A DECLARE decided: the backend's placeholder cursor, and the hook that reads the rows once the
 * backend declared it (a failure there fails the DECLARE, and so the block).
 */
export function declareTransformer(d: StageDeps, cursors: SplitCursors, p: DeclarePlan): { sql: string; result: ResultTransformer } {
  const taken = cursors.declare(p.name);
  const read = async (): Promise<Held> => {
    // The session's split statement: a client's cancel meanwhile fails it (57014).
    const out = await d.session.statement(() => selectStage(d, p.select).run([], [], [], new Map(), []));
    return { fields: out.fields ?? [], rows: out.rows };
  };
  return {
    sql: `DECLARE ${ident(p.name)} NO SCROLL CURSOR FOR SELECT NULL::text AS clarus_split WHERE false`,
    result: {
      ...IDENTITY,
      async done(tag) {
        const rows = read();
        taken.settle(rows);
        try { await rows; } catch (e) { taken.undo(); throw e; }
        return tag;
      },
      failed: () => taken.undo(),
    },
  };
}

function refusal(message: string): Refuse {
  return { kind: 'refuse', code: SQLSTATE.featureNotSupported, message: `clarus: ${message}` };
}

/** Rows in the client's formats (the held rows are text). */
function inFormats(h: Held, rows: WireValue[][], formats: readonly number[]): Held {
  const fields = h.fields.map((f, i) => ({ ...f, format: (formats.length === 1 ? formats[0] : formats[i] ?? 0) as 0 | 1 }));
  if (!formats.some((f) => f === 1)) return { fields, rows };
  return { fields, rows: rows.map((r) => encode(h.fields, r.map((v) => (v === null ? null : Buffer.from(v).toString('utf8'))), formats)) };
}

/**
 * The rows a forward FETCH/MOVE of `count` takes from `c` (moving it). FORWARD 0 re-reads the
 * current row: on a NO SCROLL cursor PostgreSQL refuses that once the cursor has moved.
 */
function take(c: OpenCursor, all: WireValue[][], count: number): WireValue[][] {
  if (count === 0 && c.pos > 0) throw new StatementError(SQLSTATE.objectNotInPrerequisiteState, 'cursor can only scan forward', 'Declare it with SCROLL option to enable backward scan.');
  if (count === 0) return [];
  const out = all.slice(c.pos, c.pos + count);
  c.pos = Math.min(all.length + 1, c.pos + count);
  return out;
}

function fetchStage(cursors: SplitCursors, name: string, count: number): ResidualStage {
  const held = async (): Promise<{ c: OpenCursor; h: Held }> => {
    const c = cursors.get(name);
    if (!c) throw new StatementError(SQLSTATE.invalidCursorName, `cursor "${name}" does not exist`);
    return { c, h: await c.rows };
  };
  return {
    maxRows: Number.MAX_SAFE_INTEGER, maxBytes: Number.MAX_SAFE_INTEGER, blank: [],
    async describe(_c, formats) { return inFormats((await held()).h, [], formats).fields; },
    async run(_c, _rows, formats) {
      const { c, h } = await held();
      const got = inFormats(h, take(c, h.rows, count), formats);
      return { fields: got.fields, rows: got.rows, tag: `FETCH ${got.rows.length}` };
    },
  };
}

function moveTransformer(cursors: SplitCursors, name: string, count: number): ResultTransformer {
  return {
    ...IDENTITY,
    async done() {
      const c = cursors.get(name);
      if (!c) throw new StatementError(SQLSTATE.invalidCursorName, `cursor "${name}" does not exist`);
      const moved = take(c, (await c.rows).rows, count);
      return `MOVE ${moved.length}`;
    },
  };
}

/** Cheap pre-check: only texts that may name a cursor are parsed again. */
const MAY_NAME = /\b(fetch|move|close|discard)\b/i;

function cursorOf(stmt: Json): { kind: 'fetch' | 'move' | 'close'; name: string; fetch?: Json } | { kind: 'all' } | null {
  const f = body(stmt, 'FetchStmt');
  if (f) return { kind: f.ismove ? 'move' : 'fetch', name: String(f.portalname ?? ''), fetch: f };
  const c = body(stmt, 'ClosePortalStmt');
  if (c) return c.portalname ? { kind: 'close', name: String(c.portalname) } : { kind: 'all' };
  const d = body(stmt, 'DiscardStmt');
  return d && d.target === 'DISCARD_ALL' ? { kind: 'all' } : null;
}

/**
 * FETCH / MOVE / CLOSE of a split cursor: the statement the backend gets (the client's own text:
 * it names only the placeholder cursor) and what answers it, a refusal, or null when the text
 * names no split cursor. CLOSE forgets the cursor when it is decided, as DECLARE takes it.
 */
export function cursorDecision(cursors: SplitCursors, sql: string): { sql: string; result: ResultTransformer } | Refuse | null {
  if (cursors.size === 0 || !MAY_NAME.test(sql)) return null;
  let parsed: ParsedStatement[];
  try { parsed = parseStatements(sql); } catch { return null; }
  const named = parsed.map((p) => cursorOf(p.stmt));
  for (const n of named) {
    if (n?.kind === 'all') cursors.clear();
    else if (n?.kind === 'close') cursors.forget(n.name);
  }
  const reads = named.filter((n): n is { kind: 'fetch' | 'move'; name: string; fetch: Json } => (n?.kind === 'fetch' || n?.kind === 'move') && cursors.has(n.name));
  if (reads.length === 0) return null;
  if (parsed.length !== 1) return refusal('a FETCH or MOVE of a cursor over a split table must be sent on its own (not with other statements in one Query)');
  const r = reads[0] as { kind: 'fetch' | 'move'; name: string; fetch: Json };
  if (r.fetch.direction !== 'FETCH_FORWARD') return refusal(`only forward FETCH and MOVE are supported on cursor "${r.name}" over a split table`);
  const howMany = Number(r.fetch.howMany ?? 0);
  const count = howMany >= ALL ? Number.MAX_SAFE_INTEGER : howMany;
  if (r.kind === 'move') return { sql, result: moveTransformer(cursors, r.name, count) };
  return { sql, result: { ...IDENTITY, residual: fetchStage(cursors, r.name, count) } };
}
