// Entry point of the rewriting engine: SQL text → Analysis, cached by statement text.
// Pure apart from the in-memory cache and catalog learning (both owned by the Rewriter object).
// It holds no keys: a protected constant becomes a placeholder (placeholders.ts) that the executor
// fills at each execution (protection/fill.ts, protection/keyed-rewriter.ts).
import { arr, body, paramNumbers, tagOf } from './ast.ts';
import type { Json } from './ast.ts';
import type { Catalog, CatalogTable, DeclaredColumn } from './catalog.ts';
import { Ctx } from './context.ts';
import { Refusal, refusalOf, refuse } from './refusals.ts';
import type { ParamRole } from './context.ts';
import { Markers, PlaceholderList } from './placeholders.ts';
import type { Placeholder, PlaceholderPlan } from './placeholders.ts';
import { screen } from './allowlist.ts';
import type { Screened } from './allowlist.ts';
import { dropsTempFunction, isPlpgsqlFunction, rewriteTempFunction, tempFunctionOf } from './temp-function.ts';
import type { TempFunction } from './temp-function.ts';
import { analyzeTempCall, calledTempFunction, callShape } from './temp-function-call.ts';
import { refuseSplit } from './split.ts';
import { ByteLru } from './cache.ts';
import { backendAgrees, REWRITER_MAJOR } from './grammar.ts';
import type { Major } from './grammar.ts';
import { deparseStatement, fingerprintOf, parseTree } from './parser.ts';
import type { ParsedStatement } from './parser.ts';
import { ShapeCache, shapeOf } from './shape-cache.ts';
import type { ProtectedCall, Shape } from './shape-cache.ts';
import { mentionsCatalog, showLogicalCatalog } from './logical-catalog.ts';
import { analyzeSelect } from './select.ts';
import { analyzeStatement } from './statement.ts';
import type { StatementResult } from './statement.ts';
import { computable, twoStagePlan } from './two-stage/plan.ts';
import { differingFunctions } from '../residual/versions.ts';
import type { ResidualSpec } from './two-stage/plan.ts';
import type { ProbeFrom } from './two-stage/split.ts';
import { expandViews } from './views.ts';
import type { ProxyView } from './views.ts';
import { createView, isProxyView } from './create-view.ts';
import { resultDirectives } from './result-directives.ts';
import type { ResultDirective } from './result-directives.ts';

export interface StatementPlan extends StatementResult {
  sql: string;
  changed: boolean;
  /** This statement writes (the analysis' `write` covers all statements of the text). */
  write: boolean;
  /**
   * Set when the statement runs in two stages: `sql` is then the backend stage (its outputs are the
   * candidate columns) and this is what the proxy computes over the decrypted candidates.
   */
  residual?: ResidualSpec;
  /**
   * What the executor does to each result column (result-directives.ts): of the COPY TO's columns
   * for a COPY … TO STDOUT, of `outputs` otherwise.
   */
  results: ResultDirective[];
}

/** A statement's plan before its result directives are derived (withResults). */
type PlanBody = Omit<StatementPlan, 'results'>;

function withResults(s: PlanBody): StatementPlan {
  return { ...s, results: resultDirectives(s.copy?.direction === 'out' ? s.copy.outputs : s.outputs) };
}

/** What the allowlist screen adds to every analysis: whether the text writes, and whether its
 * effect reaches every dataset (DROP OWNED, DROP SCHEMA of a policy schema…). */
interface Effects {
  write: boolean;
  everyDataset?: boolean;
  /**
   * The text may change the schema of a protected table (DDL naming one): the session has the
   * catalog loaded again from the backend once the transaction has ended (see access/refresh.ts).
   */
  schemaChange?: boolean;
}

/** Statement kinds that change data, not schema. */
const DATA_STATEMENTS = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt', 'CopyStmt', 'SelectStmt', 'TransactionStmt', 'ExplainStmt']);

export type Analysis =
  | ({ kind: 'pass' } & Effects)
  | ({ kind: 'refuse'; code: string; message: string; /** For metrics: the refusal's entry in refusals.ts. */ reason?: string; datasets: Map<string, Set<string>>; split?: boolean } & Effects)
  | ({ kind: 'plan'; statements: StatementPlan[]; params: Map<number, ParamRole>; paramCount: number; datasets: Map<string, Set<string>>; /** Markers in the statements' texts the executor fills (absent once filled, or when there are none). */ placeholders?: PlaceholderPlan } & Effects);

/** The datasets (and columns) two analyses touch. */
function mergedDatasets(a: Map<string, Set<string>>, b: Map<string, Set<string>> | undefined): Map<string, Set<string>> {
  const out = new Map([...a].map(([k, v]) => [k, new Set(v)] as const));
  for (const [k, v] of b ?? []) out.set(k, new Set([...(out.get(k) ?? []), ...v]));
  return out;
}

export interface RewriterOptions {
  /** The backend's major version: statements are also parsed with its grammar (default 18). */
  major?: Major;
  /** Longest statement text analysed (bytes); longer ones are refused with 54000. */
  maxStatementBytes?: number;
  /** Byte budget of the decision cache. */
  cacheBytes?: number;
  /**
   * SELECTs refused for computing on encrypted values get a two-stage plan instead (the executor
   * must have a residual engine: docs/residual-engine.md). Default false.
   */
  twoStage?: boolean;
  /**
   * Texts that differ from an analysed one only in literal values reuse its plan (shape-cache.ts).
   * Default true; false analyses every new text in full.
   */
  shapeCache?: boolean;
  /** Told where each analysis came from (metrics). */
  onAnalysis?: (source: 'cache' | 'shape' | 'full') => void;
}

/** What the rules' pass over one text carries from statement to statement. */
interface TextState {
  /** The temporary PL/pgSQL functions the text defined so far (temp-function.ts). */
  temps: Map<string, TempFunction>;
  /** The backend's major version (grammar checks of a function body's statements). */
  major: Major;
}

const DEFAULT_MAX_STATEMENT_BYTES = 1 << 20;
const DEFAULT_CACHE_BYTES = 32 << 20;
function refusedWith(r: Refusal): Extract<Analysis, { kind: 'refuse' }> {
  return { kind: 'refuse', code: r.code, message: r.message, reason: reasonOf(r), datasets: new Map(), write: false };
}

/** The refusal's entry in refusals.ts, for metrics ('other' for a Refusal built without one). */
function reasonOf(r: Refusal): string {
  return r.kind ?? 'other';
}

/** Rough memory of a cached analysis: the texts it holds dominate (the placeholders' inputs included). */
function weightOf(sql: string, a: Analysis): number {
  const texts = a.kind === 'plan' ? a.statements.reduce((n, s) => n + (s.changed ? s.sql.length : 0), 0) : a.kind === 'refuse' ? a.message.length : 0;
  const inputs = a.kind === 'plan' ? (a.placeholders?.list ?? []).reduce((n, p) => n + (p.kind === 'cipher' ? p.canon.length : p.text.length) + 64, 0) : 0;
  return (sql.length + texts + inputs) * 2 + 256;
}

/**
 * The rewritten text goes to the backend: it must read it as the rewriter built it (the deparser
 * writes PostgreSQL 18 syntax). Throws (→ refusal) when the backend's grammar disagrees.
 */
function checkRewritten(major: Major, sql: string): void {
  // The deparser writes the rewriter's own grammar: nothing to compare for a backend of that major.
  if (major === REWRITER_MAJOR) return;
  const check = backendAgrees(major, sql, parseTree(sql).tree);
  if (!check.ok) refuse('unsendable', { reason: check.reason });
}

/** The analysis' placeholders, when it made any. */
function placeholdersOf(ctx: Ctx): { placeholders?: PlaceholderPlan } {
  const p = ctx.placeholders;
  return p && p.list.length > 0 ? { placeholders: p.plan() } : {};
}

function maxParamOf(node: unknown): number {
  return Math.max(0, ...paramNumbers(node));
}

export class Rewriter {
  readonly catalog: Catalog;
  /** The nonce and ids of this rewriter's placeholder markers. */
  private readonly markers = new Markers();
  private readonly cache: ByteLru<Analysis>;
  private readonly fingerprints: ByteLru<string>;
  private readonly maxStatementBytes: number;
  private readonly major: Major;
  private readonly pattern: RegExp;
  /** The names of the views the proxy keeps (views.ts), for `mentions`. */
  private viewPattern: RegExp = /(?!)/;
  /** Statements in which views were expanded (they are sent rewritten even when no rule edits them). */
  private readonly expanded = new WeakSet<object>();
  private readonly twoStage: boolean;
  private readonly shapes: ShapeCache | null;
  private lastShape: { sql: string; shape: Shape | null } | null = null;
  /** Where the placeholders' canonical inputs and the constants' canonical texts go while a shape cache probe is analysed (else null). */
  private recording: { calls: ProtectedCall[]; canons: NonNullable<Ctx['canonicals']> } | null = null;
  private readonly onAnalysis: (source: 'cache' | 'shape' | 'full') => void;
  /** Counters for metrics: cheap-path passes, cache hits, shape-cache hits, analyses (misses). */
  readonly stats = { cheapPasses: 0, cacheHits: 0, shapeHits: 0, analyses: 0 };

  constructor(catalog: Catalog, options: RewriterOptions = {}) {
    this.catalog = catalog;
    this.maxStatementBytes = options.maxStatementBytes ?? DEFAULT_MAX_STATEMENT_BYTES;
    this.major = options.major ?? REWRITER_MAJOR;
    this.twoStage = options.twoStage ?? false;
    this.onAnalysis = options.onAnalysis ?? (() => undefined);
    const budget = options.cacheBytes ?? DEFAULT_CACHE_BYTES;
    this.cache = new ByteLru(budget);
    this.fingerprints = new ByteLru(Math.max(0, Math.floor(budget / 8)));
    this.shapes = options.shapeCache === false ? null : new ShapeCache(Math.floor(budget / 4));
    const names = catalog.names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    // Conservative pre-check: any mention of a protected table name (any case), or a Unicode
    // escape identifier that could spell one, sends the text to the parser.
    this.pattern = new RegExp(names.length ? `${names.join('|')}|u&` : '(?!)', 'i');
  }

  /**
   * libpg-query's fingerprint of the text (constants removed), for the audit log. It parses the
   * text again, so it is remembered per text (bounded like the decision cache).
   */
  fingerprint(sql: string): string {
    if (sql.length > this.maxStatementBytes) return 'too-large';
    const shaped = this.shapeFingerprint(sql);
    if (shaped !== undefined) return shaped;
    let f = this.fingerprints.get(sql);
    if (f === undefined) {
      f = fingerprintOf(sql);
      this.fingerprints.set(sql, f, f.length * 2);
    }
    return f;
  }

  /** Constants do not change a fingerprint: a text of a kept shape has its shape's. */
  private shapeFingerprint(sql: string): string | undefined {
    const shape = this.shapeOf(sql);
    return shape ? this.shapes?.fingerprint(`${this.major}\u0000`, shape, () => fingerprintOf(sql)) : undefined;
  }

  /** The text's shape (the last one is remembered: the audit asks right after the analysis). */
  private shapeOf(sql: string): Shape | null {
    if (!this.shapes || sql.length > this.maxStatementBytes) return null;
    if (this.lastShape?.sql !== sql) this.lastShape = { sql, shape: shapeOf(sql) };
    return this.lastShape.shape;
  }

  /** Cheap, conservative: could the text touch a protected table? */
  mentions(sql: string): boolean {
    return this.pattern.test(sql) || this.viewPattern.test(sql);
  }

  /**
   * What the backend says of the views the proxy keeps (views.ts); earlier analyses are dropped
   * when it changed anything.
   */
  learnViews(views: readonly ProxyView[]): void {
    if (!this.catalog.setViews(views)) return;
    const names = [...new Set(views.map((v) => v.name.toLowerCase().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))];
    this.viewPattern = new RegExp(names.length ? names.join('|') : '(?!)', 'i');
    this.cache.clear();
    this.shapes?.clear();
  }

  /**
   * Could the text read a catalog relation that shows a split table's columns on other backends
   * (logical-catalog.ts)? Such a read needs the catalog loaded, whether it names the table or not.
   */
  introspectsSplit(sql: string): boolean {
    // An index statement may name an index another fragment holds (split/index-ddl.ts): known once loaded.
    return this.catalog.anySplit() && (mentionsCatalog(sql) || /\bindex\b/i.test(sql));
  }

  /**
   * What the backend's committed catalog says of `tables` (those missing from `declared` do not
   * exist there); earlier analyses are dropped when it changed anything (a load every few seconds
   * of a policy table that does not exist yet, or the periodic reload, leaves them: they were made
   * from the same catalog).
   */
  learn(tables: readonly CatalogTable[], declared: Map<string, DeclaredColumn[]>): void {
    let changed = false;
    for (const t of tables) changed = this.catalog.learn(t.schema, t.table, declared.get(`${t.schema}.${t.table}`)) || changed;
    if (!changed) return;
    this.cache.clear();
    this.shapes?.clear();
  }

  /**
   * The analysis of a statement text for a backend of PostgreSQL `major`. Every text is parsed
   * (no textual shortcut: procedural code and string-built SQL do not show table names), with
   * the rewriter's grammar and the backend's, and screened by the allowlist before any rule runs.
   */
  analyze(sql: string, major: Major = this.major): Analysis {
    const key = major === REWRITER_MAJOR ? sql : `${major}\u0000${sql}`;
    const hit = this.cache.get(key);
    if (hit) {
      this.stats.cacheHits++;
      this.onAnalysis('cache');
      return hit;
    }
    const shape = this.shapeOf(sql);
    const prefix = `${major}\u0000`;
    const shaped = shape ? this.shapes?.lookup(prefix, sql, shape) : null;
    if (shaped) {
      this.stats.shapeHits++;
      this.onAnalysis('shape');
      return shaped;
    }
    this.stats.analyses++;
    this.onAnalysis('full');
    const { analysis, cacheable } = this.guarded(sql, major);
    if (cacheable) this.cache.set(key, analysis, weightOf(sql, analysis));
    if (shape && cacheable) this.shapes?.learn(prefix, sql, shape, analysis, (text) => this.recorded(() => this.guarded(text, major)));
    return analysis;
  }

  /** An analysis with the placeholders its rules made from constants (a shape cache probe). */
  private recorded(run: () => { analysis: Analysis; cacheable: boolean }): { analysis: Analysis; cacheable: boolean; calls: ProtectedCall[] } {
    const calls: ProtectedCall[] = [];
    this.recording = { calls, canons: [] };
    try {
      return { ...run(), calls };
    } finally {
      this.recording = null;
    }
  }

  /**
   * Records a cipher placeholder made while a probe is analysed, with how its input was computed
   * from the constant (the last canonical text the rules made equal to it: Ctx.canonical or
   * Ctx.assigned); an input made otherwise cannot be re-bound.
   */
  private record(placeholder: Placeholder, canon: string): void {
    const rec = this.recording;
    if (!rec) return;
    let canonical = (_: string): string => { throw new Error('not a constant made canonical by the rules'); };
    for (let i = rec.canons.length - 1; i >= 0; i--) {
      const c = rec.canons[i];
      if (c?.canon === canon) { canonical = c.again; break; }
    }
    rec.calls.push({ placeholder, canon, canonical });
  }

  /** A tree too deep for the analysis' recursion is refused like PostgreSQL refuses it (54001). */
  private guarded(sql: string, major: Major): { analysis: Analysis; cacheable: boolean } {
    try {
      return this.analyzeUncached(sql, major);
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      return { analysis: refusedWith(refusalOf('tooDeep')), cacheable: true };
    }
  }

  private analyzeUncached(sql: string, major: Major): { analysis: Analysis; cacheable: boolean } {
    const bytes = Buffer.byteLength(sql);
    if (bytes > this.maxStatementBytes) {
      return { analysis: refusedWith(refusalOf('tooLong', { bytes, max: this.maxStatementBytes })), cacheable: false };
    }
    let parsed;
    try {
      parsed = parseTree(sql);
    } catch (e) {
      if (e instanceof RangeError) throw e; // too deep: 54001 (guarded)
      // Never forward text the proxy could not parse: the backend might read it differently.
      return { analysis: refusedWith(refusalOf('syntax', { error: (e as Error).message })), cacheable: true };
    }
    const agree = backendAgrees(major, sql, parsed.tree);
    if (!agree.ok) return { analysis: refusedWith(refusalOf('backendGrammar', { reason: agree.reason })), cacheable: true };
    const effects: Effects = { write: false, everyDataset: false };
    let temporary: Set<unknown>;
    try {
      parsed.statements = parsed.statements.map((p) => ({ ...p, stmt: this.expand(p.stmt) }));
      temporary = this.screenAll(parsed.statements, effects);
    } catch (e) {
      if (!(e instanceof Refusal)) throw e;
      return { analysis: { ...refusedWith(e), ...effects }, cacheable: true };
    }
    const schema = (p: ParsedStatement): boolean => !DATA_STATEMENTS.has(tagOf(p.stmt)?.[0] ?? '') && !temporary.has(p.stmt);
    if (effects.write && this.mentions(sql) && parsed.statements.some(schema)) effects.schemaChange = true;
    return this.rules(sql, parsed.statements, major, effects);
  }

  /**
   * The allowlist screen of every statement of the text (throws the first Refusal), adding to
   * `effects`; the statements that define, call or drop a temporary PL/pgSQL function of the text.
   */
  private screenAll(parsed: ParsedStatement[], effects: Effects): Set<unknown> {
    const temps = new Map<string, TempFunction>();
    const temporary = new Set<unknown>();
    for (const p of parsed) {
      const s = this.screenTemporary(p.stmt, temps) ?? screen(p.stmt, this.catalog);
      if ('temporary' in s || dropsTempFunction(p.stmt)) temporary.add(p.stmt);
      effects.write ||= s.write;
      effects.everyDataset ||= s.everyDataset;
    }
    return temporary;
  }

  /**
   * The screen of a statement that defines a temporary PL/pgSQL function (temp-function.ts: its
   * body is screened statement by statement when the rules rewrite it) or calls one defined
   * earlier in the text (temp-function-call.ts); null for any other statement.
   */
  private screenTemporary(stmt: Json, temps: Map<string, TempFunction>): (Screened & { temporary: true }) | null {
    const f = isPlpgsqlFunction(stmt) ? tempFunctionOf(body(stmt, 'CreateFunctionStmt') as Json, this.catalog) : null;
    if (f) temps.set(f.name, f);
    const call = f ? null : calledTempFunction(stmt, temps);
    if (call) callShape(stmt, call);
    return f || call ? { write: true, everyDataset: false, temporary: true } : null;
  }

  /** CREATE FUNCTION pg_temp.f … LANGUAGE plpgsql: its body rewritten (temp-function.ts). */
  private tempFunction(ctx: Ctx, stmt: Json, of: TextState): PlanBody {
    const fn = rewriteTempFunction(ctx, body(stmt, 'CreateFunctionStmt') as Json, {
      catalog: this.catalog, major: of.major,
      statement: (c, s, text) => this.statement(c, s, text, { temps: new Map(), major: of.major }),
      check: (text) => checkRewritten(of.major, text),
      expand: (s) => this.expand(s),
    });
    of.temps.set(fn.name, fn);
    return { outputs: [], sql: deparseStatement(stmt), changed: true, write: true };
  }

  /** The statement with the views of the proxy's it reads expanded (views.ts); refuses writes into them. */
  private expand(stmt: Json): Json {
    const e = expandViews(this.catalog, stmt);
    if (e.expanded) this.expanded.add(e.stmt as object);
    return e.stmt as Json;
  }

  /** `expand`, or null for a statement that is absent or refused there. */
  private expandedOrNull(stmt: Json | undefined): Json | null {
    try {
      return stmt ? this.expand(stmt) : null;
    } catch (e) {
      if (e instanceof Refusal) return null;
      throw e;
    }
  }

  private rules(sql: string, parsed: ParsedStatement[], major: Major, effects: Effects): { analysis: Analysis; cacheable: boolean } {
    // A ParamRef only comes from a `$n` token, so a text without `$` has none (skips a tree walk).
    const maxParam = sql.includes('$') ? Math.max(0, ...parsed.map((p) => maxParamOf(p.stmt))) : 0;
    const ctx = this.newCtx(maxParam);
    const clientParams = ctx.maxParam;
    const statements: PlanBody[] = [];
    try {
      refuseSplit(ctx, parsed.map((p) => p.stmt));
      const of: TextState = { temps: new Map(), major };
      for (const p of parsed) statements.push(this.statement(ctx, p.stmt, p.text, of));
      for (const s of statements) if (s.changed) checkRewritten(major, s.sql);
    } catch (e) {
      // A stack overflow is the too-deep refusal (54001, guarded), wherever the recursion ran out.
      if (e instanceof RangeError) throw e;
      // Fail closed: a statement shape the rules or the deparser cannot handle is refused, never
      // forwarded half-rewritten (and never allowed to take the connection down).
      const r = e instanceof Refusal ? e : refusalOf('unexpectedShape', { error: (e as Error).message });
      const staged = e instanceof Refusal && this.twoStage && parsed.length === 1 && computable(e) ? this.staged(sql, major, maxParam, effects) : null;
      if (staged) return staged;
      return { analysis: { kind: 'refuse', code: r.code, message: r.message, reason: reasonOf(r), datasets: ctx.touched, write: ctx.write || effects.write, everyDataset: effects.everyDataset, ...(r.kind === 'splitDataset' ? { split: true } : {}) }, cacheable: true };
    }
    const write = ctx.write || effects.write;
    if (ctx.touched.size === 0 && !statements.some((s) => s.changed)) return { analysis: { kind: 'pass', ...effects, write }, cacheable: true };
    const analysis: Analysis = { kind: 'plan', statements: statements.map(withResults), params: ctx.params, paramCount: Math.max(clientParams, ctx.maxParam), datasets: ctx.touched, ...placeholdersOf(ctx), ...effects, write };
    return { analysis, cacheable: ctx.cacheable };
  }

  private newCtx(maxParam: number): Ctx {
    const list = new PlaceholderList(this.markers, (keyName) => this.catalog.liveVersions(keyName));
    const ctx = new Ctx(this.catalog, (r) => list.cipher(r), maxParam, (c, s, scope) => analyzeSelect(c, s, scope, false));
    ctx.placeholders = list;
    if (this.recording) {
      ctx.canonicals = this.recording.canons;
      list.onCipher = (p, canon) => this.record(p, canon);
    }
    return ctx;
  }

  /**
   * The two-stage plan of a single SELECT the rules refused (see two-stage/plan.ts), analysed from
   * a fresh parse of the text; null when it has none (the refusal stands).
   */
  private staged(sql: string, major: Major, maxParam: number, effects: Effects): { analysis: Analysis; cacheable: boolean } | null {
    const stmt = this.expandedOrNull(parseTree(sql).statements[0]?.stmt);
    if (!stmt) return null;
    // The context of the backend stage that was analysed last (a refused attempt leaves its own behind).
    let ctx = this.newCtx(maxParam);
    let plan;
    try {
      plan = twoStagePlan(stmt, {
        pushable: (from, conjunct) => this.pushable(maxParam, from, conjunct),
        differs: differingFunctions(major),
        analyze: (backend) => {
          ctx = this.newCtx(maxParam);
          return analyzeStatement(ctx, backend, '');
        },
        inputs: (from) => this.inputColumns(from),
        tables: (name) => {
          const t = this.catalog.lookup(undefined, name);
          if (!t || this.catalog.unloaded().includes(t)) return null;
          const anon = (c: { protection: { kind: string } }): boolean => c.protection.kind === 'anonymize';
          return { columns: t.columns.filter((c) => !anon(c)).map((c) => c.name), anonymized: t.columns.filter(anon).map((c) => c.name) };
        },
        write: {
          lookup: (schema, table) => this.catalog.lookup(schema, table),
          plainSet: (relation, item) => this.accepts(maxParam, { UpdateStmt: { relation: structuredClone(relation), targetList: [structuredClone(item)] } }),
          plainValue: (from, val) => this.plainValue(maxParam, from, val),
          differs: differingFunctions(major),
        },
      });
      if (!plan) return null;
      // The write-back statement goes through the rules like any write: refused there, refused here.
      const wb = plan.residual.write ? this.analyze(plan.residual.write.sql, major) : undefined;
      if (wb?.kind === 'refuse') return null;
      const backendSql = deparseStatement(plan.backend);
      checkRewritten(major, backendSql);
      // A cursor's rows are held by the proxy: DECLARE reads.
      const write = plan.residual.write !== undefined && plan.residual.write.command !== 'DECLARE CURSOR';
      const statement = withResults({ outputs: plan.outputs, sql: backendSql, changed: true, write, residual: plan.residual });
      // The write-back's target (an INSERT's table is not in the backend stage) is decided on too: its grant, its view of RETURNING.
      const datasets = mergedDatasets(ctx.touched, wb?.kind === 'plan' ? wb.datasets : undefined);
      const analysis: Analysis = { kind: 'plan', statements: [statement], params: ctx.params, paramCount: Math.max(maxParam, ctx.maxParam), datasets, ...placeholdersOf(ctx), ...effects, write: effects.write || write };
      return { analysis, cacheable: ctx.cacheable };
    } catch (e) {
      if (e instanceof Refusal) return null;
      throw e;
    }
  }

  /**
   * Every column name a FROM clause of plain table references (joins included) provides, when
   * each is a policy table whose columns were loaded from the backend; null otherwise.
   */
  private inputColumns(from: unknown): ReadonlySet<string> | null {
    const unloaded = new Set(this.catalog.unloaded());
    const out = new Set<string>();
    const visit = (node: unknown): boolean => {
      const rv = body(node, 'RangeVar');
      if (rv) {
        const t = this.catalog.lookup(rv.schemaname ? String(rv.schemaname) : undefined, String(rv.relname));
        if (!t || unloaded.has(t)) return false;
        for (const c of t.columns) out.add(c.name);
        // System columns are input columns too.
        for (const c of ['ctid', 'tableoid', 'xmin', 'xmax', 'cmin', 'cmax']) out.add(c);
        return true;
      }
      const j = body(node, 'JoinExpr');
      if (j) return !j.usingClause && !j.join_using_alias && visit(j.larg) && visit(j.rarg);
      return false;
    };
    return arr(from).every(visit) ? out : null;
  }

  /** Whether the rules accept `stmt` (a probe: edits it). */
  private accepts(maxParam: number, stmt: Json): boolean {
    try {
      analyzeStatement(this.newCtx(maxParam), stmt, '');
      return true;
    } catch (e) {
      if (e instanceof Refusal) return false;
      throw e;
    }
  }

  /** Whether the rules accept `SELECT val FROM from` and its output carries nothing protected. */
  private plainValue(maxParam: number, from: ProbeFrom, val: unknown): boolean {
    const probe = { SelectStmt: { targetList: [{ ResTarget: { val: structuredClone(val) } }], ...structuredClone(from), limitOption: 'LIMIT_OPTION_DEFAULT', op: 'SETOP_NONE' } };
    try {
      const { outputs } = analyzeStatement(this.newCtx(maxParam), probe, '');
      return outputs.every((o) => !o.prov && !o.anon && !o.star);
    } catch (e) {
      if (e instanceof Refusal) return false;
      throw e;
    }
  }

  /** Whether the rules accept `conjunct` as the WHERE clause of a SELECT over `from` (a probe on copies). */
  private pushable(maxParam: number, from: ProbeFrom, conjunct: unknown): boolean {
    const probe = { SelectStmt: { targetList: [{ ResTarget: { val: { A_Const: { ival: { ival: 1 } } } } }], ...structuredClone(from), whereClause: structuredClone(conjunct), limitOption: 'LIMIT_OPTION_DEFAULT', op: 'SETOP_NONE' } };
    try {
      analyzeStatement(this.newCtx(maxParam), probe, '');
      return true;
    } catch (e) {
      if (e instanceof Refusal) return false;
      throw e;
    }
  }

  private statement(ctx: Ctx, parsed: Json, text: string, of: TextState): PlanBody {
    if (isPlpgsqlFunction(parsed)) return this.tempFunction(ctx, parsed, of);
    const view = body(parsed, 'ViewStmt');
    if (view && isProxyView(this.catalog, view)) return this.createView(ctx, view, of.major);
    const before = this.expanded.has(parsed) ? '' : JSON.stringify(parsed);
    const stmt = showLogicalCatalog(this.catalog, parsed, text);
    const writeBefore = ctx.write;
    ctx.write = false;
    const call = calledTempFunction(stmt, of.temps);
    const r = call ? { outputs: analyzeTempCall(ctx, stmt, call) } : analyzeStatement(ctx, stmt, text);
    const changed = JSON.stringify(stmt) !== before;
    const write = ctx.write;
    ctx.write = ctx.write || writeBefore;
    return { ...r, sql: changed ? deparseStatement(stmt) : text, changed, write };
  }

  /** CREATE VIEW over protected tables: the backend gets a stand-in that carries the definition (create-view.ts). */
  private createView(ctx: Ctx, view: Json, major: Major): PlanBody {
    const plan = createView(this.catalog, view, (sql) => {
      const a = this.analyze(sql, major);
      return a.kind === 'refuse' ? new Refusal(a.code, a.message) : null;
    });
    for (const t of plan.tables) ctx.touch(t);
    ctx.write = true;
    // The stand-in carries the statement's text: a text of the same shape is another view.
    ctx.cacheable = false;
    return { outputs: [], sql: plan.sql, changed: true, write: true };
  }
}
