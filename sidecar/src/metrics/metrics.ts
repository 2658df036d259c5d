// Prometheus metrics of one proxy instance (own Registry, so several proxies in one test process
// do not collide). Names are documented in docs/proxy.md.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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
  statementSeconds: Histogram;
  bytes: Counter;
  cancelRequests: Counter;
  configReloads: Counter;
  configGeneration: Gauge;
}

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): ProxyMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'clarus_' });
  const registers = [registry];
  return {
    registry,
    connectionsActive: new Gauge({ name: 'clarus_connections_active', help: 'Client sessions open now', registers }),
    connectionsTotal: new Counter({ name: 'clarus_connections_total', help: 'Client connections accepted', registers }),
    connectionsRejected: new Counter({ name: 'clarus_connections_rejected_total', help: 'Client connections refused', labelNames: ['reason'], registers }),
    authFailures: new Counter({ name: 'clarus_auth_failures_total', help: 'Failed client authentications', registers }),
    backendConnections: new Gauge({ name: 'clarus_backend_connections', help: 'Open backend connections', labelNames: ['backend'], registers }),
    backendErrors: new Counter({ name: 'clarus_backend_errors_total', help: 'Backend connection failures and losses', labelNames: ['backend', 'reason'], registers }),
    statements: new Counter({ name: 'clarus_statements_total', help: 'Statements by protocol and outcome', labelNames: ['type', 'outcome'], registers }),
    statementSeconds: new Histogram({ name: 'clarus_statement_duration_seconds', help: 'Time from a statement reaching the proxy to ReadyForQuery',
      labelNames: ['type'], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10], registers }),
    bytes: new Counter({ name: 'clarus_bytes_total', help: 'Bytes relayed', labelNames: ['direction'], registers }),
    cancelRequests: new Counter({ name: 'clarus_cancel_requests_total', help: 'CancelRequests by result', labelNames: ['result'], registers }),
    configReloads: new Counter({ name: 'clarus_config_reloads_total', help: 'Configuration reloads by result', labelNames: ['result'], registers }),
    configGeneration: new Gauge({ name: 'clarus_config_generation', help: 'Generation of the configuration in force', registers }),
  };
}

type CounterChild = ReturnType<Counter['labels']>;
type HistogramChild = ReturnType<Histogram['labels']>;

/** Label children of the statement metrics, resolved once (labelled calls hash labels each time). */
export interface StatementRecorder {
  count: Record<StatementKind, Record<Outcome, CounterChild>>;
  seconds: Record<StatementKind, HistogramChild>;
}

export function statementRecorder(m: ProxyMetrics): StatementRecorder {
  const kinds: StatementKind[] = ['simple', 'extended', 'function', 'copy'];
  const outcomes = (k: StatementKind) => ({ ok: m.statements.labels(k, 'ok'), error: m.statements.labels(k, 'error'), refused: m.statements.labels(k, 'refused') });
  const count = Object.fromEntries(kinds.map((k) => [k, outcomes(k)])) as StatementRecorder['count'];
  const seconds = Object.fromEntries(kinds.map((k) => [k, m.statementSeconds.labels(k)])) as StatementRecorder['seconds'];
  return { count, seconds };
}
