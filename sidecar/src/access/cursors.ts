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
// cursor the proxy does not know (declared over unprotected data, or closed) passes unchanged.
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

function cursorStatement(index: number, stmt: Json): CursorStatement | null {
  const t = tagOf(stmt);
  if (!t) return null;
  const [tag, b] = t;
  if (tag === 'DeclareCursorStmt') return { index, kind: 'declare', name: String(b.portalname ?? '') };
  // FETCH and MOVE share one node (ismove): MOVE returns no rows.
  if (tag === 'FetchStmt') return b.ismove ? null : { index, kind: 'fetch', name: String(b.portalname ?? '') };
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

export class Cursors {
  private readonly open = new Map<string, KnownCursor>();

  /** Whether any cursor over protected data is known (FETCHes need a look only then). */
  get empty(): boolean {
    return this.open.size === 0;
  }

  /**
   * Applies the cursor statements of one text in order: DECLARE remembers (or forgets) its name
   * with the transformer of its SELECT (`results[i]`, `shapes[i]`), CLOSE / DISCARD ALL forget;
   * returns the transformers each FETCH's rows need, by statement position.
   */
  apply(statements: readonly CursorStatement[], results: ReadonlyArray<ResultTransformer | undefined>, shapes: readonly string[]): Map<number, KnownCursor> {
    const fetches = new Map<number, KnownCursor>();
    for (const s of statements) {
      if (s.kind === 'forget-all') this.open.clear();
      else if (s.kind === 'close') this.open.delete(s.name);
      else if (s.kind === 'declare') this.remember(s.name, results[s.index], shapes[s.index] ?? '');
      else {
        const known = this.open.get(s.name);
        if (known) fetches.set(s.index, known);
      }
    }
    return fetches;
  }

  private remember(name: string, result: ResultTransformer | undefined, shape: string): void {
    if (result) this.open.set(name, { result, shape });
    else this.open.delete(name);
  }
}
