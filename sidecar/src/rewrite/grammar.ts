// The backend's own grammar. The rewriter works on PostgreSQL 18's parse tree (libpg-query 18 and
// its deparser), but the text is executed by the backend's major version, whose grammar differs
// (a PG 18 keyword is an identifier in PG 15, PG 17 added JSON_TABLE…). So every statement text is
// also parsed with the parser of the backend's major (libpg-query publishes one per major), and it
// reaches the backend only when both parsers accept it AND agree on what it says: the same
// statements, node kinds, names and constants in the same order (a "signature" that ignores
// source positions and fields a newer parser merely adds with their default value).
import * as pg15 from 'libpg-query-15';
import * as pg16 from 'libpg-query-16';
import * as pg17 from 'libpg-query-17';
import * as pg18 from 'libpg-query';

export type Major = 15 | 16 | 17 | 18;
export const SUPPORTED_MAJORS: readonly Major[] = [15, 16, 17, 18];
/** The grammar the rewriter itself uses (its parse tree and deparser). */
export const REWRITER_MAJOR: Major = 18;

interface Parser { loadModule(): Promise<void>; parseSync(sql: string): unknown }
const PARSERS: Record<Major, Parser> = { 15: pg15, 16: pg16, 17: pg17, 18: pg18 } as unknown as Record<Major, Parser>;

let loaded: Promise<void> | null = null;

/** Loads every supported grammar (WebAssembly, ~5 MB each) once. */
export function loadGrammars(): Promise<void> {
  loaded ??= Promise.all(SUPPORTED_MAJORS.map((m) => PARSERS[m].loadModule())).then(() => undefined);
  return loaded;
}

/** `server_version` as the backend reports it ("15.8 (Debian 15.8-1)") → its major, or null. */
export function majorOf(serverVersion: string | undefined): Major | null {
  const m = /^(\d+)/.exec(serverVersion ?? '');
  const n = m ? Number(m[1]) : NaN;
  return (SUPPORTED_MAJORS as readonly number[]).includes(n) ? (n as Major) : null;
}

/**
 * Keys whose values differ between parser versions without changing what a statement means:
 * source positions, and fields newer parsers add with their default (NOT ENFORCED and NOT VALID
 * do not parse in older majors, so their absence there is a parse error, not a disagreement), or
 * that only repeat what the tree says otherwise (PG 17's DeallocateStmt.isall: no name means ALL;
 * psycopg sends DEALLOCATE ALL after a ROLLBACK).
 */
const NOISE = new Set(['location', 'stmt_location', 'stmt_len', 'version', 'rexpr_list_start', 'rexpr_list_end',
  'list_start', 'list_end', 'jumble_args', 'is_enforced', 'initially_valid',
  // DEALLOCATE ALL: PostgreSQL 18 sets `isall`, older majors say the same with no name.
  'isall']);

function collect(x: unknown, out: string[]): void {
  if (Array.isArray(x)) {
    for (const v of x) collect(v, out);
    return;
  }
  if (!x || typeof x !== 'object') return;
  for (const [k, v] of Object.entries(x)) {
    if (NOISE.has(k)) continue;
    if (v && typeof v === 'object') {
      // Node tags (upper-case) are part of the meaning; lower-case field names of nested structs
      // are not (PG 18 moved RETURNING lists into a returningClause struct, same content).
      if (k.charCodeAt(0) < 97) out.push(k);
      collect(v, out);
    } else out.push(`${k}=${String(v)}`);
  }
}

/** The meaning-bearing content of a parse tree, in order. */
export function signature(tree: unknown): string {
  const out: string[] = [];
  collect(tree, out);
  return out.join('\u0001');
}

export type GrammarCheck = { ok: true } | { ok: false; reason: string };

/**
 * Does the backend's grammar read `sql` as the rewriter's grammar read it (`tree18` is the
 * rewriter's parse result of the same text)? For an 18 backend the trees are the same parse.
 */
export function backendAgrees(major: Major, sql: string, tree18: unknown): GrammarCheck {
  if (major === REWRITER_MAJOR) return { ok: true };
  let theirs: unknown;
  try {
    theirs = PARSERS[major].parseSync(sql);
  } catch (e) {
    return { ok: false, reason: `PostgreSQL ${major} cannot parse it (${(e as Error).message})` };
  }
  if (signature(theirs) !== signature(tree18)) return { ok: false, reason: `PostgreSQL ${major} reads it differently from the proxy's analysis` };
  return { ok: true };
}
