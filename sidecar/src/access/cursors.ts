// Server-side cursors over protected tables (issue 11): `DECLARE c [NO SCROLL] CURSOR [WITH HOLD]
// FOR SELECT …` is analysed like its SELECT (rewrite/statement.ts), and the session remembers how
// the cursor's columns are shown (the result transformer of that SELECT, for this user's views);
// `FETCH … FROM c` then decrypts / masks the rows it returns with it. `MOVE` returns no rows;
// `CLOSE c` / `CLOSE ALL` / `DISCARD ALL` forget. Cursor names are per session, like the
// transformers (one Cursors per protection pipeline). Pure: no I/O.
//
// A DECLARE is remembered when it is decided (a simple Query, or a Parse), the order in which the
// backend runs the client's statements; a DECLARE whose SELECT shows nothing protected forgets the
// name, so a FETCH never applies the transformer of another cursor of the same name. A FETCH of a
// cursor declared over unprotected data passes unchanged; one of a name no DECLARE gave (closed,
// or a protocol-level portal, which shares the namespace) is refused.
import { tagOf } from '../rewrite/ast.ts';
import type { Json } from '../rewrite/ast.ts';
import { parseStatements } from '../rewrite/parser.ts';
import type { ResultTransformer } from '../session/pipeline.ts';

/** A cursor statement of a text, by its position among the text's statements. */
export type CursorStatement =
  | { index: number; kind: 'declare' | 'fetch' | 'close'; name: string }
  | { index: number; kind: 'forget-all' };

export interface KnownCursor { result: ResultTransformer; shape: string }

/** Cheap pre-check: only texts that may hold a cursor statement are parsed again. */
const MAY_HOLD = /\b(declare|fetch|move|close|discard)\b/i;

function portalName(b: Json): string {
  return String(b.portalname ?? '');
}

function cursorStatement(index: number, stmt: Json): CursorStatement | null {
  const t = tagOf(stmt);
  if (!t) return null;
  const [tag, b] = t;
  if (tag === 'DeclareCursorStmt') return { index, kind: 'declare', name: portalName(b) };
  // FETCH and MOVE share one node (ismove): MOVE returns no rows.
  if (tag === 'FetchStmt') return b.ismove ? null : { index, kind: 'fetch', name: portalName(b) };
  if (tag === 'ClosePortalStmt') return b.portalname ? { index, kind: 'close', name: String(b.portalname) } : { index, kind: 'forget-all' };
  if (tag === 'DiscardStmt' && b.target === 'DISCARD_ALL') return { index, kind: 'forget-all' };
  return null;
}

/** The cursor statements of a text (none without a cursor keyword; texts that do not parse have none: they are refused). */
export function cursorStatements(sql: string): CursorStatement[] {
  if (!MAY_HOLD.test(sql)) return [];
  try {
    return parseStatements(sql).map((p, i) => cursorStatement(i, p.stmt)).filter((c): c is CursorStatement => c !== null);
  } catch {
    return [];
  }
}

/** What the FETCHes of one text need: each one's transformer, or the first name never declared. */
export interface Fetches { known: Map<number, KnownCursor>; undeclared?: string }

export class Cursors {
  /** Cursors declared through this session: how their rows are shown (null: nothing protected). */
  private readonly open = new Map<string, KnownCursor | null>();

  /**
   * Applies the cursor statements of one text in order: DECLARE remembers its name with the
   * transformer of its SELECT (`results[i]`, `shapes[i]`; none when it shows nothing protected),
   * CLOSE / DISCARD ALL forget; returns the transformers each FETCH's rows need, by statement
   * position. A FETCH of a name no DECLARE gave stops it: SQL cursors share their namespace with
   * the protocol's named portals, and a portal the session rewrote must not be read around its
   * transformer (the caller refuses the text).
   */
  apply(statements: readonly CursorStatement[], results: ReadonlyArray<ResultTransformer | undefined>, shapes: readonly string[]): Fetches {
    const known = new Map<number, KnownCursor>();
    for (const s of statements) {
      if (s.kind === 'forget-all') this.open.clear();
      else if (s.kind === 'close') this.open.delete(s.name);
      else if (s.kind === 'declare') this.open.set(s.name, this.shown(results[s.index], shapes[s.index]));
      else {
        const c = this.open.get(s.name);
        if (c === undefined) return { known, undeclared: s.name };
        if (c) known.set(s.index, c);
      }
    }
    return { known };
  }

  /** How the rows of an open cursor are shown (null: nothing protected; undefined: not declared here). */
  shownAs(name: string): KnownCursor | null | undefined {
    return this.open.get(name);
  }

  private shown(result: ResultTransformer | undefined, shape: string | undefined): KnownCursor | null {
    return result ? { result, shape: shape ?? '' } : null;
  }
}
