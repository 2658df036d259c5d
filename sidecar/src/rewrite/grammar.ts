// The backend's own grammar. The rewriter works on PostgreSQL 18's parse tree (libpg-query 18 and
// its deparser), but the text is executed by the backend's major version, whose grammar differs
// (a PG 18 keyword is an identifier in PG 15, PG 17 added JSON_TABLE…). So every statement text is
// also parsed with the parser of the backend's major (libpg-query publishes one per major), and it
// reaches the backend only when both parsers accept it AND agree on what it says: the same
// statements, node kinds, names and constants in the same order (a "signature" that ignores
// source positions and fields a newer parser merely adds with their default value).
//
// Memory (issue 15, goal 5): each grammar is its own WebAssembly instance (its compiled code and
// its linear memory, which the first parses grow and never give back: 15–60 MiB of RSS each), so
// a grammar is loaded only when a backend of its major is met (loadGrammar, awaited before the
// session's pipeline is made); the rewriter's own (18) is libpg-query, the same module instance
// parser.ts uses. A check against a grammar that was not loaded fails closed.
import * as pg18 from 'libpg-query';

export type Major = 15 | 16 | 17 | 18;
export const SUPPORTED_MAJORS: readonly Major[] = [15, 16, 17, 18];
/** The grammar the rewriter itself uses (its parse tree and deparser). */
export const REWRITER_MAJOR: Major = 18;

interface Parser { loadModule(): Promise<void>; parseSync(sql: string): unknown }
const MODULES: Record<Major, () => Promise<Parser>> = {
  15: () => import('libpg-query-15') as Promise<Parser>,
  16: () => import('libpg-query-16') as Promise<Parser>,
  17: () => import('libpg-query-17') as Promise<Parser>,
  18: () => Promise.resolve(pg18 as unknown as Parser),
};
/** The grammars loaded so far (a parser is usable once its module has loaded). */
const PARSERS = new Map<Major, Parser>();
const loading = new Map<Major, Promise<void>>();

/** Loads one grammar (WebAssembly) once. */
export function loadGrammar(major: Major): Promise<void> {
  let p = loading.get(major);
  if (!p) {
    p = MODULES[major]().then(async (m) => { await m.loadModule(); PARSERS.set(major, m); });
    // A failed load may be retried by the next session.
    p.catch(() => loading.delete(major));
    loading.set(major, p);
  }
  return p;
}

/** Loads every supported grammar (tests, tools); the proxy loads the ones its backends need. */
export function loadGrammars(): Promise<void> {
  return Promise.all(SUPPORTED_MAJORS.map(loadGrammar)).then(() => undefined);
}

/** Whether a grammar is loaded (for tests and the memory benchmark). */
export function grammarLoaded(major: Major): boolean {
  return PARSERS.has(major);
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
  const parser = PARSERS.get(major);
  if (!parser) return { ok: false, reason: `the PostgreSQL ${major} grammar is not loaded in this proxy` };
  let theirs: unknown;
  try {
    theirs = parser.parseSync(sql);
  } catch (e) {
    // A stack overflow says the tree is too deep, not that the grammar disagrees: it goes to the
    // caller's too-deep refusal (54001, as PostgreSQL answers), whichever parser overflowed first
    // (that depends on how far each parser's WebAssembly is optimized).
    if (e instanceof RangeError) throw e;
    return { ok: false, reason: `PostgreSQL ${major} cannot parse it (${(e as Error).message})` };
  }
  if (signature(theirs) !== signature(tree18)) return { ok: false, reason: `PostgreSQL ${major} reads it differently from the proxy's analysis` };
  return { ok: true };
}
