// The residual stage engine: PostgreSQL itself (PGlite, PostgreSQL 18 compiled to WebAssembly and
// shipped inside its npm package — nothing is downloaded at run time), one instance per proxy
// process and engine locale, reused for every call. A call is one synchronous exchange with the
// instance (plan.ts): nothing can interleave with it, and its transaction is rolled back, so it
// leaves nothing behind but empty candidate tables, which are kept per relation name and shape
// (creating a table costs more than a whole small call) and vacuumed once enough rolled-back rows
// have gone through them.
import { PGlite } from '@electric-sql/pglite';
import { encodeFrontend } from '../protocol/frontend.ts';
import { engineInitdbParams, type EngineLocale } from './collation.ts';
import { buildCall, checkNames, createTableSql, quoteIdent, tableSignature } from './plan.ts';
import { readOutcome } from './response.ts';
import type { ResidualCall, ResidualResult } from './types.ts';

export interface EngineOptions {
  locale: EngineLocale;
  /** Candidate tables kept (least recently used dropped first; default 64). */
  maxTables?: number;
  /** Vacuum a table once this many rolled-back rows went through it (default 20,000). */
  vacuumRows?: number;
}

export interface EngineStats {
  calls: number;
  loadedRows: number;
  returnedRows: number;
  tablesCreated: number;
  vacuums: number;
}

interface Table { signature: string; deadRows: number }

export class ResidualEngine {
  readonly locale: EngineLocale;
  readonly stats: EngineStats = { calls: 0, loadedRows: 0, returnedRows: 0, tablesCreated: 0, vacuums: 0 };
  private readonly db: PGlite;
  private readonly maxTables: number;
  private readonly vacuumRows: number;
  /** name → shape, in least-recently-used order. */
  private readonly tables = new Map<string, Table>();

  private constructor(db: PGlite, opts: EngineOptions) {
    this.db = db;
    this.locale = opts.locale;
    this.maxTables = opts.maxTables ?? 64;
    this.vacuumRows = opts.vacuumRows ?? 20_000;
  }

  /** Starts an instance (seconds: WebAssembly compilation and initdb); do it once, at startup. */
  static async start(opts: EngineOptions): Promise<ResidualEngine> {
    const db = await PGlite.create({ initDbStartParams: engineInitdbParams(opts.locale) });
    // The session's temporary schema is created once here, not inside a call.
    await db.exec('CREATE TEMP TABLE clarus_residual_warmup (x int); DROP TABLE clarus_residual_warmup');
    return new ResidualEngine(db, opts);
  }

  /**
   * Loads the candidate rows and runs the residual query. Synchronous: the event loop is busy for
   * the whole call. Throws ResidualLimitError (54000), ResidualQueryError (PostgreSQL's SQLSTATE) or
   * ResidualUnsupportedError (0A000).
   */
  run(call: ResidualCall): ResidualResult {
    checkNames(call);
    const ddl = this.tableDdl(call);
    const batch = buildCall(call, ddl.statements);
    const answer = this.db.execProtocolRawSync(batch.bytes);
    const outcome = readOutcome(answer, batch.loadPhases, batch.maxResultRows);
    if (!outcome.ok && outcome.error.code !== '54000' && ddl.names.length > 0) {
      for (const n of ddl.names) this.tables.delete(n);
    }
    this.afterCall(call, batch.budget.rows);
    if (!outcome.ok) throw outcome.error;
    this.stats.returnedRows += outcome.rows.length;
    return { fields: outcome.fields, rows: outcome.rows, loadedRows: batch.budget.rows, loadedBytes: batch.budget.bytes };
  }

  /** DROP/CREATE for the relations whose table is missing or has another shape; LRU upkeep. */
  private tableDdl(call: ResidualCall): { statements: string[]; names: string[] } {
    const statements: string[] = [];
    const names: string[] = [];
    for (const rel of call.relations) {
      const signature = tableSignature(rel);
      const known = this.tables.get(rel.name);
      this.tables.delete(rel.name);
      this.tables.set(rel.name, known?.signature === signature ? known : { signature, deadRows: 0 });
      if (known?.signature === signature) continue;
      statements.push(`DROP TABLE IF EXISTS ${quoteIdent(rel.name)}`, createTableSql(rel.name, signature));
      names.push(rel.name);
      this.stats.tablesCreated += 1;
    }
    const inUse = new Set(call.relations.map((r) => r.name));
    for (const name of this.tables.keys()) {
      if (this.tables.size <= this.maxTables) break;
      if (inUse.has(name)) continue;
      this.tables.delete(name);
      statements.push(`DROP TABLE IF EXISTS ${quoteIdent(name)}`);
    }
    return { statements, names };
  }

  private afterCall(call: ResidualCall, loadedRows: number): void {
    this.stats.calls += 1;
    this.stats.loadedRows += loadedRows;
    const vacuum: string[] = [];
    for (const rel of call.relations) {
      const t = this.tables.get(rel.name);
      if (!t) continue;
      // Rows per relation are not counted separately: charging the call's total is an upper bound.
      t.deadRows += loadedRows;
      if (t.deadRows >= this.vacuumRows) { vacuum.push(quoteIdent(rel.name)); t.deadRows = 0; }
    }
    if (vacuum.length === 0) return;
    this.stats.vacuums += 1;
    this.db.execProtocolRawSync(encodeFrontend({ type: 'Query', sql: `VACUUM ${vacuum.join(', ')}` }).finish());
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
