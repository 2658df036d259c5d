// The PostgreSQL parser (libpg-query, WebAssembly) and the deparser. The wasm module loads
// asynchronously once (loadParser at startup); afterwards parsing is synchronous.
import { fingerprintSync, loadModule, parseSync } from 'libpg-query';
import { deparseSync } from 'pgsql-deparser';
import type { Json } from './ast.ts';
import { loadGrammars } from './grammar.ts';

let loaded: Promise<void> | null = null;
let rewriterOnly: Promise<void> | null = null;

/** The rewriter's parser and every backend grammar (tests, tools). */
export function loadParser(): Promise<void> {
  loaded ??= Promise.all([loadRewriterParser(), loadGrammars()]).then(() => undefined);
  return loaded;
}

/** The rewriter's parser alone (the proxy: backend grammars load with the first session of their major, grammar.ts). */
export function loadRewriterParser(): Promise<void> {
  rewriterOnly ??= loadModule();
  return rewriterOnly;
}

export interface ParsedStatement {
  stmt: Json;
  /** The statement's own text (without the separating semicolon). */
  text: string;
}

export function parseStatements(sql: string): ParsedStatement[] {
  return statementsOf(sql, parseSync(sql));
}

/** The raw parse result (for comparing with the backend's grammar) and its statements. */
export function parseTree(sql: string): { tree: unknown; statements: ParsedStatement[] } {
  const tree = parseSync(sql);
  return { tree, statements: statementsOf(sql, tree) };
}

function statementsOf(sql: string, tree: unknown): ParsedStatement[] {
  const r = tree as { stmts?: Array<{ stmt: Json; stmt_location?: number; stmt_len?: number }> };
  const bytes = Buffer.from(sql, 'utf8');
  return (r.stmts ?? []).map((s) => {
    const start = s.stmt_location ?? 0;
    const end = s.stmt_len ? start + s.stmt_len : bytes.length;
    return { stmt: s.stmt, text: bytes.subarray(start, end).toString('utf8').trim() };
  });
}

export function deparseStatement(stmt: unknown): string {
  return deparseSync({ version: 180000, stmts: [{ stmt }] } as never, { pretty: false });
}

/** libpg-query's statement fingerprint (stable across constants), or 'unparsable'. */
export function fingerprintOf(sql: string): string {
  try {
    return fingerprintSync(sql);
  } catch {
    return 'unparsable';
  }
}
