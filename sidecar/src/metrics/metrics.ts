// Prometheus metrics of one proxy instance (own Registry, so several proxies in one test process
// do not collide). Names are documented in docs/proxy.md.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Metric } from 'prom-client';
import { residualStats } from '../residual/stats.ts';
import { RECENT_MINUTES, refusalCounts } from './refusals.ts';
import { analysisCounts } from './analyses.ts';
import type { ResidualStats } from '../residual/stats.ts';
import { anonymizationStats } from '../access/anonymization-stats.ts';
import type { AnonymizationStats } from '../access/anonymization-stats.ts';

export type StatementKind = 'simple' | 'extended' | 'function' | 'copy';
export type Outcome = 'ok' | 'error' | 'refused';

export interface ProxyMetrics {
  registry: Registry;
  connectionsActive: Gauge;
  connectionsTotal: Counter;
  connectionsRejected: Counter;
  authFailures: Counter;
  backendConnections: Gauge;
  backendErrors: Counter;
  statements: Counter;
  statementSeconds: DurationHistogram;
  bytes: Counter;
  /** Where sessions count bytes and statements (flushed into the counters above on scrape). */
  recorder: StatementRecorder;
  cancelRequests: Counter;
  configReloads: Counter;
  configGeneration: Gauge;
  /** 1 for the hash of the configuration in force (`hash` of config.json, as the operator rendered it). */
  configInfo: Gauge;
}

/** Sessions on this process's native relay thread (io/native-relay.ts registers the count). */
let nativeSessions: () => number = () => 0;
export function countNativeSessions(count: () => number): void { nativeSessions = count; }

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): ProxyMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'clarus_' });
  const registers = [registry];
  const recorder = new StatementRecorder();
  // Both counters flush the recorder, whichever of them is collected first.
  const collect = (): void => flushInto(recorder, statements, bytes);
  const statements = new Counter({ name: 'clarus_statements_total', help: 'Statements by protocol and outcome', labelNames: ['type', 'outcome'], registers, collect });
  const bytes = new Counter({ name: 'clarus_bytes_total', help: 'Bytes relayed', labelNames: ['direction'], registers, collect });
  registry.registerMetric(recorder.durations as unknown as Metric);
  new Gauge({ name: 'clarus_native_relay_sessions', help: 'Sessions the native pass-through data path relays now (this process)', registers,
    collect() { this.set(nativeSessions()); } });
  residualMetrics(registers);
  refusalMetrics(registers);
  anonymizationMetrics(registers);
  new Counter({ name: 'clarus_statement_analyses_total', help: 'Statement texts analysed, by source: cache (same text), shape (same but for literal values), full', labelNames: ['source'], registers,
    collect() { this.reset(); for (const [source, n] of Object.entries(analysisCounts())) this.inc({ source }, n); } });
  return {
    statements, bytes, recorder, statementSeconds: recorder.durations,
    registry,
    connectionsActive: new Gauge({ name: 'clarus_connections_active', help: 'Client sessions open now', registers }),
    connectionsTotal: new Counter({ name: 'clarus_connections_total', help: 'Client connections accepted', registers }),
    connectionsRejected: new Counter({ name: 'clarus_connections_rejected_total', help: 'Client connections refused', labelNames: ['reason'], registers }),
    authFailures: new Counter({ name: 'clarus_auth_failures_total', help: 'Failed client authentications', registers }),
    backendConnections: new Gauge({ name: 'clarus_backend_connections', help: 'Open backend connections', labelNames: ['backend'], registers }),
    backendErrors: new Counter({ name: 'clarus_backend_errors_total', help: 'Backend connection failures and losses', labelNames: ['backend', 'reason'], registers }),
    cancelRequests: new Counter({ name: 'clarus_cancel_requests_total', help: 'CancelRequests by result', labelNames: ['result'], registers }),
    configReloads: new Counter({ name: 'clarus_config_reloads_total', help: 'Configuration reloads by result', labelNames: ['result'], registers }),
    // Not additive over the worker processes of one proxy (io/workers.ts sums the rest): the largest.
    configGeneration: new Gauge({ name: 'clarus_config_generation', help: 'Generation of the configuration in force', registers, aggregator: 'max' }),
    configInfo: new Gauge({ name: 'clarus_config_info', help: 'The configuration in force, by its rendered hash (value 1)', labelNames: ['hash'], registers, aggregator: 'max' }),
  };
}

/** Refused statements by SQLSTATE and reason (metrics/refusals.ts), read on scrape. */
function refusalMetrics(registers: Registry[]): void {
  new Counter({ name: 'clarus_refusals_total', help: 'Statements the proxy refused, by SQLSTATE and reason', labelNames: ['code', 'reason'], registers,
    collect() { this.reset(); for (const r of refusalCounts(Date.now())) this.inc({ code: r.code, reason: r.reason }, r.total); } });
  new Gauge({ name: 'clarus_refusals_recent', help: `Statements the proxy refused in the last ${RECENT_MINUTES} minutes, by SQLSTATE and reason`, labelNames: ['code', 'reason'], registers,
    collect() { this.reset(); for (const r of refusalCounts(Date.now())) if (r.recent > 0) this.set({ code: r.code, reason: r.reason }, r.recent); } });
}

/** The in-proxy stage's counters (residual/stats.ts), read on scrape. */
function residualMetrics(registers: Registry[]): void {
  const counter = (name: string, help: string, read: (s: ResidualStats) => number): void => {
    new Counter({ name, help, registers, collect() { this.reset(); this.inc(read(residualStats)); } });
  };
  counter('clarus_residual_statements_total', 'Two-stage statements whose in-proxy stage ran', (s) => s.statements);
  counter('clarus_residual_failures_total', 'In-proxy stage runs that failed the statement (expression error, limit, unsupported type)', (s) => s.failed);
  counter('clarus_residual_candidate_rows_total', 'Candidate rows fetched by backend stages and loaded into the in-proxy stage', (s) => s.candidateRows);
  counter('clarus_residual_result_rows_total', 'Rows returned by the in-proxy stage', (s) => s.resultRows);
  counter('clarus_residual_fast_rows_total', 'Candidate rows the in-proxy stage computed without the engine (fast path of simple row-local projections)', (s) => s.fastRows);
  counter('clarus_residual_engine_seconds_total', 'Time spent in the in-proxy stage engine', (s) => s.engineMs / 1000);
  counter('clarus_residual_engine_starts_total', 'Starts of the in-proxy stage engine (with the first two-stage statement, and after a failure)', (s) => s.engineStarts);
  counter('clarus_residual_engine_initdbs_total', 'Engine instances started with initdb, not from a fresh data directory (build/engine, or kept from the first engine): seconds more', (s) => s.engineInitdbs);
  counter('clarus_residual_engine_stops_total', 'Stops of the in-proxy stage engine after limits.computeIdleSeconds without a two-stage statement (its memory given back)', (s) => s.engineStops);
  new Gauge({ name: 'clarus_residual_engines_running', help: 'In-proxy stage engine instances running now (each a worker thread with ~250 MiB)', registers,
    collect() { this.set(residualStats.enginesRunning); } });
}

function anonymizationMetrics(registers: Registry[]): void {
  const counter = (name: string, help: string, read: (s: AnonymizationStats) => number): void => {
    new Counter({ name, help, registers, collect() { this.reset(); this.inc(read(anonymizationStats)); } });
  };
  const gauge = (name: string, help: string, read: (s: AnonymizationStats) => number): void => {
    new Gauge({ name, help, registers, aggregator: 'max', collect() { this.set(read(anonymizationStats)); } });
  };
  counter('clarus_anonymization_batches_total', 'k-anonymity batches (COPY FROM, multi-row INSERT, rows held until COMMIT) microaggregated and stored', (s) => s.batches);
  counter('clarus_anonymization_refused_total', 'k-anonymity batches refused (fewer than k records, NULL or unreadable quasi-identifiers)', (s) => s.refused);
  counter('clarus_anonymization_records_total', 'Records of the stored k-anonymity batches', (s) => s.records);
  counter('clarus_anonymization_classes_total', 'Equivalence classes of the stored k-anonymity batches', (s) => s.classes);
  gauge('clarus_anonymization_last_k', 'Achieved k (smallest class) of the last stored batch (-1: none yet)', (s) => s.last.k);
  gauge('clarus_anonymization_last_t', 'Achieved t (largest EMD) of the last stored batch (-1: none yet or no t-closeness)', (s) => s.last.t);
  gauge('clarus_anonymization_last_classes', 'Equivalence classes of the last stored batch (-1: none yet)', (s) => s.last.classes);
  gauge('clarus_anonymization_last_records', 'Records of the last stored batch (-1: none yet)', (s) => s.last.records);
  gauge('clarus_anonymization_last_sse_sst', 'SSE/SST of the numeric quasi-identifiers of the last stored batch (-1: none)', (s) => s.last.sseSst);
}

export const KINDS: readonly StatementKind[] = ['simple', 'extended', 'function', 'copy'];
const OUTCOMES: readonly Outcome[] = ['ok', 'error', 'refused'];
export const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

/**
 * The per-chunk and per-statement metrics, counted in plain numbers and handed to prom-client when
 * /metrics is scraped. prom-client hashes the label set on every labelled inc()/observe() (label
 * children included), which showed in profiles of the pass-through path.
 */
export class StatementRecorder {
  bytesFromClient = 0;
  bytesFromBackend = 0;
  /** Statements not yet added to clarus_statements_total, by kind * 3 + outcome. */
  readonly counts = new Float64Array(KINDS.length * OUTCOMES.length);
  /** What the native relay's thread counts for this proxy's sessions (it only adds; see NativeStats). */
  readonly native = new NativeStats();
  readonly durations = new DurationHistogram(this.native);

  statement(kind: StatementKind, outcome: Outcome, seconds: number): void {
    const i = KIND_INDEX[kind] * OUTCOMES.length + OUTCOME_INDEX[outcome];
    this.counts[i] = (this.counts[i] as number) + 1;
    this.durations.observe(KIND_INDEX[kind], seconds);
  }
}

const KIND_INDEX: Record<StatementKind, number> = { simple: 0, extended: 1, function: 2, copy: 3 };

/** Kinds the native relay counts (simple, extended, function): the first of KINDS. */
const NATIVE_KINDS = 3;

/**
 * The statistics of sessions on the native relay (sidecar/native/relay.c, told the layout at init): one
 * Float64Array on an ArrayBuffer of its own (its memory never moves), written by the relay thread
 * only. counts[kind*3+outcome] at 0, sums[kind] at 9, totals[kind] at 12, bytes client→proxy and
 * backend→proxy at 15, buckets[kind*DURATION_BUCKETS.length+i] at 17. The scrape adds what grew
 * since the last one (`seen`).
 */
export class NativeStats {
  static readonly COUNTS = 0;
  static readonly SUMS = 9;
  static readonly TOTALS = 12;
  static readonly BYTES = 15;
  static readonly BUCKETS = 17;
  /** What relay.c is told at init (its one source of the layout). */
  static readonly LAYOUT = Uint32Array.of(NativeStats.COUNTS, NativeStats.SUMS, NativeStats.TOTALS, NativeStats.BYTES, NativeStats.BUCKETS);
  readonly values = new Float64Array(new ArrayBuffer((NativeStats.BUCKETS + NATIVE_KINDS * DURATION_BUCKETS.length) * 8));
  private readonly seen = new Float64Array(this.values.length);

  /** What value `i` grew by since the last call. */
  delta(i: number): number {
    const v = this.values[i] as number;
    const d = v - (this.seen[i] as number);
    this.seen[i] = v;
    return d;
  }
}
const OUTCOME_INDEX: Record<Outcome, number> = { ok: 0, error: 1, refused: 2 };

interface MetricValue { value: number; labels: Record<string, string | number>; metricName?: string }

/**
 * clarus_statement_duration_seconds{type}: a histogram with a fixed label set, kept in typed
 * arrays (no label hashing per observation), registered with prom-client as a custom metric and
 * rendered like prom-client's own (cumulative _bucket{le}, _sum, _count; a type appears once observed).
 */
export class DurationHistogram {
  readonly name = 'clarus_statement_duration_seconds';
  readonly help = 'Time from a statement reaching the proxy to ReadyForQuery';
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly buckets = new Float64Array(KINDS.length * DURATION_BUCKETS.length);
  private readonly sums = new Float64Array(KINDS.length);
  private readonly totals = new Float64Array(KINDS.length);
  /** Statements of sessions on the native relay, added in at each get(). */
  private readonly native: NativeStats | undefined;

  constructor(native?: NativeStats) { this.native = native; }

  observe(kind: number, seconds: number): void {
    this.sums[kind] = (this.sums[kind] as number) + seconds;
    this.totals[kind] = (this.totals[kind] as number) + 1;
    const base = kind * DURATION_BUCKETS.length;
    for (let i = 0; i < DURATION_BUCKETS.length; i++) {
      if (seconds <= (DURATION_BUCKETS[i] as number)) { this.buckets[base + i] = (this.buckets[base + i] as number) + 1; return; }
    }
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: MetricValue[] } {
    if (this.native) this.addNative(this.native);
    const values: MetricValue[] = [];
    KINDS.forEach((type, k) => {
      const total = this.totals[k] as number;
      if (total === 0) return;
      let cumulative = 0;
      DURATION_BUCKETS.forEach((le, i) => {
        cumulative += this.buckets[k * DURATION_BUCKETS.length + i] as number;
        values.push({ value: cumulative, labels: { le, type }, metricName: `${this.name}_bucket` });
      });
      values.push({ value: total, labels: { le: '+Inf', type }, metricName: `${this.name}_bucket` });
      values.push({ value: this.sums[k] as number, labels: { type }, metricName: `${this.name}_sum` });
      values.push({ value: total, labels: { type }, metricName: `${this.name}_count` });
    });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void { this.buckets.fill(0); this.sums.fill(0); this.totals.fill(0); }

  private addNative(n: NativeStats): void {
    for (let k = 0; k < NATIVE_KINDS; k++) {
      this.sums[k] = (this.sums[k] as number) + n.delta(NativeStats.SUMS + k);
      this.totals[k] = (this.totals[k] as number) + n.delta(NativeStats.TOTALS + k);
      for (let i = 0; i < DURATION_BUCKETS.length; i++) {
        const at = k * DURATION_BUCKETS.length + i;
        this.buckets[at] = (this.buckets[at] as number) + n.delta(NativeStats.BUCKETS + at);
      }
    }
  }
}

/** Adds what the recorder counted since the last scrape to the prom-client counters. */
function flushInto(rec: StatementRecorder, statements: Counter, bytes: Counter): void {
  KINDS.forEach((type, k) => OUTCOMES.forEach((outcome, o) => {
    const i = k * OUTCOMES.length + o;
    const n = (rec.counts[i] as number) + (k < NATIVE_KINDS ? rec.native.delta(NativeStats.COUNTS + i) : 0);
    if (n > 0) { statements.inc({ type, outcome }, n); rec.counts[i] = 0; }
  }));
  rec.bytesFromClient += rec.native.delta(NativeStats.BYTES);
  rec.bytesFromBackend += rec.native.delta(NativeStats.BYTES + 1);
  if (rec.bytesFromClient > 0) { bytes.inc({ direction: 'client_to_proxy' }, rec.bytesFromClient); rec.bytesFromClient = 0; }
  if (rec.bytesFromBackend > 0) { bytes.inc({ direction: 'backend_to_proxy' }, rec.bytesFromBackend); rec.bytesFromBackend = 0; }
}
