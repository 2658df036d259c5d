// The PostgreSQL parser (libpg-query, WebAssembly) and the deparser. The wasm module loads
// asynchronously once (loadParser at startup); afterwards parsing is synchronous.
import { fingerprintSync, loadModule, parseSync } from 'libpg-query';
import { deparseSync } from 'pgsql-deparser';
import type { Json } from './ast.ts';

let loaded: Promise<void> | null = null;

export function loadParser(): Promise<void> {
  loaded ??= loadModule();
  return loaded;
}

export interface ParsedStatement {
  stmt: Json;
  /** The statement's own text (without the separating semicolon). */
  text: string;
}

export function parseStatements(sql: string): ParsedStatement[] {
  const r = parseSync(sql) as unknown as { stmts?: Array<{ stmt: Json; stmt_location?: number; stmt_len?: number }> };
  const bytes = Buffer.from(sql, 'utf8');
  return (r.stmts ?? []).map((s) => {
    const start = s.stmt_location ?? 0;
    const end = s.stmt_len ? start + s.stmt_len : bytes.length;
    return { stmt: s.stmt, text: bytes.subarray(start, end).toString('utf8').trim() };
  });
}

export function deparseStatement(stmt: Json): string {
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
