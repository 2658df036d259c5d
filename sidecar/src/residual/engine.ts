// The residual stage engine: PostgreSQL itself (PGlite, PostgreSQL 18 compiled to WebAssembly and
// shipped inside its npm package — nothing is downloaded at run time), one instance per engine,
// reused for every call, in a worker thread by default (executor.ts). A call is one protocol batch
// (plan.ts): nothing can interleave with it, and its transaction is rolled back, so it leaves
// nothing behind but empty candidate tables, which are kept per relation name and shape (creating a
// table costs more than a whole small call) and vacuumed once enough rolled-back rows have gone
// through them. Calls on one engine run one after the other; ResidualPool spreads them over several.
import { encodeFrontend } from '../protocol/frontend.ts';
import type { EngineLocale } from './collation.ts';
import type { ShippedDataDirs } from './datadir.ts';
import { inlineExecutor, workerExecutor, type Executor } from './executor.ts';
import { residualStats } from './stats.ts';
import { buildCall, checkNames, createTableSql, quoteIdent, shapeSchema, tableSignature } from './plan.ts';
import { readOutcome } from './response.ts';
import type { ResidualCall, ResidualResult } from './types.ts';

export interface EngineOptions {
  locale: EngineLocale;
  /** 'worker' (default): a worker thread of its own; 'inline': this thread (blocks the event loop per call). */
  thread?: 'worker' | 'inline';
  /** Call shapes whose candidate tables are kept (least recently used dropped first; default 64). */
  maxTables?: number;
  /** Vacuum a table once this many rolled-back rows went through it (default 20,000). */
  vacuumRows?: number;
  /** Where the build's fresh data directories are (datadir.ts; default build/engine; tests pass null or a folder). */
  shippedDataDirs?: ShippedDataDirs;
}

export interface EngineStats {
  calls: number;
  loadedRows: number;
  returnedRows: number;
  tablesCreated: number;
  vacuums: number;
}

/** Residual queries kept prepared in one engine. */
const MAX_PREPARED = 1000;

/** The candidate tables of one call shape, in their own schema (plan.ts shapeSchema). */
interface Shape { relations: string[]; deadRows: number }

interface TablePlan {
  /** Run before the call's transaction. */
  statements: string[];
  schema: string;
  /** The shape's schema is created by this call. */
  created: boolean;
  evicted: string[];
}

export class ResidualEngine {
  readonly locale: EngineLocale;
  readonly stats: EngineStats = { calls: 0, loadedRows: 0, returnedRows: 0, tablesCreated: 0, vacuums: 0 };
  private readonly executor: Executor;
  private readonly maxTables: number;
  private readonly vacuumRows: number;
  /** Schema of each call shape held, in least-recently-used order. */
  private readonly tables = new Map<string, Shape>();
  /**
   * Residual queries prepared in the engine (shape schema + SQL → statement name): a repeated
   * query is planned once. Forgotten with its shape; past MAX_PREPARED all are deallocated.
   */
  private readonly prepared = new Map<string, string>();
  private preparedSeq = 0;
  /** The previous call's completion: calls run one after the other. */
  private tail: Promise<unknown> = Promise.resolve();
  private queued = 0;

  private constructor(executor: Executor, opts: EngineOptions) {
    this.executor = executor;
    this.locale = opts.locale;
    this.maxTables = opts.maxTables ?? 64;
    this.vacuumRows = opts.vacuumRows ?? 20_000;
  }

  /** Starts an instance (seconds: WebAssembly compilation and initdb); do it once, at startup. */
  static async start(opts: EngineOptions): Promise<ResidualEngine> {
    const executor = opts.thread === 'inline' ? await inlineExecutor(opts.locale) : await workerExecutor(opts.locale, opts.shippedDataDirs);
    if (executor.startedFrom === 'initdb') residualStats.engineInitdbs++;
    return new ResidualEngine(executor, opts);
  }

  /** How its instance was made (a fresh instance's data directory makes a restart seconds shorter). */
  get startedFrom(): Executor['startedFrom'] { return this.executor.startedFrom; }

  /** Calls waiting or running on this engine. */
  get pending(): number { return this.queued; }

  /**
   * Loads the candidate rows and runs the residual query, after the calls already given. Rejects
   * with ResidualLimitError (54000), ResidualQueryError (PostgreSQL's SQLSTATE) or
   * ResidualUnsupportedError (0A000).
   */
  run(call: ResidualCall): Promise<ResidualResult> {
    this.queued += 1;
    const result = this.tail.then(() => this.runNow(call));
    this.tail = result.catch(() => undefined).finally(() => { this.queued -= 1; });
    return result;
  }

  private async runNow(call: ResidualCall): Promise<ResidualResult> {
    checkNames(call);
    const tables = this.planTables(call);
    // Throws a limit or unsupported error before anything is sent and before the table cache changes.
    const key = `${tables.schema}\u0000${call.sql}`;
    const known = this.prepared.get(key);
    if (!known && this.prepared.size >= MAX_PREPARED) {
      tables.statements.push('DEALLOCATE ALL');
      this.prepared.clear();
    }
    const prepare = known ? { name: known, parse: false } : { name: `q${++this.preparedSeq}`, parse: true };
    const batch = buildCall(call, tables.statements, tables.schema, prepare);
    this.applyTables(call, tables);
    const answer = await this.executor.exec(batch.bytes);
    const outcome = readOutcome(answer, batch.loadPhases, batch.maxResultRows);
    // Kept only when the call went through (a failed Parse creates nothing; a statement created by a
    // call that failed later is left to the next DEALLOCATE ALL).
    if (outcome.ok && prepare.parse) this.prepared.set(key, prepare.name);
    // A failed call may have failed creating the shape's tables: create them again next time.
    if (!outcome.ok && tables.created) this.tables.delete(tables.schema);
    await this.afterCall(tables.schema, batch.budget.rows);
    if (!outcome.ok) throw outcome.error;
    this.stats.returnedRows += outcome.rows.length;
    return { fields: outcome.fields, rows: outcome.rows, loadedRows: batch.budget.rows, loadedBytes: batch.budget.bytes };
  }

  /** The shape's schema and tables when missing, and the least recently used shapes to drop. */
  private planTables(call: ResidualCall): TablePlan {
    const schema = shapeSchema(call);
    const statements: string[] = [];
    const created = !this.tables.has(schema);
    if (created) {
      statements.push(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`, `CREATE SCHEMA ${quoteIdent(schema)}`);
      for (const rel of call.relations) statements.push(createTableSql(schema, rel.name, tableSignature(rel)));
    }
    let excess = this.tables.size + (created ? 1 : 0) - this.maxTables;
    const evicted: string[] = [];
    for (const name of this.tables.keys()) {
      if (excess <= 0) break;
      if (name === schema) continue;
      evicted.push(name);
      statements.push(`DROP SCHEMA IF EXISTS ${quoteIdent(name)} CASCADE`);
      excess -= 1;
    }
    return { statements, schema, created, evicted };
  }

  /** The shape cache after the plan's statements ran; the call's shape becomes most recently used. */
  private applyTables(call: ResidualCall, plan: TablePlan): void {
    for (const name of plan.evicted) {
      this.tables.delete(name);
      for (const k of this.prepared.keys()) if (k.startsWith(`${name}\u0000`)) this.prepared.delete(k);
    }
    const shape = this.tables.get(plan.schema) ?? { relations: call.relations.map((r) => r.name), deadRows: 0 };
    this.tables.delete(plan.schema);
    this.tables.set(plan.schema, shape);
    if (plan.created) this.stats.tablesCreated += call.relations.length;
  }

  private async afterCall(schema: string, loadedRows: number): Promise<void> {
    this.stats.calls += 1;
    this.stats.loadedRows += loadedRows;
    const shape = this.tables.get(schema);
    if (!shape) return;
    shape.deadRows += loadedRows;
    if (shape.deadRows < this.vacuumRows) return;
    shape.deadRows = 0;
    this.stats.vacuums += 1;
    const tables = shape.relations.map((r) => `${quoteIdent(schema)}.${quoteIdent(r)}`).join(', ');
    await this.executor.exec(encodeFrontend({ type: 'Query', sql: `VACUUM ${tables}` }).finish());
  }

  async close(): Promise<void> {
    await this.tail;
    await this.executor.close();
  }
}

/** Several engines (one instance and, by default, one worker thread each); a call goes to the least busy. */
export class ResidualPool {
  private readonly engines: ResidualEngine[];

  private constructor(engines: ResidualEngine[]) { this.engines = engines; }

  static async start(size: number, opts: EngineOptions): Promise<ResidualPool> {
    const engines: ResidualEngine[] = [];
    for (let i = 0; i < size; i++) engines.push(await ResidualEngine.start(opts));
    return new ResidualPool(engines);
  }

  run(call: ResidualCall): Promise<ResidualResult> {
    const idle = this.engines.reduce((a, b) => (b.pending < a.pending ? b : a));
    return idle.run(call);
  }

  async close(): Promise<void> {
    for (const e of this.engines) await e.close();
  }
}
