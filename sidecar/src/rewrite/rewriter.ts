// Entry point of the rewriting engine: SQL text → Analysis, cached by statement text.
// Pure apart from the in-memory cache and catalog learning (both owned by the Rewriter object).
import type { ColumnCipher } from '../protection/encryption/column.ts';
import { columnCipher } from '../protection/encryption/column.ts';
import type { KeyDeriver } from '../protection/encryption/derive.ts';
import type { Json } from './ast.ts';
import type { Catalog } from './catalog.ts';
import { Ctx, Refusal } from './context.ts';
import type { ParamRole, ProtectedRef } from './context.ts';
import { deparseStatement, fingerprintOf, parseStatements } from './parser.ts';
import { refuseSplit } from './split.ts';
import { analyzeStatement } from './statement.ts';
import type { StatementResult } from './statement.ts';

export interface StatementPlan extends StatementResult {
  sql: string;
  changed: boolean;
  /** This statement writes (the analysis' `write` covers all statements of the text). */
  write: boolean;
}

export type Analysis =
  | { kind: 'pass' }
  | { kind: 'refuse'; code: string; message: string; datasets: Map<string, Set<string>>; write: boolean }
  | { kind: 'plan'; statements: StatementPlan[]; params: Map<number, ParamRole>; paramCount: number; datasets: Map<string, Set<string>>; write: boolean };

const CACHE_LIMIT = 2000;

function maxParamOf(node: unknown): number {
  if (!node || typeof node !== 'object') return 0;
  let m = 0;
  for (const [k, v] of Object.entries(node)) {
    if (k === 'ParamRef' && v && typeof v === 'object') m = Math.max(m, Number((v as Json).number ?? 0));
    else m = Math.max(m, maxParamOf(v));
  }
  return m;
}

export class Rewriter {
  readonly catalog: Catalog;
  private readonly deriver: KeyDeriver;
  private readonly ciphers = new Map<string, ColumnCipher>();
  private readonly cache = new Map<string, Analysis>();
  private readonly fingerprints = new Map<string, string>();
  private readonly pattern: RegExp;
  /** Counters for metrics: cheap-path passes, cache hits, analyses (misses). */
  readonly stats = { cheapPasses: 0, cacheHits: 0, analyses: 0 };

  constructor(catalog: Catalog, deriver: KeyDeriver) {
    this.catalog = catalog;
    this.deriver = deriver;
    const names = catalog.names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    // Conservative pre-check: any mention of a protected table name (any case), or a Unicode
    // escape identifier that could spell one, sends the text to the parser.
    this.pattern = new RegExp(names.length ? `${names.join('|')}|u&` : '(?!)', 'i');
  }

  cipher(ref: ProtectedRef): ColumnCipher {
    const key = `${ref.table.schema}.${ref.table.table}.${ref.column.name}`;
    let c = this.ciphers.get(key);
    if (!c) {
      const p = ref.column.protection;
      c = columnCipher(this.deriver, { schema: ref.table.schema, table: ref.table.table, column: ref.column.name, mode: p.mode, searchable: p.searchable, keyName: p.keyName });
      this.ciphers.set(key, c);
    }
    return c;
  }

  /**
   * libpg-query's fingerprint of the text (constants removed), for the audit log. It parses the
   * text again, so it is remembered per text (bounded like the decision cache).
   */
  fingerprint(sql: string): string {
    let f = this.fingerprints.get(sql);
    if (f === undefined) {
      f = fingerprintOf(sql);
      if (this.fingerprints.size >= CACHE_LIMIT) this.fingerprints.delete(this.fingerprints.keys().next().value as string);
      this.fingerprints.set(sql, f);
    }
    return f;
  }

  /** Cheap, conservative: could the text touch a protected table? */
  mentions(sql: string): boolean {
    return this.pattern.test(sql);
  }

  /** Declared columns loaded from the backend catalog; earlier analyses are dropped. */
  learn(declared: Map<string, Array<{ name: string; typeOid: number }>>): void {
    for (const [key, cols] of declared) {
      const [schema, table] = key.split('.') as [string, string];
      this.catalog.learn(schema, table, cols);
    }
    this.cache.clear();
  }

  analyze(sql: string): Analysis {
    if (!this.pattern.test(sql)) {
      this.stats.cheapPasses++;
      return { kind: 'pass' };
    }
    const hit = this.cache.get(sql);
    if (hit) {
      this.stats.cacheHits++;
      return hit;
    }
    this.stats.analyses++;
    const { analysis, cacheable } = this.analyzeUncached(sql);
    if (cacheable) {
      if (this.cache.size >= CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(sql, analysis);
    }
    return analysis;
  }

  private analyzeUncached(sql: string): { analysis: Analysis; cacheable: boolean } {
    let parsed;
    try {
      parsed = parseStatements(sql);
    } catch {
      return { analysis: { kind: 'pass' }, cacheable: true }; // the backend reports the syntax error itself
    }
    // A ParamRef only comes from a `$n` token, so a text without `$` has none (skips a tree walk).
    const maxParam = sql.includes('$') ? Math.max(0, ...parsed.map((p) => maxParamOf(p.stmt))) : 0;
    const ctx = new Ctx(this.catalog, (r) => this.cipher(r), maxParam);
    const clientParams = ctx.maxParam;
    const statements: StatementPlan[] = [];
    try {
      refuseSplit(ctx, parsed.map((p) => p.stmt));
      for (const p of parsed) statements.push(this.statement(ctx, p.stmt, p.text));
    } catch (e) {
      // Fail closed: a statement shape the rules or the deparser cannot handle is refused, never
      // forwarded half-rewritten (and never allowed to take the connection down).
      const r = e instanceof Refusal ? e : new Refusal('0A000', `clarus: cannot rewrite this statement shape safely (${(e as Error).message})`);
      return { analysis: { kind: 'refuse', code: r.code, message: r.message, datasets: ctx.touched, write: ctx.write }, cacheable: true };
    }
    if (ctx.touched.size === 0 && !statements.some((s) => s.changed)) return { analysis: { kind: 'pass' }, cacheable: true };
    for (const s of statements) if (s.learned) this.catalog.learn(s.learned.schema, s.learned.table, s.learned.columns);
    if (statements.some((s) => s.learned)) this.cache.clear();
    const analysis: Analysis = { kind: 'plan', statements, params: ctx.params, paramCount: Math.max(clientParams, ctx.maxParam), datasets: ctx.touched, write: ctx.write };
    return { analysis, cacheable: ctx.cacheable && !statements.some((s) => s.learned) };
  }

  private statement(ctx: Ctx, stmt: Json, text: string): StatementPlan {
    const before = JSON.stringify(stmt);
    const writeBefore = ctx.write;
    ctx.write = false;
    const r = analyzeStatement(ctx, stmt, text);
    const changed = JSON.stringify(stmt) !== before;
    const write = ctx.write;
    ctx.write = ctx.write || writeBefore;
    return { ...r, sql: changed ? deparseStatement(stmt) : text, changed, write };
  }
}
